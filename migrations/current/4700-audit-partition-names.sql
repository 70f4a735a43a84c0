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
