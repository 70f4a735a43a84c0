-- Transactional outbox and webhooks. outbox.publish() writes an event in the
-- caller's transaction; a statement trigger fans it out to the organization's
-- matching webhook subscriptions (one dispatch each) and enqueues one
-- graphile-worker job per delivery stream. A stream is a subscription plus an
-- aggregate: its dispatches are delivered strictly in order, one at a time
-- (the stream is the job's queue and key), so per-aggregate order survives
-- retries. A rolled-back transaction leaves no event, no dispatch and no job.

drop schema if exists outbox_private cascade;
drop schema if exists outbox cascade;

create schema outbox;
comment on schema outbox is
  'Domain events (transactional outbox), webhook subscriptions, their deliveries and dead letters, and per-user notifications.';
grant usage on schema outbox to gw_user;

create schema outbox_private;
comment on schema outbox_private is 'Fan-out and delivery bookkeeping used by triggers and the worker; never exposed.';
revoke all on schema outbox_private from public;

--------------------------------------------------------------------------------
-- Topics are registry types: publishing an unknown topic fails.

insert into registry.types (namespace, code, label, description, sort_order) values
  ('outbox_topic', 'user.registered', 'User registered', 'A new user signed up. Payload: userId, username.', 10),
  ('outbox_topic', 'member.added', 'Member added', 'A user joined an organization. Payload: organizationId, userId, role, addedBy.', 20),
  ('outbox_topic', 'member.removed', 'Member removed', 'A user left or was removed from an organization. Payload: organizationId, userId, role, removedBy.', 30),
  ('outbox_topic', 'webhook.test', 'Webhook test', 'Sent by sendTestWebhook to check an endpoint. Payload: subscriptionId.', 90)
on conflict (namespace, code) do nothing;

--------------------------------------------------------------------------------
-- outbox.events

create table outbox.events (
  event_id bigint generated always as identity primary key,
  payload jsonb not null
    constraint events_payload_check check (pg_column_size(payload) <= 262144),
  aggregate_type text
    constraint events_aggregate_type_check check (char_length(aggregate_type) between 1 and 63),
  aggregate_id text
    constraint events_aggregate_id_check check (char_length(aggregate_id) between 1 and 200),
  organization_id uuid references auth.organizations (organization_id) on delete set null,
  actor_id uuid references auth.users (user_id) on delete set null,
  created_at timestamptz not null default now(),
  constraint events_aggregate_check check ((aggregate_type is null) = (aggregate_id is null))
);
alter table outbox.events enable row level security;
select registry.add_type_column('outbox.events', 'topic', 'outbox_topic');

create index events_organization_id_idx on outbox.events (organization_id, event_id);
create index events_actor_id_idx on outbox.events (actor_id);
create index events_aggregate_idx on outbox.events (aggregate_type, aggregate_id, event_id);
create index events_created_at_brin on outbox.events using brin (created_at);

create policy "operators read every event"
  on outbox.events for select to gw_admin
  using ((select auth.has_role('gw_admin')));
create policy "organization owners and admins read their organization's events"
  on outbox.events for select to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())));

grant select on outbox.events to gw_user;

comment on table outbox.events is
  E'@behavior -insert -update -delete\nA domain event, written by outbox.publish in the same transaction as the change it reports (so a rolled-back change publishes nothing). Delivered to the organization''s matching webhook subscriptions. Operators read all events; owners and admins read their organization''s.';
comment on column outbox.events.event_id is 'The event''s id; also the X-Groundwork-Event-Id (idempotency key) of its webhook deliveries.';
comment on column outbox.events.topic is 'What happened: a code of the registry namespace outbox_topic, e.g. member.added.';
comment on column outbox.events.payload is 'The event''s data (a JSON value, at most 256 kB).';
comment on column outbox.events.aggregate_type is 'The kind of entity the event is about (deliveries per entity keep their order).';
comment on column outbox.events.aggregate_id is 'The id of that entity.';
comment on column outbox.events.organization_id is 'The organization the event belongs to; its webhook subscriptions receive it.';
comment on column outbox.events.actor_id is 'The signed-in user whose change produced the event, if any.';
comment on column outbox.events.created_at is 'When the event was published (transaction time).';

--------------------------------------------------------------------------------
-- outbox.webhook_subscriptions

