--! Previous: sha1:9719d5777ec30f845bc6c4f008f45b0721b32c7b
--! Hash: sha1:8fdcc1b3f341e8ba6195b9904b3522cce2ef5eb9
--! Message: platform primitives: registry, audit chain, activity, outbox and webhooks, notifications, inbox, operator console

--! split: 1900-operator-check.sql
-- One check for every operator-only function of the platform schemas.

drop function if exists auth_private.assert_operator() cascade;

create function auth_private.assert_operator() returns void
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  -- API requests always SET ROLE; their token's gw_admin must still be granted
  -- (auth.user_roles), so a withdrawn grant stops working before the token
  -- expires. Direct connections (owner, superuser: maintenance, tests) passed
  -- the execute grant and are trusted as such.
  if pg_catalog.current_setting('role', true) is distinct from 'none' and not auth.has_role('gw_admin') then
    raise exception 'Operators only: your gw_admin grant is missing or withdrawn.' using errcode = 'DNIED';
  end if;
end;
$$;
comment on function auth_private.assert_operator() is
  'Raises DNIED unless the caller currently holds gw_admin (API requests) or is a direct owner/superuser connection.';

--! split: 2000-registry.sql
-- Type registry: extensible domain types (statuses, event types, transaction
-- kinds, categories) instead of hard-coded enums. A domain table refers to a
-- type through a real foreign key, so adding a status is an insert, and an
-- unknown or retired code is refused by the database itself.

drop schema if exists registry_private cascade;
drop schema if exists registry cascade;

create schema registry;
comment on schema registry is
  'Extensible domain types (namespace + code) that domain tables reference by foreign key. Readable by everyone signed in; written by operators.';
grant usage on schema registry to gw_user;

create schema registry_private;
comment on schema registry_private is 'Trigger functions of the type registry; never exposed.';
revoke all on schema registry_private from public;

