-- Operator console: queue depth, jobs by state, outbox lag and delivery
-- success, and the actions operators take (retry, cancel, unlock, replay).
-- Built on graphile-worker's own tables and admin functions, read from plpgsql
-- so they resolve at run time. gw_admin only: each function is granted to it
-- alone and also calls auth_private.assert_operator(), so a withdrawn grant
-- stops working before the token expires.

drop schema if exists ops cascade;

create schema ops;
comment on schema ops is 'Operator console over the job queue, the outbox and the inbox. gw_admin only.';
grant usage on schema ops to gw_admin;

--------------------------------------------------------------------------------
-- Jobs

create type ops.job as (
  job_id bigint,
  queue_name text,
  task_identifier text,
  state text,
  payload json,
  priority smallint,
  run_at timestamptz,
  attempts smallint,
  max_attempts smallint,
  last_error text,
  key text,
  locked_at timestamptz,
  locked_by text,
  created_at timestamptz,
  updated_at timestamptz
);
comment on type ops.job is 'A graphile-worker job as operators see it.';
comment on column ops.job.job_id is 'The job''s id (graphile_worker jobs.id).';
comment on column ops.job.queue_name is 'Named queue (jobs of one queue run one at a time), if any.';
comment on column ops.job.task_identifier is 'The task that runs it.';
comment on column ops.job.state is 'running (locked by a worker), ready (due), scheduled (due later), retrying (failed before, due again later or now) or dead (out of attempts).';
comment on column ops.job.payload is 'The task''s input.';
comment on column ops.job.priority is 'Lower runs first.';
comment on column ops.job.run_at is 'When it is due.';
comment on column ops.job.attempts is 'Attempts so far.';
comment on column ops.job.max_attempts is 'Attempts allowed.';
comment on column ops.job.last_error is 'The last failure.';
comment on column ops.job.key is 'Job key (deduplicates waiting jobs), if any.';
comment on column ops.job.locked_at is 'When a worker took it.';
comment on column ops.job.locked_by is 'The worker running it.';
comment on column ops.job.created_at is 'When it was added.';
comment on column ops.job.updated_at is 'When it last changed.';

create function ops.jobs(state text default null, task_identifier text default null) returns setof ops.job
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  return query
    select * from (
      select j.id as job_id, q.queue_name, t.identifier as task_identifier,
             case
               when j.locked_at is not null then 'running'
               when j.attempts >= j.max_attempts then 'dead'
               when j.attempts > 0 then 'retrying'
               when j.run_at <= pg_catalog.now() then 'ready'
               else 'scheduled'
             end as state,
             j.payload, j.priority, j.run_at, j.attempts, j.max_attempts, j.last_error, j.key, j.locked_at,
             j.locked_by, j.created_at, j.updated_at
        from graphile_worker._private_jobs j
        join graphile_worker._private_tasks t on t.id = j.task_id
        left join graphile_worker._private_job_queues q on q.id = j.job_queue_id
       where jobs.task_identifier is null or t.identifier = jobs.task_identifier
    ) s
    where jobs.state is null or s.state = jobs.state
    order by s.job_id;
end;
$$;
comment on function ops.jobs(text, text) is
  'Jobs in the queue, optionally only one state (running, ready, scheduled, retrying, dead) or one task. Operators only.';

create function ops.queue_depth()
  returns table (
    task_identifier text,
    ready bigint,
    scheduled bigint,
    running bigint,
    retrying bigint,
    dead bigint,
    oldest_ready_at timestamptz
  )
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  return query
    select t.identifier,
           pg_catalog.count(*) filter (where j.locked_at is null and j.attempts = 0 and j.run_at <= pg_catalog.now()),
           pg_catalog.count(*) filter (where j.locked_at is null and j.attempts = 0 and j.run_at > pg_catalog.now()),
           pg_catalog.count(*) filter (where j.locked_at is not null),
           pg_catalog.count(*) filter (where j.locked_at is null and j.attempts > 0 and j.attempts < j.max_attempts),
           pg_catalog.count(*) filter (where j.locked_at is null and j.attempts >= j.max_attempts),
           pg_catalog.min(j.run_at) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= pg_catalog.now())
      from graphile_worker._private_tasks t
      join graphile_worker._private_jobs j on j.task_id = t.id
     group by t.identifier
     order by t.identifier;
end;
$$;
comment on function ops.queue_depth() is
  'Jobs per task by state, and the oldest due job''s run_at (how far behind the workers are). Tasks with no jobs are left out. Operators only.';

