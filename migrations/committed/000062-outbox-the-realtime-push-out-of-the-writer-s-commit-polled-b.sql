--! Previous: sha1:12d855a73730eecceed98d2361370aff326a2439
--! Hash: sha1:267ab74b200ed4b9ba2633313fcf676f21769a30
--! Message: outbox: the realtime push out of the writer's commit (polled by the API, no pg_notify; issues 19, 21)

--! split: 2370-outbox-notifications-polled.sql
--! split: 2370-outbox-notifications-polled.sql
-- The realtime push leaves the writer's commit (issues 19, 21).
--
-- Until now a trigger ran pg_notify for every new notification. A notifying
-- transaction takes PostgreSQL's database-wide notify lock before its commit
-- record and holds it until after the WAL flush, so every transaction that
-- notified a user (a checkout, a renewal, a member added) committed one at a
-- time, one flush each: pgbench at 16 clients commits 6-8x fewer transactions
-- once they carry a pg_notify. The API server now polls instead
-- (src/server/notificationFeed.ts): each process asks, a few times a second,
-- for the notifications committed since its previous question, for the users
-- it has live subscribers for. Writers pay one column and one index entry.
--
-- "Committed since" is exact, whatever the commit order: every notification
-- records the id of the transaction that wrote it (xact_id), and the poller
-- keeps the snapshot of its previous question. A row is new when its writer
-- is not visible in that snapshot: xact_id >= the snapshot's xmax, or one of
-- the transactions the snapshot saw in progress. Both are index lookups, so a
-- long-running transaction elsewhere (which holds xmin back) costs nothing.
-- The id is stored as a bigint (an xid8's 64 bits; PostGraphile has no codec
-- for xid8, even on a hidden column) and cast back to xid8 for the snapshot
-- test.
-- Re-runnable.

alter table outbox.notifications
  add column if not exists xact_id bigint not null default pg_catalog.pg_current_xact_id()::text::bigint;
comment on column outbox.notifications.xact_id is
  E'@behavior -*\nThe transaction that wrote the notification: the realtime poller''s cursor (outbox_private.notifications_committed_since).';
create index if not exists notifications_xact_id_idx on outbox.notifications (xact_id);

drop trigger if exists _500_notify on outbox.notifications;
drop function if exists outbox_private.tg_notifications__notify();

create or replace function outbox_private.notifications_committed_since(since pg_snapshot, user_ids uuid[])
  returns table (snapshot pg_snapshot, notification_id bigint, user_id uuid)
  language sql
  stable
  security definer
  set search_path = ''
as $$
  -- One statement: the snapshot returned is the one the rows were read in, so
  -- the next call starts exactly where this one stopped.
  select pg_catalog.pg_current_snapshot(), null::bigint, null::uuid
  union all
  select null, n.notification_id, n.user_id
    from outbox.notifications n
   where since is not null
     and cardinality(user_ids) > 0
     and (n.xact_id >= pg_catalog.pg_snapshot_xmax(since)::text::bigint
          or n.xact_id = any (array(select x::text::bigint from pg_catalog.pg_snapshot_xip(since) x)))
     and not pg_catalog.pg_visible_in_snapshot(n.xact_id::text::xid8, since)
     and n.user_id = any (user_ids)
$$;
comment on function outbox_private.notifications_committed_since(pg_snapshot, uuid[]) is
  'The realtime poller''s question: the current snapshot (first row), then the notifications of the given users committed after the snapshot `since` (none when since is null). For the API''s login role only; security definer because that role has no rights on notifications.';

revoke execute on function outbox_private.notifications_committed_since(pg_snapshot, uuid[]) from public;
grant usage on schema outbox_private to gw_authenticator;
grant execute on function outbox_private.notifications_committed_since(pg_snapshot, uuid[]) to gw_authenticator;

-- notify_user itself is unchanged (plpgsql since 2365); only what it promises.
comment on function outbox.notify_user(uuid, text, text, jsonb, bigint) is
  E'@behavior -mutationField\nCreates a notification for a user; the API servers push it to the user''s live subscriptions within a poll interval of the commit (docs/realtime.md). For domain functions and triggers; not granted to API roles. Security definer because notifications have no insert grant.';
