--! Previous: sha1:04be748128fa3cc6dde35f6acf3c669a737b3c4b
--! Hash: sha1:06c9a49eb5a7570089dfad69f9d647032017de01
--! Message: ops: worker pool heartbeats and the sweeper of dead pools' jobs (issue 16)

--! split: 2510-ops-worker-heartbeats.sql
-- Unattended crash recovery (issue 16). graphile-worker locks a job with the
-- id of the worker pool that took it (`pool-` and 18 hex digits) and treats a
-- lock as stale only after 4 hours. Every Groundwork worker pool records a
-- heartbeat here; any pool releases, through graphile-worker's own
-- force_unlock_workers, the jobs of pools that stopped beating. The bound is
-- documented in docs/operations.md#crash-recovery.
-- Re-runnable: drops what it creates, in reverse order.

drop function if exists ops.worker_pools();
drop function if exists ops_private.release_dead_workers(interval);
drop function if exists ops_private.worker_gone(text);
drop function if exists ops_private.worker_beat(text, text, integer);
drop table if exists ops_private.worker_pools;

create table ops_private.worker_pools (
  pool_id text primary key check (pool_id ~ '^[a-z]+-[0-9a-f]+$'),
  host text not null,
  pid integer not null,
  started_at timestamptz not null default pg_catalog.now(),
  beat_at timestamptz not null default pg_catalog.now()
);
alter table ops_private.worker_pools enable row level security;
comment on table ops_private.worker_pools is
  'One row per running graphile-worker pool of a Groundwork process: its id (the locked_by of its jobs), where it runs and its last heartbeat. A pool deletes its row when it stops cleanly; a row whose heartbeat is older than the stale bound belongs to a dead pool.';

create function ops_private.worker_beat(pool_id text, host text, pid integer) returns void
  language sql
  volatile
  set search_path = ''
as $$
  insert into ops_private.worker_pools (pool_id, host, pid)
  values (worker_beat.pool_id, worker_beat.host, worker_beat.pid)
  on conflict on constraint worker_pools_pkey do update set beat_at = pg_catalog.now();
$$;
comment on function ops_private.worker_beat(text, text, integer) is
  'A worker pool''s heartbeat: registers the pool on its first call, then moves beat_at to now.';

create function ops_private.worker_gone(pool_id text) returns void
  language sql
  volatile
  set search_path = ''
as $$
  delete from ops_private.worker_pools p where p.pool_id = worker_gone.pool_id;
$$;
comment on function ops_private.worker_gone(text) is
  'A worker pool that stopped cleanly (its jobs finished and were released) takes its row away.';

create function ops_private.release_dead_workers(stale_after interval) returns table (worker_id text, released_jobs integer)
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_ids text[];
begin
  -- Dead: a registered pool that has not beaten for stale_after, or a lock
  -- held that long by an id no pool ever registered (a pool killed before its
  -- first beat committed, or a process without heartbeats).
  with locks as (
    select j.locked_by, pg_catalog.min(j.locked_at) as locked_at, pg_catalog.count(*)::integer as jobs
      from graphile_worker.jobs j
     where j.locked_by is not null
     group by j.locked_by
  ), dead as (
    select p.pool_id as id, coalesce(l.jobs, 0) as jobs
      from ops_private.worker_pools p
      left join locks l on l.locked_by = p.pool_id
     where p.beat_at < pg_catalog.now() - stale_after
    union all
    select l.locked_by, l.jobs
      from locks l
     where l.locked_at < pg_catalog.now() - stale_after
       and not exists (select 1 from ops_private.worker_pools p where p.pool_id = l.locked_by)
  )
  select pg_catalog.array_agg(d.id) into v_ids from dead d;
  if v_ids is null then
    return;
  end if;
  return query
    select l.locked_by, pg_catalog.count(*)::integer
      from graphile_worker.jobs l
     where l.locked_by = any (v_ids)
     group by l.locked_by;
  perform graphile_worker.force_unlock_workers(v_ids);
  delete from ops_private.worker_pools p where p.pool_id = any (v_ids);
end;
$$;
comment on function ops_private.release_dead_workers(interval) is
  'The sweeper every worker pool runs at start and every few seconds: releases (graphile_worker.force_unlock_workers) the jobs and queues of pools whose heartbeat is older than stale_after, and of lock holders that never registered once their lock is that old, and forgets those pools. Returns each id that held jobs and how many it held.';

revoke execute on function ops_private.worker_beat(text, text, integer) from public;
revoke execute on function ops_private.worker_gone(text) from public;
revoke execute on function ops_private.release_dead_workers(interval) from public;

create function ops.worker_pools()
  returns table (pool_id text, host text, pid integer, started_at timestamptz, beat_at timestamptz, alive boolean, running_jobs integer)
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  return query
    select p.pool_id, p.host, p.pid, p.started_at, p.beat_at,
           p.beat_at >= pg_catalog.now() - interval '30 seconds',
           (select pg_catalog.count(*)::integer from graphile_worker.jobs j where j.locked_by = p.pool_id)
      from ops_private.worker_pools p
     order by p.started_at;
end;
$$;
comment on function ops.worker_pools() is
  'The worker pools that are running (or died less than a sweep ago): the id their jobs'' lockedBy shows, host and process id, last heartbeat, whether it is recent (30 s), and how many jobs each holds. Operators only. Security definer because the pool registry is private and not granted to API roles: the operator check is the permission.';
revoke execute on function ops.worker_pools() from public;
grant execute on function ops.worker_pools() to gw_admin;
