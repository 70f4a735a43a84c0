--! Previous: sha1:bd50bc3658954e0cea0476f2fd34e19e5c043ad1
--! Hash: sha1:e190fb448520038ed113f2bfca553cfeb9426375
--! Message: events: events under the seed's tenant policies, status machine, posts, comments, reactions, guides, search, topics (issue 18)

--! split: 5200-events-events.sql
-- events: the Liventix seed's events schema. This file: events.events, owned by
-- an organization (the seed's owner_context_id = auth.organizations), its
-- status a registry type moved only along registry.transitions (draft ->
-- published -> completed, and cancelled), tenant isolation by the JWT's org_id
-- claim (the seed's public_events policy). Content: 5210; functions: 5220;
-- topics and the follower fan-out: 5230.

drop schema if exists events_private cascade;
drop schema if exists events cascade;

create schema events;
comment on schema events is
  'Events and their social content (posts, comments, reactions, cultural guides), owned by organizations. Published public events are readable by everyone, anonymous included.';
grant usage on schema events to gw_anonymous, gw_user;

create schema events_private;
comment on schema events_private is 'Triggers, the follower fan-out and its bookkeeping; never exposed.';
revoke all on schema events_private from public;

-- Statuses and their moves are data (registry module).
insert into registry.types (namespace, code, label, description, sort_order) values
  ('event_status', 'draft', 'Draft', 'Being prepared; only its organization sees it.', 10),
  ('event_status', 'published', 'Published', 'Open to its audience.', 20),
  ('event_status', 'completed', 'Completed', 'Took place.', 30),
  ('event_status', 'cancelled', 'Cancelled', 'Called off; still shown, so that people know.', 40)
on conflict (namespace, code) do update
  set label = excluded.label, description = excluded.description, sort_order = excluded.sort_order;
insert into registry.transitions (namespace, from_code, to_code, label) values
  ('event_status', null, 'draft', 'Create'),
  ('event_status', 'draft', 'published', 'Publish'),
  ('event_status', 'draft', 'cancelled', 'Cancel'),
  ('event_status', 'published', 'completed', 'Complete'),
  ('event_status', 'published', 'cancelled', 'Cancel')
on conflict on constraint transitions_move_key do nothing;

--------------------------------------------------------------------------------
-- Who may manage an organization's events: owners and admins acting in it.

create function events.managed_organization_id() returns uuid
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select m.organization_id
    from auth.memberships m
   where m.organization_id = auth.current_org_id()
     and m.user_id = auth.uid()
     and m.role in ('owner', 'admin')
$$;
comment on function events.managed_organization_id() is
  E'@behavior -queryField -mutationField -typeField\nThe organization the request acts in (the org_id claim) if the signed-in user is an owner or admin there, else null: whose events, posts and guides the caller may write. Security definer because policies call it and auth.memberships has policies of its own (no recursion).';
revoke execute on function events.managed_organization_id() from public;
grant execute on function events.managed_organization_id() to gw_anonymous, gw_user;

--------------------------------------------------------------------------------
-- events.events

create table events.events (
  event_id uuid primary key default gen_random_uuid(),
  owner_context_id uuid not null default auth.current_org_id()
    constraint events_owner_context_id_fkey references auth.organizations (organization_id) on delete cascade,
  title text not null
    constraint events_title_check check (char_length(title) between 1 and 200),
  description text
    constraint events_description_check check (char_length(description) <= 20000),
  category_code text
    constraint events_category_code_fkey references ref.event_categories (code) on delete restrict,
  country_code text
    constraint events_country_code_fkey references ref.countries (code) on delete restrict,
  timezone text not null default 'UTC'
    constraint events_timezone_fkey references ref.timezones (name) on delete restrict,
  venue text
    constraint events_venue_check check (char_length(venue) <= 500),
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  visibility text not null default 'public'
    constraint events_visibility_check check (visibility in ('public', 'unlisted', 'private')),
  capacity integer
    constraint events_capacity_check check (capacity between 1 and 10000000),
  metadata jsonb not null default '{}'::jsonb
    constraint events_metadata_check check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 65536),
  search_vector tsvector generated always as (
    setweight(to_tsvector('english'::regconfig, title), 'A')
    || setweight(to_tsvector('english'::regconfig, coalesce(venue, '')), 'B')
    || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
  ) stored,
  created_by uuid default auth.uid()
    constraint events_created_by_fkey references users.profiles (user_id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  published_at timestamptz,
  cancelled_at timestamptz,
  constraint events_dates_check check (ends_at > starts_at)
);
alter table events.events enable row level security;

select registry.add_type_column('events.events', 'status', 'event_status', true, 'draft');
select registry.add_state_machine('events.events', 'status', 'event_status');

-- Foreign keys (the category and country ones also serve filtered listings).
create index events_owner_context_id_idx on events.events (owner_context_id, starts_at);
create index events_category_code_idx on events.events (category_code, starts_at);
create index events_country_code_idx on events.events (country_code, starts_at);
create index events_timezone_idx on events.events (timezone);
create index events_created_by_idx on events.events (created_by);
-- What everyone may list, in the order listings use (upcoming first, keyset on event_id).
create index events_listed_idx on events.events (starts_at, event_id) where status = 'published' and visibility = 'public';
-- Whether an organization shows itself as an organizer (events_private.public_organizer).
create index events_organizer_idx on events.events (owner_context_id) where visibility <> 'private' and published_at is not null;
create index events_search_vector_idx on events.events using gin (search_vector);
create index events_metadata_idx on events.events using gin (metadata jsonb_path_ops);

-- The seed's public_events policy; what was never published (a draft, or a
-- draft cancelled) stays with its organization.
create policy "anyone sees published public events; an organization acting as itself sees all of its own"
  on events.events for select to gw_anonymous, gw_user
  using ((visibility = 'public' and published_at is not null) or owner_context_id = (select auth.current_org_id()));
create policy "owners and admins acting in an organization create its events"
  on events.events for insert to gw_user
  with check (owner_context_id = (select events.managed_organization_id()));
create policy "owners and admins acting in an organization edit its events"
  on events.events for update to gw_user
  using (owner_context_id = (select events.managed_organization_id()))
  with check (owner_context_id = (select events.managed_organization_id()));
create policy "owners and admins acting in an organization delete its drafts"
  on events.events for delete to gw_user
  using (owner_context_id = (select events.managed_organization_id()) and status = 'draft');

grant select on events.events to gw_anonymous, gw_user;
grant insert (owner_context_id, title, description, category_code, country_code, timezone, venue, starts_at, ends_at,
              visibility, capacity, metadata),
      update (title, description, category_code, country_code, timezone, venue, starts_at, ends_at,
              visibility, capacity, metadata, status),
      delete on events.events to gw_user;

comment on table events.events is
  E'@behavior -insert\nAn event, owned by an organization. Public events that were published (also once cancelled or completed) are readable by everyone; drafts, unlisted and private events only by the organization acting as itself (a token whose org_id is it). Owners and admins acting in the organization create (eventsCreateEvent), edit, publish (eventsPublishEvent), cancel and complete its events; status only moves draft -> published -> completed, or to cancelled (RGTRN otherwise). Search with eventsSearchEvents; open an unlisted event by its id with eventsEventByLink.';
comment on column events.events.event_id is 'The event''s id.';
comment on column events.events.owner_context_id is 'The organization that owns the event (the seed''s owner_context_id); defaults to the one the request acts in.';
comment on column events.events.title is 'The title, 1 to 200 characters (plain text: clients must escape it).';
comment on column events.events.description is 'The description, at most 20,000 characters (plain text, never interpreted: clients must escape it).';
comment on column events.events.category_code is 'The category (ref.event_categories).';
comment on column events.events.country_code is 'Where it takes place (ISO 3166-1 alpha-2, ref.countries); null for an online event.';
comment on column events.events.timezone is 'The IANA time zone of its venue, for showing local times (ref.timezones); default UTC.';
comment on column events.events.venue is 'Where, in words (at most 500 characters).';
comment on column events.events.starts_at is 'When it starts.';
comment on column events.events.ends_at is 'When it ends: after starts_at.';
comment on column events.events.visibility is 'public (listed and searchable), unlisted (only with its id: eventsEventByLink) or private (its organization only).';
comment on column events.events.capacity is 'How many people it holds, if limited.';
comment on column events.events.metadata is 'Free-form attributes (a JSON object, at most 64 kB), indexed for containment (@>) queries.';
comment on column events.events.search_vector is
  E'@behavior -select -insert -update -filterBy -orderBy\nFull-text index of title, venue and description (english), for eventsSearchEvents.';
comment on column events.events.created_by is 'Who created it.';
comment on column events.events.created_at is 'When it was created.';
comment on column events.events.updated_at is 'When it last changed.';
comment on column events.events.published_at is 'When it was published; null while it never was (a draft, or a draft cancelled): only its organization sees it then.';
comment on column events.events.cancelled_at is 'When it was cancelled.';
comment on column events.events.status is 'draft, published, completed or cancelled (registry namespace event_status; moves in registry.transitions).';
comment on constraint events_owner_context_id_fkey on events.events is
  E'@behavior -*\nNo relation field: anonymous callers cannot read organizations; the organizer field shows its public name.';
comment on constraint events_category_code_fkey on events.events is E'@fieldName category\n@foreignFieldName events';
comment on constraint events_country_code_fkey on events.events is E'@fieldName country\n@foreignFieldName events';
comment on constraint events_timezone_fkey on events.events is E'@behavior -*\nNo relation field: the name is all there is.';
comment on constraint events_created_by_fkey on events.events is E'@fieldName creator\n@foreignFieldName createdEvents';
comment on constraint events_status_type_fkey on events.events is E'@behavior -*\nNo relation field: anonymous callers cannot read the registry; status is the code.';

-- Coded errors before the constraints (which stay as the backstop for every writer).
create function events_private.tg_events__validate() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if new.title is null or pg_catalog.btrim(new.title) = '' or char_length(new.title) > 200 then
    raise exception 'A title has 1 to 200 characters and is not blank.' using errcode = 'BADIN';
  end if;
  if char_length(new.description) > 20000 then
    raise exception 'A description has at most 20,000 characters.' using errcode = 'BADIN';
  end if;
  if char_length(new.venue) > 500 then
    raise exception 'A venue has at most 500 characters.' using errcode = 'BADIN';
  end if;
  if new.starts_at is null or new.ends_at is null then
    raise exception 'An event needs a start and an end.' using errcode = 'BADIN';
  end if;
  if new.ends_at <= new.starts_at then
    raise exception 'An event ends after it starts (% is not after %).', new.ends_at, new.starts_at using errcode = 'EVDAT';
  end if;
  if new.visibility is null or new.visibility not in ('public', 'unlisted', 'private') then
    raise exception 'Visibility is public, unlisted or private.' using errcode = 'BADIN';
  end if;
  if new.capacity is not null and new.capacity not between 1 and 10000000 then
    raise exception 'A capacity is between 1 and 10,000,000.' using errcode = 'BADIN';
  end if;
  if new.metadata is null or pg_catalog.jsonb_typeof(new.metadata) <> 'object' or pg_catalog.pg_column_size(new.metadata) > 65536 then
    raise exception 'Metadata is a JSON object of at most 64 kB.' using errcode = 'BADIN';
  end if;
  if new.category_code is not null and (tg_op = 'INSERT' or new.category_code is distinct from old.category_code)
     and not exists (select 1 from ref.event_categories c where c.code = new.category_code) then
    raise exception 'Unknown event category %.', pg_catalog.left(new.category_code, 100) using errcode = 'EVCAT';
  end if;
  if new.country_code is not null and (tg_op = 'INSERT' or new.country_code is distinct from old.country_code)
     and not exists (select 1 from ref.countries c where c.code = new.country_code) then
    raise exception 'Unknown country %.', pg_catalog.left(new.country_code, 100) using errcode = 'EVCTY';
  end if;
  if new.timezone is null or ((tg_op = 'INSERT' or new.timezone is distinct from old.timezone)
     and not exists (select 1 from ref.timezones z where z.name = new.timezone)) then
    raise exception 'Unknown time zone %.', coalesce(pg_catalog.left(new.timezone, 100), 'null') using errcode = 'EVTZN';
  end if;
  if tg_op = 'UPDATE' then
    new.updated_at := pg_catalog.now();
    if new.status is distinct from old.status then
      if new.status = 'published' then
        new.published_at := pg_catalog.now();
      elsif new.status = 'cancelled' then
        new.cancelled_at := pg_catalog.now();
      end if;
    end if;
  end if;
  return new;
end;
$$;
comment on function events_private.tg_events__validate() is
  'Coded errors for bad input (BADIN, EVDAT, EVCAT, EVCTY, EVTZN) before the constraints are reached; keeps updated_at, published_at and cancelled_at.';
create trigger _100_validate before insert or update on events.events
  for each row execute function events_private.tg_events__validate();

select audit.enable_tracking('events.events', null, '{search_vector}');

--------------------------------------------------------------------------------
-- What a listing shows beside the event, as scalar computed fields: PostGraphile
-- selects them inside the listing's own statement (a relation, or a function
-- returning a row, would cost a second statement per page for rows that come
-- from a set-returning function such as search_events).
--
-- The organizer: an organization's public face. Anonymous callers cannot read
-- auth.organizations; an organization that has published a public or unlisted
-- event is a public organizer, so its name and slug are shown.

