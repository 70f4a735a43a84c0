--! Previous: sha1:5ac4e29d1308bf224a5a9d6b868a6b6e4e61d2fd
--! Hash: sha1:f37a62f6271931ee5482209def5100e4c5ec2631
--! Message: metrics job counts summed from ops.queue_depth

--! split: 5200-metrics-from-queue-depth.sql
-- /metrics counted jobs by state with its own copy of ops.queue_depth()'s
-- state rules; it now sums ops.queue_depth(), so the states that operators see
-- in GraphQL and the ones Prometheus scrapes are defined once. (The API login
-- role reaches it through this security definer function; queue_depth's
-- operator check trusts a connection that has not SET ROLE.)
create or replace function ops_private.metrics_snapshot()
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
      select coalesce(pg_catalog.sum(q.ready), 0)::bigint as ready,
             coalesce(pg_catalog.sum(q.scheduled), 0)::bigint as scheduled,
             coalesce(pg_catalog.sum(q.running), 0)::bigint as running,
             coalesce(pg_catalog.sum(q.retrying), 0)::bigint as retrying,
             coalesce(pg_catalog.sum(q.dead), 0)::bigint as dead
        from ops.queue_depth() q
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
  'Job counts by state (summed from ops.queue_depth()) and outbox backlog for /metrics. Security definer: the API login role has no access to graphile_worker or outbox tables.';
