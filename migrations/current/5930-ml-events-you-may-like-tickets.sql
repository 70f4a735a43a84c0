-- "Events you may like" from a user's follows, tickets and reactions (issue
-- 23): ticket purchases join the interests now that ticketing exists (read
-- through ticketing.tickets under the caller's rights: the seed's own_tickets
-- policy), and events the user already holds a ticket of are not recommended
-- again. Still security invoker: nothing the caller cannot see is read.

create or replace function ml.events_you_may_like(result_limit integer default 10)
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
  -- Interests: events of organizations the user follows, events they hold a ticket of, and events whose posts they
  -- reacted to. Every read is under the caller's rights: an interest the user can no longer see adds nothing.
  return query
    with seeds as (
      select e.event_id from events.events e
       where e.owner_context_id in (select f.followed_organization_id from users.follows f where f.follower_id = v_me and f.followed_organization_id is not null)
      union
      select t.event_id from ticketing.tickets t where t.owner_user_id = v_me and t.status in ('issued', 'redeemed')
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
           case when f.follow_id is not null then 'from an organization you follow' else 'like events you follow, hold tickets for and react to' end
      from dots d
      cross join profile_norm pn
      join ml.embeddings m on m.model_id = v_model and m.entity_type = 'event' and m.entity_id = d.entity_id
      join events.events e on e.event_id = d.entity_id
      left join users.follows f on f.follower_id = v_me and f.followed_organization_id = e.owner_context_id
     where pn.n > 0 and m.norm > 0
       and e.status = 'published' and e.starts_at > pg_catalog.now()
       and not exists (select 1 from events.event_reactions r join events.event_posts p on p.post_id = r.post_id
                        where r.user_id = v_me and p.event_id = e.event_id)
       and not exists (select 1 from ticketing.tickets t
                        where t.owner_user_id = v_me and t.event_id = e.event_id and t.status in ('issued', 'redeemed'))
     order by 2 desc nulls last, 1
     limit least(greatest(coalesce(events_you_may_like.result_limit, 10), 1), 100);
end;
$$;
comment on function ml.events_you_may_like(integer) is
  'Upcoming published events for the signed-in user (LOGIN otherwise), best first, at most result_limit (1-100): exact cosine between each event and the sum of the embeddings of what the user is interested in (events of organizations they follow, events they hold a valid ticket of, events whose posts they reacted to), plus 0.2 for an organization they follow; events they already hold a ticket of or reacted to are left out. Runs with your rights: only events you can see, and interests you can no longer see count for nothing.';
