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