create table outbox.webhook_subscriptions (
  subscription_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references auth.organizations (organization_id) on delete cascade,
  url text not null
    constraint webhook_subscriptions_url_check check (url ~ '^https?://[^\s/?#]+[^\s]*$' and char_length(url) <= 2000),
  secret text not null default encode(public.gen_random_bytes(32), 'hex')
    constraint webhook_subscriptions_secret_check check (char_length(secret) between 16 and 200),
  topics text[] not null default '{*}'
    constraint webhook_subscriptions_topics_check check (cardinality(topics) between 1 and 100 and array_position(topics, null) is null),
  is_active boolean not null default true,
  description text
    constraint webhook_subscriptions_description_check check (char_length(description) <= 500),
  created_by uuid default auth.uid() references auth.users (user_id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table outbox.webhook_subscriptions enable row level security;

create index webhook_subscriptions_organization_id_idx on outbox.webhook_subscriptions (organization_id) where is_active;
create index webhook_subscriptions_created_by_idx on outbox.webhook_subscriptions (created_by);

create policy "owners and admins see their organization's webhooks"
  on outbox.webhook_subscriptions for select to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())));
create policy "owners and admins add webhooks to their organization"
  on outbox.webhook_subscriptions for insert to gw_user
  with check (organization_id = any (array(select auth.current_user_admin_organization_ids())));
create policy "owners and admins change their organization's webhooks"
  on outbox.webhook_subscriptions for update to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())))
  with check (organization_id = any (array(select auth.current_user_admin_organization_ids())));
create policy "owners and admins delete their organization's webhooks"
  on outbox.webhook_subscriptions for delete to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())));
create policy "operators see every webhook"
  on outbox.webhook_subscriptions for select to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on outbox.webhook_subscriptions to gw_user;
grant insert (organization_id, url, topics, is_active, description) on outbox.webhook_subscriptions to gw_user;
grant update (url, topics, is_active, description) on outbox.webhook_subscriptions to gw_user;
grant delete on outbox.webhook_subscriptions to gw_user;

comment on table outbox.webhook_subscriptions is
  'An HTTP(S) endpoint that receives an organization''s events whose topic is listed (* for all), signed with the subscription''s secret. Managed by the organization''s owners and admins.';
comment on column outbox.webhook_subscriptions.subscription_id is 'The subscription''s id.';
comment on column outbox.webhook_subscriptions.organization_id is 'Whose events it receives.';
comment on column outbox.webhook_subscriptions.url is 'Where events are POSTed (http or https URL, at most 2000 characters).';
comment on column outbox.webhook_subscriptions.secret is 'HMAC-SHA256 key of the X-Groundwork-Signature header (generated; see outboxRotateWebhookSecret).';
comment on column outbox.webhook_subscriptions.topics is 'Topics delivered, or {*} for every topic.';
comment on column outbox.webhook_subscriptions.is_active is 'Inactive subscriptions receive nothing; their pending deliveries are cancelled.';
comment on column outbox.webhook_subscriptions.description is 'What the endpoint is for.';
comment on column outbox.webhook_subscriptions.created_by is 'Who created it.';
comment on column outbox.webhook_subscriptions.created_at is 'When it was created.';
comment on column outbox.webhook_subscriptions.updated_at is 'When it last changed.';

create function outbox_private.tg_webhook_subscriptions__validate() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if new.url is null or new.url !~ '^https?://[^\s/?#]+[^\s]*$' or char_length(new.url) > 2000 then
    raise exception 'A webhook URL is an http:// or https:// URL of at most 2000 characters.' using errcode = 'BADIN';
  end if;
  if new.topics is null or cardinality(new.topics) not between 1 and 100 or array_position(new.topics, null) is not null then
    raise exception 'A webhook subscribes to 1 to 100 topics (* for all).' using errcode = 'BADIN';
  end if;
  if exists (
    select 1 from pg_catalog.unnest(new.topics) t(code)
     where t.code <> '*'
       and not exists (select 1 from registry.types r where r.namespace = 'outbox_topic' and r.code = t.code and r.is_active)
  ) then
    raise exception 'Unknown or retired topic in %: topics are active registry types of the namespace outbox_topic.', new.topics
      using errcode = 'RTYPE';
  end if;
  if tg_op = 'UPDATE' then
    new.updated_at := pg_catalog.now();
  end if;
  return new;
end;
$$;
comment on function outbox_private.tg_webhook_subscriptions__validate() is
  'Turns bad URLs and topic lists into BADIN/RTYPE errors; keeps updated_at current.';

