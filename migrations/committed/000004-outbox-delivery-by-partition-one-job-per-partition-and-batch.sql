--! Previous: sha1:5b5e933af036afc8c46dccaee7d639a7b5ed9257
--! Hash: sha1:9f2f7a6786d0c0d8795cb9528ce9a3fd9ed97598
--! Message: outbox delivery by partition: one job per partition and batch, enqueued once per transaction, attempts recorded per batch

--! split: 2800-outbox-partitioned-delivery.sql
-- Outbox delivery by partition (docs/webhooks.md, docs/benchmarks.md).
--
-- Measured before this change: one graphile-worker job per delivery stream
-- cost one job fetch (≈ 12 ms on a loaded 2-core machine, named queues make
-- get_job dearer) for every one to three events, and every publish() call ran
-- add_jobs again. Now the 64 queues the streams already hashed into are the
-- unit of work: one job per partition (job key and queue `outbox:<n>`) delivers
-- every due dispatch of the partition in batches, streams side by side and
-- each stream strictly in order, and records a batch in one call. A publishing
-- transaction enqueues each partition once, however many events it writes.

drop function if exists outbox_private.schedule_partition(smallint);
drop function if exists outbox_private.record_attempts(bigint[], boolean[], integer[], integer[], text[], integer, interval[]);
drop function if exists outbox_private.next_dispatches(smallint, integer);
drop function if exists outbox_private.enqueue_partitions(smallint[], timestamptz);
drop function if exists outbox_private.next_dispatch(text);
drop function if exists outbox_private.record_attempt(bigint, boolean, integer, integer, text, integer, interval);

alter table outbox.dispatches
  add column if not exists partition smallint generated always as ((pg_catalog.hashtext(stream) & 63)::smallint) stored;
comment on column outbox.dispatches.partition is
  'Delivery partition (0-63) of the stream: one worker job at a time delivers a partition, streams side by side, each in order.';
create index if not exists dispatches_pending_partition_idx on outbox.dispatches (partition, dispatch_id) where status = 'pending';

-- Makes sure each partition has a delivery job at run_at (null: now).
create function outbox_private.enqueue_partitions(partitions smallint[], run_at timestamptz default null) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_missing smallint[];
  v_try integer := 0;
begin
  -- A partition whose job row this transaction already wrote is enqueued: the
  -- row stays locked by us until commit, so no worker can start it early.
  select coalesce(pg_catalog.array_agg(distinct p), '{}') into v_missing
    from pg_catalog.unnest(partitions) p
   where enqueue_partitions.run_at is not null
      or not exists (
        select 1 from graphile_worker._private_jobs j
         where j.key = 'outbox:' || p::text
           and j.xmin = pg_catalog.pg_current_xact_id()::xid);
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
    select coalesce(pg_catalog.array_agg(m.p), '{}') into v_missing
      from pg_catalog.unnest(v_missing) m(p)
     where not exists (select 1 from added a where a.key = 'outbox:' || m.p::text);
  end loop;
end;
$$;
comment on function outbox_private.enqueue_partitions(smallint[], timestamptz) is
  'Makes sure each delivery partition has a job at run_at (default now; once per partition per transaction). Now replaces a waiting later time; a later time keeps a waiting earlier one.';

-- The callers (fan-out, replay, test webhook, sweeper) keep speaking in streams.
create or replace function outbox_private.enqueue_streams(streams text[], run_at timestamptz default null) returns void
  language sql
  volatile
  set search_path = ''
as $$
  select outbox_private.enqueue_partitions(
    array(select distinct (pg_catalog.hashtext(s) & 63)::smallint from pg_catalog.unnest(streams) s),
    run_at);
$$;
comment on function outbox_private.enqueue_streams(text[], timestamptz) is
  'Makes sure the partitions of these streams have a delivery job (at run_at, default now).';

-- Fan-out, as before, but enqueueing partitions: a partition this transaction
-- already enqueued costs one index probe instead of an add_jobs call.
create or replace function outbox_private.tg_events__fan_out() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
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
  -- Partitions this transaction already enqueued (it holds their job row) are skipped here, cheaply.
  select pg_catalog.array_agg(distinct c.partition) into v_partitions
    from created c
   where not exists (
     select 1 from graphile_worker._private_jobs j
      where j.key = 'outbox:' || c.partition::text
        and j.xmin = pg_catalog.pg_current_xact_id()::xid);
  if v_partitions is not null then
    perform outbox_private.enqueue_partitions(v_partitions);
  end if;
  return null;
end;
$$;
comment on function outbox_private.tg_events__fan_out() is
  'Creates a dispatch per matching active subscription and enqueues each partition touched once per transaction. Security definer: publishers need no rights on dispatches or the job queue.';

