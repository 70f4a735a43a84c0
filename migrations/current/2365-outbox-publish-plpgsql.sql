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