create trigger _100_validate
  before insert or update on outbox.webhook_subscriptions
  for each row execute function outbox_private.tg_webhook_subscriptions__validate();

--------------------------------------------------------------------------------
-- outbox.dispatches: one per (event, subscription), the delivery state machine
--   pending → delivered | dead | cancelled;  dead → pending (replay)

create table outbox.dispatches (
  dispatch_id bigint generated always as identity primary key,
  event_id bigint not null references outbox.events (event_id) on delete cascade,
  subscription_id uuid not null references outbox.webhook_subscriptions (subscription_id) on delete cascade,
  organization_id uuid not null references auth.organizations (organization_id) on delete cascade,
  stream text not null,
  status text not null default 'pending'
    constraint dispatches_status_check check (status in ('pending', 'delivered', 'dead', 'cancelled')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_http_status integer,
  last_error text,
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  dead_at timestamptz,
  replayed_at timestamptz,
  constraint dispatches_event_id_subscription_id_key unique (event_id, subscription_id),
  constraint dispatches_delivered_check check ((status = 'delivered') = (delivered_at is not null)),
  constraint dispatches_dead_check check (status <> 'dead' or dead_at is not null)
);
alter table outbox.dispatches enable row level security;

create index dispatches_subscription_id_idx on outbox.dispatches (subscription_id, dispatch_id);
create index dispatches_organization_id_idx on outbox.dispatches (organization_id);
-- The worker's next-in-stream lookup, and the lag measure.
create index dispatches_pending_stream_idx on outbox.dispatches (stream, dispatch_id) where status = 'pending';
create index dispatches_pending_created_at_idx on outbox.dispatches (created_at) where status = 'pending';
create index dispatches_dead_idx on outbox.dispatches (dead_at) where status = 'dead';

create policy "operators see every dispatch"
  on outbox.dispatches for select to gw_admin
  using ((select auth.has_role('gw_admin')));
create policy "owners and admins see their organization's dispatches"
  on outbox.dispatches for select to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())));

grant select on outbox.dispatches to gw_user;

comment on table outbox.dispatches is
  E'@behavior -insert -update -delete\nThe delivery of one event to one webhook subscription: pending until delivered, dead after the last failed attempt (a dead letter: operators replay it), cancelled when the subscription is deactivated. Deliveries of one stream (subscription + aggregate) happen in event order.';
comment on column outbox.dispatches.dispatch_id is 'The dispatch''s id.';
comment on column outbox.dispatches.event_id is 'The event delivered.';
comment on column outbox.dispatches.subscription_id is 'The subscription it goes to.';
comment on column outbox.dispatches.organization_id is 'The subscription''s organization.';
comment on column outbox.dispatches.stream is 'subscription/aggregate: dispatches of one stream are delivered one at a time, in order.';
comment on column outbox.dispatches.status is E'@behavior +attribute:filterBy\npending, delivered, dead (dead letter) or cancelled. Filter on it to list dead letters (partial indexes serve pending and dead).';
comment on column outbox.dispatches.attempts is 'Attempts made since it was published or last replayed.';
comment on column outbox.dispatches.next_attempt_at is 'Earliest time of the next attempt (exponential backoff with jitter).';
comment on column outbox.dispatches.last_http_status is 'HTTP status of the last attempt, if the endpoint answered.';
comment on column outbox.dispatches.last_error is 'Why the last attempt failed.';
comment on column outbox.dispatches.created_at is 'When the event was published.';
comment on column outbox.dispatches.delivered_at is 'When the endpoint accepted it (2xx).';
comment on column outbox.dispatches.dead_at is 'When the last attempt failed.';
comment on column outbox.dispatches.replayed_at is 'When an operator last replayed it.';

--------------------------------------------------------------------------------
-- outbox.deliveries: every attempt

create table outbox.deliveries (
  delivery_id bigint generated always as identity primary key,
  dispatch_id bigint not null references outbox.dispatches (dispatch_id) on delete cascade,
  organization_id uuid not null references auth.organizations (organization_id) on delete cascade,
  attempt integer not null
    constraint deliveries_attempt_check check (attempt >= 1),
  status text not null
    constraint deliveries_status_check check (status in ('succeeded', 'failed')),
  http_status integer,
  latency_ms integer,
  error text,
  attempted_at timestamptz not null default now()
);
alter table outbox.deliveries enable row level security;