create table registry.types (
  namespace text not null
    constraint types_namespace_check check (namespace ~ '^[a-z][a-z0-9_.]{0,62}$'),
  code text not null
    constraint types_code_check check (code ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  label text not null
    constraint types_label_check check (char_length(label) between 1 and 200),
  description text
    constraint types_description_check check (char_length(description) <= 2000),
  metadata jsonb not null default '{}'::jsonb
    constraint types_metadata_check check (jsonb_typeof(metadata) = 'object'),
  is_active boolean not null default true,
  sort_order integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint types_pkey primary key (namespace, code)
);
alter table registry.types enable row level security;

create policy "signed-in users read every type"
  on registry.types for select to gw_user
  using (true);
create policy "operators add types"
  on registry.types for insert to gw_admin
  with check ((select auth.has_role('gw_admin')));
create policy "operators change types"
  on registry.types for update to gw_admin
  using ((select auth.has_role('gw_admin'))) with check ((select auth.has_role('gw_admin')));
create policy "operators delete unused types"
  on registry.types for delete to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on registry.types to gw_user;
grant insert (namespace, code, label, description, metadata, is_active, sort_order) on registry.types to gw_admin;
-- namespace and code are the key other tables point at: retire (is_active) instead of renaming.
grant update (label, description, metadata, is_active, sort_order) on registry.types to gw_admin;
grant delete on registry.types to gw_admin;

comment on table registry.types is
  E'A domain type: a code within a namespace (for example order_status/placed). Tables reference (namespace, code) with a foreign key, so only registered codes are accepted; a retired type (isActive false) is refused for new values and kept for old ones. Operators (gw_admin) add and retire types; deleting one that is in use fails (23503).';
comment on column registry.types.namespace is 'What kind of type this is, e.g. order_status or outbox_topic: lowercase, digits, _ and .';
comment on column registry.types.code is 'The value stored in domain tables, unique within the namespace.';
comment on column registry.types.label is 'Human-readable name, 1 to 200 characters.';
comment on column registry.types.description is 'What the type means and when to use it.';
comment on column registry.types.metadata is 'Free-form attributes (a JSON object): colours, flags, mappings to external systems.';
comment on column registry.types.is_active is 'False once retired: new rows may no longer use the code; existing rows keep it.';
comment on column registry.types.sort_order is 'Display order within the namespace (ascending).';
comment on column registry.types.created_at is 'When the type was registered.';
comment on column registry.types.updated_at is 'When the type last changed.';

create function registry_private.tg_types__touch() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;
comment on function registry_private.tg_types__touch() is 'Keeps registry.types.updated_at current.';

create trigger _100_touch
  before update on registry.types
  for each row execute function registry_private.tg_types__touch();

-- Rows referencing a type are checked by their foreign key for existence and
-- by this trigger for being active. Both run in the database, whoever writes.
create function registry_private.tg__assert_active_type() returns trigger
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
declare
  v_namespace text := tg_argv[0];
  v_column text := tg_argv[1];
  v_code text := pg_catalog.to_jsonb(new) ->> v_column;
  v_old_code text;
begin
  if v_code is null then
    return new;
  end if;
  if tg_op = 'UPDATE' then
    v_old_code := pg_catalog.to_jsonb(old) ->> v_column;
    if v_old_code is not distinct from v_code then
      return new; -- unchanged: a row keeps a type that was retired after it was written
    end if;
  end if;
  if not exists (
    select 1 from registry.types t
     where t.namespace = v_namespace and t.code = v_code and t.is_active
  ) then
    raise exception '% is not an active % type.', v_code, v_namespace
      using errcode = 'RTYPE',
            detail = pg_catalog.format('table %s, column %s', tg_table_schema || '.' || tg_table_name, v_column);
  end if;
  return new;
end;
$$;
comment on function registry_private.tg__assert_active_type() is
  'Refuses a retired type code on insert or when the code changes. Security definer so the check sees every type whatever the writer may read.';

create function registry.add_type_column(
  table_name regclass,
  column_name text,
  namespace text,
  not_null boolean default true,
  default_code text default null
) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_schema text;
  v_table text;
  v_ns_column text := add_type_column.column_name || '_namespace';
  v_constraint text;
begin
  if add_type_column.namespace !~ '^[a-z][a-z0-9_.]{0,62}$' then
    raise exception 'Bad namespace %.', add_type_column.namespace using errcode = 'BADIN';
  end if;
  select n.nspname, c.relname into v_schema, v_table
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where c.oid = add_type_column.table_name;
  v_constraint := pg_catalog.left(v_table || '_' || add_type_column.column_name || '_type_fkey', 63);

  execute pg_catalog.format('alter table %s add column if not exists %I text%s%s',
    add_type_column.table_name, add_type_column.column_name,
    case when add_type_column.default_code is not null
         then pg_catalog.format(' default %L', add_type_column.default_code) else '' end,
    case when add_type_column.not_null then ' not null' else '' end);
  execute pg_catalog.format(
    'alter table %s add column if not exists %I text generated always as (%L) stored',
    add_type_column.table_name, v_ns_column, add_type_column.namespace);
  if not exists (
    select 1 from pg_catalog.pg_constraint
     where conrelid = add_type_column.table_name and conname = v_constraint
  ) then
    execute pg_catalog.format(
      'alter table %s add constraint %I foreign key (%I, %I) references registry.types (namespace, code) on update restrict on delete restrict',
      add_type_column.table_name, v_constraint, v_ns_column, add_type_column.column_name);
  end if;
  execute pg_catalog.format('create index if not exists %I on %s (%I, %I)',
    pg_catalog.left(v_table || '_' || add_type_column.column_name || '_type_idx', 63),
    add_type_column.table_name, v_ns_column, add_type_column.column_name);
  execute pg_catalog.format('drop trigger if exists %I on %s',
    pg_catalog.left('_050_active_' || add_type_column.column_name, 63), add_type_column.table_name);
  execute pg_catalog.format(
    'create trigger %I before insert or update of %I on %s for each row execute function registry_private.tg__assert_active_type(%L, %L)',
    pg_catalog.left('_050_active_' || add_type_column.column_name, 63), add_type_column.column_name,
    add_type_column.table_name, add_type_column.namespace, add_type_column.column_name);
  execute pg_catalog.format('comment on column %s.%I is %L',
    add_type_column.table_name, v_ns_column,
    '@behavior -insert -update -filterBy -orderBy' || chr(10) || 'Always ' || add_type_column.namespace
      || ': the registry namespace the ' || add_type_column.column_name || ' code belongs to (for the foreign key).');
end;
$$;
comment on function registry.add_type_column(regclass, text, text, boolean, text) is
  E'@behavior -mutationField\nAdds a column holding a code of one registry namespace, with a stored generated namespace column, a foreign key to registry.types, an index and an active-type check. Idempotent; for migrations (runs as the table owner).';
revoke execute on function registry.add_type_column(regclass, text, text, boolean, text) from public;

--! split: 2100-audit.sql
-- Tamper-evident audit log. Tracked tables write one row per changed record
-- into audit.change_log (append-only). A worker job seals committed rows in
-- order into a SHA-256 hash chain, so writers never queue on a shared lock;
-- audit.verify_chain() recomputes the chain and names the first broken row.

drop schema if exists audit_private cascade;
drop schema if exists audit cascade;

create schema audit;
comment on schema audit is
  'Change log of tracked tables (hash-chained, append-only) and user-facing activity history.';
grant usage on schema audit to gw_user;

create schema audit_private;
comment on schema audit_private is 'Trigger functions and the sealing machinery of the audit log; never exposed.';
revoke all on schema audit_private from public;

--------------------------------------------------------------------------------
-- audit.change_log

create table audit.change_log (
  audit_id bigint generated always as identity primary key,
  schema_name text not null,
  table_name text not null,
  record_id text not null,
  action text not null
    constraint change_log_action_check check (action in ('insert', 'update', 'delete')),
  changed_by text not null,
  changed_at timestamptz not null default clock_timestamp(),
  payload jsonb not null,
  -- bigint rather than xid8, which GraphQL has no type for; 64-bit, never wraps.
  txid bigint not null default (pg_current_xact_id()::text::bigint),
  owner_id uuid,
  -- Written once by the sealer: position in the chain, previous hash, own hash.
  chain_seq bigint
    constraint change_log_chain_seq_key unique,
  prev_hash bytea,
  hash bytea,
  sealed_at timestamptz,
  -- The payload matches the action: inserts have only new, deletes only old.
  constraint change_log_payload_check check (
    case action
      when 'insert' then payload ? 'new' and not payload ? 'old'
      when 'update' then payload ? 'new' and payload ? 'old'
      else payload ? 'old' and not payload ? 'new'
    end
  ),
  constraint change_log_seal_check check (
    (chain_seq is null and hash is null and sealed_at is null)
    or (chain_seq is not null and hash is not null and sealed_at is not null
        and (prev_hash is not null or chain_seq = 1))
  )
);
alter table audit.change_log enable row level security;

create index change_log_changed_at_brin on audit.change_log using brin (changed_at);
create index change_log_record_idx on audit.change_log (schema_name, table_name, record_id);
create index change_log_owner_id_idx on audit.change_log (owner_id) where owner_id is not null;
-- The sealer's work list: small, because sealed rows leave it.
create index change_log_unsealed_idx on audit.change_log (audit_id) where chain_seq is null;

create policy "operators read the whole change log"
  on audit.change_log for select to gw_admin
  using ((select auth.has_role('gw_admin')));
create policy "users read the changes of records they own"
  on audit.change_log for select to gw_user
  using (owner_id = (select auth.uid()));

grant select on audit.change_log to gw_user;
-- Nobody but the tracking trigger (security definer, as the owner) inserts;
-- nobody at all updates content, deletes or truncates.
revoke insert, update, delete, truncate on audit.change_log from public, gw_user, gw_admin;

comment on table audit.change_log is
  E'@behavior -insert -update -delete\nEvery insert, update and delete on a tracked table, append-only and sealed into a SHA-256 hash chain by the worker within about a minute. Operators read it all; a user reads the changes of records they own (their user row, memberships, sessions).';
comment on column audit.change_log.audit_id is 'Order of writing.';
comment on column audit.change_log.schema_name is 'Schema of the changed table.';
comment on column audit.change_log.table_name is 'Name of the changed table.';
comment on column audit.change_log.record_id is 'The changed row''s primary key: the value, or a JSON array of values for a composite key.';
comment on column audit.change_log.action is 'insert, update or delete.';
comment on column audit.change_log.changed_by is 'The signed-in user (auth.uid()) who made the change, or the database role for system work.';
comment on column audit.change_log.changed_at is 'When the row was changed (clock time of the statement).';
comment on column audit.change_log.payload is 'The row before (old) and after (new) the change; secret columns are left out.';
comment on column audit.change_log.txid is 'The writing transaction''s id; rows of one transaction share it.';
comment on column audit.change_log.owner_id is 'The user the changed record belongs to, if the table names one; that user may read this entry.';
comment on column audit.change_log.chain_seq is 'Position in the hash chain (null until sealed). Chain order is sealing order: rows of a long transaction can come after later audit ids.';
comment on column audit.change_log.prev_hash is 'Hash of the row before this one in the chain.';
comment on column audit.change_log.hash is 'sha256(prev_hash || canonical text of this row); see audit.verify_chain.';
comment on column audit.change_log.sealed_at is 'When the row was sealed into the chain.';

-- Content is immutable; the seal columns are written exactly once, by the sealer.
create function audit_private.tg_change_log__append_only() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if tg_op = 'UPDATE'
     and old.chain_seq is null
     and new.chain_seq is not null
     and pg_catalog.current_setting('audit.sealing', true) = 'on'
     and (old.audit_id, old.schema_name, old.table_name, old.record_id, old.action, old.changed_by,
          old.changed_at, old.payload, old.txid, old.owner_id)
         is not distinct from
         (new.audit_id, new.schema_name, new.table_name, new.record_id, new.action, new.changed_by,
          new.changed_at, new.payload, new.txid, new.owner_id)
  then
    return new;
  end if;
  raise exception 'audit.change_log is append-only: % is not allowed.', pg_catalog.lower(tg_op)
    using errcode = 'AUDRO';
end;
$$;
comment on function audit_private.tg_change_log__append_only() is
  'Refuses UPDATE, DELETE and TRUNCATE of the change log, except the one-time seal written by audit_private.seal().';

create trigger _010_append_only
  before update or delete on audit.change_log
  for each row execute function audit_private.tg_change_log__append_only();
create trigger _011_no_truncate
  before truncate on audit.change_log
  for each statement execute function audit_private.tg_change_log__append_only();

--------------------------------------------------------------------------------
-- Hashing and sealing

create function audit_private.row_hash(prev_hash bytea, entry audit.change_log) returns bytea
  language sql
  immutable
  parallel safe
  set search_path = ''
as $$
  select pg_catalog.sha256(
    coalesce(prev_hash, ''::bytea)
    || pg_catalog.convert_to(
      pg_catalog.concat_ws(e'\x1f',
        entry.audit_id::text, entry.chain_seq::text, entry.schema_name, entry.table_name, entry.record_id,
        entry.action, entry.changed_by,
        -- Independent of the session's TimeZone and DateStyle.
        pg_catalog.to_char(entry.changed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        entry.payload::text, entry.txid::text, coalesce(entry.owner_id::text, '')),
      'UTF8')
  )
$$;
comment on function audit_private.row_hash(bytea, audit.change_log) is
  'The chain hash of one entry: sha256 of the previous hash followed by the entry''s fields, unit-separated, timestamps in UTC. jsonb text is canonical, so the same row always hashes the same.';

-- Seals, in audit_id order, every row whose transaction finished before the
-- oldest transaction still running. Rows of a transaction still in flight wait
-- for a later run; nothing a writer does waits for the sealer.
create function audit_private.seal(max_rows integer default 10000) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_horizon bigint := pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text::bigint;
  v_last audit.change_log;
  v_seq bigint;
  v_prev bytea;
  v_row audit.change_log;
  v_count integer := 0;
begin
  -- One sealer at a time; a second one simply finds nothing to do later.
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('audit_private.seal')) then
    return 0;
  end if;
  perform pg_catalog.set_config('audit.sealing', 'on', true);

  select * into v_last from audit.change_log c where c.chain_seq is not null order by c.chain_seq desc limit 1;
  v_seq := coalesce(v_last.chain_seq, 0);
  v_prev := v_last.hash;

  for v_row in
    select * from audit.change_log c
     where c.chain_seq is null and c.txid < v_horizon
     order by c.audit_id
     limit max_rows
  loop
    v_seq := v_seq + 1;
    v_row.chain_seq := v_seq;
    v_row.prev_hash := v_prev;
    v_prev := audit_private.row_hash(v_prev, v_row);
    update audit.change_log c
       set chain_seq = v_seq, prev_hash = v_row.prev_hash, hash = v_prev, sealed_at = pg_catalog.now()
     where c.audit_id = v_row.audit_id;
    v_count := v_count + 1;
  end loop;

  perform pg_catalog.set_config('audit.sealing', 'off', true);
  return v_count;
end;
$$;
comment on function audit_private.seal(integer) is
  'Appends committed, unsealed change-log rows to the hash chain (worker job audit_seal). Returns how many it sealed.';

create type audit.chain_break as (
  audit_id bigint,
  chain_seq bigint,
  problem text
);
comment on type audit.chain_break is 'Where the hash chain first breaks, and how.';
comment on column audit.chain_break.audit_id is 'The first entry that does not verify.';
comment on column audit.chain_break.chain_seq is 'Its position in the chain.';
comment on column audit.chain_break.problem is 'hash mismatch (content changed), prev_hash mismatch (chain relinked) or missing entry (a row was removed).';

create function audit.verify_chain(from_seq bigint default 1, to_seq bigint default null)
  returns setof audit.chain_break
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
declare
  v_row audit.change_log;
  v_prev bytea;
  v_expected_seq bigint := greatest(coalesce(from_seq, 1), 1);
begin
  perform auth_private.assert_operator();
  if v_expected_seq > 1 then
    select c.hash into v_prev from audit.change_log c where c.chain_seq = v_expected_seq - 1;
    if not found then
      return query select null::bigint, v_expected_seq - 1, 'missing entry'::text;
      return;
    end if;
  end if;
  for v_row in
    select * from audit.change_log c
     where c.chain_seq >= v_expected_seq and (to_seq is null or c.chain_seq <= to_seq)
     order by c.chain_seq
  loop
    if v_row.chain_seq <> v_expected_seq then
      return query select v_row.audit_id, v_expected_seq, 'missing entry'::text;
      return;
    end if;
    if v_row.prev_hash is distinct from v_prev then
      return query select v_row.audit_id, v_row.chain_seq, 'prev_hash mismatch'::text;
      return;
    end if;
    if v_row.hash is distinct from audit_private.row_hash(v_prev, v_row) then
      return query select v_row.audit_id, v_row.chain_seq, 'hash mismatch'::text;
      return;
    end if;
    v_prev := v_row.hash;
    v_expected_seq := v_expected_seq + 1;
  end loop;
end;
$$;
comment on function audit.verify_chain(bigint, bigint) is
  E'Recomputes the hash chain from position fromSeq (default 1) to toSeq (default: the end) and returns the first entry that does not verify, or nothing when the chain is intact. Operators only. Security definer so it reads every entry, not only the rows RLS shows the caller.';
grant execute on function audit.verify_chain(bigint, bigint) to gw_admin;

--------------------------------------------------------------------------------
-- Tracking

-- Generic row trigger. Arguments: primary key columns (a text array literal),
-- the owner column ('' for none), columns to leave out of the payload.
create function audit_private.tg__track_changes() returns trigger
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
  values (tg_table_schema, tg_table_name, v_record_id, pg_catalog.lower(tg_op),
          -- The token's sub when uid() is already null because this very change revoked the session (logout).
          coalesce(auth.uid()::text, auth.jwt() ->> 'sub', v_role, session_user::text), v_payload, v_owner::uuid);
  return null;
end;
$$;
comment on function audit_private.tg__track_changes() is
  'Writes one change-log row per changed record. Security definer: writers need no privilege on the log.';

create function audit.enable_tracking(
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
  execute pg_catalog.format('drop trigger if exists _900_audit on %s', enable_tracking.table_name);
  execute pg_catalog.format(
    'create trigger _900_audit after insert or update or delete on %s for each row execute function audit_private.tg__track_changes(%L, %L, %L)',
    enable_tracking.table_name, v_pk::text, coalesce(owner_column, ''), coalesce(excluded_columns, '{}')::text);
end;
$$;
comment on function audit.enable_tracking(regclass, text, text[]) is
  E'@behavior -mutationField\nStarts writing every insert, update and delete of the table to audit.change_log. ownerColumn names the user a record belongs to (who may then read its entries); excludedColumns never reach the log (secrets). Idempotent (re-running applies new options); refuses a table without a primary key (NOPKY). For migrations.';

create function audit.disable_tracking(table_name regclass) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  execute pg_catalog.format('drop trigger if exists _900_audit on %s', disable_tracking.table_name);
end;
$$;
comment on function audit.disable_tracking(regclass) is
  E'@behavior -mutationField\nStops tracking the table; its past entries stay. Idempotent. For migrations.';

create function audit.is_tracked(table_name regclass) returns boolean
  language sql
  stable
  set search_path = ''
as $$
  select exists (
    select 1 from pg_catalog.pg_trigger t
     where t.tgrelid = is_tracked.table_name and t.tgname = '_900_audit' and not t.tgisinternal
  )
$$;
comment on function audit.is_tracked(regclass) is
  E'@behavior -queryField\nWhether the table writes to the change log.';

revoke execute on function audit.enable_tracking(regclass, text, text[]) from public;
revoke execute on function audit.disable_tracking(regclass) from public;
revoke execute on function audit.is_tracked(regclass) from public;

--------------------------------------------------------------------------------
-- Activity: user-facing history, written by domain functions.

create table audit.activity (
  activity_id bigint generated always as identity primary key,
  actor_id uuid references auth.users (user_id) on delete set null,
  verb text not null
    constraint activity_verb_check check (verb ~ '^[a-z][a-z0-9_.]{0,62}$'),
  object_type text not null
    constraint activity_object_type_check check (char_length(object_type) between 1 and 63),
  object_id text,
  subject_id uuid references auth.users (user_id) on delete set null,
  organization_id uuid references auth.organizations (organization_id) on delete cascade,
  summary text not null
    constraint activity_summary_check check (char_length(summary) between 1 and 500),
  context jsonb not null default '{}'::jsonb
    constraint activity_context_check check (jsonb_typeof(context) = 'object' and pg_column_size(context) <= 8192),
  created_at timestamptz not null default now()
);
alter table audit.activity enable row level security;

create index activity_actor_id_idx on audit.activity (actor_id, created_at desc);
create index activity_subject_id_idx on audit.activity (subject_id, created_at desc);
create index activity_organization_id_idx on audit.activity (organization_id, created_at desc);

create policy "users read what they did, what was done to them and their organizations' history"
  on audit.activity for select to gw_user
  using (
    actor_id = (select auth.uid())
    or subject_id = (select auth.uid())
    or organization_id = any (array(select auth.current_user_organization_ids()))
  );
create policy "operators read all activity"
  on audit.activity for select to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on audit.activity to gw_user;

comment on table audit.activity is
  E'@behavior -insert -update -delete\nWho did what to which object, in which organization, when ("Alice added Bob to Acme"). You read what you did, what was done to you, and the history of your organizations.';
comment on column audit.activity.activity_id is 'Order of recording.';
comment on column audit.activity.actor_id is 'Who did it (null for the system).';
comment on column audit.activity.verb is 'What happened, e.g. member.added.';
comment on column audit.activity.object_type is 'The kind of object acted on, e.g. membership.';
comment on column audit.activity.object_id is 'The object''s id.';
comment on column audit.activity.subject_id is 'The user it was done to, if any (they may read it too).';
comment on column audit.activity.organization_id is 'The organization it happened in, if any.';
comment on column audit.activity.summary is 'One readable sentence.';
comment on column audit.activity.context is 'A small JSON object of details (at most 8 kB).';
comment on column audit.activity.created_at is 'When it happened.';

create function audit.record_activity(
  verb text,
  object_type text,
  object_id text,
  summary text,
  organization_id uuid default null,
  subject_id uuid default null,
  context jsonb default '{}'::jsonb
) returns bigint
  language sql
  volatile
  security definer
  set search_path = ''
as $$
  insert into audit.activity (actor_id, verb, object_type, object_id, subject_id, organization_id, summary, context)
  values (auth.uid(), record_activity.verb, record_activity.object_type, record_activity.object_id,
          record_activity.subject_id, record_activity.organization_id, record_activity.summary,
          coalesce(record_activity.context, '{}'::jsonb))
  returning activity_id
$$;
comment on function audit.record_activity(text, text, text, text, uuid, uuid, jsonb) is
  E'@behavior -mutationField\nRecords an activity entry with the caller as actor. For domain functions (not granted to API roles): security definer because activity has no insert grant.';
revoke execute on function audit.record_activity(text, text, text, text, uuid, uuid, jsonb) from public;

--! split: 2300-outbox.sql
-- Transactional outbox and webhooks. outbox.publish() writes an event in the
-- caller's transaction; a statement trigger fans it out to the organization's
-- matching webhook subscriptions (one dispatch each) and enqueues one
-- graphile-worker job per delivery stream. A stream is a subscription plus an
-- aggregate: its dispatches are delivered strictly in order, one at a time
-- (the stream is the job's queue and key), so per-aggregate order survives
-- retries. A rolled-back transaction leaves no event, no dispatch and no job.

drop schema if exists outbox_private cascade;
drop schema if exists outbox cascade;

create schema outbox;
comment on schema outbox is
  'Domain events (transactional outbox), webhook subscriptions, their deliveries and dead letters, and per-user notifications.';
grant usage on schema outbox to gw_user;

create schema outbox_private;
comment on schema outbox_private is 'Fan-out and delivery bookkeeping used by triggers and the worker; never exposed.';
revoke all on schema outbox_private from public;

--------------------------------------------------------------------------------
-- Topics are registry types: publishing an unknown topic fails.

insert into registry.types (namespace, code, label, description, sort_order) values
  ('outbox_topic', 'user.registered', 'User registered', 'A new user signed up. Payload: userId, username.', 10),
  ('outbox_topic', 'member.added', 'Member added', 'A user joined an organization. Payload: organizationId, userId, role, addedBy.', 20),
  ('outbox_topic', 'member.removed', 'Member removed', 'A user left or was removed from an organization. Payload: organizationId, userId, role, removedBy.', 30),
  ('outbox_topic', 'webhook.test', 'Webhook test', 'Sent by sendTestWebhook to check an endpoint. Payload: subscriptionId.', 90)
on conflict (namespace, code) do nothing;

--------------------------------------------------------------------------------
-- outbox.events

create table outbox.events (
  event_id bigint generated always as identity primary key,
  payload jsonb not null
    constraint events_payload_check check (pg_column_size(payload) <= 262144),
  aggregate_type text
    constraint events_aggregate_type_check check (char_length(aggregate_type) between 1 and 63),
  aggregate_id text
    constraint events_aggregate_id_check check (char_length(aggregate_id) between 1 and 200),
  organization_id uuid references auth.organizations (organization_id) on delete set null,
  actor_id uuid references auth.users (user_id) on delete set null,
  created_at timestamptz not null default now(),
  constraint events_aggregate_check check ((aggregate_type is null) = (aggregate_id is null))
);
alter table outbox.events enable row level security;
select registry.add_type_column('outbox.events', 'topic', 'outbox_topic');

create index events_organization_id_idx on outbox.events (organization_id, event_id);
create index events_actor_id_idx on outbox.events (actor_id);
create index events_aggregate_idx on outbox.events (aggregate_type, aggregate_id, event_id);
create index events_created_at_brin on outbox.events using brin (created_at);

create policy "operators read every event"
  on outbox.events for select to gw_admin
  using ((select auth.has_role('gw_admin')));
create policy "organization owners and admins read their organization's events"
  on outbox.events for select to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())));

