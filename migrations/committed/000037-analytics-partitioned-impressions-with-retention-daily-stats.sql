--! Previous: sha1:c5984d0bd3e6aa1f124a3c4c5f85e197c2f7e6a3
--! Hash: sha1:736d0f296cbee996b2ed998c2914542458a87f00
--! Message: analytics: partitioned impressions with retention, daily stats, audience insights, ingestion (issue 23)

--! split: 5700-analytics-partitions.sql
-- analytics: the Liventix seed's partitioned analytics. This file: the schema,
-- the registry of monthly-partitioned tables with their retention, and the
-- partition helpers (ahead of time, on demand, retention). Tables: 5710;
-- ingestion: 5720; dashboards: 5730.
--
-- The helpers are generic (a parent table is a parameter), unlike fintech's
-- finance_private.ensure_transaction_partition, which serves one table; the
-- approach is the same: a standalone table, then ATTACH (SHARE UPDATE
-- EXCLUSIVE on the parent, so inserts into other months are not blocked).

drop schema if exists analytics_private cascade;
drop schema if exists analytics cascade;

create schema analytics;
comment on schema analytics is
  'Impressions and views (partitioned by month), daily dashboards, audience insights and the impression ingestion every module shares.';
grant usage on schema analytics to gw_anonymous, gw_user;

create schema analytics_private;
comment on schema analytics_private is 'Partitions, the partition registry, ingestion bookkeeping and writers of analytics; never exposed.';
revoke all on schema analytics_private from public;

-- Every monthly-partitioned table of analytics (and later campaigns.ad_impressions):
-- how long it keeps data and how far ahead its partitions are made.
create table analytics_private.partitioned_tables (
  table_name text primary key
    constraint partitioned_tables_table_name_check check (table_name ~ '^[a-z_]+\.[a-z_]+$'),
  partition_key text not null default 'occurred_at',
  retention_months integer not null default 13
    constraint partitioned_tables_retention_months_check check (retention_months between 1 and 120),
  months_ahead integer not null default 3
    constraint partitioned_tables_months_ahead_check check (months_ahead between 0 and 24)
);
alter table analytics_private.partitioned_tables enable row level security;
comment on table analytics_private.partitioned_tables is
  'Monthly-partitioned tables kept by analytics_private.create_partitions (ahead) and drop_expired_partitions (retention). Partitions are named <table>_YYYY_MM in analytics_private.';

-- The partition of `parent` for the UTC month containing `month`, created if missing.
create function analytics_private.ensure_month_partition(parent text, month date) returns regclass
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_start timestamp := pg_catalog.date_trunc('month', ensure_month_partition.month::timestamp);
  v_name text;
  v_rel regclass;
begin
  if ensure_month_partition.month is null or ensure_month_partition.parent is null then
    raise exception 'A table and a month are required.' using errcode = 'BADIN';
  end if;
  if not exists (select 1 from analytics_private.partitioned_tables t where t.table_name = ensure_month_partition.parent) then
    raise exception 'Table % is not a registered monthly-partitioned table.', ensure_month_partition.parent using errcode = 'BADIN';
  end if;
  v_name := pg_catalog.split_part(ensure_month_partition.parent, '.', 2) || '_' || pg_catalog.to_char(v_start, 'YYYY_MM');
  v_rel := pg_catalog.to_regclass('analytics_private.' || v_name);
  if v_rel is not null then
    return v_rel;
  end if;
  -- Two writers into the same new month: the second waits, then finds it.
  perform pg_catalog.pg_advisory_xact_lock(5700, pg_catalog.hashtext(ensure_month_partition.parent));
  v_rel := pg_catalog.to_regclass('analytics_private.' || v_name);
  if v_rel is not null then
    return v_rel;
  end if;
  execute pg_catalog.format('create table analytics_private.%I (like %s including defaults including constraints)', v_name, ensure_month_partition.parent);
  execute pg_catalog.format('alter table analytics_private.%I enable row level security', v_name);
  execute pg_catalog.format('alter table %s attach partition analytics_private.%I for values from (%L) to (%L)',
    ensure_month_partition.parent, v_name, (v_start at time zone 'UTC'), ((v_start + interval '1 month') at time zone 'UTC'));
  return pg_catalog.to_regclass('analytics_private.' || v_name);
