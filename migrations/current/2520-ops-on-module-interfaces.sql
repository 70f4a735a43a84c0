--! split: 2520-ops-on-module-interfaces.sql
-- The operators' console on auth's trusted interface (auth.assert_operator,
-- 1910) instead of auth_private (CONVENTIONS: a module never reads another
-- module's *_private schema). Only the operator check changes.

-- ops.cancel_jobs: as in 000012, on the interfaces
create or replace function ops.cancel_jobs(job_ids bigint[]) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_count integer;
begin
  perform auth.assert_operator();
  if exists (select 1 from pg_catalog.unnest(job_ids) i(id)
              where not exists (select 1 from graphile_worker.jobs j where j.id = i.id)) then
    raise exception 'No job among %.', job_ids using errcode = 'NTFND';
  end if;
  select pg_catalog.count(*) into v_count from graphile_worker.complete_jobs(job_ids);
  return v_count;
end;
$$;

-- ops.jobs: as in 000012, on the interfaces
create or replace function ops.jobs(state text default null, task_identifier text default null) returns setof ops.job
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth.assert_operator();
  return query
    select s.id, s.queue_name, s.task_identifier, s.state, p.payload, s.priority, s.run_at, s.attempts,
           s.max_attempts, s.last_error, s.key, s.locked_at, s.locked_by, s.created_at, s.updated_at
      from (select j.*, ops_private.job_state(j.locked_at, j.attempts, j.max_attempts, j.run_at, pg_catalog.now()) as state
              from graphile_worker.jobs j
             where jobs.task_identifier is null or j.task_identifier = jobs.task_identifier) s
      left join ops_private.job_payloads() p on p.job_id = s.id
     where jobs.state is null or s.state = jobs.state
     order by s.id;
end;
$$;

-- ops.outbox_health: as in 000002, on the interfaces
create or replace function ops.outbox_health()
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
  perform auth.assert_operator();
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

-- ops.queue_depth: as in 000012, on the interfaces
create or replace function ops.queue_depth()
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
  perform auth.assert_operator();
  -- job_state is inlined: still one scan and one aggregate, as cheap as the comparisons it replaces.
  return query
    select s.task_identifier,
           pg_catalog.count(*) filter (where s.state = 'ready'),
           pg_catalog.count(*) filter (where s.state = 'scheduled'),
           pg_catalog.count(*) filter (where s.state = 'running'),
           pg_catalog.count(*) filter (where s.state = 'retrying'),
           pg_catalog.count(*) filter (where s.state = 'dead'),
           pg_catalog.min(s.run_at) filter (where s.state in ('ready', 'retrying') and s.run_at <= pg_catalog.now())
      from (select j.task_identifier, j.run_at,
                   ops_private.job_state(j.locked_at, j.attempts, j.max_attempts, j.run_at, pg_catalog.now()) as state
              from graphile_worker.jobs j) s
     group by s.task_identifier
     order by s.task_identifier;
end;
$$;

-- ops.retry_jobs: as in 000012, on the interfaces
create or replace function ops.retry_jobs(job_ids bigint[]) returns setof ops.job
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  perform auth.assert_operator();
  if exists (select 1 from pg_catalog.unnest(job_ids) i(id)
              where not exists (select 1 from graphile_worker.jobs j where j.id = i.id)) then
    raise exception 'No job among %.', job_ids using errcode = 'NTFND';
  end if;
  -- Locked jobs are left alone by reschedule_jobs: they are running.
  perform graphile_worker.reschedule_jobs(job_ids, run_at := pg_catalog.now(), attempts := 0);
  return query select * from ops.jobs() j where j.job_id = any (job_ids);
end;
$$;

-- ops.unlock_workers: as in 000012, on the interfaces
create or replace function ops.unlock_workers(worker_ids text[]) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_count integer;
begin
  perform auth.assert_operator();
  select pg_catalog.count(*) into v_count from graphile_worker.jobs j where j.locked_by = any (worker_ids);
  perform graphile_worker.force_unlock_workers(worker_ids);
  return v_count;
end;
$$;

-- ops.worker_pools: as in 000028, on the interfaces
create or replace function ops.worker_pools()
  returns table (pool_id text, host text, pid integer, started_at timestamptz, beat_at timestamptz, alive boolean, running_jobs integer)
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth.assert_operator();
  return query
    select p.pool_id, p.host, p.pid, p.started_at, p.beat_at,
           p.beat_at >= pg_catalog.now() - interval '30 seconds',
           (select pg_catalog.count(*)::integer from graphile_worker.jobs j where j.locked_by = p.pool_id)
      from ops_private.worker_pools p
     order by p.started_at;
end;
$$;
