--! Previous: sha1:c10084d14fe5e537bda84ef2e7143bb72c674102
--! Hash: sha1:075336b2f7bce5f583c53afc8aa1f01049ea0ae6
--! Message: outbox: on graphile-worker public interface (fan-out by transaction-local setting, orphans from the jobs view); full organization index on webhook subscriptions

--! split: 2300-outbox-worker-interface.sql
-- The outbox speaks to graphile-worker through its public interface only
-- (graphile_worker.add_jobs and the graphile_worker.jobs view), not its
-- private tables.
--
-- "Did this transaction already enqueue partition p?" used to compare the
-- xmin of p's job row in _private_jobs with the transaction id. Now
-- enqueue_partitions remembers the partitions it made due now in a
-- transaction-local setting, outbox.enqueued_partitions (text of a smallint[]),
-- and the fan-out skips those. The setting ends with the transaction and rolls
-- back with a savepoint, exactly like the job rows it stands for; a row written
-- by this transaction stays locked by it until commit, so no worker can start
-- that job before the transaction's later dispatches exist.
-- Re-runnable: every function keeps its signature (create or replace).

-- Makes sure each partition has a delivery job at run_at (null: now).
create or replace function outbox_private.enqueue_partitions(partitions smallint[], run_at timestamptz default null) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_missing smallint[] := array(select distinct p from pg_catalog.unnest(partitions) p where p is not null);
  v_enqueued smallint[] := '{}';
  v_try integer := 0;
begin
  while cardinality(v_missing) > 0 and v_try < 3 loop
    v_try := v_try + 1;
    with added as (
      select j.key from graphile_worker.add_jobs(
        array(
          select row(
            'outbox_deliver',                                  -- identifier
            pg_catalog.json_build_object('partition', m.p),    -- payload
            'outbox:' || m.p::text,                            -- queue_name: jobs of a partition run one at a time
            enqueue_partitions.run_at,                         -- run_at (null: now)
            25,                                                -- max_attempts: only crashes count; dispatches keep their own retry schedule
            'outbox:' || m.p::text,                            -- job_key: one waiting job per partition
            null,                                              -- priority
            null                                               -- flags
          )::graphile_worker.job_spec
            from pg_catalog.unnest(v_missing) m(p)
        ),
        -- "now" always wins over a waiting retry time; a later time never
        -- postpones a job that is already due.
        job_key_preserve_run_at := enqueue_partitions.run_at is not null
      ) j
    )
    -- A partition add_jobs returned no row for lost a race with a worker locking its job: again.
    select coalesce(pg_catalog.array_agg(m.p) filter (where not m.added), '{}'),
           v_enqueued || coalesce(pg_catalog.array_agg(m.p) filter (where m.added), '{}')
      into v_missing, v_enqueued
      from (select u.p, exists (select 1 from added a where a.key = 'outbox:' || u.p::text) as added
              from pg_catalog.unnest(v_missing) u(p)) m;
  end loop;
  -- Only "now" counts: a later job must still be made due by a publish in this transaction.
  if enqueue_partitions.run_at is null and cardinality(v_enqueued) > 0 then
    perform pg_catalog.set_config('outbox.enqueued_partitions',
      array(select distinct p
              from pg_catalog.unnest(coalesce(nullif(pg_catalog.current_setting('outbox.enqueued_partitions', true), '')::smallint[], '{}')
                                     || v_enqueued) p
             order by p)::text,
      true);
  end if;
end;
$$;
comment on function outbox_private.enqueue_partitions(smallint[], timestamptz) is
  'Makes sure each delivery partition has a job at run_at (default now). Now replaces a waiting later time; a later time keeps a waiting earlier one. Partitions made due now are listed in the transaction-local setting outbox.enqueued_partitions, so the fan-out enqueues each partition once per transaction.';

-- Fan-out: a partition this transaction already made due costs an array test
-- instead of an add_jobs call.
create or replace function outbox_private.tg_events__fan_out() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_enqueued constant smallint[] :=
    coalesce(nullif(pg_catalog.current_setting('outbox.enqueued_partitions', true), '')::smallint[], '{}');
  v_partitions smallint[];
