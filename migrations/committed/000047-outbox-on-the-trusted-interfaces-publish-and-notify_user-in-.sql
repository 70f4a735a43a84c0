--! Previous: sha1:939cfa305b4a3c4bf09e9e6071eda797bcd465f1
--! Hash: sha1:c8175100199315a8d00df7d18dfa7d6e98a22ab5
--! Message: outbox: on the trusted interfaces; publish and notify_user in plpgsql (issues 19, 22)

--! split: 2360-outbox-on-module-interfaces.sql
--! split: 2360-outbox-on-module-interfaces.sql
-- outbox.replay_dead_letters on auth's trusted interface (auth.assert_operator,
-- 1910) instead of auth_private (CONVENTIONS: a module never reads another
-- module's *_private schema). Only the one call changes.

-- outbox.replay_dead_letters: as in 000002, on the interfaces
create or replace function outbox.replay_dead_letters(dispatch_ids bigint[] default null) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_streams text[];
  v_count integer;
begin
  perform auth.assert_operator();
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

--! split: 2365-outbox-publish-plpgsql.sql
-- outbox.publish and outbox.notify_user in plpgsql (issue 19/21 measurements).
-- Same signatures, same rows. A language sql function with `set search_path`
-- or security definer is never inlined, and PostgreSQL (before 18) parses and
-- plans its body again on every call of the calling statement: a checkout
-- publishing two events paid ~0.5 ms per publish for that. plpgsql keeps its
-- plans for the session.

create or replace function outbox.publish(
  topic text,
  payload jsonb,
  aggregate_type text default null,
  aggregate_id text default null,
  organization_id uuid default null
) returns bigint
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_event_id bigint;
begin
  insert into outbox.events (topic, payload, aggregate_type, aggregate_id, organization_id, actor_id)
  values (publish.topic, coalesce(publish.payload, 'null'::jsonb), publish.aggregate_type, publish.aggregate_id,
          coalesce(publish.organization_id, auth.current_org_id()), auth.uid())
  returning event_id into v_event_id;
  return v_event_id;
end;
$$;

create or replace function outbox.notify_user(
  user_id uuid,
  topic text,
  message text,
  payload jsonb default '{}'::jsonb,
  event_id bigint default null
) returns bigint
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_notification_id bigint;
begin
  insert into outbox.notifications (user_id, topic, message, payload, event_id)
  values (notify_user.user_id, notify_user.topic, notify_user.message, coalesce(notify_user.payload, '{}'::jsonb),
          notify_user.event_id)
  returning notification_id into v_notification_id;
  return v_notification_id;
end;
$$;
