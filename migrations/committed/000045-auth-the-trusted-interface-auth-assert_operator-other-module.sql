--! Previous: sha1:7f35e8e9c3c98dce58db67c314a37a32763af328
--! Hash: sha1:42cf01b6fc3154d9fed8160ef2321fd9e87333fb
--! Message: auth: the trusted interface (auth.assert_operator) other modules call instead of auth_private (issue 22)

--! split: 1910-auth-trusted-interface.sql
--! split: 1910-auth-trusted-interface.sql
-- The operator check every module's operator-only functions make, as auth's
-- trusted interface: a module never reads another module's *_private schema
-- (CONVENTIONS), so the shared check is a public function of auth with
-- execute revoked from the API roles (only the owner's security-definer
-- functions call it) and hidden from GraphQL. auth_private.assert_operator
-- stays the implementation.

drop function if exists auth.assert_operator();

create function auth.assert_operator() returns void
  language sql
  stable
  set search_path = ''
as $$
  select auth_private.assert_operator()
$$;
comment on function auth.assert_operator() is
  E'@behavior -*\nTrusted interface, not in GraphQL: raises DNIED unless the caller currently holds gw_admin (API requests) or is a direct owner/superuser connection. For other modules'' operator-only functions; no API role may execute it.';
revoke execute on function auth.assert_operator() from public;
