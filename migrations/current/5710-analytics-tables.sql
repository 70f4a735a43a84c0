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
