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