grant select on outbox.events to gw_user;

comment on table outbox.events is
  E'@behavior -insert -update -delete\nA domain event, written by outbox.publish in the same transaction as the change it reports (so a rolled-back change publishes nothing). Delivered to the organization''s matching webhook subscriptions. Operators read all events; owners and admins read their organization''s.';
comment on column outbox.events.event_id is 'The event''s id; also the X-Groundwork-Event-Id (idempotency key) of its webhook deliveries.';
comment on column outbox.events.topic is 'What happened: a code of the registry namespace outbox_topic, e.g. member.added.';
comment on column outbox.events.payload is 'The event''s data (a JSON value, at most 256 kB).';
comment on column outbox.events.aggregate_type is 'The kind of entity the event is about (deliveries per entity keep their order).';
comment on column outbox.events.aggregate_id is 'The id of that entity.';
comment on column outbox.events.organization_id is 'The organization the event belongs to; its webhook subscriptions receive it.';
comment on column outbox.events.actor_id is 'The signed-in user whose change produced the event, if any.';
comment on column outbox.events.created_at is 'When the event was published (transaction time).';

--------------------------------------------------------------------------------
-- outbox.webhook_subscriptions

create table outbox.webhook_subscriptions (
  subscription_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references auth.organizations (organization_id) on delete cascade,
  url text not null
    constraint webhook_subscriptions_url_check check (url ~ '^https?://[^\s/?#]+[^\s]*$' and char_length(url) <= 2000),
  secret text not null default encode(public.gen_random_bytes(32), 'hex')
    constraint webhook_subscriptions_secret_check check (char_length(secret) between 16 and 200),
  topics text[] not null default '{*}'
    constraint webhook_subscriptions_topics_check check (cardinality(topics) between 1 and 100 and array_position(topics, null) is null),
  is_active boolean not null default true,
  description text
    constraint webhook_subscriptions_description_check check (char_length(description) <= 500),
  created_by uuid default auth.uid() references auth.users (user_id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table outbox.webhook_subscriptions enable row level security;

create index webhook_subscriptions_organization_id_idx on outbox.webhook_subscriptions (organization_id) where is_active;
create index webhook_subscriptions_created_by_idx on outbox.webhook_subscriptions (created_by);

create policy "owners and admins see their organization's webhooks"
  on outbox.webhook_subscriptions for select to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())));
create policy "owners and admins add webhooks to their organization"
  on outbox.webhook_subscriptions for insert to gw_user
  with check (organization_id = any (array(select auth.current_user_admin_organization_ids())));
create policy "owners and admins change their organization's webhooks"
  on outbox.webhook_subscriptions for update to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())))
  with check (organization_id = any (array(select auth.current_user_admin_organization_ids())));
create policy "owners and admins delete their organization's webhooks"
  on outbox.webhook_subscriptions for delete to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())));
