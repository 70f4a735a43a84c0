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
    select m.model_id, m.entity_id, m.norm
      from ml.embeddings m
      join ml.models md on md.model_id = m.model_id and md.name = similar_events.model_name and md.active
     where m.entity_type = 'event' and m.entity_id = similar_events.event_id and m.norm > 0
  ), dots as (
    select c.entity_id, pg_catalog.sum(qt.value::double precision * c.value) as dot
      from q
      join ml.embedding_terms qt on qt.model_id = q.model_id and qt.entity_type = 'event' and qt.entity_id = q.entity_id
      join ml.embedding_terms c on c.model_id = qt.model_id and c.entity_type = 'event' and c.position = qt.position
     where c.entity_id <> similar_events.event_id
     group by c.entity_id
  )
  select d.entity_id, d.dot / (q.norm * m.norm) as score
    from dots d
    cross join q
    join ml.embeddings m on m.model_id = q.model_id and m.entity_type = 'event' and m.entity_id = d.entity_id
    join events.events e on e.event_id = d.entity_id
   where e.status = 'published' and e.ends_at > pg_catalog.now() and m.norm > 0
   order by 2 desc nulls last, 1
   limit least(greatest(coalesce(similar_events.result_limit, 10), 1), 100)
$$;
comment on function ml.similar_events(uuid, integer, text) is
  'Published, not yet ended events most similar to an event (exact cosine of their embeddings under the active version of model_name, default hash, computed over the inverted index of nonzero components: events sharing no component have cosine 0 and are not listed), best first, at most result_limit (1-100). Only events you can see, and nothing at all for an event you cannot see.';
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
begin
  if v_me is null then
    raise exception 'Sign in to get recommendations.' using errcode = 'LOGIN';
  end if;
  select m.model_id into v_model from ml.models m where m.name = 'hash' and m.active;
  -- Interests: events of organizations the user follows, and events whose posts they reacted to (those they can see).
  return query
    with seeds as (
      select e.event_id from events.events e
       where e.owner_context_id in (select f.followed_organization_id from users.follows f where f.follower_id = v_me and f.followed_organization_id is not null)
      union
      select p.event_id from events.event_reactions r join events.event_posts p on p.post_id = r.post_id where r.user_id = v_me
    ), profile as (
      select t.position, pg_catalog.sum(t.value::double precision) as v
        from ml.embedding_terms t join seeds s on s.event_id = t.entity_id
       where t.model_id = v_model and t.entity_type = 'event'
       group by t.position
    ), profile_norm as (
      select pg_catalog.sqrt(pg_catalog.sum(p.v * p.v)) as n from profile p
    ), dots as (
      select c.entity_id, pg_catalog.sum(p.v * c.value) as dot
        from profile p join ml.embedding_terms c on c.model_id = v_model and c.entity_type = 'event' and c.position = p.position
       group by c.entity_id
    )
    select d.entity_id,
           d.dot / (pn.n * m.norm) + case when f.follow_id is not null then 0.2 else 0 end as score,
           case when f.follow_id is not null then 'from an organization you follow' else 'like events you follow and react to' end
      from dots d
      cross join profile_norm pn
      join ml.embeddings m on m.model_id = v_model and m.entity_type = 'event' and m.entity_id = d.entity_id
      join events.events e on e.event_id = d.entity_id
      left join users.follows f on f.follower_id = v_me and f.followed_organization_id = e.owner_context_id
     where pn.n > 0 and m.norm > 0
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
