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