create policy "operators see every webhook"
  on outbox.webhook_subscriptions for select to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on outbox.webhook_subscriptions to gw_user;
grant insert (organization_id, url, topics, is_active, description) on outbox.webhook_subscriptions to gw_user;
grant update (url, topics, is_active, description) on outbox.webhook_subscriptions to gw_user;
grant delete on outbox.webhook_subscriptions to gw_user;

comment on table outbox.webhook_subscriptions is
  'An HTTP(S) endpoint that receives an organization''s events whose topic is listed (* for all), signed with the subscription''s secret. Managed by the organization''s owners and admins.';
comment on column outbox.webhook_subscriptions.subscription_id is 'The subscription''s id.';
comment on column outbox.webhook_subscriptions.organization_id is 'Whose events it receives.';
comment on column outbox.webhook_subscriptions.url is 'Where events are POSTed (http or https URL, at most 2000 characters).';
comment on column outbox.webhook_subscriptions.secret is 'HMAC-SHA256 key of the X-Groundwork-Signature header (generated; see outboxRotateWebhookSecret).';
comment on column outbox.webhook_subscriptions.topics is 'Topics delivered, or {*} for every topic.';
comment on column outbox.webhook_subscriptions.is_active is 'Inactive subscriptions receive nothing; their pending deliveries are cancelled.';
comment on column outbox.webhook_subscriptions.description is 'What the endpoint is for.';
comment on column outbox.webhook_subscriptions.created_by is 'Who created it.';
comment on column outbox.webhook_subscriptions.created_at is 'When it was created.';
comment on column outbox.webhook_subscriptions.updated_at is 'When it last changed.';

create function outbox_private.tg_webhook_subscriptions__validate() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if new.url is null or new.url !~ '^https?://[^\s/?#]+[^\s]*$' or char_length(new.url) > 2000 then
    raise exception 'A webhook URL is an http:// or https:// URL of at most 2000 characters.' using errcode = 'BADIN';
  end if;
  if new.topics is null or cardinality(new.topics) not between 1 and 100 or array_position(new.topics, null) is not null then
    raise exception 'A webhook subscribes to 1 to 100 topics (* for all).' using errcode = 'BADIN';
  end if;
  if exists (
    select 1 from pg_catalog.unnest(new.topics) t(code)
     where t.code <> '*'
       and not exists (select 1 from registry.types r where r.namespace = 'outbox_topic' and r.code = t.code and r.is_active)
  ) then
    raise exception 'Unknown or retired topic in %: topics are active registry types of the namespace outbox_topic.', new.topics
      using errcode = 'RTYPE';
  end if;
  if tg_op = 'UPDATE' then
    new.updated_at := pg_catalog.now();
  end if;
  return new;
end;
$$;
comment on function outbox_private.tg_webhook_subscriptions__validate() is
  'Turns bad URLs and topic lists into BADIN/RTYPE errors; keeps updated_at current.';

create trigger _100_validate
  before insert or update on outbox.webhook_subscriptions
  for each row execute function outbox_private.tg_webhook_subscriptions__validate();

--------------------------------------------------------------------------------
-- outbox.dispatches: one per (event, subscription), the delivery state machine
--   pending → delivered | dead | cancelled;  dead → pending (replay)

create table outbox.dispatches (
  dispatch_id bigint generated always as identity primary key,
  event_id bigint not null references outbox.events (event_id) on delete cascade,
  subscription_id uuid not null references outbox.webhook_subscriptions (subscription_id) on delete cascade,
  organization_id uuid not null references auth.organizations (organization_id) on delete cascade,
  stream text not null,
  status text not null default 'pending'
    constraint dispatches_status_check check (status in ('pending', 'delivered', 'dead', 'cancelled')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_http_status integer,
  last_error text,
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  dead_at timestamptz,
  replayed_at timestamptz,
  constraint dispatches_event_id_subscription_id_key unique (event_id, subscription_id),
  constraint dispatches_delivered_check check ((status = 'delivered') = (delivered_at is not null)),
  constraint dispatches_dead_check check (status <> 'dead' or dead_at is not null)
);
alter table outbox.dispatches enable row level security;

create index dispatches_subscription_id_idx on outbox.dispatches (subscription_id, dispatch_id);
create index dispatches_organization_id_idx on outbox.dispatches (organization_id);
-- The worker's next-in-stream lookup, and the lag measure.
create index dispatches_pending_stream_idx on outbox.dispatches (stream, dispatch_id) where status = 'pending';
create index dispatches_pending_created_at_idx on outbox.dispatches (created_at) where status = 'pending';
create index dispatches_dead_idx on outbox.dispatches (dead_at) where status = 'dead';

create policy "operators see every dispatch"
  on outbox.dispatches for select to gw_admin
  using ((select auth.has_role('gw_admin')));
create policy "owners and admins see their organization's dispatches"
  on outbox.dispatches for select to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())));

grant select on outbox.dispatches to gw_user;

comment on table outbox.dispatches is
  E'@behavior -insert -update -delete\nThe delivery of one event to one webhook subscription: pending until delivered, dead after the last failed attempt (a dead letter: operators replay it), cancelled when the subscription is deactivated. Deliveries of one stream (subscription + aggregate) happen in event order.';
comment on column outbox.dispatches.dispatch_id is 'The dispatch''s id.';
comment on column outbox.dispatches.event_id is 'The event delivered.';
comment on column outbox.dispatches.subscription_id is 'The subscription it goes to.';
comment on column outbox.dispatches.organization_id is 'The subscription''s organization.';
comment on column outbox.dispatches.stream is 'subscription/aggregate: dispatches of one stream are delivered one at a time, in order.';
comment on column outbox.dispatches.status is E'@behavior +attribute:filterBy\npending, delivered, dead (dead letter) or cancelled. Filter on it to list dead letters (partial indexes serve pending and dead).';
comment on column outbox.dispatches.attempts is 'Attempts made since it was published or last replayed.';
comment on column outbox.dispatches.next_attempt_at is 'Earliest time of the next attempt (exponential backoff with jitter).';
comment on column outbox.dispatches.last_http_status is 'HTTP status of the last attempt, if the endpoint answered.';
comment on column outbox.dispatches.last_error is 'Why the last attempt failed.';
comment on column outbox.dispatches.created_at is 'When the event was published.';
comment on column outbox.dispatches.delivered_at is 'When the endpoint accepted it (2xx).';
comment on column outbox.dispatches.dead_at is 'When the last attempt failed.';
comment on column outbox.dispatches.replayed_at is 'When an operator last replayed it.';

--------------------------------------------------------------------------------
-- outbox.deliveries: every attempt

create table outbox.deliveries (
  delivery_id bigint generated always as identity primary key,
  dispatch_id bigint not null references outbox.dispatches (dispatch_id) on delete cascade,
  organization_id uuid not null references auth.organizations (organization_id) on delete cascade,
  attempt integer not null
    constraint deliveries_attempt_check check (attempt >= 1),
  status text not null
    constraint deliveries_status_check check (status in ('succeeded', 'failed')),
  http_status integer,
  latency_ms integer,
  error text,
  attempted_at timestamptz not null default now()
);
alter table outbox.deliveries enable row level security;

create index deliveries_dispatch_id_idx on outbox.deliveries (dispatch_id);
create index deliveries_organization_id_idx on outbox.deliveries (organization_id);
create index deliveries_attempted_at_brin on outbox.deliveries using brin (attempted_at);

create policy "operators see every delivery attempt"
  on outbox.deliveries for select to gw_admin
  using ((select auth.has_role('gw_admin')));
create policy "owners and admins see their organization's delivery attempts"
  on outbox.deliveries for select to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())));

grant select on outbox.deliveries to gw_user;

comment on table outbox.deliveries is
  E'@behavior -insert -update -delete\nOne HTTP attempt to deliver a dispatch: outcome, status code, latency, error.';
comment on column outbox.deliveries.delivery_id is 'The attempt''s id.';
comment on column outbox.deliveries.dispatch_id is 'The dispatch attempted.';
comment on column outbox.deliveries.organization_id is 'The subscription''s organization.';
comment on column outbox.deliveries.attempt is 'Attempt number within the dispatch (restarts at 1 after a replay).';
comment on column outbox.deliveries.status is 'succeeded (2xx) or failed.';
comment on column outbox.deliveries.http_status is 'The endpoint''s HTTP status, if it answered.';
comment on column outbox.deliveries.latency_ms is 'Time from sending the request to its answer or failure, in milliseconds.';
comment on column outbox.deliveries.error is 'Why it failed: non-2xx status, timeout, connection error.';
comment on column outbox.deliveries.attempted_at is 'When the attempt finished.';

--------------------------------------------------------------------------------
-- Publishing and fan-out

create function outbox.publish(
  topic text,
  payload jsonb,
  aggregate_type text default null,
  aggregate_id text default null,
  organization_id uuid default null
) returns bigint
  language sql
  volatile
  security definer
  set search_path = ''
as $$
  insert into outbox.events (topic, payload, aggregate_type, aggregate_id, organization_id, actor_id)
  values (publish.topic, coalesce(publish.payload, 'null'::jsonb), publish.aggregate_type, publish.aggregate_id,
          coalesce(publish.organization_id, auth.current_org_id()), auth.uid())
  returning event_id
$$;
comment on function outbox.publish(text, jsonb, text, text, uuid) is
  E'@behavior -mutationField\nPublishes an event in the caller''s transaction and returns its id: it reaches webhooks only if the transaction commits. The organization defaults to the caller''s org_id claim. For domain functions and triggers; not granted to API roles (unknown topic: RTYPE). Security definer because events have no insert grant.';
revoke execute on function outbox.publish(text, jsonb, text, text, uuid) from public;

-- The job that delivers a stream: its queue serializes the stream, its key
-- keeps one waiting job per stream (a running one is superseded, see
-- graphile_worker.add_jobs). plpgsql, so graphile_worker is only needed at run time.
create function outbox_private.enqueue_streams(streams text[], run_at timestamptz default null) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  perform graphile_worker.add_jobs(
    array(
      select row(
        'outbox_deliver',                                   -- identifier
        pg_catalog.json_build_object('stream', d.stream),   -- payload
        'outbox:' || d.stream,                              -- queue_name
        enqueue_streams.run_at,                             -- run_at (null: now)
        25,                                                 -- max_attempts: only crashes count; outbox_deliver keeps its own retry schedule
        'outbox:' || d.stream,                              -- job_key
        null,                                               -- priority
        null                                                -- flags
      )::graphile_worker.job_spec
        from (select distinct s as stream from pg_catalog.unnest(streams) s) d
    ),
    job_key_preserve_run_at := true
  );
