-- Impression ingestion: one mechanism for every stream of beacons (event and
-- post impressions here; campaigns' ad impressions register a stream later).
-- A batch is checked whole before anything is written: its shape (ANBAT), its
-- dates against the target table's retention window and the clock (ANRNG), and
-- that every entity is one the caller may see (ANENT); then each item is
-- deduplicated by (stream, client id) within the stream's window, its month's
-- partition is made if missing, and the stream's writer inserts it.
--
-- A new stream (campaigns, part 3): register its partitioned table in
-- analytics_private.partitioned_tables, then a row here naming a
-- visible-ids function ((uuid[]) -> setof uuid, evaluated with the caller's
-- claims) and a writer ((jsonb) -> integer). Nothing else changes: the batch
-- endpoint, rate limit, dedupe and partition routing are shared.

create table analytics_private.ingest_streams (
  stream text primary key
    constraint ingest_streams_stream_check check (stream ~ '^[a-z][a-z_]{0,30}$'),
  table_name text not null
    constraint ingest_streams_table_name_fkey references analytics_private.partitioned_tables (table_name) on delete cascade,
  visible_ids regprocedure not null,
  writer regprocedure not null,
  dedupe_window interval not null default interval '24 hours'
    constraint ingest_streams_dedupe_window_check check (dedupe_window between interval '1 minute' and interval '31 days')
);
alter table analytics_private.ingest_streams enable row level security;
create index ingest_streams_table_name_idx on analytics_private.ingest_streams (table_name);
comment on table analytics_private.ingest_streams is
  'Streams the ingestion accepts: the partitioned table they land in, the function that says which entity ids the caller may see, the writer, and the dedupe window.';

create table analytics_private.ingest_keys (
  stream text not null
    constraint ingest_keys_stream_fkey references analytics_private.ingest_streams (stream) on delete cascade,
  client_id text not null,
  seen_at timestamptz not null,
  constraint ingest_keys_pkey primary key (stream, client_id)
);
alter table analytics_private.ingest_keys enable row level security;
create index ingest_keys_seen_at_idx on analytics_private.ingest_keys (seen_at);
comment on table analytics_private.ingest_keys is
  'The client ids seen per stream and when: a beacon whose id was seen within the stream''s window is a duplicate. Pruned by analytics_drop_partitions.';

-- Which of these events a beacon may name: published public or unlisted ones, and the caller's organization's own.
create function analytics_private.impressionable_events(ids uuid[]) returns setof uuid
  language sql
  stable
  set search_path = ''
as $$
  select e.event_id from events.events e
   where e.event_id = any(impressionable_events.ids)
     and ((e.published_at is not null and e.visibility in ('public', 'unlisted')) or e.owner_context_id = auth.current_org_id())
$$;
comment on function analytics_private.impressionable_events(uuid[]) is
  'The events among ids a beacon may name with the caller''s claims: published public or unlisted events, and every event of the organization the caller acts in. A private event of another organization is as unknown as a missing one.';

create function analytics_private.impressionable_posts(ids uuid[]) returns setof uuid
  language sql
  stable
  set search_path = ''
as $$
  select p.post_id from events.event_posts p
   where p.post_id = any(impressionable_posts.ids)
     and p.event_id in (select analytics_private.impressionable_events(array(select q.event_id from events.event_posts q where q.post_id = any(impressionable_posts.ids))))
$$;
comment on function analytics_private.impressionable_posts(uuid[]) is 'The posts among ids whose event a beacon may name (impressionable_events).';

create function analytics_private.write_event_impressions(rows jsonb) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  insert into analytics.event_impressions (event_id, user_id, visitor_id, client_id, source, country_code, metadata, occurred_at)
  select r.id, r."userId", r."visitorId", r."clientId", coalesce(r.source, 'web'), r."countryCode", coalesce(r.metadata, '{}'::jsonb), r."occurredAt"
    from pg_catalog.jsonb_to_recordset(write_event_impressions.rows)
         as r(id uuid, "userId" uuid, "visitorId" text, "clientId" text, source text, "countryCode" text, metadata jsonb, "occurredAt" timestamptz);
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function analytics_private.write_event_impressions(jsonb) is 'Writer of the event stream: inserts checked, deduplicated items into analytics.event_impressions.';

create function analytics_private.write_post_impressions(rows jsonb) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  insert into analytics.post_impressions (post_id, user_id, visitor_id, client_id, source, country_code, metadata, occurred_at)
  select r.id, r."userId", r."visitorId", r."clientId", coalesce(r.source, 'web'), r."countryCode", coalesce(r.metadata, '{}'::jsonb), r."occurredAt"
    from pg_catalog.jsonb_to_recordset(write_post_impressions.rows)
         as r(id uuid, "userId" uuid, "visitorId" text, "clientId" text, source text, "countryCode" text, metadata jsonb, "occurredAt" timestamptz);
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function analytics_private.write_post_impressions(jsonb) is 'Writer of the post stream: inserts checked, deduplicated items into analytics.post_impressions.';

insert into analytics_private.ingest_streams (stream, table_name, visible_ids, writer) values
  ('event', 'analytics.event_impressions', 'analytics_private.impressionable_events(uuid[])', 'analytics_private.write_event_impressions(jsonb)'),
  ('post', 'analytics.post_impressions', 'analytics_private.impressionable_posts(uuid[])', 'analytics_private.write_post_impressions(jsonb)');

create function analytics.ingest_impressions(impressions jsonb) returns jsonb
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_total integer;
  v_bad record;
  v_items jsonb;
  v_stream analytics_private.ingest_streams;
  v_missing uuid;
  v_month date;
  v_rows jsonb;
  v_accepted integer := 0;
  v_written integer;
  v_now timestamptz := pg_catalog.now();
  v_user uuid := auth.uid();
begin
  if ingest_impressions.impressions is null or pg_catalog.jsonb_typeof(ingest_impressions.impressions) <> 'array' then
    raise exception 'Send a JSON array of impressions.' using errcode = 'ANBAT';
  end if;
  v_total := pg_catalog.jsonb_array_length(ingest_impressions.impressions);
  if v_total not between 1 and 1000 then
    raise exception 'A batch holds 1 to 1000 impressions (this one: %).', v_total using errcode = 'ANBAT';
  end if;

  -- Shape, item by item; the first bad one is named.
  select o.n, x.reason into v_bad
    from pg_catalog.jsonb_array_elements(ingest_impressions.impressions) with ordinality o(item, n)
    cross join lateral (select case
      when pg_catalog.jsonb_typeof(o.item) <> 'object' then 'not a JSON object'
      when (o.item - array['stream', 'clientId', 'id', 'occurredAt', 'visitorId', 'source', 'countryCode', 'metadata']) <> '{}'::jsonb
        then 'unknown keys (allowed: stream, clientId, id, occurredAt, visitorId, source, countryCode, metadata)'
      when pg_catalog.jsonb_typeof(o.item -> 'stream') is distinct from 'string'
        or not exists (select 1 from analytics_private.ingest_streams s where s.stream = o.item ->> 'stream')
        then 'stream must be one of: ' || (select pg_catalog.string_agg(s.stream, ', ' order by s.stream) from analytics_private.ingest_streams s)
      when pg_catalog.jsonb_typeof(o.item -> 'clientId') is distinct from 'string' or char_length(o.item ->> 'clientId') not between 1 and 100
        then 'clientId must be a string of 1 to 100 characters'
      when pg_catalog.jsonb_typeof(o.item -> 'id') is distinct from 'string'
        or (o.item ->> 'id') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
        then 'id must be a UUID'
      when pg_catalog.jsonb_typeof(o.item -> 'occurredAt') is distinct from 'string'
        or (o.item ->> 'occurredAt') !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$'
        then 'occurredAt must be an ISO 8601 time with its zone'
      when o.item ? 'visitorId' and (pg_catalog.jsonb_typeof(o.item -> 'visitorId') <> 'string' or char_length(o.item ->> 'visitorId') not between 1 and 100)
        then 'visitorId must be a string of 1 to 100 characters'
      when o.item ? 'source' and (pg_catalog.jsonb_typeof(o.item -> 'source') <> 'string' or (o.item ->> 'source') !~ '^[a-z][a-z0-9_.-]{0,49}$')
        then 'source must be a lowercase word of at most 50 characters'
      when o.item ? 'countryCode' and (pg_catalog.jsonb_typeof(o.item -> 'countryCode') <> 'string'
        or not exists (select 1 from ref.countries c where c.code = o.item ->> 'countryCode'))
        then 'countryCode must be an ISO 3166-1 alpha-2 code'
      when o.item ? 'metadata' and (pg_catalog.jsonb_typeof(o.item -> 'metadata') <> 'object' or pg_catalog.pg_column_size(o.item -> 'metadata') > 4096)
        then 'metadata must be a JSON object of at most 4 kB'
      end as reason) x
   where x.reason is not null
   order by o.n
   limit 1;
  if found then
    raise exception 'Impression %: %.', v_bad.n, v_bad.reason using errcode = 'ANBAT';
  end if;

  -- Normalized items; a date that matches the pattern but is no date (2026-02-30) is refused here.
  begin
    select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'n', o.n, 'stream', o.item ->> 'stream', 'clientId', o.item ->> 'clientId', 'id', o.item ->> 'id',
             'occurredAt', (o.item ->> 'occurredAt')::timestamptz, 'userId', v_user, 'visitorId', o.item ->> 'visitorId',
             'source', o.item ->> 'source', 'countryCode', o.item ->> 'countryCode', 'metadata', o.item -> 'metadata'))
      into v_items
      from pg_catalog.jsonb_array_elements(ingest_impressions.impressions) with ordinality o(item, n);
  exception when datetime_field_overflow or invalid_datetime_format then
    raise exception 'An occurredAt is not a valid time.' using errcode = 'ANBAT';
  end;

  -- Dates: not before the oldest month the target keeps, not ahead of the clock (5 minutes of skew allowed).
  select (i ->> 'n')::integer as n, i ->> 'occurredAt' as occurred_at into v_bad
    from pg_catalog.jsonb_array_elements(v_items) i
    join analytics_private.ingest_streams s on s.stream = i ->> 'stream'
   where (i ->> 'occurredAt')::timestamptz < analytics_private.first_kept_month(s.table_name, v_now)
      or (i ->> 'occurredAt')::timestamptz > v_now + interval '5 minutes'
   order by 1
   limit 1;
  if found then
    raise exception 'Impression %: occurredAt % is outside the accepted range (the retention window up to now).', v_bad.n, v_bad.occurred_at
      using errcode = 'ANRNG';
  end if;

  -- Entities: every id must be one the caller may see (a hidden one is as unknown as a missing one).
  for v_stream in
    select s.* from analytics_private.ingest_streams s
     where s.stream in (select i ->> 'stream' from pg_catalog.jsonb_array_elements(v_items) i)
     order by s.stream
  loop
    execute pg_catalog.format(
      'select d.id from (select distinct (i ->> ''id'')::uuid as id from pg_catalog.jsonb_array_elements($1) i where i ->> ''stream'' = $2) d
        where d.id <> all (array(select %s(array(select distinct (i ->> ''id'')::uuid from pg_catalog.jsonb_array_elements($1) i where i ->> ''stream'' = $2))))
        order by 1 limit 1', v_stream.visible_ids::regproc)
      into v_missing using v_items, v_stream.stream;
    if v_missing is not null then
      raise exception 'No % % that you may record impressions of.', v_stream.stream, v_missing using errcode = 'ANENT';
    end if;
  end loop;

  -- Write, stream by stream: claim the client ids (new, or last seen before the window), route, insert.
  for v_stream in
    select s.* from analytics_private.ingest_streams s
     where s.stream in (select i ->> 'stream' from pg_catalog.jsonb_array_elements(v_items) i)
     order by s.stream
  loop
    with batch as (
      select distinct on (i ->> 'clientId') i
        from pg_catalog.jsonb_array_elements(v_items) i
       where i ->> 'stream' = v_stream.stream
       order by i ->> 'clientId', (i ->> 'n')::integer
    ), claimed as (
      insert into analytics_private.ingest_keys as k (stream, client_id, seen_at)
      select v_stream.stream, b.i ->> 'clientId', v_now from batch b
      on conflict on constraint ingest_keys_pkey do update set seen_at = excluded.seen_at
        where k.seen_at <= excluded.seen_at - v_stream.dedupe_window
      returning k.client_id
    )
    select pg_catalog.jsonb_agg(b.i) into v_rows from batch b join claimed c on c.client_id = b.i ->> 'clientId';
    continue when v_rows is null;
    for v_month in
      select distinct ((r ->> 'occurredAt')::timestamptz at time zone 'UTC')::date from pg_catalog.jsonb_array_elements(v_rows) r
    loop
      perform analytics_private.ensure_month_partition(v_stream.table_name, v_month);
    end loop;
    execute pg_catalog.format('select %s($1)', v_stream.writer::regproc) into v_written using v_rows;
    v_accepted := v_accepted + v_written;
  end loop;

  return pg_catalog.jsonb_build_object('received', v_total, 'accepted', v_accepted, 'duplicates', v_total - v_accepted);
end;
$$;
comment on function analytics.ingest_impressions(jsonb) is
  E'Records a batch of 1-1000 impressions (beacons) and returns {received, accepted, duplicates}. Each item: stream (event or post), clientId (1-100 characters: an item whose clientId was seen in the stream within its dedupe window, 24 hours, is a duplicate and ignored), id (the event or post), occurredAt (ISO 8601 with zone, within the retention window and at most 5 minutes ahead), optional visitorId, source, countryCode, metadata. Anonymous callers may send; the signed-in caller is recorded. The whole batch is refused, nothing written, on a malformed item (ANBAT), a date out of range (ANRNG) or an id the caller may not see (ANENT). Also POST /analytics/impressions (rate-limited per address). Security definer because impressions have no insert grant and the partitions are created here when missing.';
revoke execute on function analytics.ingest_impressions(jsonb) from public;
grant execute on function analytics.ingest_impressions(jsonb) to gw_anonymous, gw_user;

create function analytics_private.prune_ingest_keys(now timestamptz default now()) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  delete from analytics_private.ingest_keys k
   using analytics_private.ingest_streams s
   where s.stream = k.stream and k.seen_at < prune_ingest_keys.now - s.dedupe_window;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function analytics_private.prune_ingest_keys(timestamptz) is 'Forgets client ids seen longer ago than their stream''s dedupe window (they can no longer make a duplicate).';
