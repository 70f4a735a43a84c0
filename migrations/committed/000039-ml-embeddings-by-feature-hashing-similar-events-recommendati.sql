--! Previous: sha1:6738ebbcf2f0364a4259bd7b47f2008fb228d171
--! Hash: sha1:edae8b09bd70fda0696ab8a14133f7c47bcd0192
--! Message: ml: embeddings by feature hashing, similar events, recommendations (issue 23)

--! split: 5900-ml-models-embeddings.sql
-- ml: embeddings, features and models (the Liventix seed's ml schema) without
-- a model download. The built-in model hash-v1 turns an event's category,
-- title, venue and description into a 256-dimension vector by feature hashing
-- (ml.hash_embedding: code that ships here, no weights); an operator may
-- upload vectors of their own model through ml.put_embedding. Vectors are
-- real[] (no pgvector on the embedded PostgreSQL) compared by exact cosine in
-- SQL; see docs/modules/ml.md for the pgvector migration path.

drop schema if exists ml_private cascade;
drop schema if exists ml cascade;

create schema ml;
comment on schema ml is 'Embeddings, features and models, and the recommendations built on them (similar events, events you may like). Reads respect the caller''s rights.';
grant usage on schema ml to gw_anonymous, gw_user;

create schema ml_private;
comment on schema ml_private is 'Embedding computation and bookkeeping of ml; never exposed.';
revoke all on schema ml_private from public;

create table ml.models (
  model_id uuid primary key default gen_random_uuid(),
  name text not null
    constraint models_name_check check (name ~ '^[a-z][a-z0-9_.-]{0,62}$'),
  version text not null
    constraint models_version_check check (char_length(version) between 1 and 50),
  dimension integer not null
    constraint models_dimension_check check (dimension between 2 and 4096),
  parameters jsonb not null default '{}'::jsonb
    constraint models_parameters_check check (jsonb_typeof(parameters) = 'object'),
  metrics jsonb not null default '{}'::jsonb
    constraint models_metrics_check check (jsonb_typeof(metrics) = 'object'),
  active boolean not null default false,
  created_at timestamptz not null default now(),
  constraint models_name_version_key unique (name, version)
);
alter table ml.models enable row level security;
create unique index models_one_active_idx on ml.models (name) where active;
create policy "everyone reads models" on ml.models for select to gw_anonymous, gw_user using (true);
create policy "operators register models" on ml.models for insert to gw_admin with check ((select auth.has_role('gw_admin')));
create policy "operators change models" on ml.models for update to gw_admin
  using ((select auth.has_role('gw_admin'))) with check ((select auth.has_role('gw_admin')));
grant select on ml.models to gw_anonymous, gw_user;
grant insert (name, version, dimension, parameters, metrics, active), update (parameters, metrics, active) on ml.models to gw_admin;
comment on table ml.models is
  E'@behavior -delete\nA model that makes embeddings: name, version, vector dimension, parameters, metrics, and whether it is the active version of its name (one at most). hash-v1 (feature hashing, built in) is active from the start. Everyone reads them; operators register and change them.';
comment on column ml.models.model_id is 'The model''s id.';
comment on column ml.models.name is 'Its name (lowercase).';
comment on column ml.models.version is 'Its version.';
comment on column ml.models.dimension is 'How many numbers its vectors have.';
comment on column ml.models.parameters is 'How it works (a JSON object).';
comment on column ml.models.metrics is 'How well it does (a JSON object).';
comment on column ml.models.active is 'Whether it is the version of its name that recommendations use.';
comment on column ml.models.created_at is 'When it was registered.';

insert into ml.models (name, version, dimension, parameters, metrics, active) values
  ('hash', 'v1', 256,
   '{"method": "feature hashing", "fields": {"category": 3, "title": 2, "venue": 1, "description": 1}, "tokens": "lowercase words of 2+ letters or digits, and word bigrams of the title", "hash": "md5, bucket = first 32 bits mod 256, sign = bit 33", "normalization": "L2"}',
   '{}', true);

-- The L2 norm of a vector (cosine divides by it).
create function ml_private.vector_norm(vector real[]) returns double precision
  language sql
  immutable
  parallel safe
  set search_path = ''
as $$
  select pg_catalog.sqrt(pg_catalog.sum(x::double precision * x)) from pg_catalog.unnest(vector_norm.vector) x
$$;
comment on function ml_private.vector_norm(real[]) is 'The L2 norm of a vector.';

create table ml.embeddings (
  embedding_id bigint generated always as identity primary key,
  entity_type text not null
    constraint embeddings_entity_type_check check (entity_type in ('event')),
  entity_id uuid not null,
  model_id uuid not null
    constraint embeddings_model_id_fkey references ml.models (model_id) on delete cascade,
  vector real[] not null,
  norm double precision generated always as (ml_private.vector_norm(vector)) stored,
  source_hash text,
  created_at timestamptz not null default now(),
  constraint embeddings_entity_model_key unique (entity_type, entity_id, model_id)
);
alter table ml.embeddings enable row level security;
create index embeddings_model_id_idx on ml.embeddings (model_id, entity_type);
create policy "everyone sees the embeddings of events they can see" on ml.embeddings for select to gw_anonymous, gw_user
  using (entity_type = 'event' and entity_id in (select e.event_id from events.events e));
grant select on ml.embeddings to gw_anonymous, gw_user;
comment on table ml.embeddings is
  E'@behavior -insert -update -delete\nA vector of an entity (entity_type event) under a model: computed by the worker for hash-v1, or uploaded by an operator (mlPutEmbedding). Readable exactly when the entity is.';
comment on column ml.embeddings.embedding_id is 'The embedding''s id.';
comment on column ml.embeddings.entity_type is 'What kind of entity (event).';
comment on column ml.embeddings.entity_id is 'Which entity.';
comment on column ml.embeddings.model_id is 'The model that made it.';
comment on column ml.embeddings.vector is 'The vector (model dimension, finite numbers).';
comment on column ml.embeddings.norm is E'@behavior -*\nThe vector''s L2 norm.';
comment on column ml.embeddings.source_hash is E'@behavior -*\nmd5 of the text it was computed from (hash-v1), to recompute only what changed.';
comment on column ml.embeddings.created_at is 'When it was computed.';
comment on constraint embeddings_model_id_fkey on ml.embeddings is E'@fieldName model\n@foreignFieldName embeddings';

-- The nonzero components of every embedding, by position: an inverted index.
-- The dot product of two vectors is the sum over the positions where both
-- are nonzero, so joining the query's terms to these gives every candidate's
-- exact dot product while touching only the postings of the query's
-- positions (a dense vector simply has every position).
create table ml.embedding_terms (
  model_id uuid not null,
  entity_type text not null,
  entity_id uuid not null,
  position integer not null,
  value real not null,
  constraint embedding_terms_pkey primary key (model_id, entity_type, position, entity_id),
  constraint embedding_terms_embedding_fkey foreign key (entity_type, entity_id, model_id)
    references ml.embeddings (entity_type, entity_id, model_id) on delete cascade
);
alter table ml.embedding_terms enable row level security;
create index embedding_terms_embedding_idx on ml.embedding_terms (entity_type, entity_id, model_id);
create policy "everyone sees the terms of events they can see" on ml.embedding_terms for select to gw_anonymous, gw_user
  using (entity_type = 'event' and entity_id in (select e.event_id from events.events e));
grant select on ml.embedding_terms to gw_anonymous, gw_user;
comment on table ml.embedding_terms is
  E'@behavior -*\nThe nonzero components of each embedding (position, value): the inverted index exact cosine search joins on. Kept by a trigger on ml.embeddings; readable exactly when the entity is.';

create function ml_private.tg_embeddings__terms() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  delete from ml.embedding_terms t
   where t.model_id = new.model_id and t.entity_type = new.entity_type and t.entity_id = new.entity_id;
  insert into ml.embedding_terms (model_id, entity_type, entity_id, position, value)
  select new.model_id, new.entity_type, new.entity_id, u.i, u.v
    from pg_catalog.unnest(new.vector) with ordinality u(v, i)
   where u.v <> 0;
  return null;
end;
$$;
comment on function ml_private.tg_embeddings__terms() is 'Rewrites an embedding''s terms when its vector is written.';
create trigger _500_terms after insert or update of vector on ml.embeddings
  for each row execute function ml_private.tg_embeddings__terms();

create table ml.features (
  feature_id bigint generated always as identity primary key,
  entity_type text not null
    constraint features_entity_type_check check (entity_type in ('event')),
  entity_id uuid not null,
  name text not null
    constraint features_name_check check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  value double precision not null
    constraint features_value_check check (value = value and value not in ('Infinity'::double precision, '-Infinity'::double precision)),
  observed_at timestamptz not null default now(),
  constraint features_entity_name_observed_key unique (entity_type, entity_id, name, observed_at)
);
alter table ml.features enable row level security;
create policy "organizations acting as themselves see their events' features" on ml.features for select to gw_user
  using (entity_type = 'event' and entity_id in (select e.event_id from events.events e where e.owner_context_id = (select auth.current_org_id())));
grant select on ml.features to gw_user;
comment on table ml.features is
  E'@behavior -insert -update -delete\nNamed numeric features of an entity with the time they were observed (views_30d, unique_viewers_30d, followers, …), written by the worker. An organization acting as itself reads its events''.';
comment on column ml.features.feature_id is 'The feature row''s id.';
comment on column ml.features.entity_type is 'What kind of entity (event).';
comment on column ml.features.entity_id is 'Which entity.';
comment on column ml.features.name is 'The feature''s name.';
comment on column ml.features.value is 'Its value (finite).';
comment on column ml.features.observed_at is 'When it was observed.';

-- Exact cosine similarity of two vectors of one dimension (null if either is zero).
create function ml.cosine(a real[], b real[]) returns double precision
  language sql
  immutable
  strict
  parallel safe
  set search_path = ''
as $$
  select case when pg_catalog.sum(x::double precision * x) = 0 or pg_catalog.sum(y::double precision * y) = 0 then null
              else pg_catalog.sum(x::double precision * y) / pg_catalog.sqrt(pg_catalog.sum(x::double precision * x) * pg_catalog.sum(y::double precision * y)) end
    from rows from (pg_catalog.unnest(cosine.a), pg_catalog.unnest(cosine.b)) as t(x, y)
$$;
comment on function ml.cosine(real[], real[]) is
  E'@behavior -queryField -typeField\nExact cosine similarity of two vectors of the same dimension (null when one is all zeros).';
grant execute on function ml.cosine(real[], real[]) to gw_anonymous, gw_user;

-- Feature hashing: each token adds ±weight at its bucket; the vector is L2-normalized.
create function ml.hash_embedding(category text, title text, venue text, description text, dimension integer default 256) returns real[]
  language sql
  immutable
  parallel safe
  set search_path = ''
as $$
  with tokens as (
    select 'c:' || hash_embedding.category as token, 3.0::double precision as weight where hash_embedding.category is not null
    union all
    select 'c:' || pg_catalog.split_part(hash_embedding.category, '.', 1), 1.5 where hash_embedding.category like '%.%'
    union all
    select 'w:' || w, 2.0 from pg_catalog.regexp_split_to_table(pg_catalog.lower(coalesce(hash_embedding.title, '')), '[^[:alnum:]]+') w where char_length(w) >= 2
    union all
    select 'b:' || w1 || ' ' || w2, 1.0 from (
      select w as w1, pg_catalog.lead(w) over (order by n) as w2
        from pg_catalog.regexp_split_to_table(pg_catalog.lower(coalesce(hash_embedding.title, '')), '[^[:alnum:]]+') with ordinality t(w, n)
       where char_length(w) >= 2) b where w2 is not null
    union all
    select 'w:' || w, 1.0 from pg_catalog.regexp_split_to_table(pg_catalog.lower(coalesce(hash_embedding.venue, '')), '[^[:alnum:]]+') w where char_length(w) >= 2
    union all
    select 'w:' || w, 1.0 from pg_catalog.regexp_split_to_table(pg_catalog.lower(pg_catalog.left(coalesce(hash_embedding.description, ''), 5000)), '[^[:alnum:]]+') w where char_length(w) >= 2
  ), hashed as (
    select ('x' || pg_catalog.substr(pg_catalog.md5(t.token), 1, 8))::bit(32)::bigint as h,
           ('x' || pg_catalog.substr(pg_catalog.md5(t.token), 9, 1))::bit(4)::integer as s,
           t.weight
      from tokens t
  ), buckets as (
    select (h % hash_embedding.dimension)::integer + 1 as i, pg_catalog.sum(case when s & 1 = 1 then -weight else weight end) as v
      from hashed group by 1
  ), norm as (
    select pg_catalog.sqrt(pg_catalog.sum(v * v)) as n from buckets
  )
  select pg_catalog.array_agg(coalesce(case when norm.n > 0 then b.v / norm.n end, 0)::real order by g.i)
    from pg_catalog.generate_series(1, hash_embedding.dimension) g(i)
    cross join norm
    left join buckets b on b.i = g.i
$$;
comment on function ml.hash_embedding(text, text, text, text, integer) is
  E'@behavior -queryField -typeField\nThe hash-v1 text-to-vector method: tokens (the category, weight 3, and its parent, 1.5; title words, 2, and title word pairs, 1; venue and description words, 1) are hashed (md5) into dimension buckets with a hashed sign, summed, and L2-normalized. Deterministic; no model download.';
grant execute on function ml.hash_embedding(text, text, text, text, integer) to gw_anonymous, gw_user;

create function ml_private.hash_model_id() returns uuid
  language sql
  stable
  set search_path = ''
as $$ select m.model_id from ml.models m where m.name = 'hash' and m.version = 'v1' $$;
comment on function ml_private.hash_model_id() is 'The id of the built-in hash-v1 model.';

-- Embeds events whose hash-v1 embedding is missing or whose text changed, up to batch_size; returns how many.
create function ml_private.embed_events(batch_size integer default 1000) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_model uuid := ml_private.hash_model_id();
  v_count integer;
begin
  with todo as (
    select e.event_id, e.category_code, e.title, e.venue, e.description,
           pg_catalog.md5(coalesce(e.category_code, '') || '|' || e.title || '|' || coalesce(e.venue, '') || '|' || coalesce(e.description, '')) as source_hash
      from events.events e
      left join ml.embeddings m on m.entity_type = 'event' and m.entity_id = e.event_id and m.model_id = v_model
     where m.embedding_id is null
        or m.source_hash is distinct from pg_catalog.md5(coalesce(e.category_code, '') || '|' || e.title || '|' || coalesce(e.venue, '') || '|' || coalesce(e.description, ''))
     limit embed_events.batch_size
  )
  insert into ml.embeddings (entity_type, entity_id, model_id, vector, source_hash)
  select 'event', t.event_id, v_model, ml.hash_embedding(t.category_code, t.title, t.venue, t.description, 256), t.source_hash
    from todo t
  on conflict on constraint embeddings_entity_model_key do update
    set vector = excluded.vector, source_hash = excluded.source_hash, created_at = pg_catalog.now();
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function ml_private.embed_events(integer) is 'Computes hash-v1 embeddings of up to batch_size events that have none or whose text changed since. Run by ml_embed_events.';

-- Features of events from analytics: views and unique viewers of the last 30 days, and the organization's followers.
create function ml_private.record_event_features(now timestamptz default now()) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  insert into ml.features (entity_type, entity_id, name, value, observed_at)
  select 'event', s.event_id, f.name, f.value, record_event_features.now
    from (select d.event_id, pg_catalog.sum(d.total_views) as views, pg_catalog.sum(d.unique_viewers) as viewers
            from analytics.mv_event_daily_stats d
           where d.day >= (record_event_features.now - interval '30 days')::date
           group by d.event_id) s
    join events.events e on e.event_id = s.event_id
    cross join lateral (values ('views_30d', s.views::double precision), ('unique_viewers_30d', s.viewers::double precision),
      ('organization_followers', coalesce((select c.followers from users.organization_follow_counts c where c.organization_id = e.owner_context_id), 0)::double precision)) f(name, value)
  on conflict on constraint features_entity_name_observed_key do update set value = excluded.value;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function ml_private.record_event_features(timestamptz) is 'Records views_30d, unique_viewers_30d (from analytics.mv_event_daily_stats) and organization_followers for events seen in the last 30 days. Run by ml_embed_events.';

-- Operators upload vectors of their own model.
create function ml.put_embedding(model_name text, model_version text, entity_type text, entity_id uuid, vector real[])
  returns ml.embeddings
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_model ml.models;
  v_row ml.embeddings;
begin
  if not (select auth.has_role('gw_admin')) then
    raise exception 'Only operators upload embeddings.' using errcode = 'DNIED';
  end if;
  select m.* into v_model from ml.models m where m.name = put_embedding.model_name and m.version = put_embedding.model_version;
  if not found then
    raise exception 'No model % %.', put_embedding.model_name, put_embedding.model_version using errcode = 'MLMOD';
  end if;
  if put_embedding.entity_type is distinct from 'event'
     or not exists (select 1 from events.events e where e.event_id = put_embedding.entity_id) then
    raise exception 'No % %.', put_embedding.entity_type, put_embedding.entity_id using errcode = 'NTFND';
  end if;
  if put_embedding.vector is null or pg_catalog.array_ndims(put_embedding.vector) is distinct from 1
     or pg_catalog.cardinality(put_embedding.vector) <> v_model.dimension then
    raise exception 'Model % % takes vectors of % numbers (this one: %).', v_model.name, v_model.version, v_model.dimension,
      coalesce(pg_catalog.cardinality(put_embedding.vector), 0) using errcode = 'MLDIM';
  end if;
  if exists (select 1 from pg_catalog.unnest(put_embedding.vector) x
              where x is null or x = 'NaN'::real or x in ('Infinity'::real, '-Infinity'::real)) then
    raise exception 'A vector holds finite numbers only (no NaN, infinity or null).' using errcode = 'MLNAN';
  end if;
  insert into ml.embeddings (entity_type, entity_id, model_id, vector)
  values ('event', put_embedding.entity_id, v_model.model_id, put_embedding.vector)
  on conflict on constraint embeddings_entity_model_key do update set vector = excluded.vector, created_at = pg_catalog.now(), source_hash = null
  returning * into v_row;
  return v_row;
end;
$$;
comment on function ml.put_embedding(text, text, text, uuid, real[]) is
  'Operators only (DNIED): stores (or replaces) the vector of an event under a registered model. Refused, nothing written: MLMOD (no such model), NTFND (no such event), MLDIM (not the model''s dimension), MLNAN (NaN, infinity or null inside). Security definer because embeddings have no insert grant.';
revoke execute on function ml.put_embedding(text, text, text, uuid, real[]) from public;
grant execute on function ml.put_embedding(text, text, text, uuid, real[]) to gw_admin;

--! split: 5910-ml-recommendations.sql
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
