-- Per-user notifications, pushed to GraphQL subscriptions (notificationAdded)
-- through LISTEN/NOTIFY on the channel gw:notifications:<user id>. The
-- subscription re-reads the row as the subscriber, so RLS decides what arrives.

drop function if exists outbox.notify_user(uuid, text, text, jsonb, bigint) cascade;
drop function if exists outbox_private.tg_notifications__notify() cascade;
drop table if exists outbox.notifications cascade;

create table outbox.notifications (
  notification_id bigint generated always as identity primary key,
  user_id uuid not null references auth.users (user_id) on delete cascade,
  topic text not null
    constraint notifications_topic_check check (char_length(topic) between 1 and 100),
  message text not null
    constraint notifications_message_check check (char_length(message) between 1 and 1000),
  payload jsonb not null default '{}'::jsonb
    constraint notifications_payload_check check (pg_column_size(payload) <= 16384),
  event_id bigint references outbox.events (event_id) on delete set null,
  created_at timestamptz not null default now(),
  read_at timestamptz
);
alter table outbox.notifications enable row level security;

create index notifications_user_id_idx on outbox.notifications (user_id, notification_id desc);
create index notifications_unread_idx on outbox.notifications (user_id) where read_at is null;
create index notifications_event_id_idx on outbox.notifications (event_id);

create policy "users see their own notifications"
  on outbox.notifications for select to gw_user
  using (user_id = (select auth.uid()));
create policy "users mark their own notifications read"
  on outbox.notifications for update to gw_user
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));

grant select on outbox.notifications to gw_user;
grant update (read_at) on outbox.notifications to gw_user;

comment on table outbox.notifications is
  E'@behavior -insert -delete\nThings that happened that concern you ("Alice added you to Acme"). New ones arrive on the notificationAdded subscription; set readAt to mark one read.';
comment on column outbox.notifications.notification_id is 'The notification''s id.';
comment on column outbox.notifications.user_id is 'Who it is for.';
comment on column outbox.notifications.topic is 'What kind of notification, e.g. member.added.';
comment on column outbox.notifications.message is 'One readable sentence.';
comment on column outbox.notifications.payload is 'Details (a JSON value, at most 16 kB).';
comment on column outbox.notifications.event_id is 'The outbox event it came from, if any.';
comment on column outbox.notifications.created_at is 'When it was created.';
comment on column outbox.notifications.read_at is 'When you marked it read (null: unread).';

create function outbox_private.tg_notifications__notify() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  -- Delivered at commit, never for a rolled-back transaction.
  perform pg_catalog.pg_notify('gw:notifications:' || new.user_id::text,
    pg_catalog.json_build_object('id', new.notification_id)::text);
  return null;
end;
$$;
comment on function outbox_private.tg_notifications__notify() is
  'Wakes the user''s GraphQL subscriptions when a notification is committed.';

create trigger _500_notify
  after insert on outbox.notifications
  for each row execute function outbox_private.tg_notifications__notify();

create function outbox.notify_user(
  user_id uuid,
  topic text,
  message text,
  payload jsonb default '{}'::jsonb,
  event_id bigint default null
) returns bigint
  language sql
  volatile
  security definer
  set search_path = ''
as $$
  insert into outbox.notifications (user_id, topic, message, payload, event_id)
  values (notify_user.user_id, notify_user.topic, notify_user.message, coalesce(notify_user.payload, '{}'::jsonb),
          notify_user.event_id)
  returning notification_id
$$;
comment on function outbox.notify_user(uuid, text, text, jsonb, bigint) is
  E'@behavior -mutationField\nCreates a notification for a user (and pushes it to their subscriptions at commit). For domain functions and triggers; not granted to API roles. Security definer because notifications have no insert grant.';
revoke execute on function outbox.notify_user(uuid, text, text, jsonb, bigint) from public;
