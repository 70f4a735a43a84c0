--! Previous: sha1:76c274c8f4bf244fb7473620c0bb5c00c546583b
--! Hash: sha1:1dcf2df3ba8bea2a86df4e2edeb87d45060687d7
--! Message: datarights: data exports as a state machine, zipped and mailed (issue 20)

--! split: 6200-datarights-exports.sql
-- datarights: data export jobs (the seed's datarights.export_jobs, same columns,
-- check constraint and indexes). Status moves only along registry.transitions
-- (pending -> running -> completed | failed). requestDataExport dedupes (one
-- pending or running job per user, enforced by a partial unique index) and
-- rate-limits (one completed export per 30 days); the worker task
-- datarights_export collects, zips and mails. Exporters (6210): one
-- registration point every module adds its data to.

drop schema if exists datarights_private cascade;
drop schema if exists datarights cascade;

create schema datarights;
comment on schema datarights is 'Data rights: exports of everything a user owns, mailed to them as a ZIP of JSON files.';
grant usage on schema datarights to gw_user;

create schema datarights_private;
comment on schema datarights_private is 'The export task''s steps and the built-in exporters; never exposed.';
revoke all on schema datarights_private from public;

insert into registry.types (namespace, code, label, description, sort_order) values
  ('export_job_status', 'pending', 'Pending', 'Requested; waiting for a worker slot.', 10),
  ('export_job_status', 'running', 'Running', 'A worker is collecting and mailing it.', 20),
  ('export_job_status', 'completed', 'Completed', 'Mailed; counts against the 30-day limit.', 30),
  ('export_job_status', 'failed', 'Failed', 'Did not finish; never blocks a retry.', 40)
on conflict (namespace, code) do update
  set label = excluded.label, description = excluded.description, sort_order = excluded.sort_order;
insert into registry.transitions (namespace, from_code, to_code, label) values
  ('export_job_status', null, 'pending', 'Request'),
  ('export_job_status', 'pending', 'running', 'Start'),
  ('export_job_status', 'running', 'completed', 'Complete'),
  ('export_job_status', 'running', 'failed', 'Fail')
on conflict on constraint transitions_move_key do nothing;

insert into registry.types (namespace, code, label, description) values
  ('outbox_topic', 'datarights.export_completed', 'Data export completed', 'Payload: jobId, userId, fileSizeBytes, completedAt.'),
  ('outbox_topic', 'datarights.export_failed', 'Data export failed', 'Payload: jobId, userId, error, completedAt.')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description;

create table datarights.export_jobs (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null
    constraint export_jobs_user_id_fkey references auth.users (user_id) on delete cascade,
  status varchar(20) not null default 'pending'
    constraint export_jobs_status_check check (status in ('pending', 'running', 'completed', 'failed')),
  error text
    constraint export_jobs_error_check check (char_length(error) <= 2000),
  file_size_bytes bigint
    constraint export_jobs_file_size_bytes_check check (file_size_bytes >= 0),
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  updated_at timestamptz not null default now(),
  -- Terminal fields are null while in progress and set on completion or failure.
  constraint export_jobs_terminal_check check (
    (status in ('pending', 'running') and completed_at is null and file_size_bytes is null and error is null)
    or (status = 'completed' and completed_at is not null and file_size_bytes is not null and error is null)
    or (status = 'failed' and completed_at is not null and error is not null and file_size_bytes is null))
);
alter table datarights.export_jobs enable row level security;
select registry.add_state_machine('datarights.export_jobs', 'status', 'export_job_status');

-- The seed's indexes: rate limit and dedupe checks; paginated listing.
create index export_jobs_user_status_idx on datarights.export_jobs (user_id, status);
create index export_jobs_user_created_idx on datarights.export_jobs (user_id, created_at desc);
-- At most one job in progress per user, whoever inserts.
create unique index export_jobs_one_in_progress_key on datarights.export_jobs (user_id) where status in ('pending', 'running');

create policy "users see their own export jobs"
  on datarights.export_jobs for select to gw_user
  using (user_id = (select auth.uid()));
grant select on datarights.export_jobs to gw_user;

comment on table datarights.export_jobs is
  E'@behavior -insert -update -delete\nA data export: requested with datarightsRequestDataExport, run by a worker (pending -> running -> completed or failed), mailed to the user as a ZIP of JSON files. Holds no user data itself: the export exists only while the worker assembles and mails it.';