create index deliveries_dispatch_id_idx on outbox.deliveries (dispatch_id);
create index deliveries_organization_id_idx on outbox.deliveries (organization_id);
create index deliveries_attempted_at_brin on outbox.deliveries using brin (attempted_at);

create policy "operators see every delivery attempt"
  on outbox.deliveries for select to gw_admin
  using ((select auth.has_role('gw_admin')));
create policy "owners and admins see their organization's delivery attempts"
  on outbox.deliveries for select to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())));

grant select on outbox.deliveries to gw_user;

comment on table outbox.deliveries is
  E'@behavior -insert -update -delete\nOne HTTP attempt to deliver a dispatch: outcome, status code, latency, error.';
comment on column outbox.deliveries.delivery_id is 'The attempt''s id.';
comment on column outbox.deliveries.dispatch_id is 'The dispatch attempted.';
comment on column outbox.deliveries.organization_id is 'The subscription''s organization.';
comment on column outbox.deliveries.attempt is 'Attempt number within the dispatch (restarts at 1 after a replay).';
comment on column outbox.deliveries.status is 'succeeded (2xx) or failed.';
comment on column outbox.deliveries.http_status is 'The endpoint''s HTTP status, if it answered.';
comment on column outbox.deliveries.latency_ms is 'Time from sending the request to its answer or failure, in milliseconds.';
comment on column outbox.deliveries.error is 'Why it failed: non-2xx status, timeout, connection error.';
comment on column outbox.deliveries.attempted_at is 'When the attempt finished.';

--------------------------------------------------------------------------------
-- Publishing and fan-out

create function outbox.publish(
  topic text,
  payload jsonb,
  aggregate_type text default null,
  aggregate_id text default null,
  organization_id uuid default null
) returns bigint
  language sql
  volatile
  security definer
  set search_path = ''
as $$
  insert into outbox.events (topic, payload, aggregate_type, aggregate_id, organization_id, actor_id)
  values (publish.topic, coalesce(publish.payload, 'null'::jsonb), publish.aggregate_type, publish.aggregate_id,
          coalesce(publish.organization_id, auth.current_org_id()), auth.uid())
  returning event_id
$$;
comment on function outbox.publish(text, jsonb, text, text, uuid) is
  E'@behavior -mutationField\nPublishes an event in the caller''s transaction and returns its id: it reaches webhooks only if the transaction commits. The organization defaults to the caller''s org_id claim. For domain functions and triggers; not granted to API roles (unknown topic: RTYPE). Security definer because events have no insert grant.';
revoke execute on function outbox.publish(text, jsonb, text, text, uuid) from public;

-- The job that delivers a stream: its queue serializes the stream, its key
-- keeps one waiting job per stream (a running one is superseded, see
-- graphile_worker.add_jobs). plpgsql, so graphile_worker is only needed at run time.
create function outbox_private.enqueue_streams(streams text[], run_at timestamptz default null) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  perform graphile_worker.add_jobs(
    array(
      select row(
        'outbox_deliver',                                   -- identifier
        pg_catalog.json_build_object('stream', d.stream),   -- payload
        'outbox:' || d.stream,                              -- queue_name
        enqueue_streams.run_at,                             -- run_at (null: now)
        25,                                                 -- max_attempts: only crashes count; outbox_deliver keeps its own retry schedule
        'outbox:' || d.stream,                              -- job_key
        null,                                               -- priority
        null                                                -- flags
      )::graphile_worker.job_spec
        from (select distinct s as stream from pg_catalog.unnest(streams) s) d
    ),
    job_key_preserve_run_at := true
  );
end;
$$;
comment on function outbox_private.enqueue_streams(text[], timestamptz) is
  'Makes sure each stream has a delivery job (at run_at, default now). A waiting job keeps its run_at (job_key_preserve_run_at); a running one is superseded by a new job.';

create function outbox_private.tg_events__fan_out() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_streams text[];
begin
  with created as (
    insert into outbox.dispatches (event_id, subscription_id, organization_id, stream)
    select e.event_id, s.subscription_id, s.organization_id,
           s.subscription_id::text || '/' || coalesce(e.aggregate_type || ':' || e.aggregate_id, 'event:' || e.event_id::text)
      from new_events e
      join outbox.webhook_subscriptions s
        on s.organization_id = e.organization_id
       and s.is_active
       and (e.topic = any (s.topics) or '*' = any (s.topics))
     order by e.event_id, s.subscription_id
    returning stream
  )
  select pg_catalog.array_agg(distinct stream) into v_streams from created;
  if v_streams is not null then
    perform outbox_private.enqueue_streams(v_streams);
  end if;
  return null;