create function ops.retry_jobs(job_ids bigint[]) returns setof ops.job
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  if exists (select 1 from pg_catalog.unnest(job_ids) i(id)
              where not exists (select 1 from graphile_worker._private_jobs j where j.id = i.id)) then
    raise exception 'No job among %.', job_ids using errcode = 'NTFND';
  end if;
  -- Locked jobs are left alone by reschedule_jobs: they are running.
  perform graphile_worker.reschedule_jobs(job_ids, run_at := pg_catalog.now(), attempts := 0);
  return query select * from ops.jobs() j where j.job_id = any (job_ids);
end;
$$;
comment on function ops.retry_jobs(bigint[]) is
  E'@resultFieldName jobs\nMakes failed or dead jobs due now with their attempts reset. Running jobs are left alone. NTFND if an id is unknown. Operators only.';

create function ops.cancel_jobs(job_ids bigint[]) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_count integer;
begin
  perform auth_private.assert_operator();
  if exists (select 1 from pg_catalog.unnest(job_ids) i(id)
              where not exists (select 1 from graphile_worker._private_jobs j where j.id = i.id)) then
    raise exception 'No job among %.', job_ids using errcode = 'NTFND';
  end if;
  select pg_catalog.count(*) into v_count from graphile_worker.complete_jobs(job_ids);
  return v_count;
end;
$$;
comment on function ops.cancel_jobs(bigint[]) is
  E'@resultFieldName cancelledCount\nRemoves jobs that are not running (graphile_worker.complete_jobs) and returns how many were removed. NTFND if an id is unknown. Operators only.';

create function ops.unlock_workers(worker_ids text[]) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_count integer;
begin
  perform auth_private.assert_operator();
  select pg_catalog.count(*) into v_count from graphile_worker._private_jobs j where j.locked_by = any (worker_ids);
  perform graphile_worker.force_unlock_workers(worker_ids);
  return v_count;
end;
$$;
comment on function ops.unlock_workers(text[]) is
  E'@resultFieldName unlockedCount\nReleases the jobs and queues held by workers that died (killed process, lost machine) so others run them now instead of after graphile-worker''s 4-hour lock timeout. Only for workers you know are gone. Returns how many jobs were released. Operators only.';

--------------------------------------------------------------------------------
-- Outbox and inbox health

create function ops.outbox_health()
  returns table (
    pending_dispatches bigint,
    oldest_pending_at timestamptz,
    lag_seconds double precision,
    dead_letters bigint,
    delivered_last_hour bigint,
    attempts_last_hour bigint,
    failed_attempts_last_hour bigint,
    success_rate_last_hour double precision,
    inbox_pending bigint,
    inbox_dead bigint
  )
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  return query
    with pending as (
      select pg_catalog.count(*) as n, pg_catalog.min(d.created_at) as oldest
        from outbox.dispatches d where d.status = 'pending'
    ), attempts as (
      select pg_catalog.count(*) as n,
             pg_catalog.count(*) filter (where a.status = 'failed') as failed,
             pg_catalog.count(*) filter (where a.status = 'succeeded') as succeeded
        from outbox.deliveries a where a.attempted_at > pg_catalog.now() - interval '1 hour'
    )
    select pending.n, pending.oldest,
           coalesce(extract(epoch from pg_catalog.now() - pending.oldest)::double precision, 0),
           (select pg_catalog.count(*) from outbox.dispatches d where d.status = 'dead'),
           attempts.succeeded, attempts.n, attempts.failed,
           case when attempts.n = 0 then null else attempts.succeeded::double precision / attempts.n end,
           (select pg_catalog.count(*) from inbox.messages m where m.status = 'received'),
           (select pg_catalog.count(*) from inbox.messages m where m.status = 'dead')
      from pending, attempts;
end;
$$;
comment on function ops.outbox_health() is
  'Outbox lag (age of the oldest undelivered dispatch), dead letters, delivery success rate over the last hour, and inbox backlog. Operators only.';

revoke execute on all functions in schema ops from public;
grant execute on function ops.jobs(text, text) to gw_admin;
grant execute on function ops.queue_depth() to gw_admin;
grant execute on function ops.retry_jobs(bigint[]) to gw_admin;
grant execute on function ops.cancel_jobs(bigint[]) to gw_admin;
grant execute on function ops.unlock_workers(text[]) to gw_admin;
grant execute on function ops.outbox_health() to gw_admin;
