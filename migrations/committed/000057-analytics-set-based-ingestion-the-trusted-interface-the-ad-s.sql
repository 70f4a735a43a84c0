--! Previous: sha1:eb36bb3c2432e315ed31a889d2c4ac5b59d41c50
--! Hash: sha1:092a61d85a0cc2a9baebcfb1a17c113adfaaa553
--! Message: analytics: set-based ingestion, the trusted interface, the ad stream keyed by row (issues 22, 23)

--! split: 5740-analytics-set-based-ingestion.sql
--! split: 5740-analytics-set-based-ingestion.sql
-- Impression ingestion, set-based (issue 22: the endpoint ÷ COPY target).
-- Phase timings of the 5720 function (batches of 1,000 ad beacons, PG 15):
-- 257 ms of 315 ms per batch were its own work (validation item by item with
-- a subquery per item, a normalized copy of every item rebuilt as jsonb, the
-- retention bound computed per item, the dedupe claim joined back to the
-- batch on a jsonb field, the visible-ids query re-reading the jsonb twice),
-- 47 ms the writer (which parsed the rebuilt jsonb again). Now the batch's
-- JSON is read twice (the shape check, then one typed array of its items),
-- every later step works on that array, the retention bound and the visible
-- ids are computed once per stream, writers take the typed array
-- (analytics.ingest_item[]: no jsonb built for them, none parsed by them),
-- and a stream whose client id is the row's own primary key (keyed_by_row:
-- ad, 5795) skips the second indexed insert into ingest_keys: its writer's
-- insert deduplicates against the table within the window.
-- Same checks, same codes, same answer.

drop function if exists analytics.ingest_impressions(jsonb);
drop function if exists analytics_private.write_event_impressions(analytics.ingest_item[]);
drop function if exists analytics_private.write_post_impressions(analytics.ingest_item[]);
drop function if exists campaigns_private.write_ad_impressions(analytics.ingest_item[]); -- 5795's, on this type
drop type if exists analytics.ingest_item;
alter table analytics_private.ingest_streams drop column if exists keyed_by_row;

alter table analytics_private.ingest_streams
  add column keyed_by_row boolean not null default false;
comment on column analytics_private.ingest_streams.keyed_by_row is
  'The client id is the row''s own primary key and the writer skips ids already in its table within the dedupe window: the ingestion then keeps no ingest_keys for the stream (one indexed insert per row instead of two).';