end;
$$;
comment on function outbox_private.enqueue_streams(text[], timestamptz) is
  'Makes sure each stream has a delivery job (at run_at, default now). A waiting job keeps its run_at (job_key_preserve_run_at); a running one is superseded by a new job.';

create function outbox_private.tg_events__fan_out() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_streams text[];
begin
  with created as (
    insert into outbox.dispatches (event_id, subscription_id, organization_id, stream)
    select e.event_id, s.subscription_id, s.organization_id,
           s.subscription_id::text || '/' || coalesce(e.aggregate_type || ':' || e.aggregate_id, 'event:' || e.event_id::text)
      from new_events e
      join outbox.webhook_subscriptions s
        on s.organization_id = e.organization_id
       and s.is_active
       and (e.topic = any (s.topics) or '*' = any (s.topics))
     order by e.event_id, s.subscription_id
    returning stream
  )
  select pg_catalog.array_agg(distinct stream) into v_streams from created;
  if v_streams is not null then
    perform outbox_private.enqueue_streams(v_streams);
  end if;
  return null;
end;
$$;
comment on function outbox_private.tg_events__fan_out() is
  'Creates a dispatch per matching active subscription and a delivery job per stream, once per statement. Security definer: publishers need no rights on dispatches or the job queue.';

create trigger _500_fan_out
  after insert on outbox.events
  referencing new table as new_events
  for each statement execute function outbox_private.tg_events__fan_out();

-- Deactivating a subscription cancels what it still owed.
create function outbox_private.tg_webhook_subscriptions__cancel_pending() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  update outbox.dispatches d set status = 'cancelled'
   where d.subscription_id = new.subscription_id and d.status = 'pending';
  return null;
end;
$$;
comment on function outbox_private.tg_webhook_subscriptions__cancel_pending() is
  'Cancels the pending dispatches of a subscription that was deactivated.';

create trigger _500_cancel_pending
  after update of is_active on outbox.webhook_subscriptions
  for each row when (old.is_active and not new.is_active)
  execute function outbox_private.tg_webhook_subscriptions__cancel_pending();

--------------------------------------------------------------------------------
-- Worker side (called by src/worker/tasks/outbox_deliver.ts as gw_owner)

-- The next dispatch of a stream, with what is needed to send it.
create function outbox_private.next_dispatch(stream text)
  returns table (
    dispatch_id bigint,
    attempts integer,
    next_attempt_at timestamptz,
    event_id bigint,
    topic text,
    payload jsonb,
    aggregate_type text,
    aggregate_id text,
    organization_id uuid,
    event_created_at timestamptz,
    subscription_id uuid,
    url text,
    secret text,
    is_active boolean
  )
  language sql
  stable
  set search_path = ''
as $$
  select d.dispatch_id, d.attempts, d.next_attempt_at, e.event_id, e.topic, e.payload, e.aggregate_type,
         e.aggregate_id, e.organization_id, e.created_at, s.subscription_id, s.url, s.secret, s.is_active
    from outbox.dispatches d
    join outbox.events e on e.event_id = d.event_id
    join outbox.webhook_subscriptions s on s.subscription_id = d.subscription_id
   where d.stream = next_dispatch.stream and d.status = 'pending'
   order by d.dispatch_id
   limit 1
$$;
comment on function outbox_private.next_dispatch(text) is 'The oldest pending dispatch of a stream.';

-- Records one attempt. On failure, either schedules the next attempt (and the
-- stream's job) after retry_delay, or dead-letters the dispatch when it was
-- the last. Returns the dispatch's new status.
create function outbox_private.record_attempt(
  dispatch_id bigint,
  succeeded boolean,
  http_status integer,
  latency_ms integer,
  error text,
  max_attempts integer,
  retry_delay interval
) returns text
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_dispatch outbox.dispatches;
  v_status text;
begin
  update outbox.dispatches d
     set attempts = d.attempts + 1,
         last_http_status = record_attempt.http_status,
         last_error = case when record_attempt.succeeded then null else pg_catalog.left(record_attempt.error, 2000) end
   where d.dispatch_id = record_attempt.dispatch_id and d.status = 'pending'
  returning * into v_dispatch;
  if not found then
    return null; -- cancelled or handled meanwhile
  end if;

  insert into outbox.deliveries (dispatch_id, organization_id, attempt, status, http_status, latency_ms, error)
  values (v_dispatch.dispatch_id, v_dispatch.organization_id, v_dispatch.attempts,
          case when succeeded then 'succeeded' else 'failed' end, http_status, latency_ms, pg_catalog.left(error, 2000));

  if succeeded then
    v_status := 'delivered';
    update outbox.dispatches d set status = v_status, delivered_at = pg_catalog.now()
     where d.dispatch_id = v_dispatch.dispatch_id;
  elsif v_dispatch.attempts >= max_attempts then
    v_status := 'dead';
    update outbox.dispatches d set status = v_status, dead_at = pg_catalog.now()
     where d.dispatch_id = v_dispatch.dispatch_id;
  else
    v_status := 'pending';
    update outbox.dispatches d set next_attempt_at = pg_catalog.now() + retry_delay
     where d.dispatch_id = v_dispatch.dispatch_id;
    perform outbox_private.enqueue_streams(array[v_dispatch.stream], pg_catalog.now() + retry_delay);
  end if;
  return v_status;
end;
$$;
comment on function outbox_private.record_attempt(bigint, boolean, integer, integer, text, integer, interval) is
  'Writes a delivery attempt and moves the dispatch on: delivered, dead (last attempt) or retried after retry_delay.';

--------------------------------------------------------------------------------
-- Management through GraphQL

create function outbox.rotate_webhook_secret(subscription_id uuid) returns outbox.webhook_subscriptions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_subscription outbox.webhook_subscriptions;
begin
  update outbox.webhook_subscriptions s
     set secret = pg_catalog.encode(public.gen_random_bytes(32), 'hex')
   where s.subscription_id = rotate_webhook_secret.subscription_id
     and s.organization_id = any (array(select auth.current_user_admin_organization_ids()))
  returning * into v_subscription;
  if not found then
    raise exception 'No webhook subscription % that you manage.', rotate_webhook_secret.subscription_id
      using errcode = 'NTFND';
  end if;
  return v_subscription;
end;
$$;
comment on function outbox.rotate_webhook_secret(uuid) is
  E'@resultFieldName webhookSubscription\nReplaces a subscription''s signing secret with a new random one and returns it. Owners and admins of its organization only (NTFND otherwise). Security definer because the secret column has no update grant.';
grant execute on function outbox.rotate_webhook_secret(uuid) to gw_user;

create function outbox.send_test_webhook(subscription_id uuid) returns bigint
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_subscription outbox.webhook_subscriptions;
  v_event_id bigint;
  v_stream text;
begin
  select * into v_subscription from outbox.webhook_subscriptions s
   where s.subscription_id = send_test_webhook.subscription_id
     and s.organization_id = any (array(select auth.current_user_admin_organization_ids()));
  if not found then
    raise exception 'No webhook subscription % that you manage.', send_test_webhook.subscription_id
      using errcode = 'NTFND';
  end if;
  -- No organization on the event, so the fan-out sends it nowhere else: only
  -- to this subscription, whatever its topics.
  insert into outbox.events (topic, payload, aggregate_type, aggregate_id, organization_id, actor_id)
  values ('webhook.test', pg_catalog.jsonb_build_object('subscriptionId', v_subscription.subscription_id,
                                                        'organizationId', v_subscription.organization_id),
          'webhook_subscription', v_subscription.subscription_id::text, null, auth.uid())
  returning event_id into v_event_id;
  v_stream := v_subscription.subscription_id::text || '/webhook_subscription:' || v_subscription.subscription_id::text;
  insert into outbox.dispatches (event_id, subscription_id, organization_id, stream)
  values (v_event_id, v_subscription.subscription_id, v_subscription.organization_id, v_stream);
  perform outbox_private.enqueue_streams(array[v_stream]);
  return v_event_id;
end;
$$;
comment on function outbox.send_test_webhook(uuid) is
  E'@resultFieldName eventId\nSends a webhook.test event to this subscription only (whatever its topics, even if inactive) and returns the event id; follow it in outboxDispatches. Owners and admins of its organization only (NTFND otherwise).';
grant execute on function outbox.send_test_webhook(uuid) to gw_user;

create function outbox.replay_dead_letters(dispatch_ids bigint[] default null) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_streams text[];
  v_count integer;
begin
  perform auth_private.assert_operator();
  with replayed as (
    update outbox.dispatches d
       set status = 'pending', attempts = 0, next_attempt_at = pg_catalog.now(), dead_at = null,
           replayed_at = pg_catalog.now()
     where d.status = 'dead'
       and (dispatch_ids is null or d.dispatch_id = any (dispatch_ids))
       -- A deactivated subscription gets nothing, replayed or not.
       and exists (select 1 from outbox.webhook_subscriptions s where s.subscription_id = d.subscription_id and s.is_active)
    returning d.stream
  )
  select pg_catalog.array_agg(distinct stream), pg_catalog.count(*) into v_streams, v_count from replayed;
  if v_streams is not null then
    perform outbox_private.enqueue_streams(v_streams);
  end if;
  return v_count;
end;
$$;
comment on function outbox.replay_dead_letters(bigint[]) is
  E'@resultFieldName replayedCount\nSends dead letters again: the given dispatches, or every dead one when dispatchIds is null (those of deactivated subscriptions are skipped). Attempts restart at 1. Returns how many were replayed. Operators (gw_admin) only (DNIED when the grant was withdrawn).';
grant execute on function outbox.replay_dead_letters(bigint[]) to gw_admin;

--! split: 2350-notifications.sql
-- Per-user notifications, pushed to GraphQL subscriptions (notificationAdded)
-- through LISTEN/NOTIFY on the channel gw:notifications:<user id>. The
-- subscription re-reads the row as the subscriber, so RLS decides what arrives.

drop function if exists outbox.notify_user(uuid, text, text, jsonb, bigint) cascade;
drop function if exists outbox_private.tg_notifications__notify() cascade;
drop table if exists outbox.notifications cascade;

create table outbox.notifications (
  notification_id bigint generated always as identity primary key,
  user_id uuid not null references auth.users (user_id) on delete cascade,
  topic text not null
    constraint notifications_topic_check check (char_length(topic) between 1 and 100),
  message text not null
    constraint notifications_message_check check (char_length(message) between 1 and 1000),
  payload jsonb not null default '{}'::jsonb
    constraint notifications_payload_check check (pg_column_size(payload) <= 16384),
  event_id bigint references outbox.events (event_id) on delete set null,
  created_at timestamptz not null default now(),
  read_at timestamptz
);
alter table outbox.notifications enable row level security;

create index notifications_user_id_idx on outbox.notifications (user_id, notification_id desc);
create index notifications_unread_idx on outbox.notifications (user_id) where read_at is null;
create index notifications_event_id_idx on outbox.notifications (event_id);

create policy "users see their own notifications"
  on outbox.notifications for select to gw_user
  using (user_id = (select auth.uid()));
create policy "users mark their own notifications read"
  on outbox.notifications for update to gw_user
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));

