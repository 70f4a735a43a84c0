-- Events out: publishing, cancelling and commenting write outbox events in the
-- same transaction (webhooks of the event's organization receive them). A
-- published public event also enqueues events_notify_followers, which fans the
-- notification out to the organization's followers in batches, in the worker,
-- exactly once per follower (events_private.follower_notifications).

insert into registry.types (namespace, code, label, description) values
  ('outbox_topic', 'event.published', 'Event published',
   'Payload: eventId, organizationId, title, startsAt, endsAt, visibility, categoryCode, countryCode.'),
  ('outbox_topic', 'event.cancelled', 'Event cancelled',
   'Payload: eventId, organizationId, title, startsAt, wasPublished.'),
  ('outbox_topic', 'event.comment_added', 'Comment added to an event',
   'Payload: commentId, postId, eventId, organizationId, authorId, parentId.')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description;

create function events_private.tg_events__publish_status() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if new.status = 'published' then
    perform outbox.publish('event.published',
      pg_catalog.jsonb_build_object('eventId', new.event_id, 'organizationId', new.owner_context_id, 'title', new.title,
        'startsAt', new.starts_at, 'endsAt', new.ends_at, 'visibility', new.visibility,
        'categoryCode', new.category_code, 'countryCode', new.country_code),
      'event', new.event_id::text, new.owner_context_id);
    if new.visibility = 'public' then
      -- Fan-out to followers happens in the worker, never in the request.
      perform graphile_worker.add_job('events_notify_followers', pg_catalog.json_build_object('id', new.event_id),
        max_attempts := 10, job_key := 'events_notify_followers:' || new.event_id::text);
    end if;
  elsif new.status = 'cancelled' then
    perform outbox.publish('event.cancelled',
      pg_catalog.jsonb_build_object('eventId', new.event_id, 'organizationId', new.owner_context_id, 'title', new.title,
        'startsAt', new.starts_at, 'wasPublished', old.status <> 'draft'),
      'event', new.event_id::text, new.owner_context_id);
  end if;
  return null;
end;
$$;
comment on function events_private.tg_events__publish_status() is
  'Publishes event.published or event.cancelled when an event''s status moves there, and enqueues the follower fan-out of a published public event. Security definer because outbox.publish and the job queue are not granted to API roles.';

create trigger _500_publish_status after update of status on events.events
  for each row when (old.status is distinct from new.status)
  execute function events_private.tg_events__publish_status();

create function events_private.tg_event_comments__publish_added() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_event_id uuid;
  v_organization_id uuid;
  v_parent_author uuid;
  v_outbox_id bigint;
  v_author text;
  v_title text;
begin
  select e.event_id, e.owner_context_id, e.title into v_event_id, v_organization_id, v_title
    from events.event_posts p join events.events e on e.event_id = p.event_id
   where p.post_id = new.post_id;
  v_outbox_id := outbox.publish('event.comment_added',
    pg_catalog.jsonb_build_object('commentId', new.comment_id, 'postId', new.post_id, 'eventId', v_event_id,
      'organizationId', v_organization_id, 'authorId', new.author_id, 'parentId', new.parent_id),
    'event', v_event_id::text, v_organization_id);
  -- A reply tells the author of the comment replied to (one notification: no fan-out).
  if new.parent_id is not null then
    select c.author_id into v_parent_author from events.event_comments c where c.comment_id = new.parent_id;
    if v_parent_author is not null and v_parent_author <> new.author_id
       and users.notification_enabled(v_parent_author, 'in_app', 'comment_added') then
      select coalesce(p.display_name, u.username) into v_author
        from users.profiles p join auth.users u on u.user_id = p.user_id
       where p.user_id = new.author_id;
      perform outbox.notify_user(v_parent_author, 'event.comment_added',
        pg_catalog.left(coalesce(v_author, 'Someone') || ' replied to your comment on ' || v_title, 1000),
        pg_catalog.jsonb_build_object('commentId', new.comment_id, 'postId', new.post_id, 'eventId', v_event_id),
        v_outbox_id);
    end if;
  end if;
  return null;
end;
$$;
comment on function events_private.tg_event_comments__publish_added() is
  'Publishes event.comment_added to the event''s organization and notifies the author of the comment replied to. Security definer because outbox.publish and outbox.notify_user are not granted to API roles, and the event may be one RLS lets the commenter see only through its post.';

create trigger _500_publish_added after insert on events.event_comments
  for each row execute function events_private.tg_event_comments__publish_added();

--------------------------------------------------------------------------------
-- The follower fan-out (worker task events_notify_followers)

create table events_private.follower_notifications (
  event_id uuid not null
    constraint follower_notifications_event_id_fkey references events.events (event_id) on delete cascade,
  user_id uuid not null
    constraint follower_notifications_user_id_fkey references users.profiles (user_id) on delete cascade,
  created_at timestamptz not null default now(),
  constraint follower_notifications_pkey primary key (event_id, user_id)
);
alter table events_private.follower_notifications enable row level security;
create index follower_notifications_user_id_idx on events_private.follower_notifications (user_id);
comment on table events_private.follower_notifications is
  'Which followers were told of which published event: the fan-out writes a row here in the statement that notifies, so a job that runs twice notifies nobody twice.';

-- One batch of followers (keyset on follower id): notifies those who want it and
-- were not notified yet. Returns how many followers the batch held (fewer than
-- batch_size: done) and the last follower id (the next batch's start).
create function events_private.notify_followers(event_id uuid, after_user_id uuid, batch_size integer)
  returns table (handled integer, notified integer, last_user_id uuid)
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_event events.events;
  v_organization text;
  v_outbox_id bigint;
begin
  select e.* into v_event from events.events e where e.event_id = notify_followers.event_id;
  -- Deleted, cancelled, completed or no longer public: nothing to tell any more.
  if not found or v_event.status <> 'published' or v_event.visibility <> 'public' then
    return query select 0, 0, null::uuid;
    return;
  end if;
  select o.name into v_organization from auth.organizations o where o.organization_id = v_event.owner_context_id;
  select x.event_id into v_outbox_id
    from outbox.events x
   where x.aggregate_type = 'event' and x.aggregate_id = v_event.event_id::text and x.topic = 'event.published'
   order by x.event_id desc
   limit 1;
  return query
    with batch as (
      select f.follower_id
        from users.follows f
       where f.followed_organization_id = v_event.owner_context_id
         and (notify_followers.after_user_id is null or f.follower_id > notify_followers.after_user_id)
       order by f.follower_id
       limit notify_followers.batch_size
    ), fresh as (
      insert into events_private.follower_notifications (event_id, user_id)
      select v_event.event_id, b.follower_id
        from batch b
       where users.notification_enabled(b.follower_id, 'in_app', 'event_published')
      on conflict on constraint follower_notifications_pkey do nothing
      returning user_id
    ), sent as (
      select outbox.notify_user(f.user_id, 'event.published',
               pg_catalog.left(coalesce(v_organization, 'An organization you follow') || ' published ' || v_event.title, 1000),
               pg_catalog.jsonb_build_object('eventId', v_event.event_id, 'organizationId', v_event.owner_context_id,
                                             'title', v_event.title, 'startsAt', v_event.starts_at),
               v_outbox_id) as notification_id
        from fresh f
    )
    select (select pg_catalog.count(*) from batch)::integer,
           (select pg_catalog.count(*) from sent)::integer,
           (select pg_catalog.max(b.follower_id::text)::uuid from batch b);
end;
$$;
comment on function events_private.notify_followers(event_id uuid, after_user_id uuid, batch_size integer) is
  'One batch of the follower fan-out of a published public event: notifies (outbox.notify_user) the organization''s followers after after_user_id, up to batch_size of them, who want in-app event_published notifications and were not notified yet. Returns the batch''s size, how many were notified and its last follower id. Does nothing once the event is no longer published and public.';