end;
$$;
comment on function analytics_private.ensure_month_partition(text, date) is
  'Creates (idempotently) the partition of a registered table for the UTC month containing the given date. Called by writers before they insert (on demand) and by create_partitions (ahead).';

-- The partitions of a registered table with their month, oldest first.
create function analytics_private.month_partitions(parent text)
  returns table (partition_name text, month date)
  language sql
  stable
  set search_path = ''
as $$
  select c.relname::text, pg_catalog.to_date(pg_catalog.right(c.relname, 7), 'YYYY_MM')
    from pg_catalog.pg_inherits i
    join pg_catalog.pg_class c on c.oid = i.inhrelid
   where i.inhparent = month_partitions.parent::regclass
     and c.relname ~ '_[0-9]{4}_[0-9]{2}$'
   order by 2
$$;
comment on function analytics_private.month_partitions(text) is 'The monthly partitions of a registered table and the month each holds, oldest first.';

create function analytics_private.create_partitions(now timestamptz default now()) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_table analytics_private.partitioned_tables;
  v_created integer := 0;
  v_month date;
  v_name text;
begin
  for v_table in select * from analytics_private.partitioned_tables order by table_name loop
    for i in 0 .. v_table.months_ahead loop
      v_month := (pg_catalog.date_trunc('month', create_partitions.now at time zone 'UTC') + pg_catalog.make_interval(months => i))::date;
      v_name := pg_catalog.split_part(v_table.table_name, '.', 2) || '_' || pg_catalog.to_char(v_month, 'YYYY_MM');
      if pg_catalog.to_regclass('analytics_private.' || v_name) is null then
        perform analytics_private.ensure_month_partition(v_table.table_name, v_month);
        v_created := v_created + 1;
      end if;
    end loop;
  end loop;
  return v_created;
end;
$$;
comment on function analytics_private.create_partitions(timestamptz) is
  'Creates the partitions of the current UTC month (of `now`) and of each table''s months_ahead next months that do not exist yet; returns how many it created. Run daily by the analytics_create_partitions task.';

-- The first month a table keeps, at `now`: months before it are expired.
create function analytics_private.first_kept_month(table_name text, now timestamptz default now()) returns date
  language sql
  stable
  set search_path = ''
as $$
  select (pg_catalog.date_trunc('month', first_kept_month.now at time zone 'UTC') - pg_catalog.make_interval(months => t.retention_months))::date
    from analytics_private.partitioned_tables t
   where t.table_name = first_kept_month.table_name
$$;
comment on function analytics_private.first_kept_month(text, timestamptz) is
  'The oldest month a table keeps at `now`: the current UTC month minus its retention_months (13: today''s month and the 13 before it). Older partitions are dropped; older impressions are refused.';

create function analytics_private.drop_expired_partitions(now timestamptz default now())
  returns table (dropped text)
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_table analytics_private.partitioned_tables;
  v_partition record;
begin
  for v_table in select * from analytics_private.partitioned_tables order by table_name loop
    for v_partition in
      select p.partition_name from analytics_private.month_partitions(v_table.table_name) p
       where p.month < analytics_private.first_kept_month(v_table.table_name, drop_expired_partitions.now)
    loop
      execute pg_catalog.format('drop table analytics_private.%I', v_partition.partition_name);
      dropped := 'analytics_private.' || v_partition.partition_name;
      return next;
    end loop;
  end loop;
end;
$$;
comment on function analytics_private.drop_expired_partitions(timestamptz) is
  'Drops every partition whose month is before first_kept_month (the retention window of its table) and returns their names. Run daily by the analytics_drop_partitions task.';

