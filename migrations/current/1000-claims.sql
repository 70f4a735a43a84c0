-- Claim helpers: the only way SQL reads the caller's JWT claims. Names follow
-- Supabase (auth.jwt(), auth.uid(), auth.role()) so its policies port unchanged.
-- Only currentOrgId and hasRole are GraphQL fields; the rest are hidden (role()
-- would also clash with the Role lookup field, and uid() duplicates currentUser).
-- They come first because every policy in the later files calls them; the ones
-- that read tables are plpgsql, so the tables they read may be created later.

drop function if exists auth.current_user_admin_organization_ids() cascade;
drop function if exists auth.current_user_organization_ids() cascade;
drop function if exists auth.has_role(text) cascade;
drop function if exists auth.current_org_id() cascade;
drop function if exists auth.uid() cascade;
drop function if exists auth.role() cascade;
drop function if exists auth.jwt() cascade;

create function auth.jwt() returns jsonb
  language sql
  stable
  set search_path = ''
as $$
  select coalesce(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb);
$$;
comment on function auth.jwt() is
  E'@behavior -queryField -mutationField -typeField\nThe verified JWT claims of the current request (request.jwt.claims), or an empty object. Claims are trusted as issued; use auth.uid() for identity, which also checks revocation.';

create function auth.role() returns text
  language sql
  stable
  set search_path = ''
as $$
  select auth.jwt() ->> 'role';
$$;
comment on function auth.role() is
  E'@behavior -queryField -mutationField -typeField\nThe role claim of the current request (the Postgres role the request runs as), or null.';

create function auth.uid() returns uuid
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
declare
  v_claims jsonb := auth.jwt();
  v_sub text := v_claims ->> 'sub';
  v_sid text := v_claims ->> 'sid';
  v_iat text := v_claims ->> 'iat';
  v_user_id uuid;
  v_tokens_revoked_at timestamptz;
begin
  if v_sub is null or v_sub !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    return null;
  end if;
  v_user_id := v_sub::uuid;

  select u.tokens_revoked_at into v_tokens_revoked_at
    from auth.users u
   where u.user_id = v_user_id;
  if not found then
    return null;
  end if;

  -- A password change kills every token issued before it (whole seconds: iat is).
  if v_tokens_revoked_at is not null and (
       v_iat is null
       or v_iat !~ '^[0-9]{1,15}(\.[0-9]+)?$'
       or pg_catalog.floor(v_iat::numeric) < pg_catalog.floor(extract(epoch from v_tokens_revoked_at))
     ) then
    return null;
  end if;

  -- A token that names its session family is only as alive as that family.
  if v_sid is not null then
    if v_sid !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
      return null;
    end if;
    perform 1
       from auth.sessions s
      where s.session_id = v_sid::uuid
        and s.user_id = v_user_id
        and s.revoked_at is null;
    if not found then
      return null;
    end if;
  end if;

  return v_user_id;
end;
$$;
comment on function auth.uid() is
  E'@behavior -queryField -mutationField -typeField\nThe signed-in user''s id (the sub claim), or null when signed out, when the session family named by the sid claim is revoked or unknown, when the user no longer exists, or when the token was issued (iat) before the user''s tokens_revoked_at. Two primary-key lookups. Security definer because it must read auth.sessions and auth.users whatever the caller may see; it reveals nothing but the caller''s own id.';

create function auth.current_org_id() returns uuid
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
  v_org_id text := auth.jwt() ->> 'org_id';
begin
  if v_user_id is null or v_org_id is null
     or v_org_id !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    return null;
  end if;
  perform 1
     from auth.memberships m
    where m.organization_id = v_org_id::uuid
      and m.user_id = v_user_id;
  if not found then
    return null;
  end if;
  return v_org_id::uuid;
end;
$$;
comment on function auth.current_org_id() is
  E'The organization the request acts in (the org_id claim), but only while the signed-in user is still a member of it; otherwise null. Security definer because it must read auth.memberships without going through its policies (which call back into these helpers).';

create function auth.has_role(role_name text) returns boolean
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
begin
  if v_user_id is null or has_role.role_name is null then
    return false;
  end if;
  -- Every signed-in role (staff roles and gw_admin inherit gw_user) is a gw_user.
  if has_role.role_name = 'gw_user' then
    return true;
  end if;
  if auth.role() is distinct from has_role.role_name then
    return false;
  end if;
  return exists (
    select 1
      from auth.user_roles ur
     where ur.user_id = v_user_id
       and ur.role_name = has_role.role_name
  );
end;
$$;
comment on function auth.has_role(text) is
  E'True when the caller is signed in (auth.uid() is not null) and either role_name is gw_user (every signed-in role is one) or the request runs as role_name (the role claim) and it is still granted to them in auth.user_roles. A token minted before a staff role was revoked therefore stops passing has_role() at once, even though the request still runs as that Postgres role until the token expires. Use it in policies for staff access: (select auth.has_role(''role_finance'')). Security definer because it must read auth.user_roles for any caller.';

create function auth.current_user_organization_ids() returns setof uuid
  language plpgsql
  stable
  rows 10
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
begin
  if v_user_id is null then
    return;
  end if;
  return query
    select m.organization_id
      from auth.memberships m
     where m.user_id = v_user_id;
end;
$$;
comment on function auth.current_user_organization_ids() is
  E'@behavior -queryField -mutationField -typeField\nThe organizations the signed-in user belongs to (any membership role). Use it in policies as organization_id = any (array(select auth.current_user_organization_ids())). Security definer so that policies on auth.memberships and auth.organizations can use it without recursing into their own policies.';

create function auth.current_user_admin_organization_ids() returns setof uuid
  language plpgsql
  stable
  rows 10
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
begin
  if v_user_id is null then
    return;
  end if;
  return query
    select m.organization_id
      from auth.memberships m
     where m.user_id = v_user_id
       and m.role in ('owner', 'admin');
end;
$$;
comment on function auth.current_user_admin_organization_ids() is
  E'@behavior -queryField -mutationField -typeField\nThe organizations in which the signed-in user is an owner or an admin. Security definer for the same reason as auth.current_user_organization_ids(): policies use it without recursing.';

grant execute on function auth.jwt() to gw_anonymous, gw_user;
grant execute on function auth.role() to gw_anonymous, gw_user;
grant execute on function auth.uid() to gw_anonymous, gw_user;
grant execute on function auth.current_org_id() to gw_anonymous, gw_user;
grant execute on function auth.has_role(text) to gw_anonymous, gw_user;
grant execute on function auth.current_user_organization_ids() to gw_anonymous, gw_user;
grant execute on function auth.current_user_admin_organization_ids() to gw_anonymous, gw_user;