comment on column datarights.export_jobs.id is 'The job''s id.';
comment on column datarights.export_jobs.user_id is 'Whose data.';
comment on column datarights.export_jobs.status is 'pending, running, completed or failed (moves in registry.transitions, namespace export_job_status).';
comment on column datarights.export_jobs.error is 'Why it failed; null otherwise.';
comment on column datarights.export_jobs.file_size_bytes is 'The size of the mailed ZIP; set on completion.';
comment on column datarights.export_jobs.created_at is 'When it was requested.';
comment on column datarights.export_jobs.completed_at is 'When it completed or failed.';
comment on column datarights.export_jobs.updated_at is 'When its status last changed.';
comment on constraint export_jobs_user_id_fkey on datarights.export_jobs is E'@behavior -*\nNo relation field: users read themselves through currentUser.';

create function datarights_private.tg_export_jobs__touch() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
comment on function datarights_private.tg_export_jobs__touch() is 'Keeps updated_at.';
create trigger _100_touch before update on datarights.export_jobs
  for each row execute function datarights_private.tg_export_jobs__touch();

--------------------------------------------------------------------------------
-- Requesting

create function datarights.request_data_export() returns datarights.export_jobs
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_job datarights.export_jobs;
  v_last timestamptz;
begin
  if v_user is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  -- One request per user at a time decides; concurrent ones wait and then see its job.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('datarights.request:' || v_user::text, 0));
  select * into v_job from datarights.export_jobs j where j.user_id = v_user and j.status in ('pending', 'running');
  if found then
    if v_job.status = 'running' then
      raise exception 'An export of your data is running; it will arrive by mail.' using errcode = 'DRRUN', detail = 'job ' || v_job.id::text;
    end if;
    return v_job;
  end if;
  select max(j.completed_at) into v_last from datarights.export_jobs j where j.user_id = v_user and j.status = 'completed';
  if v_last > pg_catalog.now() - interval '30 days' then
    raise exception 'One export per 30 days: the next is possible from %.',
      pg_catalog.to_char((v_last + interval '30 days') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      using errcode = 'DRLIM',
            detail = pg_catalog.to_char((v_last + interval '30 days') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
  end if;
  insert into datarights.export_jobs (user_id) values (v_user) returning * into v_job;
  -- Two named queues: at most two exports run at once (the seed's pool slots), whatever the number of workers.
  perform graphile_worker.add_job('datarights_export', pg_catalog.json_build_object('id', v_job.id),
    queue_name := 'datarights_export_' || (pg_catalog.abs(pg_catalog.hashtext(v_user::text)) % 2)::text,
    max_attempts := 3, job_key := 'datarights_export:' || v_job.id::text);
  return v_job;
end;
$$;
comment on function datarights.request_data_export() is
  'Requests an export of everything you own, mailed to you as a ZIP of JSON files. A pending request returns that job; DRRUN while one is running; DRLIM (with the date it resets) if an export completed in the last 30 days; failed exports never count. Security definer because jobs have no insert grant and the job queue is not granted to API roles.';
revoke execute on function datarights.request_data_export() from public;
grant execute on function datarights.request_data_export() to gw_user;

--------------------------------------------------------------------------------
-- The worker's steps

create function datarights_private.start_export(job_id uuid)
  returns table (user_id uuid, email text, username text)
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_job datarights.export_jobs;
begin
  select * into v_job from datarights.export_jobs j where j.id = start_export.job_id for update;
  if not found or v_job.status not in ('pending', 'running') then
    return; -- gone, or already finished: nothing to do
  end if;
  if v_job.status = 'pending' then
    update datarights.export_jobs j set status = 'running' where j.id = v_job.id;
  end if;
  -- A job still running here is a retry after a crashed attempt: run it again.
  return query select u.user_id, u.email::text, u.username from auth.users u where u.user_id = v_job.user_id;
end;
$$;
comment on function datarights_private.start_export(uuid) is
  'Moves a pending job to running and returns whom to export and mail; nothing when the job is gone or finished.';

create function datarights_private.finish_export(job_id uuid, file_size_bytes bigint, error text) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_job datarights.export_jobs;
  v_event bigint;
begin
  update datarights.export_jobs j
     set status = case when finish_export.error is null then 'completed' else 'failed' end,
         file_size_bytes = case when finish_export.error is null then finish_export.file_size_bytes end,
         error = pg_catalog.left(finish_export.error, 2000),
         completed_at = pg_catalog.now()
   where j.id = finish_export.job_id and j.status = 'running'
  returning * into v_job;
  if not found then
    return;
  end if;
  if v_job.status = 'completed' then
    v_event := outbox.publish('datarights.export_completed',
      pg_catalog.jsonb_build_object('jobId', v_job.id, 'userId', v_job.user_id, 'fileSizeBytes', v_job.file_size_bytes,
                                    'completedAt', v_job.completed_at),
      'export_job', v_job.id::text);
    perform outbox.notify_user(v_job.user_id, 'datarights.export_completed',
      'Your data export was sent to your e-mail address.', pg_catalog.jsonb_build_object('jobId', v_job.id), v_event);
  else
    v_event := outbox.publish('datarights.export_failed',
      pg_catalog.jsonb_build_object('jobId', v_job.id, 'userId', v_job.user_id, 'error', v_job.error, 'completedAt', v_job.completed_at),
      'export_job', v_job.id::text);
    perform outbox.notify_user(v_job.user_id, 'datarights.export_failed',
      'Your data export failed; you can request it again.', pg_catalog.jsonb_build_object('jobId', v_job.id), v_event);
  end if;
end;
$$;
comment on function datarights_private.finish_export(uuid, bigint, text) is
  'Completes a running job (error null: size and time set) or fails it (error recorded), publishes datarights.export_completed or datarights.export_failed and notifies the user.';

--! split: 6210-datarights-exporters.sql
-- datarights: the one registration point of exports. Each row names a function
-- (user_id uuid) returns setof jsonb, one JSON value per record; the worker
-- streams each into <name>.json of the ZIP. A module that keeps user data adds
-- its rows with datarights.register_exporter in its own migration; the core
-- modules that predate this one (auth, users, audit, outbox) and the budgeting
-- modules are registered here.

create table datarights.exporters (
  name text primary key
    constraint exporters_name_check check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  module text not null
    constraint exporters_module_check check (module ~ '^[a-z][a-z0-9_]{0,62}$'),
  function_name regprocedure not null,
  description text not null
    constraint exporters_description_check check (char_length(description) between 1 and 500),
  sort_order integer not null default 0
);
alter table datarights.exporters enable row level security;

create policy "signed-in users see what an export contains"
  on datarights.exporters for select to gw_user
  using (true);
grant select (name, module, description, sort_order) on datarights.exporters to gw_user;

comment on table datarights.exporters is
  E'@behavior -insert -update -delete\nWhat a data export contains: one JSON file per row, written by the row''s function for the user. Modules register theirs in their migrations (datarights.register_exporter).';
comment on column datarights.exporters.name is 'The file''s name in the ZIP, without .json.';
comment on column datarights.exporters.module is 'The module whose data it is.';
comment on column datarights.exporters.function_name is E'@behavior -select\nThe function (user_id uuid) returns setof jsonb that yields the records.';
comment on column datarights.exporters.description is 'What the file holds.';
comment on column datarights.exporters.sort_order is 'Order of the files in the ZIP.';

create function datarights.register_exporter(name text, module text, function_name regprocedure, description text,
  sort_order integer default 0) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if not exists (select 1 from pg_catalog.pg_proc p
                  where p.oid = register_exporter.function_name and p.prorettype = 'jsonb'::regtype and p.proretset
                    and p.pronargs = 1 and p.proargtypes[0] = 'uuid'::regtype) then
    raise exception 'An exporter is a function (user_id uuid) returns setof jsonb; % is not.', function_name using errcode = 'BADIN';
  end if;
  insert into datarights.exporters (name, module, function_name, description, sort_order)
  values (register_exporter.name, register_exporter.module, register_exporter.function_name, register_exporter.description,
          register_exporter.sort_order)
  on conflict on constraint exporters_pkey do update
    set module = excluded.module, function_name = excluded.function_name, description = excluded.description,
        sort_order = excluded.sort_order;
end;
$$;
comment on function datarights.register_exporter(text, text, regprocedure, text, integer) is
  E'@behavior -queryField -mutationField\nAdds (or replaces) a file of the data export: a function (user_id uuid) returns setof jsonb. For migrations; not granted to API roles.';
revoke execute on function datarights.register_exporter(text, text, regprocedure, text, integer) from public;

--------------------------------------------------------------------------------
-- The core's and the budgeting app's data. Trusted code (the worker) runs them:
-- each filters by the user itself and leaves secrets out (password hashes,
-- refresh-token hashes).

create function datarights_private.export_profile(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
           'userId', u.user_id, 'username', u.username, 'email', u.email, 'createdAt', u.created_at,
           'currency', u.currency, 'hasCompletedOnboarding', u.has_completed_onboarding, 'tokensRevokedAt', u.tokens_revoked_at,
           'profile', (select pg_catalog.to_jsonb(p) - 'user_id' from users.profiles p where p.user_id = u.user_id),
           'settings', (select pg_catalog.to_jsonb(s) - 'user_id' from users.settings s where s.user_id = u.user_id),
           'roles', coalesce((select pg_catalog.jsonb_agg(r.role_name order by r.role_name) from auth.user_roles r where r.user_id = u.user_id), '[]'::jsonb))
    from auth.users u where u.user_id = export_profile.user_id
$$;
comment on function datarights_private.export_profile(uuid) is 'The account, public profile, settings and roles.';

create function datarights_private.export_sessions(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_jsonb(s) - 'token_hash' from auth.sessions s where s.user_id = export_sessions.user_id order by s.created_at, s.session_id
$$;
comment on function datarights_private.export_sessions(uuid) is 'Sign-in sessions (refresh-token hashes left out).';

create function datarights_private.export_memberships(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_jsonb(m) from auth.memberships m where m.user_id = export_memberships.user_id order by m.organization_id
$$;
comment on function datarights_private.export_memberships(uuid) is 'Organization memberships.';

create function datarights_private.export_activity(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_jsonb(a) from audit.activity a
   where a.actor_id = export_activity.user_id or a.subject_id = export_activity.user_id
   order by a.activity_id
$$;
comment on function datarights_private.export_activity(uuid) is 'Activity the user did or was the subject of.';

create function datarights_private.export_notifications(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_jsonb(n) from outbox.notifications n where n.user_id = export_notifications.user_id order by n.notification_id
$$;
comment on function datarights_private.export_notifications(uuid) is 'In-app notifications.';

create function datarights_private.export_follows(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_jsonb(f) from users.follows f where f.follower_id = export_follows.user_id order by f.follow_id
$$;
comment on function datarights_private.export_follows(uuid) is 'People and organizations the user follows.';

create function datarights_private.export_budget_settings(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_jsonb(s) from budget.default_settings s where s.user_id = export_budget_settings.user_id
$$;
comment on function datarights_private.export_budget_settings(uuid) is 'Budget default settings.';

create function datarights_private.export_budget_periods(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_jsonb(p) from budget.budget_periods p where p.user_id = export_budget_periods.user_id order by p.month
$$;
comment on function datarights_private.export_budget_periods(uuid) is 'Budget periods, by month.';

create function datarights_private.export_tags(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_jsonb(t) from budget.tags t where t.user_id = export_tags.user_id order by t.created_at, t.tag_id
$$;
comment on function datarights_private.export_tags(uuid) is 'Tags, deleted (archived) ones included.';

create function datarights_private.export_installments(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_jsonb(r) from budget.pro_rata_schedules r
   where r.user_id = export_installments.user_id order by r.pro_rata_group, r.installment
$$;
comment on function datarights_private.export_installments(uuid) is 'Pro-rata installments.';

-- Streamed in primary key order (the index): no sort of the user's whole ledger.
create function datarights_private.export_expenses(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_jsonb(e) || pg_catalog.jsonb_build_object('status', expenses.entries_status(e))
    from expenses.entries e where e.user_id = export_expenses.user_id
$$;
comment on function datarights_private.export_expenses(uuid) is 'Every expense ledger entry with its status; correctsId links each correction chain.';

create function datarights_private.export_jobs(user_id uuid) returns setof jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_jsonb(j) from datarights.export_jobs j where j.user_id = export_jobs.user_id order by j.created_at
$$;
comment on function datarights_private.export_jobs(uuid) is 'Export history, this export included.';

select datarights.register_exporter('profile', 'auth', 'datarights_private.export_profile(uuid)', 'Account, profile, settings, roles.', 10);
select datarights.register_exporter('sessions', 'auth', 'datarights_private.export_sessions(uuid)', 'Sign-in sessions.', 20);
select datarights.register_exporter('memberships', 'auth', 'datarights_private.export_memberships(uuid)', 'Organization memberships.', 30);
select datarights.register_exporter('follows', 'users', 'datarights_private.export_follows(uuid)', 'Follows.', 40);
select datarights.register_exporter('activity', 'audit', 'datarights_private.export_activity(uuid)', 'Activity history.', 50);
select datarights.register_exporter('notifications', 'outbox', 'datarights_private.export_notifications(uuid)', 'Notifications.', 60);
select datarights.register_exporter('budget_settings', 'budget', 'datarights_private.export_budget_settings(uuid)', 'Budget default settings.', 100);
select datarights.register_exporter('budget_periods', 'budget', 'datarights_private.export_budget_periods(uuid)', 'Budget periods.', 110);
select datarights.register_exporter('tags', 'budget', 'datarights_private.export_tags(uuid)', 'Tags.', 120);
select datarights.register_exporter('installments', 'budget', 'datarights_private.export_installments(uuid)', 'Pro-rata installments.', 130);
select datarights.register_exporter('expenses', 'expenses', 'datarights_private.export_expenses(uuid)', 'Expense ledger entries with their correction chains.', 200);
select datarights.register_exporter('export_jobs', 'datarights', 'datarights_private.export_jobs(uuid)', 'Export history.', 900);
