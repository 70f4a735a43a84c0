--! Previous: sha1:736d0f296cbee996b2ed998c2914542458a87f00
--! Hash: sha1:6738ebbcf2f0364a4259bd7b47f2008fb228d171
--! Message: messaging: templates, message jobs, direct messages (issue 23)

--! split: 5800-messaging-schema.sql
-- messaging: one messaging module for every product (the HFCC seed's concept,
-- the Liventix seed's messaging schema). Notifications are NOT a second table:
-- the core's outbox.notifications stays the one table, pushed by the one
-- subscription (notificationAdded); messaging writes to it through
-- outbox.notify_user and shows it under the seed's name as a view for SQL
-- clients. This file: schemas, that view, unsubscribes. Templates: 5810; message
-- jobs: 5820; conversations: 5830.

drop schema if exists messaging_private cascade;
drop schema if exists messaging cascade;

create schema messaging;
comment on schema messaging is
  'Messaging for every module: message templates, messages to an audience (message jobs), direct messages in conversations, unsubscribes. In-app notifications are the core''s outbox.notifications.';
grant usage on schema messaging to gw_user;

create schema messaging_private;
comment on schema messaging_private is 'Audiences, rendering, fan-out bookkeeping of messaging; never exposed.';
revoke all on schema messaging_private from public;

create view messaging.notifications with (security_invoker = true) as
  select n.notification_id, n.user_id, n.topic, n.message, n.payload, n.event_id, n.created_at, n.read_at
    from outbox.notifications n;
grant select on messaging.notifications to gw_user;
comment on view messaging.notifications is
  E'@behavior -*\nThe seed''s messaging.notifications for SQL clients: the core''s outbox.notifications (one table, one subscription), under its policies (your own). GraphQL shows them as outboxNotifications.';

-- Unsubscribes: per organization (or every organization) and channel.
create table messaging.unsubscribes (
  unsubscribe_id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid()
    constraint unsubscribes_user_id_fkey references users.profiles (user_id) on delete cascade,
  organization_id uuid
    constraint unsubscribes_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  channel text not null
    constraint unsubscribes_channel_check check (channel in ('in_app', 'email')),
  created_at timestamptz not null default now(),
  constraint unsubscribes_user_organization_channel_key unique nulls not distinct (user_id, organization_id, channel)
);
alter table messaging.unsubscribes enable row level security;
create index unsubscribes_organization_id_idx on messaging.unsubscribes (organization_id);
create policy "users see their unsubscribes" on messaging.unsubscribes for select to gw_user
  using (user_id = (select auth.uid()));
create policy "users unsubscribe themselves" on messaging.unsubscribes for insert to gw_user
  with check (user_id = (select auth.uid()));
create policy "users take back their unsubscribes" on messaging.unsubscribes for delete to gw_user
  using (user_id = (select auth.uid()));
grant select, delete on messaging.unsubscribes to gw_user;
grant insert (organization_id, channel) on messaging.unsubscribes to gw_user;
comment on table messaging.unsubscribes is
  E'@behavior -update\nOrganizations you do not want messages from, per channel (in_app, email); no organization: from none. Honoured by every message job, on top of your notification preferences.';
comment on column messaging.unsubscribes.unsubscribe_id is 'The unsubscribe''s id.';
comment on column messaging.unsubscribes.user_id is 'Who unsubscribed.';
comment on column messaging.unsubscribes.organization_id is 'From which organization (null: every organization).';
comment on column messaging.unsubscribes.channel is 'in_app or email.';
comment on column messaging.unsubscribes.created_at is 'When.';
comment on constraint unsubscribes_user_id_fkey on messaging.unsubscribes is E'@behavior -*';
comment on constraint unsubscribes_organization_id_fkey on messaging.unsubscribes is E'@behavior -*';

-- Whether an organization's message may reach a user on a channel: their preference and their unsubscribes.
create function messaging_private.may_message(user_id uuid, organization_id uuid, channel text) returns boolean
  language sql
  stable
  set search_path = ''
as $$
  select users.notification_enabled(may_message.user_id, may_message.channel, 'organization_message')
     and not exists (select 1 from messaging.unsubscribes u
                      where u.user_id = may_message.user_id and u.channel = may_message.channel
                        and (u.organization_id is null or u.organization_id = may_message.organization_id))
$$;
comment on function messaging_private.may_message(uuid, uuid, text) is
  'True when the user wants organization messages on the channel (users.notification_enabled) and has not unsubscribed from this organization or from all.';

-- The organization the request acts in when the caller is an owner or admin there (who may message and keep templates).
create function messaging.managed_organization_id() returns uuid
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select m.organization_id from auth.memberships m
   where m.organization_id = auth.current_org_id() and m.user_id = auth.uid() and m.role in ('owner', 'admin')
$$;
comment on function messaging.managed_organization_id() is
  E'@behavior -queryField -mutationField -typeField\nThe organization the request acts in if the caller is an owner or admin there, else null. Security definer because policies call it and auth.memberships has policies of its own (no recursion).';
revoke execute on function messaging.managed_organization_id() from public;
grant execute on function messaging.managed_organization_id() to gw_user;

--! split: 5810-messaging-templates.sql
-- Message templates: per organization, placeholders {{ name }} only. Checked
-- when saved: a malformed placeholder or any other {{ … }} / {% … %} syntax is
-- refused (MSTPL), a placeholder that is neither built in nor declared in
-- variables is refused (MSVAR). Rendering (messaging_private.render) is one
-- pass of plain substitution: a value is inserted as text and never read
-- again, so a value holding {{ … }}, markup or SQL stays inert text.

create table messaging.message_templates (
  template_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null default auth.current_org_id()
    constraint message_templates_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  name text not null
    constraint message_templates_name_check check (char_length(name) between 1 and 100),
  subject text not null
    constraint message_templates_subject_check check (char_length(subject) between 1 and 200),
  body text not null
    constraint message_templates_body_check check (char_length(body) between 1 and 20000),
  variables text[] not null default '{}',
  created_by uuid default auth.uid()
    constraint message_templates_created_by_fkey references users.profiles (user_id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint message_templates_organization_id_name_key unique (organization_id, name)
);
alter table messaging.message_templates enable row level security;
create index message_templates_created_by_idx on messaging.message_templates (created_by);

create policy "members acting in an organization see its templates" on messaging.message_templates for select to gw_user
  using (organization_id = (select auth.current_org_id()));
create policy "owners and admins acting in an organization create its templates" on messaging.message_templates for insert to gw_user
  with check (organization_id = (select messaging.managed_organization_id()));
create policy "owners and admins acting in an organization edit its templates" on messaging.message_templates for update to gw_user
  using (organization_id = (select messaging.managed_organization_id()))
  with check (organization_id = (select messaging.managed_organization_id()));
create policy "owners and admins acting in an organization delete its templates" on messaging.message_templates for delete to gw_user
  using (organization_id = (select messaging.managed_organization_id()));
grant select, delete on messaging.message_templates to gw_user;
grant insert (organization_id, name, subject, body, variables), update (name, subject, body, variables) on messaging.message_templates to gw_user;

comment on table messaging.message_templates is
  E'A message an organization sends (subject and body, plain text) with placeholders {{ name }}. Built-in names: recipient_name, organization_name, event_title, event_starts_at; any other must be declared in variables and given a value by each message job. Checked when saved: MSTPL for malformed placeholder syntax, MSVAR for an undeclared name. Values are inserted as plain text, never interpreted. Members acting in the organization read them; owners and admins write them.';
comment on column messaging.message_templates.template_id is 'The template''s id.';
comment on column messaging.message_templates.organization_id is 'Whose template; defaults to the organization the request acts in.';
comment on column messaging.message_templates.name is 'Its name, unique in the organization (1-100 characters).';
comment on column messaging.message_templates.subject is 'The subject (1-200 characters), with placeholders.';
comment on column messaging.message_templates.body is 'The body (plain text, 1-20,000 characters), with placeholders.';
comment on column messaging.message_templates.variables is 'The names of its own placeholders (lowercase, at most 20), whose values each message job supplies.';
comment on column messaging.message_templates.created_by is 'Who wrote it.';
comment on column messaging.message_templates.created_at is 'When it was written.';
comment on column messaging.message_templates.updated_at is 'When it last changed.';
comment on constraint message_templates_organization_id_fkey on messaging.message_templates is E'@behavior -*';
comment on constraint message_templates_created_by_fkey on messaging.message_templates is E'@behavior -*';

create function messaging_private.builtin_variables() returns text[]
  language sql
  immutable
  set search_path = ''
as $$ select array['recipient_name', 'organization_name', 'event_title', 'event_starts_at'] $$;
comment on function messaging_private.builtin_variables() is 'Placeholders every template may use: filled from the recipient, the organization and the job''s event.';

-- The first problem of a template's text, or null: malformed syntax (MSTPL) or an unknown name (MSVAR).
create function messaging_private.template_problem(text text, variables text[]) returns table (code text, problem text)
  language plpgsql
  immutable
  set search_path = ''
as $$
declare
  v_name text;
  v_rest text;
begin
  v_rest := pg_catalog.regexp_replace(template_problem.text, '\{\{\s*[a-z][a-z0-9_]{0,39}\s*\}\}', '', 'g');
  if v_rest ~ '\{\{|\}\}|\{%|%\}' or template_problem.text ~ '\{\{\{|\}\}\}' then
    return query select 'MSTPL', 'a placeholder is written {{ name }} with a lowercase name (letters, digits, _); nothing else between {{ and }}';
    return;
  end if;
  for v_name in
    select m[1] from pg_catalog.regexp_matches(template_problem.text, '\{\{\s*([a-z][a-z0-9_]{0,39})\s*\}\}', 'g') m
  loop
    if not (v_name = any (messaging_private.builtin_variables()) or v_name = any (coalesce(template_problem.variables, '{}'))) then
      return query select 'MSVAR', pg_catalog.format('{{ %s }} is neither built in (%s) nor declared in variables', v_name,
                                                     pg_catalog.array_to_string(messaging_private.builtin_variables(), ', '));
      return;
    end if;
  end loop;
end;
$$;
comment on function messaging_private.template_problem(text, text[]) is 'The first problem of a template text with its code (MSTPL syntax, MSVAR unknown name), or no row.';

create function messaging_private.tg_message_templates__validate() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_problem record;
begin
  if new.name is null or pg_catalog.btrim(new.name) = '' or char_length(new.name) > 100
     or new.subject is null or char_length(new.subject) not between 1 and 200
     or new.body is null or char_length(new.body) not between 1 and 20000 then
    raise exception 'A template has a name (1-100 characters), a subject (1-200) and a body (1-20,000).' using errcode = 'BADIN';
  end if;
  new.variables := coalesce(new.variables, '{}');
  if pg_catalog.cardinality(new.variables) > 20
     or exists (select 1 from pg_catalog.unnest(new.variables) v where v is null or v !~ '^[a-z][a-z0-9_]{0,39}$')
     or (select pg_catalog.count(distinct v) from pg_catalog.unnest(new.variables) v) <> pg_catalog.cardinality(new.variables)
     or new.variables && messaging_private.builtin_variables() then
    raise exception 'variables are at most 20 distinct lowercase names (letters, digits, _), none of them built in.' using errcode = 'MSTPL';
  end if;
  select * into v_problem from messaging_private.template_problem(new.subject || ' ' || new.body, new.variables);
  if found then
    raise exception 'Template: %.', v_problem.problem using errcode = v_problem.code;
  end if;
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
comment on function messaging_private.tg_message_templates__validate() is 'Checks a template when saved (BADIN, MSTPL, MSVAR) and touches updated_at. Security definer because the checks live in messaging_private, which API roles may not use.';
create trigger _100_validate before insert or update on messaging.message_templates
  for each row execute function messaging_private.tg_message_templates__validate();

-- One pass of substitution: the text between placeholders is kept, each placeholder replaced by its value as text.
create function messaging_private.render(template text, vars jsonb) returns text
  language plpgsql
  immutable
  set search_path = ''
as $$
declare
  v_parts text[] := pg_catalog.regexp_split_to_array(render.template, '\{\{\s*[a-z][a-z0-9_]{0,39}\s*\}\}');
  v_names text[] := array(select m[1] from pg_catalog.regexp_matches(render.template, '\{\{\s*([a-z][a-z0-9_]{0,39})\s*\}\}', 'g') m);
  v_out text := v_parts[1];
begin
  for i in 1 .. coalesce(pg_catalog.cardinality(v_names), 0) loop
    if not (render.vars ? v_names[i]) then
      raise exception 'No value for {{ % }}.', v_names[i] using errcode = 'MSVAR';
    end if;
    v_out := v_out || coalesce(render.vars ->> v_names[i], '') || v_parts[i + 1];
  end loop;
  return v_out;
end;
$$;
comment on function messaging_private.render(text, jsonb) is
  'Renders a template text with values (a JSON object): one pass, values inserted as plain text and never scanned again (a value containing {{ x }} stays literally so). MSVAR when a placeholder has no value.';

--! split: 5820-messaging-jobs.sql
-- Message jobs: an organization messages an audience with a template. The
-- worker (messaging_fan_out) walks the audience in batches of user ids; each
-- batch records its recipients in messaging_private.job_recipients in the
-- statement that notifies them (or queues their mail), and moves the job's
-- cursor in the same transaction: a killed worker loses at most an uncommitted
-- batch, and no recipient is reached twice (their row already exists).
--
-- Audiences are a registration point (messaging_private.audiences): a name, a
-- resolver (organization_id, event_id, after_user_id, batch_size) -> setof uuid
-- in user-id order, and whether it needs an event. Built here: followers of the
-- organization, followers for an event, members of the organization. Ticketing
-- (part 2) registers event_ticket_holders the same way.

create table messaging_private.audiences (
  audience text primary key
    constraint audiences_audience_check check (audience ~ '^[a-z][a-z_]{0,40}$'),
  resolver regprocedure not null,
  needs_event boolean not null,
  description text not null
);
alter table messaging_private.audiences enable row level security;
comment on table messaging_private.audiences is 'Who a message job can address: the resolver returns one batch of user ids (ordered, after a cursor).';

create function messaging_private.organization_followers(organization_id uuid, event_id uuid, after_user_id uuid, batch_size integer)
  returns setof uuid
  language sql
  stable
  set search_path = ''
as $$
  select f.follower_id from users.follows f
   where f.followed_organization_id = organization_followers.organization_id
     and (organization_followers.after_user_id is null or f.follower_id > organization_followers.after_user_id)
   order by f.follower_id
   limit organization_followers.batch_size
$$;
comment on function messaging_private.organization_followers(uuid, uuid, uuid, integer) is 'Audience resolver: the organization''s followers (users.follows), in user-id order after a cursor.';

create function messaging_private.organization_members(organization_id uuid, event_id uuid, after_user_id uuid, batch_size integer)
  returns setof uuid
  language sql
  stable
  set search_path = ''
as $$
  select m.user_id from auth.memberships m
   where m.organization_id = organization_members.organization_id
     and (organization_members.after_user_id is null or m.user_id > organization_members.after_user_id)
   order by m.user_id
   limit organization_members.batch_size
$$;
comment on function messaging_private.organization_members(uuid, uuid, uuid, integer) is 'Audience resolver: the organization''s members, in user-id order after a cursor.';

insert into messaging_private.audiences (audience, resolver, needs_event, description) values
  ('organization_followers', 'messaging_private.organization_followers(uuid, uuid, uuid, integer)', false, 'People who follow the organization.'),
  ('event_followers', 'messaging_private.organization_followers(uuid, uuid, uuid, integer)', true, 'People who follow the organization of the event (the events module''s followers), about that event.'),
  ('organization_members', 'messaging_private.organization_members(uuid, uuid, uuid, integer)', false, 'The organization''s members.');

insert into registry.types (namespace, code, label, description) values
  ('message_job_status', 'queued', 'Queued', 'Waiting for the worker.'),
  ('message_job_status', 'running', 'Running', 'Being fanned out.'),
  ('message_job_status', 'completed', 'Completed', 'Every recipient was handled.'),
  ('message_job_status', 'cancelled', 'Cancelled', 'Stopped before the end; no further recipient is reached.')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description;
insert into registry.transitions (namespace, from_code, to_code, label) values
  ('message_job_status', null, 'queued', 'Create'),
  ('message_job_status', 'queued', 'running', 'Start'),
  ('message_job_status', 'running', 'completed', 'Finish'),
  ('message_job_status', 'queued', 'completed', 'Finish (empty audience)'),
  ('message_job_status', 'queued', 'cancelled', 'Cancel'),
  ('message_job_status', 'running', 'cancelled', 'Cancel')
on conflict on constraint transitions_move_key do nothing;

create table messaging.message_jobs (
  job_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null
    constraint message_jobs_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  template_id uuid not null
    constraint message_jobs_template_id_fkey references messaging.message_templates (template_id) on delete restrict,
  audience text not null
    constraint message_jobs_audience_fkey references messaging_private.audiences (audience) on delete restrict,
  event_id uuid
    constraint message_jobs_event_id_fkey references events.events (event_id) on delete cascade,
  channel text not null
    constraint message_jobs_channel_check check (channel in ('in_app', 'email')),
  variables jsonb not null default '{}'::jsonb,
  recipients_handled integer not null default 0,
  delivered integer not null default 0,
  skipped integer not null default 0,
  cursor uuid,
  created_by uuid default auth.uid()
    constraint message_jobs_created_by_fkey references users.profiles (user_id) on delete set null,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  cancelled_at timestamptz
);
alter table messaging.message_jobs enable row level security;
select registry.add_type_column('messaging.message_jobs', 'status', 'message_job_status', true, 'queued');
select registry.add_state_machine('messaging.message_jobs', 'status', 'message_job_status');
create index message_jobs_organization_id_idx on messaging.message_jobs (organization_id, created_at);
create index message_jobs_template_id_idx on messaging.message_jobs (template_id);
create index message_jobs_audience_idx on messaging.message_jobs (audience);
create index message_jobs_event_id_idx on messaging.message_jobs (event_id);
create index message_jobs_created_by_idx on messaging.message_jobs (created_by);

create policy "members acting in an organization see its message jobs" on messaging.message_jobs for select to gw_user
  using (organization_id = (select auth.current_org_id()));
grant select on messaging.message_jobs to gw_user;

comment on table messaging.message_jobs is
  E'@behavior -insert -update -delete\nA message from an organization to an audience (messagingCreateMessageJob), fanned out by the worker in batches: status queued -> running -> completed, or cancelled (messagingCancelMessageJob); progress in recipientsHandled, delivered and skipped (people whose preferences or unsubscribes refuse it). Each recipient is reached at most once, even if the worker restarts. Members acting in the organization read them.';
comment on column messaging.message_jobs.job_id is 'The job''s id.';
comment on column messaging.message_jobs.organization_id is 'Who sends it.';
comment on column messaging.message_jobs.template_id is 'The template sent.';
comment on column messaging.message_jobs.audience is 'Who receives it: organization_followers, event_followers (needs eventId), organization_members (and audiences other modules register).';
comment on column messaging.message_jobs.event_id is 'The event it is about (needed by event audiences; fills {{ event_title }}).';
comment on column messaging.message_jobs.channel is 'in_app (a notification, pushed to notificationAdded) or email.';
comment on column messaging.message_jobs.variables is 'Values of the template''s own placeholders (a JSON object of strings and numbers).';
comment on column messaging.message_jobs.recipients_handled is 'Recipients handled so far (delivered + skipped).';
comment on column messaging.message_jobs.delivered is 'Notifications created or mails queued.';
comment on column messaging.message_jobs.skipped is 'Recipients whose preferences or unsubscribes refused it.';
comment on column messaging.message_jobs.cursor is E'@behavior -select\nThe last user id handled (the worker resumes after it).';
comment on column messaging.message_jobs.created_by is 'Who created it.';
comment on column messaging.message_jobs.created_at is 'When it was created.';
comment on column messaging.message_jobs.started_at is 'When the worker started it.';
comment on column messaging.message_jobs.finished_at is 'When it completed.';
comment on column messaging.message_jobs.cancelled_at is 'When it was cancelled.';
comment on column messaging.message_jobs.status is 'queued, running, completed or cancelled (registry namespace message_job_status).';
comment on constraint message_jobs_organization_id_fkey on messaging.message_jobs is E'@behavior -*';
comment on constraint message_jobs_audience_fkey on messaging.message_jobs is E'@behavior -*';
comment on constraint message_jobs_created_by_fkey on messaging.message_jobs is E'@behavior -*';
comment on constraint message_jobs_status_type_fkey on messaging.message_jobs is E'@behavior -*';
comment on constraint message_jobs_template_id_fkey on messaging.message_jobs is E'@fieldName template\n@foreignFieldName messageJobs';
comment on constraint message_jobs_event_id_fkey on messaging.message_jobs is E'@fieldName event\n@foreignFieldName messageJobs';

create table messaging_private.job_recipients (
  job_id uuid not null
    constraint job_recipients_job_id_fkey references messaging.message_jobs (job_id) on delete cascade,
  user_id uuid not null
    constraint job_recipients_user_id_fkey references users.profiles (user_id) on delete cascade,
  outcome text not null
    constraint job_recipients_outcome_check check (outcome in ('delivered', 'skipped')),
  handled_at timestamptz not null default now(),
  constraint job_recipients_pkey primary key (job_id, user_id)
);
alter table messaging_private.job_recipients enable row level security;
create index job_recipients_user_id_idx on messaging_private.job_recipients (user_id);
comment on table messaging_private.job_recipients is
  'Who each message job reached (or skipped): written in the statement that notifies, so a batch that runs again reaches nobody twice.';

create function messaging.create_message_job(template_id uuid, audience text, channel text default 'in_app',
                                             event_id uuid default null, variables jsonb default '{}'::jsonb)
  returns messaging.message_jobs
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_org uuid := messaging.managed_organization_id();
  v_template messaging.message_templates;
  v_audience messaging_private.audiences;
  v_vars jsonb := coalesce(create_message_job.variables, '{}'::jsonb);
  v_job messaging.message_jobs;
begin
  if v_org is null then
    raise exception 'Act in an organization you own or administer to message its audience.' using errcode = 'DNIED';
  end if;
  select t.* into v_template from messaging.message_templates t
   where t.template_id = create_message_job.template_id and t.organization_id = v_org;
  if not found then
    raise exception 'No template % in your organization.', create_message_job.template_id using errcode = 'NTFND';
  end if;
  if create_message_job.channel is null or create_message_job.channel not in ('in_app', 'email') then
    raise exception 'The channel is in_app or email.' using errcode = 'BADIN';
  end if;
  select a.* into v_audience from messaging_private.audiences a where a.audience = create_message_job.audience;
  if not found then
    raise exception 'Unknown audience % (one of: %).', create_message_job.audience,
      (select pg_catalog.string_agg(a.audience, ', ' order by a.audience) from messaging_private.audiences a) using errcode = 'MSAUD';
  end if;
  if v_audience.needs_event and create_message_job.event_id is null then
    raise exception 'The audience % needs an event.', create_message_job.audience using errcode = 'MSAUD';
  end if;
  -- Someone else's event (or one that does not exist): its audience is not yours to message.
  if create_message_job.event_id is not null
     and not exists (select 1 from events.events e where e.event_id = create_message_job.event_id and e.owner_context_id = v_org) then
    raise exception 'Event % is not one of your organization''s events.', create_message_job.event_id using errcode = 'MSAUD';
  end if;
  if pg_catalog.jsonb_typeof(v_vars) <> 'object'
     or exists (select 1 from pg_catalog.jsonb_each(v_vars) e
                 where not (e.key = any (v_template.variables))
                    or pg_catalog.jsonb_typeof(e.value) not in ('string', 'number')
                    or char_length(e.value #>> '{}') > 1000)
     or exists (select 1 from pg_catalog.unnest(v_template.variables) v where not (v_vars ? v)) then
    raise exception 'variables must give each of the template''s own placeholders (%) a string or number of at most 1000 characters, and nothing else.',
      pg_catalog.array_to_string(v_template.variables, ', ') using errcode = 'MSVAR';
  end if;
  insert into messaging.message_jobs (organization_id, template_id, audience, event_id, channel, variables)
  values (v_org, v_template.template_id, v_audience.audience, create_message_job.event_id, create_message_job.channel, v_vars)
  returning * into v_job;
  perform graphile_worker.add_job('messaging_fan_out', pg_catalog.json_build_object('id', v_job.job_id),
    max_attempts := 25, job_key := 'messaging_fan_out:' || v_job.job_id::text);
  return v_job;
end;
$$;
comment on function messaging.create_message_job(uuid, text, text, uuid, jsonb) is
  'Messages an audience of the organization you act in (owners and admins: DNIED otherwise) with one of its templates: audience organization_followers, event_followers (with eventId) or organization_members; channel in_app or email; variables give the template''s own placeholders. Refused, nothing written: NTFND (template not yours), MSAUD (unknown audience, missing event, or an event of another organization), MSVAR (a variable missing, extra, or not a string or number of at most 1000 characters). The worker fans it out. Security definer because message jobs have no insert grant and the job queue is not granted to API roles.';
revoke execute on function messaging.create_message_job(uuid, text, text, uuid, jsonb) from public;
grant execute on function messaging.create_message_job(uuid, text, text, uuid, jsonb) to gw_user;

create function messaging.cancel_message_job(job_id uuid) returns messaging.message_jobs
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_job messaging.message_jobs;
begin
  select j.* into v_job from messaging.message_jobs j
   where j.job_id = cancel_message_job.job_id and j.organization_id = messaging.managed_organization_id()
   for update;
  if not found then
    raise exception 'No message job % of an organization you manage.', cancel_message_job.job_id using errcode = 'NTFND';
  end if;
  if v_job.status not in ('queued', 'running') then
    raise exception 'Message job % is %; only a queued or running job can be cancelled.', v_job.job_id, v_job.status using errcode = 'BADST';
  end if;
  update messaging.message_jobs j set status = 'cancelled', cancelled_at = pg_catalog.now()
   where j.job_id = v_job.job_id returning * into v_job;
  return v_job;
end;
$$;
comment on function messaging.cancel_message_job(uuid) is
  'Cancels a queued or running message job of the organization you manage (NTFND otherwise; BADST once completed or cancelled): the worker stops before its next batch; recipients already reached stay reached. Security definer because message jobs have no update grant.';
revoke execute on function messaging.cancel_message_job(uuid) from public;
grant execute on function messaging.cancel_message_job(uuid) to gw_user;

-- One batch of a job's fan-out; returns how many recipients it held and whether the job is over.
create function messaging_private.fan_out_batch(job_id uuid, batch_size integer)
  returns table (handled integer, delivered integer, done boolean)
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_job messaging.message_jobs;
  v_template messaging.message_templates;
  v_audience messaging_private.audiences;
  v_users uuid[];
  v_context jsonb;
  v_delivered integer;
  v_handled integer;
begin
  select j.* into v_job from messaging.message_jobs j where j.job_id = fan_out_batch.job_id for update;
  if not found or v_job.status not in ('queued', 'running') then
    return query select 0, 0, true;
    return;
  end if;
  if v_job.status = 'queued' then
    update messaging.message_jobs j set status = 'running', started_at = pg_catalog.now() where j.job_id = v_job.job_id;
  end if;
  select t.* into v_template from messaging.message_templates t where t.template_id = v_job.template_id;
  select a.* into v_audience from messaging_private.audiences a where a.audience = v_job.audience;
  execute pg_catalog.format('select array(select %s($1, $2, $3, $4))', v_audience.resolver::regproc)
    into v_users using v_job.organization_id, v_job.event_id, v_job.cursor, fan_out_batch.batch_size;
  v_handled := coalesce(pg_catalog.cardinality(v_users), 0);
  v_context := v_job.variables || pg_catalog.jsonb_build_object(
    'organization_name', (select o.name from auth.organizations o where o.organization_id = v_job.organization_id),
    'event_title', coalesce((select e.title from events.events e where e.event_id = v_job.event_id), ''),
    'event_starts_at', coalesce((select pg_catalog.to_char(e.starts_at at time zone e.timezone, 'YYYY-MM-DD HH24:MI') || ' ' || e.timezone
                                   from events.events e where e.event_id = v_job.event_id), ''));
  with fresh as (
    insert into messaging_private.job_recipients (job_id, user_id, outcome)
    select v_job.job_id, u, case when messaging_private.may_message(u, v_job.organization_id, v_job.channel) then 'delivered' else 'skipped' end
      from pg_catalog.unnest(v_users) u
    on conflict on constraint job_recipients_pkey do nothing
    returning user_id, outcome
  ), sent as (
    select case v_job.channel
             when 'in_app' then outbox.notify_user(f.user_id, 'messaging.message',
               pg_catalog.left(messaging_private.render(v_template.subject, v_context || pg_catalog.jsonb_build_object('recipient_name', r.name)), 1000),
               pg_catalog.jsonb_build_object('jobId', v_job.job_id, 'organizationId', v_job.organization_id, 'eventId', v_job.event_id,
                 'body', pg_catalog.left(messaging_private.render(v_template.body, v_context || pg_catalog.jsonb_build_object('recipient_name', r.name)), 8000)))
             else (graphile_worker.add_job('messaging_send_mail', pg_catalog.json_build_object('jobId', v_job.job_id, 'userId', f.user_id),
                     max_attempts := 10, job_key := 'messaging_send_mail:' || v_job.job_id::text || ':' || f.user_id::text)).id
           end as id
      from fresh f
      cross join lateral (select coalesce(p.display_name, u.username) as name
                            from users.profiles p join auth.users u on u.user_id = p.user_id where p.user_id = f.user_id) r
     where f.outcome = 'delivered'
  )
  select pg_catalog.count(*)::integer into v_delivered from sent;
  update messaging.message_jobs j
     set cursor = coalesce(v_users[v_handled], j.cursor),
         recipients_handled = j.recipients_handled + v_handled,
         delivered = j.delivered + v_delivered,
         skipped = j.skipped + (v_handled - v_delivered),
         status = case when v_handled < fan_out_batch.batch_size then 'completed' else 'running' end,
         finished_at = case when v_handled < fan_out_batch.batch_size then pg_catalog.now() end
   where j.job_id = v_job.job_id;
  return query select v_handled, v_delivered, v_handled < fan_out_batch.batch_size;
end;
$$;
comment on function messaging_private.fan_out_batch(uuid, integer) is
  'One batch of a message job: the next batch_size recipients after the cursor, each recorded in job_recipients in the statement that notifies them (in_app) or queues their mail (email, job key per recipient); recipients whose preferences or unsubscribes refuse it are recorded as skipped. Moves the cursor and the counters, completes the job after the last batch; does nothing for a cancelled or finished job.';

-- The mail of one recipient of an e-mail job, or no row when it no longer applies.
create function messaging_private.mail_of(job_id uuid, user_id uuid)
  returns table (to_address text, subject text, body text)
  language sql
  stable
  set search_path = ''
as $$
  with ctx as (
    select j.*, t.subject as t_subject, t.body as t_body, u.email, coalesce(p.display_name, u.username) as name,
           o.name as organization_name, e.title as event_title,
           pg_catalog.to_char(e.starts_at at time zone e.timezone, 'YYYY-MM-DD HH24:MI') || ' ' || e.timezone as event_starts_at
      from messaging.message_jobs j
      join messaging.message_templates t on t.template_id = j.template_id
      join messaging_private.job_recipients r on r.job_id = j.job_id and r.user_id = mail_of.user_id and r.outcome = 'delivered'
      join auth.users u on u.user_id = r.user_id
      join users.profiles p on p.user_id = u.user_id
      join auth.organizations o on o.organization_id = j.organization_id
      left join events.events e on e.event_id = j.event_id
     where j.job_id = mail_of.job_id and j.status <> 'cancelled' and u.email is not null
       and messaging_private.may_message(r.user_id, j.organization_id, 'email')
  )
  select c.email::text,
         messaging_private.render(c.t_subject, c.variables || pg_catalog.jsonb_build_object('recipient_name', c.name,
           'organization_name', c.organization_name, 'event_title', coalesce(c.event_title, ''), 'event_starts_at', coalesce(c.event_starts_at, ''))),
         messaging_private.render(c.t_body, c.variables || pg_catalog.jsonb_build_object('recipient_name', c.name,
           'organization_name', c.organization_name, 'event_title', coalesce(c.event_title, ''), 'event_starts_at', coalesce(c.event_starts_at, '')))
         || E'\n\n--\nYou receive this because of your relationship with ' || c.organization_name
         || '. To stop e-mail from them, unsubscribe in your settings (messagingUnsubscribes, channel email).'
    from ctx c
$$;
comment on function messaging_private.mail_of(uuid, uuid) is
  'The rendered plain-text mail of one recipient of an e-mail message job, or nothing when the job was cancelled or the recipient unsubscribed since (checked again at send time).';

--! split: 5830-messaging-conversations.sql
-- Direct messages in conversations (the seed's direct_messages -> conversation_id).
-- Only current participants see a conversation, its participants (with their
-- read receipts) and its messages; a participant who leaves sees none of it
-- any more. Writes go through RLS: the creator adds participants (people whose
-- profile they can see), participants write messages and move their own read
-- receipt, and leave.

create table messaging.conversations (
  conversation_id uuid primary key default gen_random_uuid(),
  subject text
    constraint conversations_subject_check check (char_length(subject) <= 200),
  created_by uuid not null default auth.uid()
    constraint conversations_created_by_fkey references users.profiles (user_id) on delete cascade,
  created_at timestamptz not null default now()
);
alter table messaging.conversations enable row level security;
create index conversations_created_by_idx on messaging.conversations (created_by);

create table messaging.conversation_participants (
  conversation_id uuid not null
    constraint conversation_participants_conversation_id_fkey references messaging.conversations (conversation_id) on delete cascade,
  user_id uuid not null
    constraint conversation_participants_user_id_fkey references users.profiles (user_id) on delete cascade,
  joined_at timestamptz not null default now(),
  last_read_at timestamptz,
  left_at timestamptz,
  constraint conversation_participants_pkey primary key (conversation_id, user_id)
);
alter table messaging.conversation_participants enable row level security;
create index conversation_participants_user_id_idx on messaging.conversation_participants (user_id) where left_at is null;
create index conversation_participants_user_id_all_idx on messaging.conversation_participants (user_id);

create table messaging.direct_messages (
  message_id uuid primary key default gen_random_uuid(),
  conversation_id uuid not null
    constraint direct_messages_conversation_id_fkey references messaging.conversations (conversation_id) on delete cascade,
  sender_id uuid default auth.uid()
    constraint direct_messages_sender_id_fkey references users.profiles (user_id) on delete set null,
  body text not null
    constraint direct_messages_body_check check (char_length(body) between 1 and 10000),
  created_at timestamptz not null default now()
);
alter table messaging.direct_messages enable row level security;
create index direct_messages_conversation_id_idx on messaging.direct_messages (conversation_id, created_at);
create index direct_messages_sender_id_idx on messaging.direct_messages (sender_id);

-- Conversations the caller takes part in now (policies use it; reading participants through their own policy would recurse).
create function messaging.my_conversation_ids() returns setof uuid
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select p.conversation_id from messaging.conversation_participants p
   where p.user_id = auth.uid() and p.left_at is null
$$;
comment on function messaging.my_conversation_ids() is
  E'@behavior -queryField -mutationField -typeField\nThe conversations the caller takes part in and has not left. Security definer because the participants policy calls it (no recursion).';
revoke execute on function messaging.my_conversation_ids() from public;
grant execute on function messaging.my_conversation_ids() to gw_user;

create function messaging.conversation_creator(conversation_id uuid) returns uuid
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select c.created_by from messaging.conversations c where c.conversation_id = conversation_creator.conversation_id
$$;
comment on function messaging.conversation_creator(uuid) is
  E'@behavior -queryField -mutationField -typeField\nWho started a conversation. Security definer because the participants insert policy asks before the creator can see the conversation.';
revoke execute on function messaging.conversation_creator(uuid) from public;
grant execute on function messaging.conversation_creator(uuid) to gw_user;

create policy "participants see their conversations" on messaging.conversations for select to gw_user
  using (conversation_id in (select messaging.my_conversation_ids()) or created_by = (select auth.uid()) and not exists (
    select 1 from messaging.conversation_participants p where p.conversation_id = conversations.conversation_id));
create policy "users start conversations" on messaging.conversations for insert to gw_user
  with check (created_by = (select auth.uid()));
grant select on messaging.conversations to gw_user;
grant insert (conversation_id, subject) on messaging.conversations to gw_user;

create policy "participants see who takes part and their read receipts" on messaging.conversation_participants for select to gw_user
  using (conversation_id in (select messaging.my_conversation_ids()));
create policy "creators add people they can see" on messaging.conversation_participants for insert to gw_user
  with check (messaging.conversation_creator(conversation_id) = (select auth.uid())
              and (user_id = (select auth.uid())
                   or (conversation_id in (select messaging.my_conversation_ids())
                       and exists (select 1 from users.profiles p where p.user_id = conversation_participants.user_id))));
create policy "participants move their read receipt and leave" on messaging.conversation_participants for update to gw_user
  using (user_id = (select auth.uid()) and left_at is null)
  with check (user_id = (select auth.uid()));
grant select on messaging.conversation_participants to gw_user;
grant insert (conversation_id, user_id), update (last_read_at, left_at) on messaging.conversation_participants to gw_user;

create policy "participants read the messages" on messaging.direct_messages for select to gw_user
  using (conversation_id in (select messaging.my_conversation_ids()));
create policy "participants write as themselves" on messaging.direct_messages for insert to gw_user
  with check (sender_id = (select auth.uid()) and conversation_id in (select messaging.my_conversation_ids()));
grant select on messaging.direct_messages to gw_user;
grant insert (conversation_id, body) on messaging.direct_messages to gw_user;

comment on table messaging.conversations is
  E'@behavior -insert -update -delete\nA conversation between people (messagingStartConversation). Only its current participants see it.';
comment on column messaging.conversations.conversation_id is 'The conversation''s id.';
comment on column messaging.conversations.subject is 'An optional subject (at most 200 characters).';
comment on column messaging.conversations.created_by is 'Who started it.';
comment on column messaging.conversations.created_at is 'When.';
comment on table messaging.conversation_participants is
  E'@behavior -insert -update -delete\nWho takes part in a conversation, with their read receipt (lastReadAt: messagingMarkConversationRead). Participants see each other; leaving (messagingLeaveConversation) hides the conversation from the one who left.';
comment on column messaging.conversation_participants.conversation_id is 'The conversation.';
comment on column messaging.conversation_participants.user_id is 'The participant.';
comment on column messaging.conversation_participants.joined_at is 'When they were added.';
comment on column messaging.conversation_participants.last_read_at is 'Read receipt: messages up to this time are read.';
comment on column messaging.conversation_participants.left_at is 'When they left (they no longer see the conversation).';
comment on table messaging.direct_messages is
  E'@behavior -insert -update -delete\nA message in a conversation (messagingSendDirectMessage): plain text, never interpreted. Only current participants read them; the others are told by a notification (preference direct_message).';
comment on column messaging.direct_messages.message_id is 'The message''s id.';
comment on column messaging.direct_messages.conversation_id is 'The conversation.';
comment on column messaging.direct_messages.sender_id is 'Who wrote it.';
comment on column messaging.direct_messages.body is 'The text (1-10,000 characters).';
comment on column messaging.direct_messages.created_at is 'When it was sent.';
comment on constraint conversations_created_by_fkey on messaging.conversations is E'@behavior -*';
comment on constraint conversation_participants_user_id_fkey on messaging.conversation_participants is E'@fieldName participant\n@foreignFieldName -\n@backwardBehavior -*';
comment on constraint direct_messages_sender_id_fkey on messaging.direct_messages is E'@behavior -*';

create function messaging.start_conversation(participant_ids uuid[], body text, subject text default null)
  returns messaging.conversations
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_me uuid := auth.uid();
  v_conversation messaging.conversations;
  v_others uuid[];
begin
  if v_me is null then
    raise exception 'Sign in to write to people.' using errcode = 'LOGIN';
  end if;
  v_others := array(select distinct p from pg_catalog.unnest(start_conversation.participant_ids) p where p is not null and p <> v_me);
  if pg_catalog.cardinality(v_others) not between 1 and 50 then
    raise exception 'A conversation has 1 to 50 other participants.' using errcode = 'BADIN';
  end if;
  if start_conversation.body is null or pg_catalog.btrim(start_conversation.body) = '' or char_length(start_conversation.body) > 10000
     or char_length(start_conversation.subject) > 200 then
    raise exception 'A message has 1 to 10,000 characters, a subject at most 200.' using errcode = 'BADIN';
  end if;
  -- People the caller cannot see are as unknown as people who do not exist.
  if (select pg_catalog.count(*) from users.profiles p where p.user_id = any (v_others)) <> pg_catalog.cardinality(v_others) then
    raise exception 'Some of these people do not exist or you cannot see them.' using errcode = 'NTFND';
  end if;
  insert into messaging.conversations (subject) values (start_conversation.subject) returning * into v_conversation;
  insert into messaging.conversation_participants (conversation_id, user_id) values (v_conversation.conversation_id, v_me);
  insert into messaging.conversation_participants (conversation_id, user_id) select v_conversation.conversation_id, o from pg_catalog.unnest(v_others) o;
  insert into messaging.direct_messages (conversation_id, body) values (v_conversation.conversation_id, start_conversation.body);
  update messaging.conversation_participants p set last_read_at = pg_catalog.now()
   where p.conversation_id = v_conversation.conversation_id and p.user_id = v_me;
  return v_conversation;
end;
$$;
comment on function messaging.start_conversation(uuid[], text, text) is
  'Starts a conversation with 1-50 people whose profiles you can see (NTFND otherwise) and sends its first message. Runs with your rights (every write goes through the policies).';
revoke execute on function messaging.start_conversation(uuid[], text, text) from public;
grant execute on function messaging.start_conversation(uuid[], text, text) to gw_user;

create function messaging.send_direct_message(conversation_id uuid, body text) returns messaging.direct_messages
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_message messaging.direct_messages;
begin
  if send_direct_message.body is null or pg_catalog.btrim(send_direct_message.body) = '' or char_length(send_direct_message.body) > 10000 then
    raise exception 'A message has 1 to 10,000 characters.' using errcode = 'BADIN';
  end if;
  if send_direct_message.conversation_id is null or not (send_direct_message.conversation_id in (select messaging.my_conversation_ids())) then
    raise exception 'No conversation % that you take part in.', send_direct_message.conversation_id using errcode = 'NTFND';
  end if;
  insert into messaging.direct_messages (conversation_id, body) values (send_direct_message.conversation_id, send_direct_message.body)
  returning * into v_message;
  update messaging.conversation_participants p set last_read_at = v_message.created_at
   where p.conversation_id = send_direct_message.conversation_id and p.user_id = auth.uid();
  return v_message;
end;
$$;
comment on function messaging.send_direct_message(uuid, text) is
  'Sends a message in a conversation you take part in (NTFND otherwise); it counts as read by you. Runs with your rights.';
revoke execute on function messaging.send_direct_message(uuid, text) from public;
grant execute on function messaging.send_direct_message(uuid, text) to gw_user;

create function messaging.mark_conversation_read(conversation_id uuid) returns messaging.conversation_participants
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_row messaging.conversation_participants;
begin
  update messaging.conversation_participants p set last_read_at = pg_catalog.now()
   where p.conversation_id = mark_conversation_read.conversation_id and p.user_id = auth.uid() and p.left_at is null
  returning * into v_row;
  if not found then
    raise exception 'No conversation % that you take part in.', mark_conversation_read.conversation_id using errcode = 'NTFND';
  end if;
  return v_row;
end;
$$;
comment on function messaging.mark_conversation_read(uuid) is 'Marks a conversation read up to now (your read receipt, seen by the other participants). NTFND if you do not take part.';
revoke execute on function messaging.mark_conversation_read(uuid) from public;
grant execute on function messaging.mark_conversation_read(uuid) to gw_user;

create function messaging.leave_conversation(conversation_id uuid) returns boolean
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  update messaging.conversation_participants p set left_at = pg_catalog.now()
   where p.conversation_id = leave_conversation.conversation_id and p.user_id = auth.uid() and p.left_at is null;
  if not found then
    raise exception 'No conversation % that you take part in.', leave_conversation.conversation_id using errcode = 'NTFND';
  end if;
  return true;
end;
$$;
comment on function messaging.leave_conversation(uuid) is 'Leaves a conversation: you no longer see it or get its messages. NTFND if you do not take part.';
revoke execute on function messaging.leave_conversation(uuid) from public;
grant execute on function messaging.leave_conversation(uuid) to gw_user;

-- The other participants hear of a new message (in-app, if they want direct_message notifications).
create function messaging_private.tg_direct_messages__notify() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_sender text;
begin
  select coalesce(p.display_name, u.username) into v_sender
    from users.profiles p join auth.users u on u.user_id = p.user_id where p.user_id = new.sender_id;
  perform outbox.notify_user(p.user_id, 'messaging.direct_message',
            pg_catalog.left(coalesce(v_sender, 'Someone') || ' wrote to you', 1000),
            pg_catalog.jsonb_build_object('conversationId', new.conversation_id, 'messageId', new.message_id))
     from messaging.conversation_participants p
    where p.conversation_id = new.conversation_id and p.left_at is null and p.user_id is distinct from new.sender_id
      and users.notification_enabled(p.user_id, 'in_app', 'direct_message');
  return null;
end;
$$;
comment on function messaging_private.tg_direct_messages__notify() is
  'Notifies the other current participants of a new direct message (without its text). Security definer because outbox.notify_user is not granted to API roles.';
create trigger _500_notify after insert on messaging.direct_messages
  for each row execute function messaging_private.tg_direct_messages__notify();