grant select on outbox.notifications to gw_user;
grant update (read_at) on outbox.notifications to gw_user;

comment on table outbox.notifications is
  E'@behavior -insert -delete\nThings that happened that concern you ("Alice added you to Acme"). New ones arrive on the notificationAdded subscription; set readAt to mark one read.';
comment on column outbox.notifications.notification_id is 'The notification''s id.';
comment on column outbox.notifications.user_id is 'Who it is for.';
comment on column outbox.notifications.topic is 'What kind of notification, e.g. member.added.';
comment on column outbox.notifications.message is 'One readable sentence.';
comment on column outbox.notifications.payload is 'Details (a JSON value, at most 16 kB).';
comment on column outbox.notifications.event_id is 'The outbox event it came from, if any.';
comment on column outbox.notifications.created_at is 'When it was created.';
comment on column outbox.notifications.read_at is 'When you marked it read (null: unread).';

create function outbox_private.tg_notifications__notify() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  -- Delivered at commit, never for a rolled-back transaction.
  perform pg_catalog.pg_notify('gw:notifications:' || new.user_id::text,
    pg_catalog.json_build_object('id', new.notification_id)::text);
  return null;
end;
$$;
comment on function outbox_private.tg_notifications__notify() is
  'Wakes the user''s GraphQL subscriptions when a notification is committed.';

create trigger _500_notify
  after insert on outbox.notifications
  for each row execute function outbox_private.tg_notifications__notify();

create function outbox.notify_user(
  user_id uuid,
  topic text,
  message text,
  payload jsonb default '{}'::jsonb,
  event_id bigint default null
) returns bigint
  language sql
  volatile
  security definer
  set search_path = ''
as $$
  insert into outbox.notifications (user_id, topic, message, payload, event_id)
  values (notify_user.user_id, notify_user.topic, notify_user.message, coalesce(notify_user.payload, '{}'::jsonb),
          notify_user.event_id)
  returning notification_id
$$;
comment on function outbox.notify_user(uuid, text, text, jsonb, bigint) is
  E'@behavior -mutationField\nCreates a notification for a user (and pushes it to their subscriptions at commit). For domain functions and triggers; not granted to API roles. Security definer because notifications have no insert grant.';
revoke execute on function outbox.notify_user(uuid, text, text, jsonb, bigint) from public;

--! split: 2400-inbox.sql
-- Idempotent inbox for inbound webhooks. POST /webhooks/:source hands the raw
-- body and signature to inbox.receive(), which checks the HMAC with the
-- source's secret (the secret never leaves the database), stores the message
-- once per (source, external_id) and enqueues a job to process it. A
-- redelivery is acknowledged and ignored, so effects happen once.

drop schema if exists inbox_private cascade;
drop schema if exists inbox cascade;

create schema inbox;
comment on schema inbox is 'Inbound webhook sources and the messages received from them.';
grant usage on schema inbox to gw_anonymous, gw_user;

create schema inbox_private;
comment on schema inbox_private is 'Processing bookkeeping for the inbox; never exposed.';
revoke all on schema inbox_private from public;

--------------------------------------------------------------------------------
-- inbox.sources

