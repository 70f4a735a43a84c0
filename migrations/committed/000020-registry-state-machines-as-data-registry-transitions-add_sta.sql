--! Previous: sha1:ad0b97b956c703564a0593ca3aa22fe7d3ca6505
--! Hash: sha1:441c68aa218423a027ad40a6bfa292c48f276509
--! Message: registry: state machines as data (registry.transitions, add_state_machine, one generic trigger) (issue 18)

--! split: 2010-registry-state-machines.sql
-- State machines as data: the allowed moves of a typed status column are rows
-- of registry.transitions (namespace, from_code, to_code); one generic trigger,
-- installed by registry.add_state_machine(table, column, namespace), refuses
-- any other move (RGTRN), and a new row must start in an initial state (a
-- transition from nothing: from_code null). Adding a move is an insert.
-- Modules register their transitions in their own migrations.

drop function if exists registry.add_state_machine(regclass, text, text) cascade;
drop function if exists registry_private.tg__assert_transition() cascade;
drop table if exists registry.transitions cascade;

create table registry.transitions (
  transition_id bigint generated always as identity primary key,
  namespace text not null,
  from_code text,
  to_code text not null,
  label text
    constraint transitions_label_check check (char_length(label) between 1 and 200),
  created_at timestamptz not null default now(),
  -- One row per move; nulls not distinct, so "may start in" is registered once.
  constraint transitions_move_key unique nulls not distinct (namespace, from_code, to_code),
  constraint transitions_from_fkey foreign key (namespace, from_code)
    references registry.types (namespace, code) on update restrict on delete cascade,
  constraint transitions_to_fkey foreign key (namespace, to_code)
    references registry.types (namespace, code) on update restrict on delete cascade,
  constraint transitions_move_check check (from_code is distinct from to_code)
);
alter table registry.transitions enable row level security;

create policy "signed-in users read every transition"
  on registry.transitions for select to gw_user
  using (true);
create policy "operators add transitions"
  on registry.transitions for insert to gw_admin
  with check ((select auth.has_role('gw_admin')));
create policy "operators change transition labels"
  on registry.transitions for update to gw_admin
  using ((select auth.has_role('gw_admin'))) with check ((select auth.has_role('gw_admin')));
create policy "operators remove transitions"
  on registry.transitions for delete to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on registry.transitions to gw_user;
grant insert (namespace, from_code, to_code, label), update (label), delete on registry.transitions to gw_admin;

-- (namespace, from_code) is served by the unique key; (namespace, to_code) needs its own.
create index transitions_to_idx on registry.transitions (namespace, to_code);

comment on table registry.transitions is
  E'An allowed move of a state machine: a row whose status column holds from_code (a type of the namespace) may be changed to to_code. A transition without from_code names a state new rows may start in. Columns put under registry.add_state_machine refuse every other move (RGTRN). Operators (gw_admin) add and remove moves.';
comment on column registry.transitions.transition_id is 'The transition''s id.';
comment on column registry.transitions.namespace is 'The registry namespace of the states, e.g. event_status.';
comment on column registry.transitions.from_code is 'The state moved from, or null: new rows may start in to_code.';
comment on column registry.transitions.to_code is 'The state moved to.';
comment on column registry.transitions.label is 'The move''s name for people, e.g. Publish.';
comment on column registry.transitions.created_at is 'When the move was allowed.';
comment on constraint transitions_from_fkey on registry.transitions is E'@fieldName fromType\n@foreignFieldName transitionsFrom';
comment on constraint transitions_to_fkey on registry.transitions is E'@fieldName toType\n@foreignFieldName transitionsTo';
comment on constraint transitions_move_key on registry.transitions is
  E'@behavior -single -update -delete\nOne row per move (a null from_code counts once).';

-- The check reads old and new through to_jsonb (the column is named at run
-- time); the update trigger only fires when the column changes (its WHEN clause,
-- evaluated without calling plpgsql), then makes one unique-index lookup.
create function registry_private.tg__assert_transition() returns trigger
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
declare
  v_namespace text := tg_argv[0];
  v_column text := tg_argv[1];
  v_to text := pg_catalog.to_jsonb(new) ->> v_column;
  v_from text;
  v_allowed text;
