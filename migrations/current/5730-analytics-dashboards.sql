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
