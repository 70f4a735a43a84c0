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