-- One checked item, as the stream writers receive it: the interface of a
-- writer of another module (campaigns' ad stream), so in the public schema;
-- no GraphQL field takes or returns it.
create type analytics.ingest_item as (
  n integer,
  stream text,
  "clientId" text,
  id uuid,
  "occurredAt" timestamptz,
  "userId" uuid,
  "visitorId" text,
  source text,
  "countryCode" text,
  metadata jsonb
);
comment on type analytics.ingest_item is
  E'@behavior -*\nTrusted interface, not in GraphQL: an impression of a batch once analytics.ingest_impressions has checked it, numbered from 1 in batch order, with the signed-in caller as userId; a stream''s writer ((items analytics.ingest_item[]) returns integer) gets its stream''s new items.';

-- The writers of the event and post streams, on the typed items (5720's took jsonb).
drop function if exists analytics_private.write_event_impressions(jsonb);
drop function if exists analytics_private.write_post_impressions(jsonb);

create function analytics_private.write_event_impressions(items analytics.ingest_item[]) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  insert into analytics.event_impressions (event_id, user_id, visitor_id, client_id, source, country_code, metadata, occurred_at)
  select r.id, r."userId", r."visitorId", r."clientId", coalesce(r.source, 'web'), r."countryCode", coalesce(r.metadata, '{}'::jsonb), r."occurredAt"
    from pg_catalog.unnest(write_event_impressions.items) r;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function analytics_private.write_event_impressions(analytics.ingest_item[]) is 'Writer of the event stream: inserts checked, deduplicated items into analytics.event_impressions.';

create function analytics_private.write_post_impressions(items analytics.ingest_item[]) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  insert into analytics.post_impressions (post_id, user_id, visitor_id, client_id, source, country_code, metadata, occurred_at)
  select r.id, r."userId", r."visitorId", r."clientId", coalesce(r.source, 'web'), r."countryCode", coalesce(r.metadata, '{}'::jsonb), r."occurredAt"
    from pg_catalog.unnest(write_post_impressions.items) r;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function analytics_private.write_post_impressions(analytics.ingest_item[]) is 'Writer of the post stream: inserts checked, deduplicated items into analytics.post_impressions.';
revoke execute on function analytics_private.write_event_impressions(analytics.ingest_item[]),
  analytics_private.write_post_impressions(analytics.ingest_item[]) from public;

update analytics_private.ingest_streams set writer = 'analytics_private.write_event_impressions(analytics.ingest_item[])' where stream = 'event';
update analytics_private.ingest_streams set writer = 'analytics_private.write_post_impressions(analytics.ingest_item[])' where stream = 'post';

create function analytics.ingest_impressions(impressions jsonb) returns jsonb
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_total integer;
  v_bad record;
  v_known text[];
  v_items analytics.ingest_item[];
  v_stream analytics_private.ingest_streams;
  v_ids uuid[];
  v_missing uuid;
  v_month date;
  v_rows analytics.ingest_item[];
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
  select pg_catalog.array_agg(s.stream order by s.stream) into v_known from analytics_private.ingest_streams s;

  -- Shape, item by item; the first bad one is named.
  select o.n, x.reason into v_bad
    from pg_catalog.jsonb_array_elements(ingest_impressions.impressions) with ordinality o(item, n)
    cross join lateral (select case
      when pg_catalog.jsonb_typeof(o.item) <> 'object' then 'not a JSON object'
      when (o.item - array['stream', 'clientId', 'id', 'occurredAt', 'visitorId', 'source', 'countryCode', 'metadata']) <> '{}'::jsonb
        then 'unknown keys (allowed: stream, clientId, id, occurredAt, visitorId, source, countryCode, metadata)'
      when pg_catalog.jsonb_typeof(o.item -> 'stream') is distinct from 'string' or (o.item ->> 'stream') <> all (v_known)
        then 'stream must be one of: ' || pg_catalog.array_to_string(v_known, ', ')
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

  -- The typed items; a date that matches the pattern but is no date (2026-02-30) is refused here.
  begin
    select pg_catalog.array_agg(row(o.n, o.item ->> 'stream', o.item ->> 'clientId', (o.item ->> 'id')::uuid,
             (o.item ->> 'occurredAt')::timestamptz, v_user, o.item ->> 'visitorId', o.item ->> 'source',
             o.item ->> 'countryCode', o.item -> 'metadata')::analytics.ingest_item order by o.n)
      into v_items
      from pg_catalog.jsonb_array_elements(ingest_impressions.impressions) with ordinality o(item, n);
  exception when datetime_field_overflow or invalid_datetime_format then
    raise exception 'An occurredAt is not a valid time.' using errcode = 'ANBAT';
  end;

  -- Dates: not before the oldest month the target keeps (one bound per stream), not ahead of the clock (5 minutes of skew allowed).
  with f as materialized (
    select s.stream, analytics_private.first_kept_month(s.table_name, v_now) as first_month from analytics_private.ingest_streams s
  )
  select i.n, i."occurredAt" as occurred_at into v_bad
    from pg_catalog.unnest(v_items) i
    join f on f.stream = i.stream
   where i."occurredAt" < f.first_month or i."occurredAt" > v_now + interval '5 minutes'
   order by i.n
   limit 1;
  if found then
    raise exception 'Impression %: occurredAt % is outside the accepted range (the retention window up to now).', v_bad.n, v_bad.occurred_at
      using errcode = 'ANRNG';
  end if;

  for v_stream in
    select s.* from analytics_private.ingest_streams s
     where s.stream in (select i.stream from pg_catalog.unnest(v_items) i)
     order by s.stream
  loop
    -- Entities: every id must be one the caller may see (a hidden one is as unknown as a missing one); one call per stream.
    select pg_catalog.array_agg(distinct i.id) into v_ids from pg_catalog.unnest(v_items) i where i.stream = v_stream.stream;
    execute pg_catalog.format('select d from pg_catalog.unnest($1) d where d <> all (array(select %s($1))) order by 1 limit 1',
      v_stream.visible_ids::regproc)
      into v_missing using v_ids;
    if v_missing is not null then
      raise exception 'No % % that you may record impressions of.', v_stream.stream, v_missing using errcode = 'ANENT';
    end if;
  end loop;

  -- Write, stream by stream: each client id once (its first item), claimed unless the row's own key dedupes; route; insert.
  for v_stream in
    select s.* from analytics_private.ingest_streams s
     where s.stream in (select i.stream from pg_catalog.unnest(v_items) i)
     order by s.stream
  loop
    if v_stream.keyed_by_row then
      select pg_catalog.array_agg(b.item order by (b.item).n) into v_rows
        from (select distinct on (i."clientId") i as item from pg_catalog.unnest(v_items) i
               where i.stream = v_stream.stream order by i."clientId", i.n) b;
    else
      with batch as (
        select distinct on (i."clientId") i as item
          from pg_catalog.unnest(v_items) i
         where i.stream = v_stream.stream
         order by i."clientId", i.n
      ), claimed as (
        insert into analytics_private.ingest_keys as k (stream, client_id, seen_at)
        select v_stream.stream, (b.item)."clientId", v_now from batch b
        on conflict on constraint ingest_keys_pkey do update set seen_at = excluded.seen_at
          where k.seen_at <= excluded.seen_at - v_stream.dedupe_window
        returning k.client_id
      )
      select pg_catalog.array_agg(b.item order by (b.item).n) into v_rows
        from batch b where (b.item)."clientId" in (select c.client_id from claimed c);
    end if;
    continue when v_rows is null;
    for v_month in
      select distinct (i."occurredAt" at time zone 'UTC')::date from pg_catalog.unnest(v_items) i where i.stream = v_stream.stream
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
  E'Records a batch of 1-1000 impressions (beacons) and returns {received, accepted, duplicates}. Each item: stream (event, post or ad), clientId (1-100 characters: an item whose clientId was seen in the stream within its dedupe window, 24 hours, is a duplicate and ignored), id (the event, post or creative), occurredAt (ISO 8601 with zone, within the retention window and at most 5 minutes ahead), optional visitorId, source, countryCode, metadata. Anonymous callers may send; the signed-in caller is recorded. The whole batch is refused, nothing written, on a malformed item (ANBAT), a date out of range (ANRNG) or an id the caller may not see (ANENT). Also POST /analytics/impressions (rate-limited per address). Security definer because impressions have no insert grant and the partitions are created here when missing.';
revoke execute on function analytics.ingest_impressions(jsonb) from public;
grant execute on function analytics.ingest_impressions(jsonb) to gw_anonymous, gw_user;

--! split: 5750-analytics-trusted-interface.sql
--! split: 5750-analytics-trusted-interface.sql
-- Analytics' trusted interface: the on-demand partition a writer of another
-- module (campaigns' impression counting) makes before it inserts, instead of
-- reading analytics_private (CONVENTIONS: a module never reads another
-- module's *_private schema). Execute revoked from every API role, hidden
-- from GraphQL; a thin wrapper of the private implementation.

drop function if exists analytics.ensure_month_partition(text, date);

create function analytics.ensure_month_partition(parent text, month date) returns regclass
  language sql
  volatile
  set search_path = ''
as $$
  select analytics_private.ensure_month_partition(ensure_month_partition.parent, ensure_month_partition.month)
$$;
comment on function analytics.ensure_month_partition(text, date) is
  E'@behavior -*\nTrusted interface, not in GraphQL: creates (idempotently) the partition of a registered monthly table (analytics_private.partitioned_tables) for the UTC month containing month, and returns it; BADIN for a table that is not registered. No API role may execute it.';
revoke execute on function analytics.ensure_month_partition(text, date) from public;

--! split: 5795-analytics-ad-stream-keyed-by-row.sql
--! split: 5795-analytics-ad-stream-keyed-by-row.sql
-- The ad stream's client id is the impression's id, the first column of
-- campaigns.ad_impressions' primary key, and its writer
-- (campaigns_private.record_impressions) already skips ids counted in the
-- last 24 hours (the stream's dedupe window): the row's own key is the dedupe
-- key, so the ingestion keeps no ingest_keys for it (5740). Like 5790, in
-- analytics' block only because it must follow analytics' schema.

update analytics_private.ingest_streams set keyed_by_row = true where stream = 'ad';
delete from analytics_private.ingest_keys where stream = 'ad';

-- The ad stream's writer on the typed items of 5740 (analytics.ingest_item[],
-- analytics' interface type for writers): no jsonb is built for it or parsed
-- by it. Campaigns' function, here because its argument type is analytics'.
drop function if exists campaigns_private.write_ad_impressions(analytics.ingest_item[]);

create function campaigns_private.write_ad_impressions(items analytics.ingest_item[]) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_group record;
  v_result campaigns.batch_result;
  v_total integer := 0;
begin
  if exists (select 1 from pg_catalog.unnest(write_ad_impressions.items) r
              where r."clientId" !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') then
    raise exception 'An ad impression''s clientId is the impression''s UUID (its clicks name it).' using errcode = 'BADIN';
  end if;
  -- One counting batch per campaign and creative, campaigns in id order (their row locks are taken in that order).
  for v_group in
    select k.campaign_id, k.creative_id,
           pg_catalog.array_agg(r."clientId"::uuid order by r.n) as ids,
           pg_catalog.array_agg(e.event_id order by r.n) as event_ids
      from pg_catalog.unnest(write_ad_impressions.items) r
      join campaigns.ad_creatives k on k.creative_id = r.id
      left join events.events e
        on (r.metadata ->> 'eventId') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       and e.event_id = (r.metadata ->> 'eventId')::uuid
     group by k.campaign_id, k.creative_id
     order by k.campaign_id, k.creative_id
  loop
    v_result := campaigns_private.record_impressions(v_group.campaign_id, v_group.creative_id, v_group.ids, v_group.event_ids,
      pg_catalog.now(), true);
    v_total := v_total + v_result.accepted;
  end loop;
  return v_total;
end;
$$;
comment on function campaigns_private.write_ad_impressions(analytics.ingest_item[]) is
  'Writer of the ad stream: the checked, deduplicated items grouped by campaign and creative, each group counted by record_impressions at server time (budget and daily cap enforced: rows over them are refused and reported by the ingestion as not accepted; ids counted in the last 24 hours skipped: the row''s own key is the stream''s dedupe). Returns how many were counted. BADIN for a clientId that is not a UUID.';
revoke execute on function campaigns_private.write_ad_impressions(analytics.ingest_item[]) from public;

update analytics_private.ingest_streams set writer = 'campaigns_private.write_ad_impressions(analytics.ingest_item[])' where stream = 'ad';
drop function if exists campaigns_private.write_ad_impressions(jsonb);