create function events_private.public_organizer(organization_id uuid) returns boolean
  language sql
  stable
  set search_path = ''
as $$
  select exists (select 1 from events.events e
                  where e.owner_context_id = public_organizer.organization_id
                    and e.visibility <> 'private' and e.published_at is not null)
      or public_organizer.organization_id = any (array(select auth.current_user_organization_ids()))
$$;
comment on function events_private.public_organizer(organization_id uuid) is
  'Whether the organization''s name may be shown to the caller: it has published a public or unlisted event, or the caller is a member.';

create function events.events_organizer_name(event events.events) returns text
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select o.name from auth.organizations o
   where o.organization_id = event.owner_context_id and events_private.public_organizer(o.organization_id)
$$;
comment on function events.events_organizer_name(event events.events) is
  'The name of the organization that owns the event. Security definer because auth.organizations shows an organization only to its members; it answers only for a public organizer (one that has published a public or unlisted event) or for the caller''s own organizations, whatever event row it is given.';
revoke execute on function events.events_organizer_name(events.events) from public;
grant execute on function events.events_organizer_name(events.events) to gw_anonymous, gw_user;

create function events.events_organizer_slug(event events.events) returns text
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select o.slug from auth.organizations o
   where o.organization_id = event.owner_context_id and events_private.public_organizer(o.organization_id)
