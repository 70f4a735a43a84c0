--! Previous: sha1:075336b2f7bce5f583c53afc8aa1f01049ea0ae6
--! Hash: sha1:f8ca79ecb1af045ae3f67d108b4d51c9bb6bd33b
--! Message: inbox: definer comments say why (conventions)

--! split: 2490-inbox-conventions.sql
-- Conventions (tests/project/conventions.test.ts, docs/conventions.md): every
-- security definer function says in its comment why it is one (text and smart
-- tags kept, the reason added). Comments only: re-runnable, no change of behaviour.

comment on function inbox_private.tg_messages__enqueue() is
  'Queues processing of every stored message, in the storing transaction. Security definer so that whoever stores a message queues it: inbox_private and the job queue are not granted to other roles.';

comment on function inbox.replay_messages(bigint[]) is
  E'@resultFieldName replayedCount\nProcesses dead inbox messages again: the given ones (NTFND if unknown, BADST if not dead) or every dead one when messageIds is null. Returns how many. Operators (gw_admin) only (DNIED when the grant was withdrawn). Security definer because messages have no update grant and the job queue is not granted to API roles.';
