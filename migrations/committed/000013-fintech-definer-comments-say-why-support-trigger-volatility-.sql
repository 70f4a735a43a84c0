--! Previous: sha1:a03d980524924df8bebfaf0c3b972467fb194bdc
--! Hash: sha1:f49b1cc8aea95e7b69c401492e7208deedc64a90
--! Message: fintech: definer comments say why, support trigger volatility stated (conventions)

--! split: 4090-fintech-conventions.sql
-- Conventions (tests/project/conventions.test.ts, docs/conventions.md): every
-- security definer function states its volatility in the migrations and says
-- in its comment why it is one (text kept, the reason added). Re-runnable; no
-- change of behaviour.

comment on function finance_private.tg_transactions__compute_balance() is
  'BEFORE INSERT on finance.transactions: refuses a posting dated in a closed month (PCLSD), locks the account row, assigns tx_id, computes balance_after, refuses a debit that would take a checking or savings account below zero (INSUF). Security definer so that the checks and the lock hold whoever inserts: the account row lock (for update), the tx_id sequence and finance.closed_periods are not granted to API roles.';

comment on function finance_private.tg_transactions__apply_balance() is
  'AFTER INSERT on finance.transactions: sets accounts.balance to the posting''s balance_after (the row is already locked by the BEFORE trigger). Security definer because API roles have no update grant on finance.accounts: a balance changes only here.';

comment on function support_private.tg_ticket_messages__validate_sender() is
  'sender_id must be the ticket''s customer (BADIN) or an existing agent (NTFND), by sender_type. Security definer so that the checks see every ticket and agent whatever the writer may read (customers cannot read support.support_agents).';

-- Created without a volatility clause (so volatile, the default): say it.
alter function support_private.tg_ticket_messages__validate_sender() volatile;