-- Operators change a table's retention (or how far ahead partitions are made).
create function analytics.set_retention(table_name text, retention_months integer, months_ahead integer default null)
  returns boolean
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if not (select auth.has_role('gw_admin')) then
    raise exception 'Only operators change retention.' using errcode = 'DNIED';
  end if;
  if set_retention.retention_months is null or set_retention.retention_months not between 1 and 120
     or (set_retention.months_ahead is not null and set_retention.months_ahead not between 0 and 24) then
    raise exception 'Retention is 1 to 120 months, months ahead 0 to 24.' using errcode = 'ANRET';
  end if;
  update analytics_private.partitioned_tables t
     set retention_months = set_retention.retention_months,
         months_ahead = coalesce(set_retention.months_ahead, t.months_ahead)
   where t.table_name = set_retention.table_name;
  if not found then
    raise exception 'No partitioned analytics table %.', set_retention.table_name using errcode = 'NTFND';
  end if;
  return true;
end;
$$;
comment on function analytics.set_retention(text, integer, integer) is
  'Operators only (DNIED): how many months before the current one a partitioned analytics table keeps (1-120, default 13; ANRET otherwise), and optionally how many months ahead its partitions are made. The next retention run drops what falls outside. Security definer because the partition registry is private.';
revoke execute on function analytics.set_retention(text, integer, integer) from public;
grant execute on function analytics.set_retention(text, integer, integer) to gw_admin;

--! split: 5710-analytics-tables.sql
-- analytics tables, partitioned by month of occurred_at (UTC) as the seed
-- shows: analytics_private.event_impressions_2025_10, … The seed's index list,
-- on every one: BRIN on occurred_at (time series), B-tree on the lookup columns
-- (event_id, user_id, post_id, ticket_id), the composite (event_id, occurred_at)
-- or (post_id, occurred_at), GIN on metadata. Rows are written only by the
-- ingestion (5720) and trusted writers; an organization acting as itself reads
-- the rows of its own events.

create sequence analytics.impression_id_seq as bigint;
comment on sequence analytics.impression_id_seq is 'Ids of impressions (event and post).';

create table analytics.event_impressions (
  impression_id bigint not null default nextval('analytics.impression_id_seq'),
  event_id uuid not null
    constraint event_impressions_event_id_fkey references events.events (event_id) on delete cascade,
  user_id uuid
    constraint event_impressions_user_id_fkey references users.profiles (user_id) on delete set null,
  visitor_id text
    constraint event_impressions_visitor_id_check check (char_length(visitor_id) between 1 and 100),
  client_id text not null
    constraint event_impressions_client_id_check check (char_length(client_id) between 1 and 100),
  source text not null default 'web'
    constraint event_impressions_source_check check (source ~ '^[a-z][a-z0-9_.-]{0,49}$'),
  country_code text
    constraint event_impressions_country_code_check check (country_code ~ '^[A-Z]{2}$'),
  metadata jsonb not null default '{}'::jsonb
    constraint event_impressions_metadata_check check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 4096),
  occurred_at timestamptz not null,
  received_at timestamptz not null default now(),
  constraint event_impressions_pkey primary key (impression_id, occurred_at)
) partition by range (occurred_at);
alter table analytics.event_impressions enable row level security;
alter sequence analytics.impression_id_seq owned by analytics.event_impressions.impression_id;

create index event_impressions_occurred_at_brin on analytics.event_impressions using brin (occurred_at);
create index event_impressions_event_id_idx on analytics.event_impressions (event_id);
create index event_impressions_user_id_idx on analytics.event_impressions (user_id);
create index event_impressions_event_id_occurred_at_idx on analytics.event_impressions (event_id, occurred_at);
create index event_impressions_metadata_gin on analytics.event_impressions using gin (metadata jsonb_path_ops);

create policy "organizations acting as themselves see their events' impressions"
  on analytics.event_impressions for select to gw_user
  using (event_id in (select e.event_id from events.events e where e.owner_context_id = (select auth.current_org_id())));
grant select on analytics.event_impressions to gw_user;

comment on table analytics.event_impressions is
  E'@behavior -insert -update -delete\nOne view of an event (a beacon from a web or app page), partitioned by month of occurredAt and kept 13 months (retention). Written only by analyticsIngestImpressions (POST /analytics/impressions). An organization acting as itself reads the impressions of its events.';