$$;
comment on function events.events_organizer_slug(event events.events) is
  'The URL name (slug) of the organization that owns the event. Security definer for the same reason as events_organizer_name, under the same rule.';
revoke execute on function events.events_organizer_slug(events.events) from public;
grant execute on function events.events_organizer_slug(events.events) to gw_anonymous, gw_user;

create function events.events_category_name(event events.events) returns text
  language sql
  stable
as $$
  select c.name from ref.event_categories c where c.code = event.category_code
$$;
comment on function events.events_category_name(event events.events) is
  'The category''s name (the category field has the whole category).';
revoke execute on function events.events_category_name(events.events) from public;
grant execute on function events.events_category_name(events.events) to gw_anonymous, gw_user;

--! split: 5210-events-content.sql
-- The social content of an event: the organization's posts, people's comments
-- (with replies; authors edit or delete their own, the organization hides
-- them), reactions (one of a kind per person per post), cultural guides (one
-- per event and locale). Each is visible exactly when its event is: the
-- policies read events.events (or event_posts) under the caller's own RLS.

insert into registry.types (namespace, code, label, sort_order) values
  ('reaction_kind', 'like', 'Like', 10),
  ('reaction_kind', 'love', 'Love', 20),
  ('reaction_kind', 'celebrate', 'Celebrate', 30),
  ('reaction_kind', 'insightful', 'Insightful', 40),
  ('reaction_kind', 'curious', 'Curious', 50)
