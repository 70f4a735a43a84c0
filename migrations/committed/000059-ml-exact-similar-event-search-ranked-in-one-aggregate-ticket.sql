--! Previous: sha1:08181ba24543d1afd594c064b41680804e9adc57
--! Hash: sha1:10eb66d82431bb4feb11e5e457dfbdf683d0d4fd
--! Message: ml: exact similar-event search ranked in one aggregate, tickets in events you may like (issue 23)

--! split: 5920-ml-exact-search.sql
-- Exact similar-event search that scales to 100,000 events (issue 23), and
-- set-based embedding.
--
-- * ml.embedding_terms gets unit = value / norm of its embedding, and its
--   primary key includes it: summing unit products over the positions two
--   embeddings share is their exact cosine, read by an index-only scan of the
--   postings of the source's nonzero positions, with no per-candidate norm
--   lookup.
-- * Terms are written by statement-level triggers (transition tables), one
--   set-based insert per statement instead of one delete and insert per row.
-- * ml_private.embed_events computes a whole batch in one statement: tokens of
--   every event, each distinct token hashed once, buckets summed per event.
-- * ml.similar_events ranks first and checks visibility on the ranked head
--   only: ml.rank_similar_events (security definer) sums the scores over the
--   postings in one hash aggregate and keeps the best k by a bounded sort,
--   then keeps those the caller may see (the events policy's condition) and
--   widens the head when too few remain; ml.similar_events reads that head
--   through events.events under the caller's row level security (a second,
--   independent check). Still exact: the same scores, the same order as
--   ml.cosine over every embedding.

drop function if exists ml.rank_similar_events(uuid, integer, text);
drop trigger if exists _500_terms on ml.embeddings;
drop trigger if exists _500_terms_insert on ml.embeddings;
drop trigger if exists _501_terms_update on ml.embeddings;
drop function if exists ml_private.tg_embeddings__terms();
drop function if exists ml_private.hash_tokens(text, text, text, text);
drop function if exists ml_private.densify(integer[], double precision[], integer);

alter table ml.embedding_terms add column if not exists unit real;
update ml.embedding_terms t set unit = (t.value / m.norm)::real
  from ml.embeddings m
 where m.model_id = t.model_id and m.entity_type = t.entity_type and m.entity_id = t.entity_id and t.unit is null and m.norm > 0;
delete from ml.embedding_terms t where t.unit is null;
alter table ml.embedding_terms alter column unit set not null;
alter table ml.embedding_terms drop constraint embedding_terms_pkey;
alter table ml.embedding_terms add constraint embedding_terms_pkey primary key (model_id, entity_type, position, entity_id) include (unit);
comment on column ml.embedding_terms.unit is 'value divided by the embedding''s norm: the sum of unit products over shared positions is the cosine.';

create function ml_private.tg_embeddings__terms() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' then
    delete from ml.embedding_terms t
     using new_rows n
     where t.model_id = n.model_id and t.entity_type = n.entity_type and t.entity_id = n.entity_id;
  end if;
  insert into ml.embedding_terms (model_id, entity_type, entity_id, position, value, unit)
  select n.model_id, n.entity_type, n.entity_id, u.i, u.v, (u.v / n.norm)::real
    from new_rows n
    cross join lateral pg_catalog.unnest(n.vector) with ordinality u(v, i)
   where u.v <> 0 and n.norm > 0;
  return null;
end;
$$;
comment on function ml_private.tg_embeddings__terms() is
  'Rewrites the terms (nonzero components with their unit value) of the embeddings a statement wrote, in one set-based insert.';
create trigger _500_terms_insert after insert on ml.embeddings
  referencing new table as new_rows
  for each statement execute function ml_private.tg_embeddings__terms();
create trigger _501_terms_update after update on ml.embeddings
  referencing new table as new_rows
  for each statement execute function ml_private.tg_embeddings__terms();

-- The hash-v1 tokens of an event's text with their weights (what ml.hash_embedding hashes).
create function ml_private.hash_tokens(category text, title text, venue text, description text)
  returns table (token text, weight double precision)
  language sql
  immutable
  parallel safe
  set search_path = ''
