-- Production API support: the rate-limit store shared by every API process,
-- and the figures /metrics reads (job queue depth, outbox lag). Private
-- schema, never exposed; the API's login role (gw_authenticator) calls the
-- two functions directly, outside any request transaction.

drop function if exists ops_private.metrics_snapshot();
drop function if exists ops_private.rate_limit_hit(text[], integer[]);
drop function if exists ops_private.rate_limit_prune(integer);
drop table if exists ops_private.rate_limits;
drop schema if exists ops_private;

create schema ops_private;
comment on schema ops_private is 'Private state of the API processes (rate-limit counters); never exposed to GraphQL.';
revoke all on schema ops_private from public;

-- One row per key (a client IP or user, per class of request): a fixed window
-- and its hit count. A key's row is reused when its window rolls over, so the
-- table holds one row per active client, not one per window.
create table ops_private.rate_limits (
  key text primary key,
  window_start timestamptz not null,
  window_seconds integer not null check (window_seconds > 0),
  hits integer not null check (hits >= 0)
);
alter table ops_private.rate_limits enable row level security;
-- No policies: only the security definer functions below (run as the owner) touch it.
comment on table ops_private.rate_limits is 'Fixed-window request counters per client key, shared by all API processes.';

-- Counts one hit on each key in one statement, each in its own window length,
-- and returns every key's count and the seconds until its window resets.
create function ops_private.rate_limit_hit(keys text[], window_seconds integer[])
  returns table (key text, hits integer, retry_after_seconds integer)
  language sql
  volatile
  security definer
  set search_path = ''
as $$
  insert into ops_private.rate_limits as r (key, window_start, window_seconds, hits)
  select k.key,
         pg_catalog.to_timestamp(pg_catalog.floor(extract(epoch from pg_catalog.now()) / k.seconds) * k.seconds),
         k.seconds,
         1
    from rows from (pg_catalog.unnest(keys), pg_catalog.unnest(window_seconds)) as k(key, seconds)
   order by k.key -- a stable lock order across processes
  on conflict on constraint rate_limits_pkey do update
    set hits = case when r.window_start = excluded.window_start then r.hits + 1 else 1 end,
        window_start = excluded.window_start,
        window_seconds = excluded.window_seconds
  returning r.key, r.hits,
            pg_catalog.ceil(extract(epoch from r.window_start + pg_catalog.make_interval(secs => r.window_seconds) - pg_catalog.now()))::integer;
$$;
comment on function ops_private.rate_limit_hit(text[], integer[]) is
  'Adds one hit to each key''s current fixed window (upsert) and returns the counts. Security definer: the API login role has no rights on the table itself.';

-- Forgets keys whose window ended long ago (called now and then by an API process).
create function ops_private.rate_limit_prune(older_than_seconds integer) returns integer
  language sql
  volatile
  security definer
  set search_path = ''
as $$
  with gone as (
    delete from ops_private.rate_limits r
     where r.window_start + pg_catalog.make_interval(secs => r.window_seconds + older_than_seconds) < pg_catalog.now()
    returning 1
  )
  select pg_catalog.count(*)::integer from gone;
$$;
comment on function ops_private.rate_limit_prune(integer) is
  'Deletes counters whose window ended more than the given seconds ago. Security definer: see rate_limit_hit.';

-- What /metrics exposes about the background work. Security definer: the API
-- login role may not read graphile_worker or the outbox tables.
create function ops_private.metrics_snapshot()
  returns table (
    jobs_ready bigint,
    jobs_scheduled bigint,
    jobs_running bigint,
    jobs_retrying bigint,
    jobs_dead bigint,
    outbox_pending bigint,
    outbox_lag_seconds double precision,
    outbox_dead bigint
  )
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  return query
    with jobs as (
      select pg_catalog.count(*) filter (where j.locked_at is null and j.attempts = 0 and j.run_at <= pg_catalog.now()) as ready,
             pg_catalog.count(*) filter (where j.locked_at is null and j.attempts = 0 and j.run_at > pg_catalog.now()) as scheduled,
             pg_catalog.count(*) filter (where j.locked_at is not null) as running,
             pg_catalog.count(*) filter (where j.locked_at is null and j.attempts > 0 and j.attempts < j.max_attempts) as retrying,
             pg_catalog.count(*) filter (where j.locked_at is null and j.attempts >= j.max_attempts) as dead
        from graphile_worker._private_jobs j
    ), pending as (
      select pg_catalog.count(*) as n, pg_catalog.min(d.created_at) as oldest
        from outbox.dispatches d where d.status = 'pending'
    )
    select jobs.ready, jobs.scheduled, jobs.running, jobs.retrying, jobs.dead,
           pending.n,
           coalesce(extract(epoch from pg_catalog.now() - pending.oldest)::double precision, 0),
           (select pg_catalog.count(*) from outbox.dispatches d where d.status = 'dead')
      from jobs, pending;
end;
$$;
comment on function ops_private.metrics_snapshot() is
  'Job counts by state and outbox backlog for /metrics. Security definer: the API login role has no access to graphile_worker or outbox tables.';

revoke execute on all functions in schema ops_private from public;
grant usage on schema ops_private to gw_authenticator;
grant execute on function ops_private.rate_limit_hit(text[], integer[]) to gw_authenticator;
grant execute on function ops_private.rate_limit_prune(integer) to gw_authenticator;
grant execute on function ops_private.metrics_snapshot() to gw_authenticator;
