--! Previous: sha1:227259d5872957b532710cadba0cc8123319314b
--! Hash: sha1:5e193f5bd9f264389cebea37bc329af4af22ea76
--! Message: ops: on the trusted interfaces; rate limits from reserved chunks (issues 22, 24)

--! split: 2520-ops-on-module-interfaces.sql
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

--! split: 2525-rate-limit-reservations.sql
-- Rate limits without a database write per request (issue 24). Each API
-- process reserves a chunk of a key's budget for the current fixed window
-- (rate_limit_reserve), spends it in memory and reserves again when it runs
-- out. A grant never takes the window's total past the limit, so all
-- processes together never admit more than the limit; what they can lose is
-- quota reserved and not spent (a dead process's, or one the load balancer
-- stops sending that client to), bounded by the chunk sizes
-- (docs/operations.md#rate-limits). Replaces the per-request upsert
-- rate_limit_hit and its hit counters.

drop function if exists ops_private.rate_limit_prune(integer);
drop function if exists ops_private.rate_limit_reserve(text[], integer[], integer[], integer[]);
drop function if exists ops_private.rate_limit_window_start(integer);
drop function if exists ops_private.rate_limit_hit(text[], integer[]);
drop table if exists ops_private.rate_limit_reservations;
drop table if exists ops_private.rate_limits;

-- One row per key (a client IP or user, per class of request): its current
-- fixed window and how much of the window's limit processes have reserved so
-- far. The row is reused when the window rolls over (one row per active
-- client, not per window).
create table ops_private.rate_limit_reservations (
  key text primary key,
  window_start timestamptz not null,
  window_seconds integer not null check (window_seconds > 0),
  limit_per_window integer not null check (limit_per_window >= 0),
  reserved integer not null check (reserved >= 0 and reserved <= limit_per_window)
);
alter table ops_private.rate_limit_reservations enable row level security;
-- No policies: only the security definer functions below (run as the owner) touch it.
comment on table ops_private.rate_limit_reservations is
  'Per key and fixed window, how much of the limit the API processes have reserved to spend in memory; never more than the limit.';

create function ops_private.rate_limit_window_start(window_seconds integer) returns timestamptz
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_timestamp(pg_catalog.floor(extract(epoch from pg_catalog.now()) / window_seconds) * window_seconds);
$$;
comment on function ops_private.rate_limit_window_start(integer) is
  'Start of the current fixed window of that length, by the database''s clock: every API process counts in the same windows.';

-- Keys are handled in a stable order, so two processes reserving the same keys never deadlock.
create function ops_private.rate_limit_reserve(keys text[], window_seconds integer[], limits integer[], wanted integer[])
  returns table (key text, granted integer, reserved integer, resets_in_ms integer)
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_key text;
  v_seconds integer;
  v_limit integer;
  v_want integer;
  v_start timestamptz;
  v_before integer;
begin
  for v_key, v_seconds, v_limit, v_want in
    select k.key, k.seconds, greatest(k.lim, 0), greatest(k.want, 0)
      from rows from (pg_catalog.unnest(keys), pg_catalog.unnest(window_seconds), pg_catalog.unnest(limits), pg_catalog.unnest(wanted)) as k(key, seconds, lim, want)
     order by k.key
  loop
    v_start := ops_private.rate_limit_window_start(v_seconds);
    -- Takes the row lock; a new window (or a changed limit) starts from what is reserved in it: nothing.
    insert into ops_private.rate_limit_reservations as r (key, window_start, window_seconds, limit_per_window, reserved)
    values (v_key, v_start, v_seconds, v_limit, 0)
    on conflict on constraint rate_limit_reservations_pkey do update
      set reserved = case when r.window_start = excluded.window_start then least(r.reserved, excluded.limit_per_window) else 0 end,
          window_start = excluded.window_start,
          window_seconds = excluded.window_seconds,
          limit_per_window = excluded.limit_per_window
    returning r.reserved into v_before;
    granted := least(v_want, v_limit - v_before);
    if granted > 0 then
      update ops_private.rate_limit_reservations r set reserved = r.reserved + granted where r.key = v_key;
    end if;
    key := v_key;
    reserved := v_before + granted;
    resets_in_ms := pg_catalog.ceil(extract(epoch from v_start + pg_catalog.make_interval(secs => v_seconds) - pg_catalog.clock_timestamp()) * 1000)::integer;
    return next;
  end loop;
end;
$$;
comment on function ops_private.rate_limit_reserve(text[], integer[], integer[], integer[]) is
  'Reserves up to wanted[i] of keys[i]''s limit in its current window and returns what was granted (0 once the window''s limit is all reserved), the window''s total reserved and the milliseconds until it resets. Security definer because the API login role has no rights on the table itself.';

-- Forgets keys whose window ended long ago (called now and then by an API process).
create function ops_private.rate_limit_prune(older_than_seconds integer) returns integer
  language sql
  volatile
  security definer
  set search_path = ''
as $$
  with gone as (
    delete from ops_private.rate_limit_reservations r
     where r.window_start + pg_catalog.make_interval(secs => r.window_seconds + older_than_seconds) < pg_catalog.now()
    returning 1
  )
  select pg_catalog.count(*)::integer from gone;
$$;
comment on function ops_private.rate_limit_prune(integer) is
  'Deletes reservations whose window ended more than the given seconds ago. Security definer because the API login role has no rights on the table itself.';

revoke execute on function ops_private.rate_limit_window_start(integer) from public;
revoke execute on function ops_private.rate_limit_reserve(text[], integer[], integer[], integer[]) from public;
revoke execute on function ops_private.rate_limit_prune(integer) from public;
grant execute on function ops_private.rate_limit_reserve(text[], integer[], integer[], integer[]) to gw_authenticator;
grant execute on function ops_private.rate_limit_prune(integer) to gw_authenticator;
