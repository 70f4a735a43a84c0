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
