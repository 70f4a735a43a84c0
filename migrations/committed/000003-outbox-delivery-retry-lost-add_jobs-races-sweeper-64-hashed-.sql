--! Previous: sha1:8fdcc1b3f341e8ba6195b9904b3522cce2ef5eb9
--! Hash: sha1:5b5e933af036afc8c46dccaee7d639a7b5ed9257
--! Message: outbox delivery: retry lost add_jobs races, sweeper, 64 hashed queues, cached next_dispatch plan

--! split: 3000-outbox-delivery-fixes.sql
-- Outbox delivery, after measuring it (docs/benchmarks.md):
-- * add_jobs drops a job when a worker locks the stream's existing job in the
--   middle of the call; enqueue_streams now retries the streams it got no row
--   for, and a sweeper re-enqueues any stream left with due work and no job.
-- * one graphile-worker queue per stream made every job fetch lock thousands of
--   queue rows; streams now hash into 64 queues (one stream always maps to the
--   same queue, so its order holds; the job key stays per stream).
-- * next_dispatch is plpgsql, so its plan is cached instead of re-planned per call.

drop function if exists outbox_private.requeue_orphans() cascade;

create or replace function outbox_private.enqueue_streams(streams text[], run_at timestamptz default null) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_missing text[] := array(select distinct s from pg_catalog.unnest(streams) s);
  v_try integer := 0;
begin
  while cardinality(v_missing) > 0 and v_try < 3 loop
    v_try := v_try + 1;
    with added as (
      select j.key from graphile_worker.add_jobs(
        array(
          select row(
            'outbox_deliver',                                          -- identifier
            pg_catalog.json_build_object('stream', m.stream),          -- payload
            'outbox:' || (pg_catalog.hashtext(m.stream) & 63)::text,   -- queue_name: 64 queues
            enqueue_streams.run_at,                                    -- run_at (null: now)
            25,                                                        -- max_attempts: only crashes count; outbox_deliver keeps its own retry schedule
            'outbox:' || m.stream,                                     -- job_key: one waiting job per stream
            null,                                                      -- priority
            null                                                       -- flags
          )::graphile_worker.job_spec
            from pg_catalog.unnest(v_missing) m(stream)
        ),
        job_key_preserve_run_at := true
      ) j
    )
    -- A stream add_jobs returned no row for lost a race with a worker locking its job: again.
    select coalesce(pg_catalog.array_agg(m.stream), '{}') into v_missing
      from pg_catalog.unnest(v_missing) m(stream)
     where not exists (select 1 from added a where a.key = 'outbox:' || m.stream);
  end loop;
end;
$$;
comment on function outbox_private.enqueue_streams(text[], timestamptz) is
  'Makes sure each stream has a delivery job (at run_at, default now). A waiting job keeps its run_at (job_key_preserve_run_at); a running one is superseded by a new job; a stream that loses a race with a worker is retried.';

create function outbox_private.requeue_orphans() returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_streams text[];
begin
  select pg_catalog.array_agg(distinct d.stream) into v_streams
    from outbox.dispatches d
   where d.status = 'pending'
     and d.next_attempt_at <= pg_catalog.now() - interval '30 seconds'
     and not exists (select 1 from graphile_worker._private_jobs j where j.key = 'outbox:' || d.stream);
  if v_streams is not null then
    perform outbox_private.enqueue_streams(v_streams);
  end if;
  return coalesce(cardinality(v_streams), 0);
end;
$$;
comment on function outbox_private.requeue_orphans() is
  'Safety net (crontab outbox_sweep, every minute): re-enqueues streams with work due for 30 s and no job. Returns how many.';

create or replace function outbox_private.next_dispatch(stream text)
  returns table (
    dispatch_id bigint,
    attempts integer,
    next_attempt_at timestamptz,
    event_id bigint,
    topic text,
    payload jsonb,
    aggregate_type text,
    aggregate_id text,
    organization_id uuid,
    event_created_at timestamptz,
    subscription_id uuid,
    url text,
    secret text,
    is_active boolean
  )
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  return query
    select d.dispatch_id, d.attempts, d.next_attempt_at, e.event_id, e.topic, e.payload, e.aggregate_type,
           e.aggregate_id, e.organization_id, e.created_at, s.subscription_id, s.url, s.secret, s.is_active
      from outbox.dispatches d
      join outbox.events e on e.event_id = d.event_id
      join outbox.webhook_subscriptions s on s.subscription_id = d.subscription_id
     where d.stream = next_dispatch.stream and d.status = 'pending'
     order by d.dispatch_id
     limit 1;
end;
$$;
comment on function outbox_private.next_dispatch(text) is 'The oldest pending dispatch of a stream.';