end;
$$;
comment on function outbox_private.tg_events__fan_out() is
  'Creates a dispatch per matching active subscription and a delivery job per stream, once per statement. Security definer: publishers need no rights on dispatches or the job queue.';

create trigger _500_fan_out
  after insert on outbox.events
  referencing new table as new_events
  for each statement execute function outbox_private.tg_events__fan_out();

-- Deactivating a subscription cancels what it still owed.
create function outbox_private.tg_webhook_subscriptions__cancel_pending() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  update outbox.dispatches d set status = 'cancelled'
   where d.subscription_id = new.subscription_id and d.status = 'pending';
  return null;
end;
$$;
comment on function outbox_private.tg_webhook_subscriptions__cancel_pending() is
  'Cancels the pending dispatches of a subscription that was deactivated.';

create trigger _500_cancel_pending
  after update of is_active on outbox.webhook_subscriptions
  for each row when (old.is_active and not new.is_active)
  execute function outbox_private.tg_webhook_subscriptions__cancel_pending();

--------------------------------------------------------------------------------
-- Worker side (called by src/worker/tasks/outbox_deliver.ts as gw_owner)

-- The next dispatch of a stream, with what is needed to send it.
create function outbox_private.next_dispatch(stream text)
  returns table (
    dispatch_id bigint,
    attempts integer,
    next_attempt_at timestamptz,
    event_id bigint,
    topic text,
    payload jsonb,
    aggregate_type text,
    aggregate_id text,
    organization_id uuid,
    event_created_at timestamptz,
    subscription_id uuid,
    url text,
    secret text,
    is_active boolean
  )
  language sql
  stable
  set search_path = ''
as $$
  select d.dispatch_id, d.attempts, d.next_attempt_at, e.event_id, e.topic, e.payload, e.aggregate_type,
         e.aggregate_id, e.organization_id, e.created_at, s.subscription_id, s.url, s.secret, s.is_active
    from outbox.dispatches d
    join outbox.events e on e.event_id = d.event_id
    join outbox.webhook_subscriptions s on s.subscription_id = d.subscription_id
   where d.stream = next_dispatch.stream and d.status = 'pending'
   order by d.dispatch_id
   limit 1
$$;
comment on function outbox_private.next_dispatch(text) is 'The oldest pending dispatch of a stream.';