begin
  with created as (
    insert into outbox.dispatches (event_id, subscription_id, organization_id, stream)
    select e.event_id, s.subscription_id, s.organization_id,
           s.subscription_id::text || '/' || coalesce(e.aggregate_type || ':' || e.aggregate_id, 'event:' || e.event_id::text)
      from new_events e
      join outbox.webhook_subscriptions s
        on s.organization_id = e.organization_id
       and s.is_active
       and (e.topic = any (s.topics) or '*' = any (s.topics))
     order by e.event_id, s.subscription_id
    returning partition
  )
  -- Partitions this transaction already made due (outbox.enqueued_partitions, kept by enqueue_partitions) are skipped.
  select pg_catalog.array_agg(distinct c.partition) into v_partitions
    from created c
   where c.partition <> all (v_enqueued);
  if v_partitions is not null then
    perform outbox_private.enqueue_partitions(v_partitions);
  end if;
  return null;
end;
$$;
comment on function outbox_private.tg_events__fan_out() is
  'Creates a dispatch per matching active subscription and enqueues each partition touched once per transaction. Security definer: publishers need no rights on dispatches or the job queue.';

create or replace function outbox_private.requeue_orphans() returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_partitions smallint[];
begin
  select pg_catalog.array_agg(distinct d.partition) into v_partitions
    from outbox.dispatches d
   where d.status = 'pending'
     and d.next_attempt_at <= pg_catalog.now() - interval '30 seconds'
     and not exists (select 1 from graphile_worker.jobs j where j.key = 'outbox:' || d.partition::text);
  if v_partitions is not null then
    perform outbox_private.enqueue_partitions(v_partitions);
  end if;
  return coalesce(cardinality(v_partitions), 0);
end;
$$;
comment on function outbox_private.requeue_orphans() is
  'Safety net (crontab outbox_sweep, every minute): re-enqueues partitions with work due for 30 s and no job. Returns how many.';

--! split: 2390-outbox-conventions.sql
-- Conventions (tests/project/conventions.test.ts, docs/conventions.md) applied
-- to the outbox. Re-runnable; no change of behaviour.

-- Every foreign key has an index that leads with its columns. The one on
-- organization_id was partial (where is_active), so deleting an organization
-- (on delete cascade) scanned the table for its inactive subscriptions. One
-- full index replaces it; it also serves the fan-out's lookup of the event's
-- organization's subscriptions (few, is_active filtered on the row).
drop index if exists outbox.webhook_subscriptions_organization_id_idx;
create index webhook_subscriptions_organization_id_idx
  on outbox.webhook_subscriptions (organization_id);

-- PostGraphile exposes a relation and a column's condition and ordering only
-- when a full index leads with them, so that index alone would have added
-- Organization.outboxWebhookSubscriptions and organizationId conditions and
-- ordering to the API. These tags keep the API as it was; dropping them is an
-- API decision of its own. (The constraint comment is tags only: its text
-- would become the forward relation's description.)
comment on constraint webhook_subscriptions_organization_id_fkey on outbox.webhook_subscriptions is
  '@backwardBehavior -select -list -connection -single -manyToMany';
comment on column outbox.webhook_subscriptions.organization_id is
  E'@behavior -filterBy -orderBy\nWhose events it receives.';

-- Every security definer function says why it is one (text and smart tags kept).
comment on function outbox_private.tg_webhook_subscriptions__cancel_pending() is
  'Cancels the pending dispatches of a subscription that was deactivated. Security definer because those who deactivate a subscription (its organization''s owners and admins) have no update grant on dispatches.';

comment on function outbox.send_test_webhook(uuid) is
  E'@resultFieldName eventId\nSends a webhook.test event to this subscription only (whatever its topics, even if inactive) and returns the event id; follow it in outboxDispatches. Owners and admins of its organization only (NTFND otherwise). Security definer because events and dispatches have no insert grant and the job queue is not granted to API roles: the check above is the permission.';

comment on function outbox.replay_dead_letters(bigint[]) is
  E'@resultFieldName replayedCount\nSends dead letters again: the given dispatches, or every dead one when dispatchIds is null (those of deactivated subscriptions are skipped). Attempts restart at 1. Returns how many were replayed. Operators (gw_admin) only (DNIED when the grant was withdrawn). Security definer because dispatches have no update grant and the job queue is not granted to API roles.';