as $$
  select 'c:' || hash_tokens.category, 3.0::double precision where hash_tokens.category is not null
  union all
  select 'c:' || pg_catalog.split_part(hash_tokens.category, '.', 1), 1.5 where hash_tokens.category like '%.%'
  union all
  select 'w:' || w, 2.0 from pg_catalog.regexp_split_to_table(pg_catalog.lower(coalesce(hash_tokens.title, '')), '[^[:alnum:]]+') w where char_length(w) >= 2
  union all
  select 'b:' || w1 || ' ' || w2, 1.0 from (
    select w as w1, pg_catalog.lead(w) over (order by n) as w2
      from pg_catalog.regexp_split_to_table(pg_catalog.lower(coalesce(hash_tokens.title, '')), '[^[:alnum:]]+') with ordinality t(w, n)
     where char_length(w) >= 2) b where w2 is not null
  union all
  select 'w:' || w, 1.0 from pg_catalog.regexp_split_to_table(pg_catalog.lower(coalesce(hash_tokens.venue, '')), '[^[:alnum:]]+') w where char_length(w) >= 2
  union all
  select 'w:' || w, 1.0 from pg_catalog.regexp_split_to_table(pg_catalog.lower(pg_catalog.left(coalesce(hash_tokens.description, ''), 5000)), '[^[:alnum:]]+') w where char_length(w) >= 2
$$;
comment on function ml_private.hash_tokens(text, text, text, text) is 'The weighted tokens hash-v1 hashes (ml.hash_embedding''s first step).';

-- A dense vector of dimension zeros with values at 1-based positions.
create function ml_private.densify(positions integer[], vals double precision[], dimension integer) returns real[]
  language plpgsql
  immutable
  parallel safe
  set search_path = ''
as $$
declare
  v_out real[] := pg_catalog.array_fill(0::real, array[densify.dimension]);
begin
  for i in 1 .. coalesce(pg_catalog.cardinality(densify.positions), 0) loop
    v_out[densify.positions[i]] := densify.vals[i]::real;
  end loop;
  return v_out;
end;
$$;
comment on function ml_private.densify(integer[], double precision[], integer) is 'A dense real[] of the dimension, zeros except the given positions.';

-- Embeds events whose hash-v1 embedding is missing or whose text changed, up to batch_size, in one statement; returns how many.
create or replace function ml_private.embed_events(batch_size integer default 1000) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_model uuid := ml_private.hash_model_id();
  v_count integer;
begin
  with todo as materialized (
    select e.event_id, e.category_code, e.title, e.venue, e.description, h.source_hash
      from events.events e
      cross join lateral (select pg_catalog.md5(coalesce(e.category_code, '') || '|' || e.title || '|' || coalesce(e.venue, '') || '|' || coalesce(e.description, '')) as source_hash) h
      left join ml.embeddings m on m.entity_type = 'event' and m.entity_id = e.event_id and m.model_id = v_model
     where m.embedding_id is null or m.source_hash is distinct from h.source_hash
     limit embed_events.batch_size
  ), tokens as materialized (
    select t.event_id, k.token, k.weight
      from todo t cross join lateral ml_private.hash_tokens(t.category_code, t.title, t.venue, t.description) k
  ), hashed as (
    select d.token,
           ('x' || pg_catalog.substr(pg_catalog.md5(d.token), 1, 8))::bit(32)::bigint % 256 + 1 as i,
           ('x' || pg_catalog.substr(pg_catalog.md5(d.token), 9, 1))::bit(4)::integer & 1 = 1 as negative
      from (select distinct k.token from tokens k) d
  ), buckets as (
    select k.event_id, h.i::integer as i, pg_catalog.sum(case when h.negative then -k.weight else k.weight end) as v
      from tokens k join hashed h on h.token = k.token
     group by k.event_id, h.i
  ), vectors as (
    select b.event_id,
           ml_private.densify(pg_catalog.array_agg(b.i), pg_catalog.array_agg(b.v / n.n), 256) as vector
      from buckets b
      join (select b2.event_id, pg_catalog.sqrt(pg_catalog.sum(b2.v * b2.v)) as n from buckets b2 group by b2.event_id) n on n.event_id = b.event_id
     where n.n > 0
     group by b.event_id
  )
  insert into ml.embeddings (entity_type, entity_id, model_id, vector, source_hash)
  select 'event', t.event_id, v_model, coalesce(v.vector, pg_catalog.array_fill(0::real, array[256])), t.source_hash
    from todo t left join vectors v on v.event_id = t.event_id
  on conflict on constraint embeddings_entity_model_key do update
    set vector = excluded.vector, source_hash = excluded.source_hash, created_at = pg_catalog.now();
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function ml_private.embed_events(integer) is
  'Computes hash-v1 embeddings (the same vectors as ml.hash_embedding) of up to batch_size events that have none or whose text changed since, in one statement: every distinct token hashed once. Run by ml_embed_events.';

