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