begin
  if tg_op = 'UPDATE' then
    v_from := pg_catalog.to_jsonb(old) ->> v_column;
    if v_from is not distinct from v_to then
      return new;
    end if;
  elsif v_to is null then
    return new; -- no state yet; a not-null column refuses it itself
  end if;
  if v_to is not null then
    if v_from is null then
      perform 1 from registry.transitions t
       where t.namespace = v_namespace and t.from_code is null and t.to_code = v_to;
    else
      perform 1 from registry.transitions t
       where t.namespace = v_namespace and t.from_code = v_from and t.to_code = v_to;
    end if;
    if found then
      return new;
    end if;
  end if;
  select pg_catalog.string_agg(t.to_code, ', ' order by t.to_code) into v_allowed
    from registry.transitions t
   where t.namespace = v_namespace and t.from_code is not distinct from v_from;
  raise exception '%',
    case when v_from is null
         then pg_catalog.format('%s.%s cannot start in %s.', tg_table_schema || '.' || tg_table_name, v_column, coalesce(v_to, 'null'))
         else pg_catalog.format('%s.%s cannot move from %s to %s.', tg_table_schema || '.' || tg_table_name, v_column, v_from, coalesce(v_to, 'null')) end
    using errcode = 'RGTRN',
          detail = pg_catalog.format('table %s, column %s, namespace %s, from %s, to %s',
                     tg_table_schema || '.' || tg_table_name, v_column, v_namespace, coalesce(v_from, '(new row)'), coalesce(v_to, 'null')),
          hint = case when v_allowed is null then 'No move is allowed from there.'
                      else pg_catalog.format('Allowed %s: %s.', case when v_from is null then 'initial states' else 'from ' || v_from end, v_allowed) end;
end;
$$;
comment on function registry_private.tg__assert_transition() is
  'Refuses a move of a state column that registry.transitions does not allow, and a new row that does not start in an initial state (RGTRN, naming table, column, from and to). Security definer so the check sees every transition whatever the writer may read.';

create function registry.add_state_machine(
  table_name regclass,
  column_name text,
  namespace text
) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_insert_trigger text := pg_catalog.left('_060_initial_' || add_state_machine.column_name, 63);
  v_update_trigger text := pg_catalog.left('_060_transition_' || add_state_machine.column_name, 63);
begin
  if add_state_machine.namespace is null or add_state_machine.namespace !~ '^[a-z][a-z0-9_.]{0,62}$' then
    raise exception 'Bad namespace %.', add_state_machine.namespace using errcode = 'BADIN';
  end if;
  if not exists (
    select 1 from pg_catalog.pg_attribute a
     where a.attrelid = add_state_machine.table_name and a.attname = add_state_machine.column_name
       and a.attnum > 0 and not a.attisdropped
  ) then
    raise exception 'Table % has no column %.', add_state_machine.table_name, add_state_machine.column_name
      using errcode = 'BADIN';
  end if;
  execute pg_catalog.format('drop trigger if exists %I on %s', v_insert_trigger, add_state_machine.table_name);
  execute pg_catalog.format('drop trigger if exists %I on %s', v_update_trigger, add_state_machine.table_name);
  execute pg_catalog.format(
    'create trigger %I before insert on %s for each row execute function registry_private.tg__assert_transition(%L, %L)',
    v_insert_trigger, add_state_machine.table_name, add_state_machine.namespace, add_state_machine.column_name);
  execute pg_catalog.format(
    'create trigger %I before update of %I on %s for each row when (old.%I is distinct from new.%I) '
      || 'execute function registry_private.tg__assert_transition(%L, %L)',
    v_update_trigger, add_state_machine.column_name, add_state_machine.table_name,
    add_state_machine.column_name, add_state_machine.column_name,
    add_state_machine.namespace, add_state_machine.column_name);
end;
$$;
comment on function registry.add_state_machine(table_name regclass, column_name text, namespace text) is
  E'@behavior -mutationField\nPuts a state column under the moves of registry.transitions for its namespace: a new row must start in an initial state, and an update may only make an allowed move (RGTRN otherwise). Installs triggers _060_initial_<column> and _060_transition_<column>; idempotent; for migrations (runs as the table owner). Call registry.add_type_column first so that the column only holds active codes.';
revoke execute on function registry.add_state_machine(regclass, text, text) from public;