create table inbox.sources (
  source text primary key
    constraint sources_source_check check (source ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  secret text not null default encode(public.gen_random_bytes(32), 'hex')
    constraint sources_secret_check check (char_length(secret) between 16 and 200),
  handler text
    constraint sources_handler_check check (handler ~ '^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$'),
  is_active boolean not null default true,
  description text
    constraint sources_description_check check (char_length(description) <= 500),
  created_at timestamptz not null default now()
);
alter table inbox.sources enable row level security;

create policy "operators see inbound sources"
  on inbox.sources for select to gw_admin
  using ((select auth.has_role('gw_admin')));
create policy "operators add inbound sources"
  on inbox.sources for insert to gw_admin
  with check ((select auth.has_role('gw_admin')));
create policy "operators change inbound sources"
  on inbox.sources for update to gw_admin
  using ((select auth.has_role('gw_admin'))) with check ((select auth.has_role('gw_admin')));
create policy "operators delete inbound sources"
  on inbox.sources for delete to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select, delete on inbox.sources to gw_admin;
grant insert (source, secret, handler, is_active, description) on inbox.sources to gw_admin;
grant update (secret, handler, is_active, description) on inbox.sources to gw_admin;

comment on table inbox.sources is
  'A sender of inbound webhooks (POST /webhooks/<source>): its HMAC secret and the SQL function that processes its messages. Operators only.';
comment on column inbox.sources.source is 'The name in the URL: lowercase letters, digits, _ and -.';
comment on column inbox.sources.secret is 'HMAC-SHA256 key the sender signs X-Groundwork-Signature with (generated unless given).';
comment on column inbox.sources.handler is 'schema.function taking an inbox.messages row; called once per message by the worker. Null: messages are stored and marked ignored.';
comment on column inbox.sources.is_active is 'Inactive sources are answered 404 and store nothing.';
comment on column inbox.sources.description is 'Who sends it and why.';
comment on column inbox.sources.created_at is 'When the source was added.';

create function inbox_private.tg_sources__validate() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if new.handler is not null and pg_catalog.to_regprocedure(new.handler || '(inbox.messages)') is null then
    raise exception 'No function %(inbox.messages).', new.handler using errcode = 'BADIN';
  end if;
  return new;
end;
$$;
comment on function inbox_private.tg_sources__validate() is 'Refuses a handler that is not a function of one inbox.messages argument. Security definer: handlers may live in private schemas the operator cannot see.';

create trigger _100_validate
  before insert or update on inbox.sources
  for each row execute function inbox_private.tg_sources__validate();

--------------------------------------------------------------------------------
-- inbox.messages
--   received → processed | ignored | dead;  dead → received (replay)

create table inbox.messages (
  message_id bigint generated always as identity primary key,
  source text not null references inbox.sources (source) on delete cascade,
  external_id text not null
    constraint messages_external_id_check check (char_length(external_id) between 1 and 200),
  topic text
    constraint messages_topic_check check (char_length(topic) <= 200),
  payload jsonb not null,
  status text not null default 'received'
    constraint messages_status_check check (status in ('received', 'processed', 'ignored', 'dead')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error text,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  dead_at timestamptz,
  constraint messages_source_external_id_key unique (source, external_id)
);
alter table inbox.messages enable row level security;

create index messages_received_idx on inbox.messages (received_at) where status = 'received';
create index messages_dead_idx on inbox.messages (dead_at) where status = 'dead';

create policy "operators see inbound messages"
  on inbox.messages for select to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on inbox.messages to gw_admin;

comment on table inbox.messages is
  E'@behavior -insert -update -delete\nAn inbound webhook, stored once per (source, externalId) and processed by the worker: received, then processed (handler succeeded), ignored (no handler) or dead (every attempt failed; replay with inboxReplayMessages).';
comment on column inbox.messages.message_id is 'The message''s id.';
comment on column inbox.messages.source is 'Who sent it.';
comment on column inbox.messages.external_id is 'The sender''s id for it (X-Groundwork-Event-Id / Idempotency-Key header, or the body''s id): a redelivery with the same id is ignored.';
comment on column inbox.messages.topic is 'The sender''s event type (X-Groundwork-Topic header or the body''s type), if any.';
comment on column inbox.messages.payload is 'The JSON body as received.';
comment on column inbox.messages.status is E'@behavior +attribute:filterBy\nreceived, processed, ignored or dead. Filter on it to list dead messages (partial indexes serve received and dead).';
comment on column inbox.messages.attempts is 'Processing attempts since received or last replayed.';
comment on column inbox.messages.next_attempt_at is 'Earliest time of the next attempt after a failure.';
comment on column inbox.messages.last_error is 'Why the last attempt failed.';
comment on column inbox.messages.received_at is 'When it arrived.';
comment on column inbox.messages.processed_at is 'When it was processed or ignored.';
comment on column inbox.messages.dead_at is 'When the last attempt failed.';

create function inbox_private.enqueue(message_id bigint, run_at timestamptz default null) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  -- max_attempts only covers crashes: inbox_process keeps its own retry schedule.
  perform graphile_worker.add_job('inbox_process', pg_catalog.json_build_object('id', message_id),
    run_at := run_at, max_attempts := 25, job_key := 'inbox:' || message_id::text);
end;
$$;
comment on function inbox_private.enqueue(bigint, timestamptz) is 'Schedules processing of a message (run_at default now).';

create function inbox_private.tg_messages__enqueue() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  perform inbox_private.enqueue(new.message_id);
  return null;
end;
$$;
comment on function inbox_private.tg_messages__enqueue() is 'Queues processing of every stored message, in the storing transaction.';

create trigger _500_enqueue
  after insert on inbox.messages
  for each row execute function inbox_private.tg_messages__enqueue();

--------------------------------------------------------------------------------
-- Receiving (the HTTP route, as gw_anonymous)

create function inbox.receive(
  source text,
  signature text,
  body text,
  external_id text default null,
  topic text default null
) returns text
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_source inbox.sources;
  v_timestamp bigint;
  v_given text;
  v_expected text;
  v_payload jsonb;
  v_external_id text := receive.external_id;
  v_message_id bigint;
begin
  select * into v_source from inbox.sources s where s.source = receive.source and s.is_active;
  if not found then
    return 'unknown_source';
  end if;
  -- t=<unix seconds>,v1=<hex hmac_sha256(secret, t || '.' || body)>
  v_timestamp := (pg_catalog.regexp_match(signature, '(?:^|,)\s*t=([0-9]{1,12})\s*(?:,|$)'))[1]::bigint;
  v_given := pg_catalog.lower((pg_catalog.regexp_match(signature, '(?:^|,)\s*v1=([0-9a-fA-F]{64})\s*(?:,|$)'))[1]);
  if v_timestamp is null or v_given is null then
    return 'bad_signature';
  end if;
  v_expected := pg_catalog.encode(
    public.hmac(pg_catalog.convert_to(v_timestamp::text || '.' || body, 'UTF8'),
                pg_catalog.convert_to(v_source.secret, 'UTF8'), 'sha256'), 'hex');
  -- Compare digests of both, so the comparison's timing tells nothing about the expected value.
  if pg_catalog.sha256(pg_catalog.convert_to(v_given, 'UTF8')) <> pg_catalog.sha256(pg_catalog.convert_to(v_expected, 'UTF8')) then
    return 'bad_signature';
  end if;
  if abs(extract(epoch from pg_catalog.now())::bigint - v_timestamp) > 300 then
    return 'stale_timestamp';
  end if;
  begin
    v_payload := body::jsonb;
  exception when invalid_text_representation then
    return 'bad_body';
  end;
  v_external_id := coalesce(nullif(v_external_id, ''), v_payload ->> 'id');
  if v_external_id is null or char_length(v_external_id) > 200 then
    return 'missing_id';
  end if;
  insert into inbox.messages (source, external_id, topic, payload)
  values (v_source.source, v_external_id,
          pg_catalog.left(coalesce(nullif(receive.topic, ''), v_payload ->> 'type'), 200), v_payload)
  on conflict on constraint messages_source_external_id_key do nothing
  returning message_id into v_message_id;
  return case when v_message_id is null then 'duplicate' else 'accepted' end;
end;
$$;
comment on function inbox.receive(text, text, text, text, text) is
  E'@behavior -queryField -mutationField\nVerifies an inbound webhook''s signature and stores it once. Returns accepted, duplicate, unknown_source, bad_signature, stale_timestamp (more than 5 minutes off), bad_body (not JSON) or missing_id. Called by POST /webhooks/:source; security definer because only it may read source secrets and write messages.';
grant execute on function inbox.receive(text, text, text, text, text) to gw_anonymous;

--------------------------------------------------------------------------------
-- Processing (the worker, as gw_owner)

create function inbox_private.process(message_id bigint) returns text
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_message inbox.messages;
  v_handler text;
begin
  select * into v_message from inbox.messages m where m.message_id = process.message_id for update;
  if not found then
    return 'missing';
  end if;
  if v_message.status <> 'received' then
    return v_message.status; -- processed already (a duplicate job) or dead
  end if;
  if v_message.next_attempt_at > pg_catalog.now() then
    return 'not_due';
  end if;
  select s.handler into v_handler from inbox.sources s where s.source = v_message.source;
  if v_handler is null then
    update inbox.messages m set status = 'ignored', processed_at = pg_catalog.now(), attempts = m.attempts + 1
     where m.message_id = v_message.message_id;
    return 'ignored';
  end if;
  execute pg_catalog.format('select %s($1)', pg_catalog.to_regprocedure(v_handler || '(inbox.messages)')::regproc)
    using v_message;
  update inbox.messages m set status = 'processed', processed_at = pg_catalog.now(), attempts = m.attempts + 1,
                              last_error = null
   where m.message_id = v_message.message_id;
  return 'processed';
end;
$$;
comment on function inbox_private.process(bigint) is
  'Runs the source''s handler on a received message, in one transaction with marking it processed; a handler error rolls both back.';

create function inbox_private.record_failure(
  message_id bigint,
  error text,
  max_attempts integer,
  retry_delay interval
) returns text
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_message inbox.messages;
begin
  update inbox.messages m
     set attempts = m.attempts + 1, last_error = pg_catalog.left(record_failure.error, 2000)
   where m.message_id = record_failure.message_id and m.status = 'received'
  returning * into v_message;
  if not found then
    return null;
  end if;
  if v_message.attempts >= max_attempts then
    update inbox.messages m set status = 'dead', dead_at = pg_catalog.now() where m.message_id = v_message.message_id;
    return 'dead';
  end if;
  update inbox.messages m set next_attempt_at = pg_catalog.now() + retry_delay where m.message_id = v_message.message_id;
  perform inbox_private.enqueue(v_message.message_id, pg_catalog.now() + retry_delay);
  return 'received';
end;
$$;
comment on function inbox_private.record_failure(bigint, text, integer, interval) is
  'Counts a failed attempt: schedules the next one after retry_delay, or dead-letters the message after the last.';

create function inbox.replay_messages(message_ids bigint[] default null) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_ids bigint[];
  v_id bigint;
begin
  perform auth_private.assert_operator();
  if message_ids is not null then
    if exists (select 1 from pg_catalog.unnest(message_ids) i(id)
                where not exists (select 1 from inbox.messages m where m.message_id = i.id)) then
      raise exception 'No inbox message among %.', message_ids using errcode = 'NTFND';
    end if;
    if exists (select 1 from inbox.messages m where m.message_id = any (message_ids) and m.status <> 'dead') then
      raise exception 'Only dead messages can be replayed.' using errcode = 'BADST';
    end if;
  end if;
  with replayed as (
    update inbox.messages m
       set status = 'received', attempts = 0, next_attempt_at = pg_catalog.now(), dead_at = null, last_error = null
     where m.status = 'dead' and (message_ids is null or m.message_id = any (message_ids))
    returning m.message_id
  )
  select coalesce(pg_catalog.array_agg(r.message_id), '{}') into v_ids from replayed r;
  foreach v_id in array v_ids loop
    perform inbox_private.enqueue(v_id);
  end loop;
  return cardinality(v_ids);
end;
$$;
comment on function inbox.replay_messages(bigint[]) is
  E'@resultFieldName replayedCount\nProcesses dead inbox messages again: the given ones (NTFND if unknown, BADST if not dead) or every dead one when messageIds is null. Returns how many. Operators (gw_admin) only (DNIED when the grant was withdrawn).';
grant execute on function inbox.replay_messages(bigint[]) to gw_admin;

--! split: 2500-ops.sql
-- Operator console: queue depth, jobs by state, outbox lag and delivery
-- success, and the actions operators take (retry, cancel, unlock, replay).
-- Built on graphile-worker's own tables and admin functions, read from plpgsql
-- so they resolve at run time. gw_admin only: each function is granted to it
-- alone and also calls auth_private.assert_operator(), so a withdrawn grant
-- stops working before the token expires.

drop schema if exists ops cascade;

create schema ops;
comment on schema ops is 'Operator console over the job queue, the outbox and the inbox. gw_admin only.';
grant usage on schema ops to gw_admin;

--------------------------------------------------------------------------------
-- Jobs

create type ops.job as (
  job_id bigint,
  queue_name text,
  task_identifier text,
  state text,
  payload json,
  priority smallint,
  run_at timestamptz,
  attempts smallint,
  max_attempts smallint,
  last_error text,
  key text,
  locked_at timestamptz,
  locked_by text,
  created_at timestamptz,
  updated_at timestamptz
);
comment on type ops.job is 'A graphile-worker job as operators see it.';
comment on column ops.job.job_id is 'The job''s id (graphile_worker jobs.id).';
comment on column ops.job.queue_name is 'Named queue (jobs of one queue run one at a time), if any.';
comment on column ops.job.task_identifier is 'The task that runs it.';
comment on column ops.job.state is 'running (locked by a worker), ready (due), scheduled (due later), retrying (failed before, due again later or now) or dead (out of attempts).';
comment on column ops.job.payload is 'The task''s input.';
comment on column ops.job.priority is 'Lower runs first.';
comment on column ops.job.run_at is 'When it is due.';
comment on column ops.job.attempts is 'Attempts so far.';
comment on column ops.job.max_attempts is 'Attempts allowed.';
comment on column ops.job.last_error is 'The last failure.';
comment on column ops.job.key is 'Job key (deduplicates waiting jobs), if any.';
comment on column ops.job.locked_at is 'When a worker took it.';
comment on column ops.job.locked_by is 'The worker running it.';
comment on column ops.job.created_at is 'When it was added.';
comment on column ops.job.updated_at is 'When it last changed.';

create function ops.jobs(state text default null, task_identifier text default null) returns setof ops.job
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  return query
    select * from (
      select j.id as job_id, q.queue_name, t.identifier as task_identifier,
             case
               when j.locked_at is not null then 'running'
               when j.attempts >= j.max_attempts then 'dead'
               when j.attempts > 0 then 'retrying'
               when j.run_at <= pg_catalog.now() then 'ready'
               else 'scheduled'
             end as state,
             j.payload, j.priority, j.run_at, j.attempts, j.max_attempts, j.last_error, j.key, j.locked_at,
             j.locked_by, j.created_at, j.updated_at
        from graphile_worker._private_jobs j
        join graphile_worker._private_tasks t on t.id = j.task_id
        left join graphile_worker._private_job_queues q on q.id = j.job_queue_id
       where jobs.task_identifier is null or t.identifier = jobs.task_identifier
    ) s
    where jobs.state is null or s.state = jobs.state
    order by s.job_id;
end;
$$;
comment on function ops.jobs(text, text) is
  'Jobs in the queue, optionally only one state (running, ready, scheduled, retrying, dead) or one task. Operators only.';

create function ops.queue_depth()
  returns table (
    task_identifier text,
    ready bigint,
    scheduled bigint,
    running bigint,
    retrying bigint,
    dead bigint,
    oldest_ready_at timestamptz
  )
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  return query
    select t.identifier,
           pg_catalog.count(*) filter (where j.locked_at is null and j.attempts = 0 and j.run_at <= pg_catalog.now()),
           pg_catalog.count(*) filter (where j.locked_at is null and j.attempts = 0 and j.run_at > pg_catalog.now()),
           pg_catalog.count(*) filter (where j.locked_at is not null),
           pg_catalog.count(*) filter (where j.locked_at is null and j.attempts > 0 and j.attempts < j.max_attempts),
           pg_catalog.count(*) filter (where j.locked_at is null and j.attempts >= j.max_attempts),
           pg_catalog.min(j.run_at) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= pg_catalog.now())
      from graphile_worker._private_tasks t
      join graphile_worker._private_jobs j on j.task_id = t.id
     group by t.identifier
     order by t.identifier;
end;
$$;
comment on function ops.queue_depth() is
  'Jobs per task by state, and the oldest due job''s run_at (how far behind the workers are). Tasks with no jobs are left out. Operators only.';

create function ops.retry_jobs(job_ids bigint[]) returns setof ops.job
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  if exists (select 1 from pg_catalog.unnest(job_ids) i(id)
              where not exists (select 1 from graphile_worker._private_jobs j where j.id = i.id)) then
    raise exception 'No job among %.', job_ids using errcode = 'NTFND';
  end if;
  -- Locked jobs are left alone by reschedule_jobs: they are running.
  perform graphile_worker.reschedule_jobs(job_ids, run_at := pg_catalog.now(), attempts := 0);
  return query select * from ops.jobs() j where j.job_id = any (job_ids);
end;
$$;
comment on function ops.retry_jobs(bigint[]) is
  E'@resultFieldName jobs\nMakes failed or dead jobs due now with their attempts reset. Running jobs are left alone. NTFND if an id is unknown. Operators only.';

create function ops.cancel_jobs(job_ids bigint[]) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_count integer;
begin
  perform auth_private.assert_operator();
  if exists (select 1 from pg_catalog.unnest(job_ids) i(id)
              where not exists (select 1 from graphile_worker._private_jobs j where j.id = i.id)) then
    raise exception 'No job among %.', job_ids using errcode = 'NTFND';
  end if;
  select pg_catalog.count(*) into v_count from graphile_worker.complete_jobs(job_ids);
  return v_count;
end;
$$;
comment on function ops.cancel_jobs(bigint[]) is
  E'@resultFieldName cancelledCount\nRemoves jobs that are not running (graphile_worker.complete_jobs) and returns how many were removed. NTFND if an id is unknown. Operators only.';

create function ops.unlock_workers(worker_ids text[]) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_count integer;
begin
  perform auth_private.assert_operator();
  select pg_catalog.count(*) into v_count from graphile_worker._private_jobs j where j.locked_by = any (worker_ids);
  perform graphile_worker.force_unlock_workers(worker_ids);
  return v_count;
end;
$$;
comment on function ops.unlock_workers(text[]) is
  E'@resultFieldName unlockedCount\nReleases the jobs and queues held by workers that died (killed process, lost machine) so others run them now instead of after graphile-worker''s 4-hour lock timeout. Only for workers you know are gone. Returns how many jobs were released. Operators only.';

--------------------------------------------------------------------------------
-- Outbox and inbox health

create function ops.outbox_health()
  returns table (
    pending_dispatches bigint,
    oldest_pending_at timestamptz,
    lag_seconds double precision,
    dead_letters bigint,
    delivered_last_hour bigint,
    attempts_last_hour bigint,
    failed_attempts_last_hour bigint,
    success_rate_last_hour double precision,
    inbox_pending bigint,
    inbox_dead bigint
  )
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  return query
    with pending as (
      select pg_catalog.count(*) as n, pg_catalog.min(d.created_at) as oldest
        from outbox.dispatches d where d.status = 'pending'
    ), attempts as (
      select pg_catalog.count(*) as n,
             pg_catalog.count(*) filter (where a.status = 'failed') as failed,
             pg_catalog.count(*) filter (where a.status = 'succeeded') as succeeded
        from outbox.deliveries a where a.attempted_at > pg_catalog.now() - interval '1 hour'
    )
    select pending.n, pending.oldest,
           coalesce(extract(epoch from pg_catalog.now() - pending.oldest)::double precision, 0),
           (select pg_catalog.count(*) from outbox.dispatches d where d.status = 'dead'),
           attempts.succeeded, attempts.n, attempts.failed,
           case when attempts.n = 0 then null else attempts.succeeded::double precision / attempts.n end,
           (select pg_catalog.count(*) from inbox.messages m where m.status = 'received'),
           (select pg_catalog.count(*) from inbox.messages m where m.status = 'dead')
      from pending, attempts;
end;
$$;
comment on function ops.outbox_health() is
  'Outbox lag (age of the oldest undelivered dispatch), dead letters, delivery success rate over the last hour, and inbox backlog. Operators only.';

revoke execute on all functions in schema ops from public;
grant execute on function ops.jobs(text, text) to gw_admin;
grant execute on function ops.queue_depth() to gw_admin;
grant execute on function ops.retry_jobs(bigint[]) to gw_admin;
grant execute on function ops.cancel_jobs(bigint[]) to gw_admin;
grant execute on function ops.unlock_workers(text[]) to gw_admin;
grant execute on function ops.outbox_health() to gw_admin;

--! split: 2600-auth-events.sql
-- The platform primitives applied to auth: its tables are audited, and the
-- changes others care about publish outbox events, record activity and notify
-- the people concerned. Triggers, so every path (functions, admin SQL) counts.

drop trigger if exists _600_publish_registered on auth.users;
drop trigger if exists _600_publish_member_added on auth.memberships;
drop trigger if exists _600_publish_member_removed on auth.memberships;
drop function if exists auth_private.tg_users__publish_registered() cascade;
drop function if exists auth_private.tg_memberships__publish_added() cascade;
drop function if exists auth_private.tg_memberships__publish_removed() cascade;
drop function if exists auth_private.tg_organizations__record_created() cascade;

-- Audit: a user may read the entries of records that are theirs. Sessions
-- never log their refresh-token hash.
select audit.enable_tracking('auth.users', 'user_id');
select audit.enable_tracking('auth.memberships', 'user_id');
select audit.enable_tracking('auth.user_roles', 'user_id');
select audit.enable_tracking('auth.sessions', 'user_id', array['token_hash']);
select audit.enable_tracking('auth.organizations');
select audit.enable_tracking('auth.roles');

create function auth_private.tg_users__publish_registered() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  perform outbox.publish('user.registered',
    pg_catalog.jsonb_build_object('userId', new.user_id, 'username', new.username),
    'user', new.user_id::text, null);
  return null;
end;
$$;
comment on function auth_private.tg_users__publish_registered() is 'Publishes user.registered.';

create trigger _600_publish_registered
  after insert on auth.users
  for each row execute function auth_private.tg_users__publish_registered();

create function auth_private.tg_organizations__record_created() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_actor text := (select u.username from auth.users u where u.user_id = auth.uid());
begin
  perform audit.record_activity('organization.created', 'organization', new.organization_id::text,
    coalesce(v_actor, 'The system') || ' created ' || new.name,
    new.organization_id, null, pg_catalog.jsonb_build_object('slug', new.slug));
  return null;
end;
$$;
comment on function auth_private.tg_organizations__record_created() is 'Records organization.created activity.';

create trigger _600_record_created
  after insert on auth.organizations
  for each row execute function auth_private.tg_organizations__record_created();

create function auth_private.tg_memberships__publish_added() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_actor_id uuid := auth.uid();
  v_actor text := (select u.username from auth.users u where u.user_id = v_actor_id);
  v_member text := (select u.username from auth.users u where u.user_id = new.user_id);
  v_organization text := (select o.name from auth.organizations o where o.organization_id = new.organization_id);
  v_event_id bigint;
begin
  v_event_id := outbox.publish('member.added',
    pg_catalog.jsonb_build_object('organizationId', new.organization_id, 'userId', new.user_id,
                                  'role', new.role, 'addedBy', v_actor_id),
    'organization', new.organization_id::text, new.organization_id);
  if v_actor_id is distinct from new.user_id then
    perform audit.record_activity('member.added', 'membership', new.membership_id::text,
      coalesce(v_actor, 'The system') || ' added ' || v_member || ' to ' || v_organization,
      new.organization_id, new.user_id, pg_catalog.jsonb_build_object('role', new.role));
    perform outbox.notify_user(new.user_id, 'member.added',
      coalesce(v_actor, 'The system') || ' added you to ' || v_organization || ' as ' || new.role,
      pg_catalog.jsonb_build_object('organizationId', new.organization_id, 'role', new.role), v_event_id);
  end if;
  return null;
end;
$$;
comment on function auth_private.tg_memberships__publish_added() is
  'Publishes member.added; records activity and notifies the new member when someone else added them.';

create trigger _600_publish_member_added
  after insert on auth.memberships
  for each row execute function auth_private.tg_memberships__publish_added();

create function auth_private.tg_memberships__publish_removed() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_actor_id uuid := auth.uid();
  v_actor text := (select u.username from auth.users u where u.user_id = v_actor_id);
  v_member text := (select u.username from auth.users u where u.user_id = old.user_id);
  v_organization text := (select o.name from auth.organizations o where o.organization_id = old.organization_id);
  v_event_id bigint;
begin
  -- When the organization itself is being deleted, its events and activity go with it.
  if v_organization is null then
    return null;
  end if;
  v_event_id := outbox.publish('member.removed',
    pg_catalog.jsonb_build_object('organizationId', old.organization_id, 'userId', old.user_id,
                                  'role', old.role, 'removedBy', v_actor_id),
    'organization', old.organization_id::text, old.organization_id);
  perform audit.record_activity(
    case when v_actor_id is not distinct from old.user_id then 'member.left' else 'member.removed' end,
    'membership', old.membership_id::text,
    case when v_actor_id is not distinct from old.user_id
         then v_member || ' left ' || v_organization
         else coalesce(v_actor, 'The system') || ' removed ' || coalesce(v_member, 'a deleted user') || ' from ' || v_organization end,
    -- The subject may be a user being deleted right now (cascade): keep only their id in the context.
    old.organization_id, case when v_member is not null then old.user_id end,
    pg_catalog.jsonb_build_object('role', old.role, 'userId', old.user_id));
  if v_actor_id is distinct from old.user_id and v_member is not null then
    perform outbox.notify_user(old.user_id, 'member.removed',
      coalesce(v_actor, 'The system') || ' removed you from ' || v_organization,
      pg_catalog.jsonb_build_object('organizationId', old.organization_id), v_event_id);
  end if;
  return null;
end;
$$;
comment on function auth_private.tg_memberships__publish_removed() is
  'Publishes member.removed, records activity and notifies the removed member.';

create trigger _600_publish_member_removed
  after delete on auth.memberships
  for each row execute function auth_private.tg_memberships__publish_removed();