on conflict (namespace, code) do update set label = excluded.label, sort_order = excluded.sort_order;

--------------------------------------------------------------------------------
-- events.event_posts

create table events.event_posts (
  post_id uuid primary key default gen_random_uuid(),
  event_id uuid not null
    constraint event_posts_event_id_fkey references events.events (event_id) on delete cascade,
  author_id uuid default auth.uid()
    constraint event_posts_author_id_fkey references users.profiles (user_id) on delete set null,
  body text not null
    constraint event_posts_body_check check (char_length(body) between 1 and 10000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table events.event_posts enable row level security;

create index event_posts_event_id_idx on events.event_posts (event_id, created_at);
create index event_posts_author_id_idx on events.event_posts (author_id);

create policy "anyone sees the posts of events they can see"
  on events.event_posts for select to gw_anonymous, gw_user
  using (exists (select 1 from events.events e where e.event_id = event_posts.event_id));
create policy "owners and admins acting in an organization post on its events"
  on events.event_posts for insert to gw_user
  with check (author_id = (select auth.uid())
              and exists (select 1 from events.events e
                           where e.event_id = event_posts.event_id and e.owner_context_id = (select events.managed_organization_id())));
create policy "owners and admins acting in an organization edit its posts"
  on events.event_posts for update to gw_user
  using (exists (select 1 from events.events e
                  where e.event_id = event_posts.event_id and e.owner_context_id = (select events.managed_organization_id())));
create policy "owners and admins acting in an organization delete its posts"
  on events.event_posts for delete to gw_user
  using (exists (select 1 from events.events e
                  where e.event_id = event_posts.event_id and e.owner_context_id = (select events.managed_organization_id())));

grant select on events.event_posts to gw_anonymous, gw_user;
grant insert (event_id, body), update (body), delete on events.event_posts to gw_user;

comment on table events.event_posts is
  'A post by the organization on one of its events (news, line-up, practical details). Visible with its event; written by the owners and admins acting in the organization.';
comment on column events.event_posts.post_id is 'The post''s id.';
comment on column events.event_posts.event_id is 'The event it is about.';
comment on column events.event_posts.author_id is 'Who wrote it.';
comment on column events.event_posts.body is 'The text, 1 to 10,000 characters (plain text, never interpreted: clients must escape it).';
comment on column events.event_posts.created_at is 'When it was posted.';
comment on column events.event_posts.updated_at is 'When it last changed.';
comment on constraint event_posts_event_id_fkey on events.event_posts is E'@fieldName event\n@foreignFieldName posts';
comment on constraint event_posts_author_id_fkey on events.event_posts is E'@fieldName author\n@foreignFieldName eventPosts';

--------------------------------------------------------------------------------
-- events.event_comments

create table events.event_comments (
  comment_id uuid primary key default gen_random_uuid(),
  post_id uuid not null
    constraint event_comments_post_id_fkey references events.event_posts (post_id) on delete cascade,
  parent_id uuid,
  author_id uuid not null default auth.uid()
    constraint event_comments_author_id_fkey references users.profiles (user_id) on delete cascade,
  body text not null
    constraint event_comments_body_check check (char_length(body) between 1 and 5000),
  created_at timestamptz not null default now(),
  edited_at timestamptz,
  hidden_at timestamptz,
  hidden_by uuid
    constraint event_comments_hidden_by_fkey references users.profiles (user_id) on delete set null,
  constraint event_comments_post_comment_key unique (post_id, comment_id),
  -- A reply is on its parent's post; deleting the parent keeps the replies (at the top level).
  constraint event_comments_parent_fkey foreign key (post_id, parent_id)
    references events.event_comments (post_id, comment_id) on delete set null (parent_id),
  constraint event_comments_parent_check check (parent_id <> comment_id)
);
alter table events.event_comments enable row level security;

create index event_comments_parent_idx on events.event_comments (post_id, parent_id);
create index event_comments_post_created_idx on events.event_comments (post_id, created_at);
create index event_comments_author_id_idx on events.event_comments (author_id);
create index event_comments_hidden_by_idx on events.event_comments (hidden_by);

create policy "anyone sees the comments on posts they can see, hidden ones only their authors and the organization"
  on events.event_comments for select to gw_anonymous, gw_user
  using (
    exists (select 1 from events.event_posts p where p.post_id = event_comments.post_id)
    and (hidden_at is null
         or author_id = (select auth.uid())
         or exists (select 1 from events.event_posts p join events.events e on e.event_id = p.event_id
                     where p.post_id = event_comments.post_id and e.owner_context_id = (select events.managed_organization_id())))
  );
create policy "signed-in users comment on posts they can see"
  on events.event_comments for insert to gw_user
  with check (author_id = (select auth.uid())
              and exists (select 1 from events.event_posts p where p.post_id = event_comments.post_id));
create policy "authors edit their comments"
  on events.event_comments for update to gw_user
  using (author_id = (select auth.uid())) with check (author_id = (select auth.uid()));
create policy "authors delete their comments"
  on events.event_comments for delete to gw_user
  using (author_id = (select auth.uid()));

grant select on events.event_comments to gw_anonymous, gw_user;
grant insert (post_id, parent_id, body), update (body), delete on events.event_comments to gw_user;

comment on table events.event_comments is
  'A comment on a post, or a reply to a comment. Signed-in users comment on posts they can see; authors edit or delete their own; owners and admins acting in the event''s organization hide comments (eventsHideComment), which then only their author and the organization see.';
comment on column events.event_comments.comment_id is 'The comment''s id.';
comment on column events.event_comments.post_id is 'The post it is on.';
comment on column events.event_comments.parent_id is 'The comment it replies to (on the same post), or null.';
comment on column events.event_comments.author_id is 'Who wrote it.';
comment on column events.event_comments.body is 'The text, 1 to 5,000 characters (plain text, never interpreted: clients must escape it).';
comment on column events.event_comments.created_at is 'When it was written.';
comment on column events.event_comments.edited_at is 'When its author last changed it.';
comment on column events.event_comments.hidden_at is 'When the organization hid it (null: shown).';
comment on column events.event_comments.hidden_by is 'Who hid it.';
comment on constraint event_comments_post_id_fkey on events.event_comments is E'@fieldName post\n@foreignFieldName comments';
comment on constraint event_comments_parent_fkey on events.event_comments is E'@fieldName parent\n@foreignFieldName replies';
comment on constraint event_comments_author_id_fkey on events.event_comments is E'@fieldName author\n@foreignFieldName eventComments';
comment on constraint event_comments_hidden_by_fkey on events.event_comments is E'@fieldName moderator\n@backwardBehavior -*';
comment on constraint event_comments_post_comment_key on events.event_comments is E'@behavior -single -update -delete';

create function events_private.tg_event_comments__edited() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if new.body is distinct from old.body then
    new.edited_at := pg_catalog.now();
  end if;
  return new;
end;
$$;
comment on function events_private.tg_event_comments__edited() is 'Stamps edited_at when the body changes.';
create trigger _100_edited before update on events.event_comments
  for each row execute function events_private.tg_event_comments__edited();

create function events_private.tg_event_posts__touch() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
comment on function events_private.tg_event_posts__touch() is 'Keeps updated_at current.';
create trigger _100_touch before update on events.event_posts
  for each row execute function events_private.tg_event_posts__touch();

--------------------------------------------------------------------------------
-- events.event_reactions

create table events.event_reactions (
  post_id uuid not null
    constraint event_reactions_post_id_fkey references events.event_posts (post_id) on delete cascade,
  user_id uuid not null default auth.uid()
    constraint event_reactions_user_id_fkey references users.profiles (user_id) on delete cascade,
  kind text not null,
  created_at timestamptz not null default now(),
  constraint event_reactions_pkey primary key (post_id, user_id, kind)
);
alter table events.event_reactions enable row level security;
select registry.add_type_column('events.event_reactions', 'kind', 'reaction_kind');
comment on constraint event_reactions_kind_type_fkey on events.event_reactions is
  E'@behavior -*\nNo relation field: anonymous callers cannot read the registry; kind is the code.';

create index event_reactions_user_id_idx on events.event_reactions (user_id);
-- Counting a post's reactions of a kind.
create index event_reactions_post_kind_idx on events.event_reactions (post_id, kind);

create policy "anyone sees the reactions on posts they can see"
  on events.event_reactions for select to gw_anonymous, gw_user
  using (exists (select 1 from events.event_posts p where p.post_id = event_reactions.post_id));
create policy "signed-in users react to posts they can see"
  on events.event_reactions for insert to gw_user
  with check (user_id = (select auth.uid())
              and exists (select 1 from events.event_posts p where p.post_id = event_reactions.post_id));
create policy "users take back their reactions"
  on events.event_reactions for delete to gw_user
  using (user_id = (select auth.uid()));

grant select on events.event_reactions to gw_anonymous, gw_user;
grant insert (post_id, kind), delete on events.event_reactions to gw_user;

comment on table events.event_reactions is
  E'@behavior -update\nA reaction to a post: one of each kind (like, love, ...: registry namespace reaction_kind) per person per post; a second one of the same kind is refused (23505).';
comment on column events.event_reactions.post_id is 'The post reacted to.';
comment on column events.event_reactions.user_id is 'Who reacted.';
comment on column events.event_reactions.kind is 'What kind of reaction (registry namespace reaction_kind).';
comment on column events.event_reactions.created_at is 'When.';
comment on constraint event_reactions_post_id_fkey on events.event_reactions is E'@fieldName post\n@foreignFieldName reactions';
comment on constraint event_reactions_user_id_fkey on events.event_reactions is E'@fieldName user\n@foreignFieldName eventReactions';

--------------------------------------------------------------------------------
-- events.cultural_guides

create table events.cultural_guides (
  guide_id uuid primary key default gen_random_uuid(),
  event_id uuid not null
    constraint cultural_guides_event_id_fkey references events.events (event_id) on delete cascade,
  locale text not null
    constraint cultural_guides_locale_check check (locale ~ '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$'),
  title text not null
    constraint cultural_guides_title_check check (char_length(title) between 1 and 200),
  body text not null
    constraint cultural_guides_body_check check (char_length(body) between 1 and 50000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint cultural_guides_event_locale_key unique (event_id, locale)
);
alter table events.cultural_guides enable row level security;

create policy "anyone sees the guides of events they can see"
  on events.cultural_guides for select to gw_anonymous, gw_user
  using (exists (select 1 from events.events e where e.event_id = cultural_guides.event_id));
create policy "owners and admins acting in an organization write guides to its events"
  on events.cultural_guides for insert to gw_user
  with check (exists (select 1 from events.events e
                       where e.event_id = cultural_guides.event_id and e.owner_context_id = (select events.managed_organization_id())));
create policy "owners and admins acting in an organization edit its guides"
  on events.cultural_guides for update to gw_user
  using (exists (select 1 from events.events e
                  where e.event_id = cultural_guides.event_id and e.owner_context_id = (select events.managed_organization_id())));
create policy "owners and admins acting in an organization delete its guides"
  on events.cultural_guides for delete to gw_user
  using (exists (select 1 from events.events e
                  where e.event_id = cultural_guides.event_id and e.owner_context_id = (select events.managed_organization_id())));

grant select on events.cultural_guides to gw_anonymous, gw_user;
grant insert (event_id, locale, title, body), update (title, body), delete on events.cultural_guides to gw_user;

comment on table events.cultural_guides is
  'A cultural guide to an event in one language: customs, dress, etiquette, words worth knowing. One per event and locale; visible with its event; written by the owners and admins acting in its organization.';
comment on column events.cultural_guides.guide_id is 'The guide''s id.';
comment on column events.cultural_guides.event_id is 'The event it is about.';
comment on column events.cultural_guides.locale is 'Its language as a BCP 47 tag, e.g. en, fr, yo-NG.';
comment on column events.cultural_guides.title is 'The title, 1 to 200 characters.';
comment on column events.cultural_guides.body is 'The guide, 1 to 50,000 characters (plain text, never interpreted: clients must escape it).';
comment on column events.cultural_guides.created_at is 'When it was written.';
comment on column events.cultural_guides.updated_at is 'When it last changed.';
comment on constraint cultural_guides_event_id_fkey on events.cultural_guides is E'@fieldName event\n@foreignFieldName culturalGuides';

create function events_private.tg_cultural_guides__touch() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
comment on function events_private.tg_cultural_guides__touch() is 'Keeps updated_at current.';
create trigger _100_touch before update on events.cultural_guides
  for each row execute function events_private.tg_cultural_guides__touch();

--! split: 5220-events-functions.sql
-- The events API beyond plain CRUD: create_event (the seed's RPC), the status
-- moves, opening an unlisted event by its id, search, comment moderation.
-- Invoker functions unless they say why not, so the caller's RLS decides.

create function events.create_event(
  title text,
  starts_at timestamptz,
  ends_at timestamptz,
  category_code text default null,
  country_code text default null,
  timezone text default 'UTC',
  venue text default null,
  description text default null,
  visibility text default 'public',
  capacity integer default null,
  metadata jsonb default '{}'::jsonb
) returns events.events
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_organization_id uuid;
  v_event events.events;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to create an event.' using errcode = 'LOGIN';
  end if;
  v_organization_id := auth.current_org_id();
  if v_organization_id is null then
    raise exception 'Act in an organization (switchOrganization) to create its events.' using errcode = 'DNIED';
  end if;
  if v_organization_id is distinct from events.managed_organization_id() then
    raise exception 'Only owners and admins of the organization create its events.' using errcode = 'DNIED';
  end if;
  insert into events.events (owner_context_id, title, description, category_code, country_code, timezone, venue,
                             starts_at, ends_at, visibility, capacity, metadata)
  values (v_organization_id, create_event.title, create_event.description, create_event.category_code,
          create_event.country_code, coalesce(create_event.timezone, 'UTC'), create_event.venue,
          create_event.starts_at, create_event.ends_at, coalesce(create_event.visibility, 'public'),
          create_event.capacity, coalesce(create_event.metadata, '{}'::jsonb))
  returning * into v_event;
  return v_event;
end;
$$;
comment on function events.create_event(title text, starts_at timestamptz, ends_at timestamptz, category_code text, country_code text, timezone text, venue text, description text, visibility text, capacity integer, metadata jsonb) is
  E'@resultFieldName event\nCreates a draft event of the organization you act in (your token''s org_id), as its owner or admin. Errors: LOGIN, DNIED (no organization in your token, or not an owner/admin there), BADIN, EVDAT (ends before it starts), EVCAT, EVCTY, EVTZN (unknown category, country, time zone).';
revoke execute on function events.create_event(text, timestamptz, timestamptz, text, text, text, text, text, text, integer, jsonb) from public;
grant execute on function events.create_event(text, timestamptz, timestamptz, text, text, text, text, text, text, integer, jsonb) to gw_anonymous, gw_user;

-- One move of the status; the state machine (registry) and RLS decide.
create function events.move_event(event_id uuid, status text) returns events.events
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_event events.events;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to change an event.' using errcode = 'LOGIN';
  end if;
  if move_event.event_id is null or move_event.status is null then
    raise exception 'An event and a status are required.' using errcode = 'BADIN';
  end if;
  update events.events e set status = move_event.status
   where e.event_id = move_event.event_id
  returning * into v_event;
  if not found then
    if exists (select 1 from events.events e where e.event_id = move_event.event_id) then
      raise exception 'Only owners and admins acting in the event''s organization change it.' using errcode = 'DNIED';
    end if;
    raise exception 'No event % that you may see.', move_event.event_id using errcode = 'NTFND';
  end if;
  return v_event;
end;
$$;
comment on function events.move_event(event_id uuid, status text) is
  E'@behavior -queryField -mutationField -typeField\nMoves an event to a status as the caller, so RLS and the state machine decide. Errors: LOGIN, BADIN, NTFND (no such event you may see), DNIED (you see it but do not manage it), RTYPE (unknown status), RGTRN (not an allowed move).';
revoke execute on function events.move_event(uuid, text) from public;
grant execute on function events.move_event(uuid, text) to gw_anonymous, gw_user;

create function events.publish_event(event_id uuid) returns events.events
  language sql
  volatile
as $$
  select * from events.move_event(publish_event.event_id, 'published')
$$;
comment on function events.publish_event(event_id uuid) is
  E'@resultFieldName event\nPublishes a draft: it becomes visible (public ones are listed and searched), event.published goes out, and the organization''s followers are notified (by the worker). Owners and admins acting in its organization. Publishing a published event changes nothing. Errors: LOGIN, NTFND, DNIED, RGTRN (cancelled or completed).';
revoke execute on function events.publish_event(uuid) from public;
grant execute on function events.publish_event(uuid) to gw_anonymous, gw_user;

create function events.cancel_event(event_id uuid) returns events.events
  language sql
  volatile
as $$
  select * from events.move_event(cancel_event.event_id, 'cancelled')
$$;
comment on function events.cancel_event(event_id uuid) is
  E'@resultFieldName event\nCancels a draft or published event (it stays visible as cancelled; event.cancelled goes out). Cancelling a cancelled event changes nothing. Owners and admins acting in its organization. Errors: LOGIN, NTFND, DNIED, RGTRN (completed).';
revoke execute on function events.cancel_event(uuid) from public;
grant execute on function events.cancel_event(uuid) to gw_anonymous, gw_user;

create function events.complete_event(event_id uuid) returns events.events
  language sql
  volatile
as $$
  select * from events.move_event(complete_event.event_id, 'completed')
$$;
comment on function events.complete_event(event_id uuid) is
  E'@resultFieldName event\nMarks a published event as having taken place (again: nothing changes). Owners and admins acting in its organization. Errors: LOGIN, NTFND, DNIED, RGTRN (a draft or cancelled).';
revoke execute on function events.complete_event(uuid) from public;
grant execute on function events.complete_event(uuid) to gw_anonymous, gw_user;

-- Unlisted: not in listings or search, but whoever has the id (the link) may open it.
create function events.event_by_link(event_id uuid) returns events.events
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select e.* from events.events e
   where e.event_id = event_by_link.event_id
     and e.visibility in ('public', 'unlisted')
     and e.published_at is not null
$$;
comment on function events.event_by_link(event_id uuid) is
  'The event with this id if it is public or unlisted and was published: what someone holding its link may open. Its posts, comments and guides stay with its visibility (an unlisted event''s are for its organization). Security definer because RLS shows an unlisted event only to its organization; it returns nothing else.';
revoke execute on function events.event_by_link(uuid) from public;
grant execute on function events.event_by_link(uuid) to gw_anonymous, gw_user;

-- Search. A plain SQL function (stable, invoker, no SET clause), so PostgreSQL
-- inlines it into the caller's query: RLS applies, the partial index
-- events_listed_idx (or the GIN index for text) serves it, and the LIMIT of a
-- page reaches the scan. Pages: first/after (GraphQL cursors), or keyset with
-- afterStartsAt/afterEventId (the last row's startsAt and eventId).
create function events.search_events(
  query text default null,
  category_code text default null,
  country_code text default null,
  starts_from timestamptz default null,
  starts_before timestamptz default null,
  after_starts_at timestamptz default null,
  after_event_id uuid default null
) returns setof events.events
  language sql
  stable
as $$
  select e.*
    from events.events e
   where e.status = 'published'
     and e.visibility = 'public'
     and e.starts_at >= coalesce(search_events.starts_from, pg_catalog.now())
     and (search_events.starts_before is null or e.starts_at < search_events.starts_before)
     and (search_events.query is null
          or e.search_vector @@ pg_catalog.websearch_to_tsquery('english'::regconfig, search_events.query))
     and (search_events.category_code is null
          or e.category_code in (select c.code from ref.event_categories c
                                  where c.code = search_events.category_code or c.parent_code = search_events.category_code))
     and (search_events.country_code is null or e.country_code = search_events.country_code)
     and (search_events.after_starts_at is null
          or (e.starts_at, e.event_id) > (search_events.after_starts_at,
                                          coalesce(search_events.after_event_id, '00000000-0000-0000-0000-000000000000'::uuid)))
   order by e.starts_at, e.event_id
$$;
comment on function events.search_events(query text, category_code text, country_code text, starts_from timestamptz, starts_before timestamptz, after_starts_at timestamptz, after_event_id uuid) is
  'Published public events, upcoming first (starting at or after startsFrom, default now, and before startsBefore), matching a web-search style query (words, "quoted phrases", -excluded; english stemming) over title, venue and description, a category (a top-level one includes its children) and a country. Page with first/after, or by keyset: afterStartsAt and afterEventId of the last row seen.';
revoke execute on function events.search_events(text, text, text, timestamptz, timestamptz, timestamptz, uuid) from public;
grant execute on function events.search_events(text, text, text, timestamptz, timestamptz, timestamptz, uuid) to gw_anonymous, gw_user;

-- Moderation: hidden_at and hidden_by have no update grant; this is the way.
create function events.hide_comment(comment_id uuid, hidden boolean default true) returns events.event_comments
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_managed uuid := events.managed_organization_id();
  v_owner uuid;
  v_comment events.event_comments;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to moderate.' using errcode = 'LOGIN';
  end if;
  select e.owner_context_id into v_owner
    from events.event_comments c
    join events.event_posts p on p.post_id = c.post_id
    join events.events e on e.event_id = p.event_id
   where c.comment_id = hide_comment.comment_id;
  if not found then
    raise exception 'No comment %.', hide_comment.comment_id using errcode = 'NTFND';
  end if;
  if v_managed is null or v_owner <> v_managed then
    raise exception 'Only owners and admins acting in the event''s organization hide its comments.' using errcode = 'DNIED';
  end if;
  update events.event_comments c
     set hidden_at = case when coalesce(hide_comment.hidden, true) then coalesce(c.hidden_at, pg_catalog.now()) end,
         hidden_by = case when coalesce(hide_comment.hidden, true) then coalesce(c.hidden_by, auth.uid()) end
   where c.comment_id = hide_comment.comment_id
  returning * into v_comment;
  return v_comment;
end;
$$;
comment on function events.hide_comment(comment_id uuid, hidden boolean) is
  E'@resultFieldName comment\nHides a comment (hidden false shows it again): afterwards only its author and the organization see it. Owners and admins acting in the event''s organization. Errors: LOGIN, NTFND, DNIED. Security definer because hidden_at and hidden_by have no update grant: this check is the only way to set them.';
revoke execute on function events.hide_comment(uuid, boolean) from public;
grant execute on function events.hide_comment(uuid, boolean) to gw_anonymous, gw_user;

--! split: 5230-events-topics.sql
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