-- Due work of a partition, oldest first: every pending dispatch whose stream
-- has no earlier (or own) pending dispatch waiting for a retry time.
create function outbox_private.next_dispatches(partition smallint, max_count integer)
  returns table (
    dispatch_id bigint,
    stream text,
    attempts integer,
    event_id bigint,
    topic text,
    payload jsonb,
    aggregate_type text,
    aggregate_id text,
    organization_id uuid,
    event_created_at timestamptz,
    url text,
    secret text
  )
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  return query
    select d.dispatch_id, d.stream, d.attempts, e.event_id, e.topic, e.payload, e.aggregate_type,
           e.aggregate_id, e.organization_id, e.created_at, s.url, s.secret
      from outbox.dispatches d
      join outbox.events e on e.event_id = d.event_id
      join outbox.webhook_subscriptions s on s.subscription_id = d.subscription_id
     where d.partition = next_dispatches.partition
       and d.status = 'pending'
       and not exists (
         select 1 from outbox.dispatches w
          where w.stream = d.stream and w.status = 'pending'
            and w.dispatch_id <= d.dispatch_id
            and w.next_attempt_at > pg_catalog.now())
     order by d.dispatch_id
     limit next_dispatches.max_count;
end;
$$;
comment on function outbox_private.next_dispatches(smallint, integer) is
  'Up to max_count due dispatches of a partition in id order; a stream waiting for a retry holds back its later dispatches.';

-- Records a batch of attempts in one statement each for dispatches and
-- deliveries, without enqueueing: the partition job reschedules itself once,
-- at the end (outbox_private.schedule_partition).
create function outbox_private.record_attempts(
  dispatch_ids bigint[],
  succeeded boolean[],
  http_statuses integer[],
  latencies_ms integer[],
  errors text[],
  max_attempts integer,
  retry_delays interval[]
) returns table (dispatch_id bigint, status text)
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  return query
    with attempt as (
      select a.id, a.http, a.ms, pg_catalog.left(a.err, 2000) as err, a.delay, a.n,
             a.ok is not true as failed
        from rows from (pg_catalog.unnest(dispatch_ids), pg_catalog.unnest(succeeded), pg_catalog.unnest(http_statuses),
                        pg_catalog.unnest(latencies_ms), pg_catalog.unnest(errors), pg_catalog.unnest(retry_delays))
             with ordinality as a(id, ok, http, ms, err, delay, n)
    ),
    moved as (
      update outbox.dispatches d
         set attempts = d.attempts + 1,
             last_http_status = t.http,
             last_error = case when t.failed then t.err end,
             status = case when not t.failed then 'delivered'
                           when d.attempts + 1 >= record_attempts.max_attempts then 'dead'
                           else 'pending' end,
             delivered_at = case when not t.failed then pg_catalog.now() else d.delivered_at end,
             dead_at = case when t.failed and d.attempts + 1 >= record_attempts.max_attempts then pg_catalog.now() else d.dead_at end,
             next_attempt_at = case when t.failed and d.attempts + 1 < record_attempts.max_attempts
                                    then pg_catalog.now() + t.delay else d.next_attempt_at end
        from attempt t
       where d.dispatch_id = t.id and d.status = 'pending' -- not cancelled or handled meanwhile
      returning d.dispatch_id, d.organization_id, d.attempts, d.status, t.failed, t.http, t.ms, t.err, t.n
    ),
    logged as (
      insert into outbox.deliveries (dispatch_id, organization_id, attempt, status, http_status, latency_ms, error)
      select m.dispatch_id, m.organization_id, m.attempts, case when m.failed then 'failed' else 'succeeded' end, m.http, m.ms, m.err
        from moved m
       order by m.n
    )
    select m.dispatch_id, m.status from moved m order by m.n;
end;
$$;
comment on function outbox_private.record_attempts(bigint[], boolean[], integer[], integer[], text[], integer, interval[]) is
  'Records a batch of delivery attempts (parallel arrays, in the order made) and moves each dispatch on: delivered, dead (last attempt) or pending until now() + its retry delay. Returns the new status of each dispatch that was still pending.';

-- After a job: due work left → run again now; only retries left → run at the
-- earliest retry time; nothing pending → no job.
create function outbox_private.schedule_partition(partition smallint) returns timestamptz
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_next timestamptz;
begin
  select pg_catalog.min(h.next_attempt_at) into v_next
    from (select distinct on (d.stream) d.next_attempt_at
            from outbox.dispatches d
           where d.partition = schedule_partition.partition and d.status = 'pending'
           order by d.stream, d.dispatch_id) h;
  if v_next is not null then
    perform outbox_private.enqueue_partitions(array[schedule_partition.partition],
      case when v_next > pg_catalog.now() then v_next end);
  end if;
  return v_next;
end;
$$;
comment on function outbox_private.schedule_partition(smallint) is
  'Enqueues the partition''s next job for its earliest due stream head, if any. Returns that time (null: nothing pending).';

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
     and not exists (select 1 from graphile_worker._private_jobs j where j.key = 'outbox:' || d.partition::text);
  if v_partitions is not null then
    perform outbox_private.enqueue_partitions(v_partitions);
  end if;
  return coalesce(cardinality(v_partitions), 0);
end;
$$;
comment on function outbox_private.requeue_orphans() is
  'Safety net (crontab outbox_sweep, every minute): re-enqueues partitions with work due for 30 s and no job. Returns how many.';
