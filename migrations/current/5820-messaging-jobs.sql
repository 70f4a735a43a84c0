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