-- Records one attempt. On failure, either schedules the next attempt (and the
-- stream's job) after retry_delay, or dead-letters the dispatch when it was
-- the last. Returns the dispatch's new status.
create function outbox_private.record_attempt(
  dispatch_id bigint,
  succeeded boolean,
  http_status integer,
  latency_ms integer,
  error text,
  max_attempts integer,
  retry_delay interval
) returns text
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_dispatch outbox.dispatches;
  v_status text;
begin
  update outbox.dispatches d
     set attempts = d.attempts + 1,
         last_http_status = record_attempt.http_status,
         last_error = case when record_attempt.succeeded then null else pg_catalog.left(record_attempt.error, 2000) end
   where d.dispatch_id = record_attempt.dispatch_id and d.status = 'pending'
  returning * into v_dispatch;
  if not found then
    return null; -- cancelled or handled meanwhile
  end if;

  insert into outbox.deliveries (dispatch_id, organization_id, attempt, status, http_status, latency_ms, error)
  values (v_dispatch.dispatch_id, v_dispatch.organization_id, v_dispatch.attempts,
          case when succeeded then 'succeeded' else 'failed' end, http_status, latency_ms, pg_catalog.left(error, 2000));

  if succeeded then
    v_status := 'delivered';
    update outbox.dispatches d set status = v_status, delivered_at = pg_catalog.now()
     where d.dispatch_id = v_dispatch.dispatch_id;
  elsif v_dispatch.attempts >= max_attempts then
    v_status := 'dead';
    update outbox.dispatches d set status = v_status, dead_at = pg_catalog.now()
     where d.dispatch_id = v_dispatch.dispatch_id;
  else
    v_status := 'pending';
    update outbox.dispatches d set next_attempt_at = pg_catalog.now() + retry_delay
     where d.dispatch_id = v_dispatch.dispatch_id;
    perform outbox_private.enqueue_streams(array[v_dispatch.stream], pg_catalog.now() + retry_delay);
  end if;
  return v_status;
end;
$$;
comment on function outbox_private.record_attempt(bigint, boolean, integer, integer, text, integer, interval) is
  'Writes a delivery attempt and moves the dispatch on: delivered, dead (last attempt) or retried after retry_delay.';

--------------------------------------------------------------------------------
-- Management through GraphQL

create function outbox.rotate_webhook_secret(subscription_id uuid) returns outbox.webhook_subscriptions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_subscription outbox.webhook_subscriptions;
begin
  update outbox.webhook_subscriptions s
     set secret = pg_catalog.encode(public.gen_random_bytes(32), 'hex')
   where s.subscription_id = rotate_webhook_secret.subscription_id
     and s.organization_id = any (array(select auth.current_user_admin_organization_ids()))
  returning * into v_subscription;
  if not found then
    raise exception 'No webhook subscription % that you manage.', rotate_webhook_secret.subscription_id
      using errcode = 'NTFND';
  end if;
  return v_subscription;
end;
$$;
comment on function outbox.rotate_webhook_secret(uuid) is
  E'@resultFieldName webhookSubscription\nReplaces a subscription''s signing secret with a new random one and returns it. Owners and admins of its organization only (NTFND otherwise). Security definer because the secret column has no update grant.';
grant execute on function outbox.rotate_webhook_secret(uuid) to gw_user;

create function outbox.send_test_webhook(subscription_id uuid) returns bigint
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_subscription outbox.webhook_subscriptions;
  v_event_id bigint;
  v_stream text;
begin
  select * into v_subscription from outbox.webhook_subscriptions s
   where s.subscription_id = send_test_webhook.subscription_id
     and s.organization_id = any (array(select auth.current_user_admin_organization_ids()));
  if not found then
    raise exception 'No webhook subscription % that you manage.', send_test_webhook.subscription_id
      using errcode = 'NTFND';
  end if;
  -- No organization on the event, so the fan-out sends it nowhere else: only
  -- to this subscription, whatever its topics.
  insert into outbox.events (topic, payload, aggregate_type, aggregate_id, organization_id, actor_id)
  values ('webhook.test', pg_catalog.jsonb_build_object('subscriptionId', v_subscription.subscription_id,
                                                        'organizationId', v_subscription.organization_id),
          'webhook_subscription', v_subscription.subscription_id::text, null, auth.uid())
  returning event_id into v_event_id;
  v_stream := v_subscription.subscription_id::text || '/webhook_subscription:' || v_subscription.subscription_id::text;
  insert into outbox.dispatches (event_id, subscription_id, organization_id, stream)
  values (v_event_id, v_subscription.subscription_id, v_subscription.organization_id, v_stream);
  perform outbox_private.enqueue_streams(array[v_stream]);
  return v_event_id;
end;
$$;
comment on function outbox.send_test_webhook(uuid) is
  E'@resultFieldName eventId\nSends a webhook.test event to this subscription only (whatever its topics, even if inactive) and returns the event id; follow it in outboxDispatches. Owners and admins of its organization only (NTFND otherwise).';
grant execute on function outbox.send_test_webhook(uuid) to gw_user;

create function outbox.replay_dead_letters(dispatch_ids bigint[] default null) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_streams text[];
  v_count integer;
begin
  perform auth_private.assert_operator();
  with replayed as (
    update outbox.dispatches d
       set status = 'pending', attempts = 0, next_attempt_at = pg_catalog.now(), dead_at = null,
           replayed_at = pg_catalog.now()
     where d.status = 'dead'
       and (dispatch_ids is null or d.dispatch_id = any (dispatch_ids))
       -- A deactivated subscription gets nothing, replayed or not.
       and exists (select 1 from outbox.webhook_subscriptions s where s.subscription_id = d.subscription_id and s.is_active)
    returning d.stream
  )
  select pg_catalog.array_agg(distinct stream), pg_catalog.count(*) into v_streams, v_count from replayed;
  if v_streams is not null then
    perform outbox_private.enqueue_streams(v_streams);
  end if;
  return v_count;
end;
$$;
comment on function outbox.replay_dead_letters(bigint[]) is
  E'@resultFieldName replayedCount\nSends dead letters again: the given dispatches, or every dead one when dispatchIds is null (those of deactivated subscriptions are skipped). Attempts restart at 1. Returns how many were replayed. Operators (gw_admin) only (DNIED when the grant was withdrawn).';
grant execute on function outbox.replay_dead_letters(bigint[]) to gw_admin;