comment on column analytics.event_impressions.impression_id is 'The impression''s number.';
comment on column analytics.event_impressions.event_id is 'The event viewed.';
comment on column analytics.event_impressions.user_id is 'Who viewed it, when signed in.';
comment on column analytics.event_impressions.visitor_id is 'An anonymous visitor id the client keeps (a cookie), for unique and returning viewers.';
comment on column analytics.event_impressions.client_id is 'The id the client gave the beacon: a second beacon with it within the dedupe window is ignored.';
comment on column analytics.event_impressions.source is 'Where it was seen (web, app, email, …).';
comment on column analytics.event_impressions.country_code is 'The viewer''s country (ISO 3166-1 alpha-2), if known.';
comment on column analytics.event_impressions.metadata is 'Free-form attributes (a JSON object, at most 4 kB), indexed for containment (@>) queries.';
comment on column analytics.event_impressions.occurred_at is 'When it was seen (the client''s clock, within the accepted range); decides its partition.';
comment on column analytics.event_impressions.received_at is 'When the server stored it.';

create table analytics.post_impressions (
  impression_id bigint not null default nextval('analytics.impression_id_seq'),
  post_id uuid not null
    constraint post_impressions_post_id_fkey references events.event_posts (post_id) on delete cascade,
  user_id uuid
    constraint post_impressions_user_id_fkey references users.profiles (user_id) on delete set null,
  visitor_id text
    constraint post_impressions_visitor_id_check check (char_length(visitor_id) between 1 and 100),
  client_id text not null
    constraint post_impressions_client_id_check check (char_length(client_id) between 1 and 100),
  source text not null default 'web'
    constraint post_impressions_source_check check (source ~ '^[a-z][a-z0-9_.-]{0,49}$'),
  country_code text
    constraint post_impressions_country_code_check check (country_code ~ '^[A-Z]{2}$'),
  metadata jsonb not null default '{}'::jsonb
    constraint post_impressions_metadata_check check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 4096),
  occurred_at timestamptz not null,
  received_at timestamptz not null default now(),
  constraint post_impressions_pkey primary key (impression_id, occurred_at)
) partition by range (occurred_at);
alter table analytics.post_impressions enable row level security;

create index post_impressions_occurred_at_brin on analytics.post_impressions using brin (occurred_at);
create index post_impressions_post_id_idx on analytics.post_impressions (post_id);
create index post_impressions_user_id_idx on analytics.post_impressions (user_id);
create index post_impressions_post_id_occurred_at_idx on analytics.post_impressions (post_id, occurred_at);
create index post_impressions_metadata_gin on analytics.post_impressions using gin (metadata jsonb_path_ops);

create policy "organizations acting as themselves see their posts' impressions"
  on analytics.post_impressions for select to gw_user
  using (post_id in (select p.post_id from events.event_posts p join events.events e on e.event_id = p.event_id
                      where e.owner_context_id = (select auth.current_org_id())));
grant select on analytics.post_impressions to gw_user;

comment on table analytics.post_impressions is
  E'@behavior -insert -update -delete\nOne view of an event''s post, partitioned by month of occurredAt and kept 13 months. Written only by analyticsIngestImpressions. An organization acting as itself reads the impressions of its posts.';
comment on column analytics.post_impressions.impression_id is 'The impression''s number.';
comment on column analytics.post_impressions.post_id is 'The post viewed.';
comment on column analytics.post_impressions.user_id is 'Who viewed it, when signed in.';
comment on column analytics.post_impressions.visitor_id is 'An anonymous visitor id the client keeps.';
comment on column analytics.post_impressions.client_id is 'The id the client gave the beacon (deduplication).';
comment on column analytics.post_impressions.source is 'Where it was seen.';
comment on column analytics.post_impressions.country_code is 'The viewer''s country, if known.';
comment on column analytics.post_impressions.metadata is 'Free-form attributes (a JSON object, at most 4 kB).';
comment on column analytics.post_impressions.occurred_at is 'When it was seen; decides its partition.';
comment on column analytics.post_impressions.received_at is 'When the server stored it.';

-- Ticket activity (viewed, purchased, scanned, …). Ticketing (part 2, not on
-- this branch) writes it through analytics_private.record_ticket_activity and
-- adds the foreign key to its tickets then.
create sequence analytics.ticket_activity_id_seq as bigint;
comment on sequence analytics.ticket_activity_id_seq is 'Ids of ticket activity rows.';

