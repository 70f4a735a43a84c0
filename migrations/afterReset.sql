-- Superuser work, run by the bootstrap (and by `graphile-migrate reset`) as the
-- root connection. Everything here is idempotent: roles are cluster-wide and
-- several Groundwork databases (dev, tests) may share one cluster.
-- :REQUEST_ROLES and :STAFF_ROLES are filled in from the module registry
-- (src/modules.ts: requestRoles, staffRoles), the one list of request roles.

do $$
declare
  v_role text;
begin
  if ':REQUEST_ROLES' like ':%' then
    raise exception 'afterReset.sql needs the :REQUEST_ROLES and :STAFF_ROLES placeholders: run it through groundwork (migrate, reset, commit), or export them as printed by groundwork db-url';
  end if;
  -- Login roles. Passwords are set by the bootstrap, never stored here.
  if not exists (select 1 from pg_roles where rolname = 'gw_owner') then
    create role gw_owner login;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'gw_authenticator') then
    -- noinherit: the API holds no privileges of its own until it SET ROLEs
    -- to the caller's role for one transaction.
    create role gw_authenticator login noinherit;
  end if;

  -- Request roles: never log in, only reachable through gw_authenticator.
  foreach v_role in array pg_catalog.string_to_array(':REQUEST_ROLES', ',')
  loop
    if not exists (select 1 from pg_roles where rolname = v_role) then
      execute format('create role %I nologin', v_role);
    end if;
    execute format('grant %I to gw_authenticator', v_role);
  end loop;

  -- Staff and operators are signed-in people first: they inherit gw_user.
  foreach v_role in array pg_catalog.string_to_array(':STAFF_ROLES', ',')
  loop
    execute format('grant gw_user to %I', v_role);
  end loop;
end
$$;

-- The owner must be able to create the trusted extensions and schemas it needs.
grant create on database :DATABASE_NAME to gw_owner;
alter database :DATABASE_NAME owner to gw_owner;
alter schema public owner to gw_owner;

-- Nobody gets anything by default in public; every grant in Groundwork is explicit.
revoke all on schema public from public;
revoke all on database :DATABASE_NAME from public;
grant connect on database :DATABASE_NAME to gw_authenticator;
