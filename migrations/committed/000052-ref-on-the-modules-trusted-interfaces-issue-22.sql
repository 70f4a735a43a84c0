--! Previous: sha1:b907bac562ccc8648f9957226c3597aadf01a534
--! Hash: sha1:bd76812e491cffd9376f6ee93b931d239072c80b
--! Message: ref: on the modules' trusted interfaces (issue 22)

--! split: 5030-ref-on-module-interfaces.sql
--! split: 5030-ref-on-module-interfaces.sql
-- ref.sync_timezones on auth's trusted interface (auth.assert_operator, 1910)
-- instead of auth_private (CONVENTIONS: a module never reads another module's
-- *_private schema). Only the operator check changes.

-- ref.sync_timezones: as in 000022, on the interfaces
create or replace function ref.sync_timezones() returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_added integer;
begin
  perform auth.assert_operator();
  insert into ref.timezones (name)
  select n from ref_private.server_timezone_names() n
  on conflict (name) do nothing;
  get diagnostics v_added = row_count;
  return v_added;
end;
$$;
