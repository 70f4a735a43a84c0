--! Previous: sha1:e190fb448520038ed113f2bfca553cfeb9426375
--! Hash: sha1:b195f6f90752fd50b1823d8712df8df312427a32
--! Message: compat: the seed's public.events view and RPCs (issue 18)

--! split: 5990-compat-public.sql
-- compat: the Liventix seed's backward-compatible surface in public, for SQL
-- clients written against the seed. Views keep the caller's RLS
-- (security_invoker); the RPCs call the modules' functions. public is not a
-- GraphQL schema, so none of this shows up there (no PublicEvent, no second
-- createEvent). public.tickets and public.campaigns come with their modules.

drop function if exists public.create_event(text, timestamptz, timestamptz, text, text, text, text, text, text, integer, jsonb);
drop function if exists public.user_orgs();
drop function if exists public.current_org_id();
drop view if exists public.events;

-- SQL clients running as a request role may use public (they still need a
-- grant on each object). pgcrypto lives here too: its functions compute, they
-- read no data (docs/security.md).
grant usage on schema public to gw_anonymous, gw_user;

create view public.events with (security_invoker = true) as
  select e.event_id as id, e.owner_context_id, e.title, e.description, e.category_code, e.country_code, e.timezone,
         e.venue, e.starts_at, e.ends_at, e.visibility, e.status, e.capacity, e.metadata, e.created_by,
         e.created_at, e.updated_at, e.published_at, e.cancelled_at
    from events.events e;
comment on view public.events is
  'The seed''s public.events: events.events with its id as id, under the caller''s row level security (security_invoker). Read-only: write through public.create_event or the events functions.';
comment on column public.events.id is 'The event''s id (events.events.event_id).';
comment on column public.events.owner_context_id is 'The organization that owns the event.';
comment on column public.events.title is 'The title.';
comment on column public.events.description is 'The description.';
comment on column public.events.category_code is 'The category (ref.event_categories).';
comment on column public.events.country_code is 'The country (ref.countries).';
comment on column public.events.timezone is 'The IANA time zone.';
comment on column public.events.venue is 'Where.';
comment on column public.events.starts_at is 'When it starts.';
comment on column public.events.ends_at is 'When it ends.';
comment on column public.events.visibility is 'public, unlisted or private.';
comment on column public.events.status is 'draft, published, completed or cancelled.';
comment on column public.events.capacity is 'How many people it holds, if limited.';
comment on column public.events.metadata is 'Free-form attributes.';
comment on column public.events.created_by is 'Who created it.';
comment on column public.events.created_at is 'When it was created.';
comment on column public.events.updated_at is 'When it last changed.';
comment on column public.events.published_at is 'When it was published.';
comment on column public.events.cancelled_at is 'When it was cancelled.';
grant select on public.events to gw_anonymous, gw_user;

create function public.current_org_id() returns uuid
  language sql
  stable
as $$
  select auth.current_org_id()
$$;
comment on function public.current_org_id() is
  'The seed''s current_org_id(): auth.current_org_id(), the org_id claim while the caller is still a member of it, else null.';
revoke execute on function public.current_org_id() from public;
grant execute on function public.current_org_id() to gw_anonymous, gw_user;

create function public.user_orgs() returns setof uuid
  language sql
  stable
as $$
  select auth.user_orgs()
$$;
comment on function public.user_orgs() is
  'The seed''s user_orgs(): auth.user_orgs(), the ids of the organizations the caller belongs to.';
revoke execute on function public.user_orgs() from public;
grant execute on function public.user_orgs() to gw_anonymous, gw_user;

create function public.create_event(
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
) returns public.events
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_event_id uuid;
  v_row public.events;
begin
  select e.event_id into v_event_id
    from events.create_event(create_event.title, create_event.starts_at, create_event.ends_at, create_event.category_code,
                             create_event.country_code, create_event.timezone, create_event.venue, create_event.description,
                             create_event.visibility, create_event.capacity, create_event.metadata) e;
  select v.* into v_row from public.events v where v.id = v_event_id;
  return v_row;
end;
$$;
comment on function public.create_event(title text, starts_at timestamptz, ends_at timestamptz, category_code text, country_code text, timezone text, venue text, description text, visibility text, capacity integer, metadata jsonb) is
  'The seed''s create_event(...): events.create_event as the caller (a draft of the organization the token acts in; same errors), returned as a public.events row.';
revoke execute on function public.create_event(text, timestamptz, timestamptz, text, text, text, text, text, text, integer, jsonb) from public;
grant execute on function public.create_event(text, timestamptz, timestamptz, text, text, text, text, text, text, integer, jsonb) to gw_anonymous, gw_user;
