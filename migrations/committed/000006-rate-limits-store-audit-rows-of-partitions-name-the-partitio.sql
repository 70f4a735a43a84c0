--! Previous: sha1:429371757d2710109f7050205f85cce143831b79
--! Hash: sha1:a8fe10c75bf3ea10c27882e9a39942a454599698
--! Message: rate limits store; audit rows of partitions name the partitioned table

--! split: 4700-audit-partition-names.sql
-- Change-log rows of a partitioned table name the table, not the partition.
--
-- A row trigger on a partitioned table is cloned onto every partition (also
-- ones created or attached later), and fires there: TG_TABLE_NAME is the
-- partition's name (finance_private.transactions_y2026m11). enable_tracking
-- now passes a partitioned table's schema and name as two more trigger
-- arguments, which the clones inherit; the trigger logs those when present.
-- Ordinary tables keep three arguments and TG_TABLE_SCHEMA/TG_TABLE_NAME (a
-- renamed table logs its new name), so their rows cost no more than before:
-- no catalog lookup per row either way. Renaming a partitioned table needs
-- enable_tracking again (it replaces the trigger).
-- Re-runnable: create or replace, and enable_tracking replaces the trigger.

create or replace function audit_private.tg__track_changes() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_pk text[] := tg_argv[0]::text[];
  v_owner_column text := nullif(tg_argv[1], '');
  v_excluded text[] := tg_argv[2]::text[];
  v_old jsonb;
  v_new jsonb;
  v_row jsonb;
  v_record_id text;
  v_owner text;
  v_payload jsonb;
  v_role text := nullif(pg_catalog.current_setting('role', true), 'none');
begin
  if tg_op <> 'INSERT' then v_old := pg_catalog.to_jsonb(old) - v_excluded; end if;
  if tg_op <> 'DELETE' then v_new := pg_catalog.to_jsonb(new) - v_excluded; end if;
  if tg_op = 'UPDATE' and v_old = v_new then
    return null; -- nothing visible changed (only left-out columns did)
  end if;
  v_row := coalesce(v_new, v_old);
  if pg_catalog.array_length(v_pk, 1) = 1 then
    v_record_id := v_row ->> v_pk[1];
  else
    select pg_catalog.jsonb_agg(v_row -> k order by o)::text into v_record_id
      from pg_catalog.unnest(v_pk) with ordinality as u(k, o);
  end if;
  if v_owner_column is not null then
    v_owner := coalesce(v_new ->> v_owner_column, v_old ->> v_owner_column);
  end if;
  v_payload := case tg_op
    when 'INSERT' then pg_catalog.jsonb_build_object('new', v_new)
    when 'DELETE' then pg_catalog.jsonb_build_object('old', v_old)
    else pg_catalog.jsonb_build_object('old', v_old, 'new', v_new)
  end;
  insert into audit.change_log (schema_name, table_name, record_id, action, changed_by, payload, owner_id)
  values (
    -- A partition's trigger carries its partitioned table's names (arguments 4 and 5;
    -- out of range, tg_argv is null: ordinary tables use their own names).
    coalesce(tg_argv[3], tg_table_schema), coalesce(tg_argv[4], tg_table_name),
    v_record_id, pg_catalog.lower(tg_op),
    -- The token's sub when uid() is already null because this very change revoked the session (logout).
    coalesce(auth.uid()::text, auth.jwt() ->> 'sub', v_role, session_user::text), v_payload, v_owner::uuid);
  return null;
end;
$$;
comment on function audit_private.tg__track_changes() is
  'Writes one change-log row per changed record. Arguments: primary key columns, owner column, excluded columns, and for a partitioned table its schema and name (so rows written through a partition name the partitioned table). Security definer: writers need no privilege on the log.';

create or replace function audit.enable_tracking(
  table_name regclass,
  owner_column text default null,
  excluded_columns text[] default '{}'
) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_pk text[];
  v_schema text;
  v_name text;
  v_partitioned boolean;
begin
  select pg_catalog.array_agg(a.attname::text order by k.ordinality) into v_pk
    from pg_catalog.pg_constraint c
    cross join lateral pg_catalog.unnest(c.conkey) with ordinality as k(attnum, ordinality)
    join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
   where c.conrelid = enable_tracking.table_name and c.contype = 'p';
  if v_pk is null then
    raise exception 'Table % has no primary key: audit entries could not name the record.', enable_tracking.table_name
      using errcode = 'NOPKY';
  end if;
  if owner_column is not null and not exists (
    select 1 from pg_catalog.pg_attribute a
     where a.attrelid = enable_tracking.table_name and a.attname = owner_column and not a.attisdropped
  ) then
    raise exception 'Table % has no column %.', enable_tracking.table_name, owner_column using errcode = 'BADIN';
  end if;
  select n.nspname, c.relname, c.relkind = 'p' into v_schema, v_name, v_partitioned
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where c.oid = enable_tracking.table_name;
  execute pg_catalog.format('drop trigger if exists _900_audit on %s', enable_tracking.table_name);
  if v_partitioned then
    -- Cloned onto every partition with these arguments: the partitions' rows name this table.
    execute pg_catalog.format(
      'create trigger _900_audit after insert or update or delete on %s for each row execute function audit_private.tg__track_changes(%L, %L, %L, %L, %L)',
      enable_tracking.table_name, v_pk::text, coalesce(owner_column, ''), coalesce(excluded_columns, '{}')::text, v_schema, v_name);
  else
    execute pg_catalog.format(
      'create trigger _900_audit after insert or update or delete on %s for each row execute function audit_private.tg__track_changes(%L, %L, %L)',
      enable_tracking.table_name, v_pk::text, coalesce(owner_column, ''), coalesce(excluded_columns, '{}')::text);
  end if;
end;
$$;
comment on function audit.enable_tracking(regclass, text, text[]) is
  E'@behavior -mutationField\nStarts writing every insert, update and delete of the table to audit.change_log. ownerColumn names the user a record belongs to (who may then read its entries); excludedColumns never reach the log (secrets). On a partitioned table the entries of every partition name the partitioned table (re-run it after renaming one). Idempotent (re-running applies new options); refuses a table without a primary key (NOPKY). For migrations.';
revoke execute on function audit.enable_tracking(regclass, text, text[]) from public;

-- The one partitioned table tracked so far (4500-capstone-audit.sql): re-created with its names.
select audit.enable_tracking('finance.transactions');

--! split: 5000-rate-limits.sql
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
