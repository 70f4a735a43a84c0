-- Recommendations on the embeddings: events similar to an event, and events a
-- user may like from their follows and reactions. Both run with the caller's
-- rights (security invoker): every event they read passes events.events' and
-- ml.embeddings' policies, so nothing the caller cannot see is ever returned.
-- Sponsor <-> event matches (sponsorship.matches) wait for the sponsorship
-- module (part 3); ticket purchases join the interests when ticketing lands.

create function ml.similar_events(event_id uuid, result_limit integer default 10, model_name text default 'hash')
  returns table (event_id uuid, score double precision)
  language sql
  stable
  set search_path = ''
as $$
  with q as (
    select m.vector, m.positions, m.model_id
      from ml.embeddings m
      join ml.models md on md.model_id = m.model_id and md.name = similar_events.model_name and md.active
     where m.entity_type = 'event' and m.entity_id = similar_events.event_id
  )
  select c.entity_id, ml.cosine(q.vector, c.vector) as score
    from q
    join ml.embeddings c on c.model_id = q.model_id and c.entity_type = 'event' and c.positions && q.positions
    join events.events e on e.event_id = c.entity_id
   where c.entity_id <> similar_events.event_id
     and e.status = 'published' and e.ends_at > pg_catalog.now()
   order by 2 desc nulls last, 1
   limit least(greatest(coalesce(similar_events.result_limit, 10), 1), 100)
$$;
comment on function ml.similar_events(uuid, integer, text) is
  'Published, not yet ended events most similar to an event (exact cosine of their embeddings under the active version of model_name, default hash), best first, at most result_limit (1-100). Only events you can see, and nothing at all for an event you cannot see.';
grant execute on function ml.similar_events(uuid, integer, text) to gw_anonymous, gw_user;

create function ml.events_you_may_like(result_limit integer default 10)
  returns table (event_id uuid, score double precision, reason text)
  language plpgsql
  stable
  set search_path = ''
as $$
#variable_conflict use_column
declare
  v_me uuid := auth.uid();
  v_model uuid;
  v_profile real[];
  v_positions integer[];
begin
  if v_me is null then
    raise exception 'Sign in to get recommendations.' using errcode = 'LOGIN';
  end if;
  select m.model_id into v_model from ml.models m where m.name = 'hash' and m.active;
  -- Interests: events of organizations the user follows, and events whose posts they reacted to (those they can see).
  with seeds as (
    select e.event_id from events.events e
     where e.owner_context_id in (select f.followed_organization_id from users.follows f where f.follower_id = v_me and f.followed_organization_id is not null)
    union
    select p.event_id from events.event_reactions r join events.event_posts p on p.post_id = r.post_id where r.user_id = v_me
  ), sum as (
    select u.i, pg_catalog.sum(u.v) as v
      from ml.embeddings m join seeds s on s.event_id = m.entity_id
      cross join lateral pg_catalog.unnest(m.vector) with ordinality u(v, i)
     where m.entity_type = 'event' and m.model_id = v_model
     group by u.i
  )
  select pg_catalog.array_agg(s.v::real order by s.i), pg_catalog.array_agg(s.i order by s.i) filter (where s.v <> 0)
    into v_profile, v_positions
    from sum s;
  if v_profile is null then
    return;
  end if;
  return query
    select c.entity_id, ml.cosine(v_profile, c.vector)
             + case when f.follow_id is not null then 0.2 else 0 end as score,
           case when f.follow_id is not null then 'from an organization you follow' else 'like events you follow and react to' end
      from ml.embeddings c
      join events.events e on e.event_id = c.entity_id
      left join users.follows f on f.follower_id = v_me and f.followed_organization_id = e.owner_context_id
     where c.entity_type = 'event' and c.model_id = v_model and c.positions && v_positions
       and e.status = 'published' and e.starts_at > pg_catalog.now()
       and not exists (select 1 from events.event_reactions r join events.event_posts p on p.post_id = r.post_id
                        where r.user_id = v_me and p.event_id = e.event_id)
     order by 2 desc nulls last, 1
     limit least(greatest(coalesce(events_you_may_like.result_limit, 10), 1), 100);
end;
$$;
comment on function ml.events_you_may_like(integer) is
  'Upcoming published events for the signed-in user (LOGIN otherwise), best first, at most result_limit (1-100): exact cosine between each event and the sum of the embeddings of what the user is interested in (events of organizations they follow, events whose posts they reacted to), plus 0.2 for an organization they follow; events they already reacted to are left out. Only events they can see.';
grant execute on function ml.events_you_may_like(integer) to gw_user;