create table analytics.ticket_analytics (
  activity_id bigint not null default nextval('analytics.ticket_activity_id_seq'),
  ticket_id uuid not null,
  event_id uuid not null
    constraint ticket_analytics_event_id_fkey references events.events (event_id) on delete cascade,
  user_id uuid
    constraint ticket_analytics_user_id_fkey references users.profiles (user_id) on delete set null,
  action text not null
    constraint ticket_analytics_action_check check (action in ('viewed', 'reserved', 'purchased', 'refunded', 'transferred', 'scanned')),
  quantity integer not null default 1
    constraint ticket_analytics_quantity_check check (quantity between 1 and 10000),
  metadata jsonb not null default '{}'::jsonb
    constraint ticket_analytics_metadata_check check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 4096),
  occurred_at timestamptz not null default now(),
  constraint ticket_analytics_pkey primary key (activity_id, occurred_at)
) partition by range (occurred_at);
alter table analytics.ticket_analytics enable row level security;
alter sequence analytics.ticket_activity_id_seq owned by analytics.ticket_analytics.activity_id;

create index ticket_analytics_occurred_at_brin on analytics.ticket_analytics using brin (occurred_at);
create index ticket_analytics_ticket_id_idx on analytics.ticket_analytics (ticket_id);
create index ticket_analytics_user_id_idx on analytics.ticket_analytics (user_id);
create index ticket_analytics_event_id_occurred_at_idx on analytics.ticket_analytics (event_id, occurred_at);
create index ticket_analytics_metadata_gin on analytics.ticket_analytics using gin (metadata jsonb_path_ops);

create policy "organizations acting as themselves see their ticket activity"
  on analytics.ticket_analytics for select to gw_user
  using (event_id in (select e.event_id from events.events e where e.owner_context_id = (select auth.current_org_id())));
grant select on analytics.ticket_analytics to gw_user;

comment on table analytics.ticket_analytics is
  E'@behavior -insert -update -delete\nTicket activity (viewed, reserved, purchased, refunded, transferred, scanned), partitioned by month of occurredAt and kept 13 months. Written by ticketing. An organization acting as itself reads its events'' activity.';
comment on column analytics.ticket_analytics.activity_id is 'The activity''s number.';
comment on column analytics.ticket_analytics.ticket_id is 'The ticket (ticketing.tickets once ticketing exists).';
comment on column analytics.ticket_analytics.event_id is 'The event of the ticket.';
comment on column analytics.ticket_analytics.user_id is 'Who did it, if known.';
comment on column analytics.ticket_analytics.action is 'viewed, reserved, purchased, refunded, transferred or scanned.';
comment on column analytics.ticket_analytics.quantity is 'How many tickets (1-10,000).';
comment on column analytics.ticket_analytics.metadata is 'Free-form attributes (a JSON object, at most 4 kB).';
comment on column analytics.ticket_analytics.occurred_at is 'When it happened; decides its partition.';

insert into analytics_private.partitioned_tables (table_name) values
  ('analytics.event_impressions'), ('analytics.post_impressions'), ('analytics.ticket_analytics');
select analytics_private.create_partitions();

-- For ticketing: one activity row, its month's partition made if missing.
create function analytics_private.record_ticket_activity(ticket_id uuid, event_id uuid, user_id uuid, action text,
                                                         quantity integer default 1, metadata jsonb default '{}'::jsonb,
                                                         occurred_at timestamptz default now())
  returns bigint
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_id bigint;
begin
  if record_ticket_activity.occurred_at is null
     or record_ticket_activity.occurred_at < analytics_private.first_kept_month('analytics.ticket_analytics')
     or record_ticket_activity.occurred_at > pg_catalog.now() + interval '5 minutes' then
    raise exception 'Ticket activity must be dated within the retention window and not in the future.' using errcode = 'ANRNG';
  end if;
  perform analytics_private.ensure_month_partition('analytics.ticket_analytics', (record_ticket_activity.occurred_at at time zone 'UTC')::date);
  insert into analytics.ticket_analytics (ticket_id, event_id, user_id, action, quantity, metadata, occurred_at)
  values (record_ticket_activity.ticket_id, record_ticket_activity.event_id, record_ticket_activity.user_id,
          record_ticket_activity.action, record_ticket_activity.quantity, coalesce(record_ticket_activity.metadata, '{}'::jsonb),
          record_ticket_activity.occurred_at)
  returning activity_id into v_id;
  return v_id;