-- The ranked head: exact cosine over the inverted index, best first, only events the caller may see.
create function ml.rank_similar_events(source_event_id uuid, result_limit integer default 10, model_name text default 'hash')
  returns table (event_id uuid, score double precision)
  language plpgsql
  stable
  security definer
  set search_path = ''
  set work_mem = '64MB'
as $$
#variable_conflict use_column
declare
  v_limit integer := least(greatest(coalesce(rank_similar_events.result_limit, 10), 1), 100);
  v_model uuid;
  v_org uuid := auth.current_org_id();
  v_head integer;
  v_ranked integer;
  v_ids uuid[];
  v_scores double precision[];
  v_visible uuid[];
  v_visible_scores double precision[];
begin
  select m.model_id into v_model from ml.models m where m.name = rank_similar_events.model_name and m.active;
  -- The source must be an event the caller may see (the events policy's condition).
  if v_model is null or not exists (
       select 1 from events.events e
        where e.event_id = rank_similar_events.source_event_id
          and ((e.visibility = 'public' and e.published_at is not null) or e.owner_context_id = v_org)) then
    return;
  end if;
  v_head := v_limit * 4;
  loop
    -- One hash aggregate over the postings of the source's positions, the best v_head kept by a bounded sort.
    select pg_catalog.array_agg(r.entity_id order by r.score desc, r.entity_id), pg_catalog.array_agg(r.score order by r.score desc, r.entity_id),
           pg_catalog.count(*)
      into v_ids, v_scores, v_ranked
      from (select c.entity_id, pg_catalog.sum(q.unit::double precision * c.unit) as score
              from ml.embedding_terms q
              join ml.embedding_terms c on c.model_id = q.model_id and c.entity_type = q.entity_type and c.position = q.position
             where q.model_id = v_model and q.entity_type = 'event' and q.entity_id = rank_similar_events.source_event_id
               and c.entity_id <> rank_similar_events.source_event_id
             group by c.entity_id
             order by 2 desc, 1
             limit v_head) r;
    -- Visibility on the head only: one index probe per ranked event.
    select coalesce(pg_catalog.array_agg(h.id order by h.n), '{}'), coalesce(pg_catalog.array_agg(h.score order by h.n), '{}')
      into v_visible, v_visible_scores
      from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_scores)) with ordinality h(id, score, n)
     where exists (select 1 from events.events e
                    where e.event_id = h.id and e.status = 'published' and e.ends_at > pg_catalog.now()
                      and ((e.visibility = 'public' and e.published_at is not null) or e.owner_context_id = v_org));
    if v_ranked < v_head or pg_catalog.cardinality(v_visible) >= v_limit then
      return query select h.id, h.score from rows from (pg_catalog.unnest(v_visible), pg_catalog.unnest(v_visible_scores)) with ordinality h(id, score, n)
                    order by h.n limit v_limit;
      return;
    end if;
    v_head := v_head * 8;
  end loop;
end;
$$;
comment on function ml.rank_similar_events(uuid, integer, text) is
  E'@behavior -queryField -mutationField -typeField\nThe ranking step of ml.similar_events (call that one): exact cosine through the inverted index, best first, at most result_limit (1-100), only published, not yet ended events the caller may see (the events policy''s condition), nothing for a source the caller may not see. Security definer so that the postings are summed without checking each candidate''s row level security: visibility is checked on the ranked head only, and ml.similar_events checks it again under the caller''s rights.';
revoke execute on function ml.rank_similar_events(uuid, integer, text) from public;
grant execute on function ml.rank_similar_events(uuid, integer, text) to gw_anonymous, gw_user;

create or replace function ml.similar_events(event_id uuid, result_limit integer default 10, model_name text default 'hash')
  returns table (event_id uuid, score double precision)
  language sql
  stable
  set search_path = ''
as $$
  select r.event_id, r.score
    from ml.rank_similar_events(similar_events.event_id, similar_events.result_limit, similar_events.model_name) r
    join events.events e on e.event_id = r.event_id
   where exists (select 1 from events.events s where s.event_id = similar_events.event_id)
   order by r.score desc, r.event_id
$$;
comment on function ml.similar_events(uuid, integer, text) is
  'Published, not yet ended events most similar to an event (exact cosine of their embeddings under the active version of model_name, default hash, summed over the inverted index of nonzero components: events sharing no component have cosine 0 and are not listed), best first, at most result_limit (1-100). Only events you can see (checked under your row level security), and nothing at all for an event you cannot see.';
grant execute on function ml.similar_events(uuid, integer, text) to gw_anonymous, gw_user;

--! split: 5930-ml-events-you-may-like-tickets.sql
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
