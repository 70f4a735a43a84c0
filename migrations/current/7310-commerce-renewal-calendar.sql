-- The renewal calendar (issue 21): far-future renewals wait in a commerce
-- table, and a scheduler run by the crontab every minute hands those due
-- within the horizon to graphile-worker, many per add_jobs call.
--
-- Why: graphile-worker's add_jobs always runs pg_notify('jobs:insert', …), even
-- for a job due a month later, and a notifying transaction holds PostgreSQL's
-- global notify lock from before its commit record until after its WAL flush.
-- Scheduling the next period's job from the renewal's own transaction made
-- every renewal such a commit, so renewals committed one at a time (383/s
-- against 2,448 no-op jobs/s on a quiet machine). Now the renewal writes one
-- calendar row and notifies nothing; the scheduler notifies once per batch.
--
-- The renewal is still a job at its period end, never a scan of
-- subscriptions: the calendar holds exactly the scheduled renewals (one row per
-- subscription at most, read by an index range on run_at), and the job the
-- scheduler adds carries the row's exact run_at, identifier, payload, key and
-- max_attempts, as schedule_renewal gave them before.
--
-- Invariant: a subscription's next renewal is a calendar row or a waiting
-- (unlocked) job with key commerce_renew:<id>, never both. A running (locked)
-- job may coexist with a calendar row: it is the renewal that wrote that row.

create table if not exists commerce_private.renewal_calendar (
  subscription_id uuid primary key
    constraint renewal_calendar_subscription_id_fkey references commerce.subscriptions (subscription_id) on delete cascade,
  run_at timestamptz not null
);
-- Private: no policies and no grants, so only the owner (security definer
-- functions, the worker) reads or writes it; RLS on like every table.
alter table commerce_private.renewal_calendar enable row level security;
create index if not exists renewal_calendar_run_at_idx on commerce_private.renewal_calendar (run_at);
comment on table commerce_private.renewal_calendar is
  'Renewals of subscriptions due beyond the hand-off horizon (commerce_private.renewal_horizon()): one row per subscription at its renewal time. commerce_private.hand_over_renewals (the crontab task commerce_schedule_renewals, every minute) moves rows due within the horizon into graphile-worker as commerce_renew_subscription jobs at that exact run_at, so a renewal''s commit does not notify.';
comment on column commerce_private.renewal_calendar.subscription_id is 'The subscription (its renewal job key is commerce_renew:<id>).';
comment on column commerce_private.renewal_calendar.run_at is 'When the renewal job must run: the period end or the dunning retry time.';

-- 10 minutes: the scheduler runs every minute, so a row reaches graphile-worker
-- 9–10 minutes before it is due and nine missed runs (a worker restart, a busy
-- minute) still cost no lateness; and only ten minutes of renewals wait as jobs,
-- so graphile-worker's queue stays small. A renewal needed sooner than that
-- (an overdue one, a resume with minutes left) is added at once, notified.
create or replace function commerce_private.renewal_horizon() returns interval
  language sql
  immutable
  parallel safe
  set search_path = ''
as $$
  select interval '10 minutes'
$$;
comment on function commerce_private.renewal_horizon() is
  'How far ahead of the real clock (now(), by which graphile-worker runs jobs) a renewal is handed to graphile-worker: 10 minutes, ten runs of the every-minute scheduler.';

create or replace function commerce_private.schedule_renewal(subscription_id uuid, run_at timestamptz) returns void
  language plpgsql
  volatile
  set search_path = ''
  set plan_cache_mode = force_generic_plan
as $$
declare
  v_key text := 'commerce_renew:' || schedule_renewal.subscription_id::text;
