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