end;
$$;
comment on function analytics_private.record_ticket_activity(uuid, uuid, uuid, text, integer, jsonb, timestamptz) is
  'Records one ticket activity for ticketing''s trusted code, creating its month''s partition if missing (ANRNG outside the retention window or in the future).';

--! split: 5720-analytics-ingestion.sql
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

--! split: 5730-analytics-dashboards.sql
-- Dashboards: daily per-event stats in a materialized view refreshed
-- concurrently every hour (readers are never blocked), read through a
-- security-barrier view that shows an organization its own events only; and
-- per-event audience insights (country, new vs returning) recomputed by a job.

create materialized view analytics.mv_event_daily_stats as
  select i.event_id,
         e.owner_context_id as organization_id,
         (i.occurred_at at time zone 'UTC')::date as day,
         pg_catalog.count(*)::bigint as total_views,
         pg_catalog.count(distinct coalesce(i.user_id::text, i.visitor_id, i.client_id))::bigint as unique_viewers,
         (pg_catalog.count(*) filter (where i.user_id is not null))::bigint as signed_in_views,
         pg_catalog.count(distinct i.country_code)::integer as countries
    from analytics.event_impressions i
    join events.events e on e.event_id = i.event_id
   group by i.event_id, e.owner_context_id, (i.occurred_at at time zone 'UTC')::date;
-- The unique index REFRESH … CONCURRENTLY needs, and the dashboard's lookup.
create unique index mv_event_daily_stats_event_id_day_idx on analytics.mv_event_daily_stats (event_id, day);
create index mv_event_daily_stats_organization_id_day_idx on analytics.mv_event_daily_stats (organization_id, day);
comment on materialized view analytics.mv_event_daily_stats is
  E'@behavior -*\nDaily views per event (UTC days): total, unique viewers, signed-in views, countries. Refreshed concurrently every hour; no request role reads it: analyticsEventDailyStats shows an organization its own rows.';

-- (select …): the claim helper runs once per statement, not once per row.
create view analytics.event_daily_stats with (security_barrier = true) as
  select s.event_id, s.day, s.total_views, s.unique_viewers, s.signed_in_views, s.countries
    from analytics.mv_event_daily_stats s
   where s.organization_id = (select auth.current_org_id());
grant select on analytics.event_daily_stats to gw_user;
comment on view analytics.event_daily_stats is
  E'@primaryKey event_id,day\n@foreignKey (event_id) references events.events (event_id)|@fieldName event|@foreignFieldName dailyStats\nDaily views of the events of the organization you act in (UTC days), from the hourly-refreshed materialized view (up to an hour behind): total views, unique viewers (signed-in user, else visitor id, else beacon id), signed-in views, distinct countries. Filter by eventId and day.';
comment on column analytics.event_daily_stats.event_id is 'The event.';
comment on column analytics.event_daily_stats.day is 'The UTC day.';
comment on column analytics.event_daily_stats.total_views is 'Impressions that day.';
comment on column analytics.event_daily_stats.unique_viewers is 'Distinct viewers that day.';
comment on column analytics.event_daily_stats.signed_in_views is 'Impressions by signed-in users.';
comment on column analytics.event_daily_stats.countries is 'Distinct viewer countries.';

create function analytics_private.refresh_stats() returns void
  language sql
  volatile
  set search_path = ''
as $$
  refresh materialized view concurrently analytics.mv_event_daily_stats
$$;
comment on function analytics_private.refresh_stats() is 'Refreshes analytics.mv_event_daily_stats concurrently (readers keep reading the previous contents). Run hourly by analytics_refresh_stats.';