begin
  -- Real time, not commerce_private.now(): graphile-worker runs jobs by now().
  if schedule_renewal.run_at <= pg_catalog.now() + commerce_private.renewal_horizon() then
    -- Needed soon: a job now (notified). A calendar row left would later move it back.
    delete from commerce_private.renewal_calendar c where c.subscription_id = schedule_renewal.subscription_id;
    perform graphile_worker.add_job('commerce_renew_subscription', pg_catalog.json_build_object('id', schedule_renewal.subscription_id),
      run_at => schedule_renewal.run_at, max_attempts => 5, job_key => v_key, job_key_mode => 'replace');
    return;
  end if;
  -- Upsert first: it waits for a scheduler handing this row over, so the check
  -- below (a new snapshot) sees the job that scheduler added.
  insert into commerce_private.renewal_calendar as c (subscription_id, run_at)
  values (schedule_renewal.subscription_id, schedule_renewal.run_at)
  on conflict on constraint renewal_calendar_pkey do update set run_at = excluded.run_at;
  -- A waiting job of this key is an earlier schedule: it goes (remove_job
  -- notifies when it deletes, so only then). A locked one is this renewal
  -- running: left alone (remove_job would also stop its retries).
  if exists (select 1 from graphile_worker.jobs j where j.key = v_key and j.locked_at is null) then
    perform graphile_worker.remove_job(v_key);
  end if;
end;
$$;
comment on function commerce_private.schedule_renewal(uuid, timestamptz) is
  'Schedules (or moves) the one renewal of a subscription to run at run_at: within the hand-off horizon of now() (commerce_private.renewal_horizon(), 10 minutes) as a graphile-worker job now (key commerce_renew:<id>, replacing a waiting one); later as a row of commerce_private.renewal_calendar, removing a waiting job of the key, so the caller''s commit does not notify. plan_cache_mode = force_generic_plan: graphile-worker''s add_jobs would otherwise be planned again on every call.';

create or replace function commerce_private.unschedule_renewal(subscription_id uuid) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  delete from commerce_private.renewal_calendar c where c.subscription_id = unschedule_renewal.subscription_id;
  perform graphile_worker.remove_job('commerce_renew:' || unschedule_renewal.subscription_id::text);
end;
$$;
comment on function commerce_private.unschedule_renewal(uuid) is
  'Removes the scheduled renewal of a subscription: its calendar row and its waiting job (a running one finds nothing due).';

-- The scheduler's batch: up to max_rows calendar rows due by up_to (default:
-- now() + the horizon), earliest first, locked with skip locked so two
-- schedulers never hand the same row, deleted and added as jobs in this one
-- transaction (one add_jobs, one notification). Returns how many it handed.
create or replace function commerce_private.hand_over_renewals(max_rows integer default 1000, up_to timestamptz default null)
  returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_specs graphile_worker.job_spec[];
begin
  with due as (
    select c.subscription_id
      from commerce_private.renewal_calendar c
     where c.run_at <= coalesce(hand_over_renewals.up_to, pg_catalog.now() + commerce_private.renewal_horizon())
     order by c.run_at
     limit hand_over_renewals.max_rows
       for update skip locked
  ), handed as (
    delete from commerce_private.renewal_calendar c using due
     where c.subscription_id = due.subscription_id
    returning c.subscription_id, c.run_at
  )
  select pg_catalog.array_agg(row('commerce_renew_subscription', pg_catalog.json_build_object('id', h.subscription_id), null, h.run_at, 5,
           'commerce_renew:' || h.subscription_id::text, null, null)::graphile_worker.job_spec)
    into v_specs
    from handed h;
  if v_specs is null then
    return 0; -- nothing due: no add_jobs, whose notification would be for nothing
  end if;
  perform graphile_worker.add_jobs(v_specs);
  return pg_catalog.cardinality(v_specs);
end;
$$;
comment on function commerce_private.hand_over_renewals(integer, timestamptz) is
  'Moves up to max_rows renewals of commerce_private.renewal_calendar due by up_to (default now() + commerce_private.renewal_horizon()) into graphile-worker with one add_jobs (commerce_renew_subscription, key commerce_renew:<id>, their exact run_at, max_attempts 5) and deletes their rows, in one transaction; rows another scheduler holds are skipped. Returns how many it handed over (fewer than max_rows: nothing more is due). Called by the crontab task commerce_schedule_renewals.';