create table analytics.event_audience_insights (
  event_id uuid not null
    constraint event_audience_insights_event_id_fkey references events.events (event_id) on delete cascade,
  dimension text not null
    constraint event_audience_insights_dimension_check check (dimension in ('country', 'visitor')),
  value text not null,
  viewers bigint not null,
  views bigint not null,
  computed_at timestamptz not null default now(),
  constraint event_audience_insights_pkey primary key (event_id, dimension, value)
);
alter table analytics.event_audience_insights enable row level security;
create policy "organizations acting as themselves see their events' audience"
  on analytics.event_audience_insights for select to gw_user
  using (event_id in (select e.event_id from events.events e where e.owner_context_id = (select auth.current_org_id())));
grant select on analytics.event_audience_insights to gw_user;
comment on table analytics.event_audience_insights is
  E'@behavior -insert -update -delete\nAn event''s audience over the retention window: by country (dimension country, value the ISO code or unknown) and by new vs returning viewers (dimension visitor, value new or returning: returning viewers saw it on two or more UTC days). Recomputed by the worker (hourly for events seen in the last two hours, nightly for all). An organization acting as itself reads its events''.';
comment on column analytics.event_audience_insights.event_id is 'The event.';
comment on column analytics.event_audience_insights.dimension is 'country or visitor.';
comment on column analytics.event_audience_insights.value is 'A country code (or unknown); new or returning.';
comment on column analytics.event_audience_insights.viewers is 'Distinct viewers in this group.';
comment on column analytics.event_audience_insights.views is 'Their impressions.';
comment on column analytics.event_audience_insights.computed_at is 'When it was computed.';

-- Recomputes the insights of the events with impressions since `since` (all events when null); returns how many events.
create function analytics_private.compute_audience_insights(since timestamptz default null) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_events uuid[];
begin
  select coalesce(pg_catalog.array_agg(distinct i.event_id), '{}') into v_events
    from analytics.event_impressions i
   where compute_audience_insights.since is null or i.occurred_at >= compute_audience_insights.since;
  delete from analytics.event_audience_insights a where a.event_id = any(v_events);
  with viewers as (
    select i.event_id, coalesce(i.user_id::text, i.visitor_id, i.client_id) as viewer,
           pg_catalog.count(*) as views,
           pg_catalog.count(distinct (i.occurred_at at time zone 'UTC')::date) as days,
           pg_catalog.max(i.country_code) as country_code
      from analytics.event_impressions i
     where i.event_id = any(v_events)
     group by 1, 2
  )
  insert into analytics.event_audience_insights (event_id, dimension, value, viewers, views)
  select v.event_id, 'country', coalesce(v.country_code, 'unknown'), pg_catalog.count(*), pg_catalog.sum(v.views)
    from viewers v group by 1, 3
  union all
  select v.event_id, 'visitor', case when v.days > 1 then 'returning' else 'new' end, pg_catalog.count(*), pg_catalog.sum(v.views)
    from viewers v group by 1, 3;
  return pg_catalog.cardinality(v_events);
end;
$$;
comment on function analytics_private.compute_audience_insights(timestamptz) is
  'Recomputes analytics.event_audience_insights for the events with impressions since `since` (every event when null), over all their kept impressions; returns how many events. Run by analytics_compute_audience.';

--! split: 5790-analytics-ad-stream.sql
-- The campaigns module's ad impressions on analytics' one ingestion mechanism
-- (issue 22): campaigns.ad_impressions becomes a registered monthly table
-- (partitions in analytics_private, made ahead, on demand and dropped past
-- retention by analytics' jobs) and the stream "ad" of
-- analytics.ingest_impressions, whose visible ids and writer are campaigns'
-- (5610: servable creatives of the caller's organization; counting under the
-- budget and daily cap). In analytics' block only because it must run after
-- analytics' schema exists; its content belongs to campaigns.

insert into analytics_private.partitioned_tables (table_name) values ('campaigns.ad_impressions')
on conflict (table_name) do nothing;
select analytics_private.create_partitions();

insert into analytics_private.ingest_streams (stream, table_name, visible_ids, writer) values
  ('ad', 'campaigns.ad_impressions', 'campaigns_private.servable_creatives(uuid[])', 'campaigns_private.write_ad_impressions(jsonb)')
on conflict (stream) do update
  set table_name = excluded.table_name, visible_ids = excluded.visible_ids, writer = excluded.writer;
