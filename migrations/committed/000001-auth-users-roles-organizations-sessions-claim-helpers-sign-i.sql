--! Previous: -
--! Hash: sha1:9719d5777ec30f845bc6c4f008f45b0721b32c7b
--! Message: auth: users, roles, organizations, sessions, claim helpers, sign-in

--! split: 0001-setup.sql
-- Setup: extensions, default privileges, the auth schemas and shared domains.
-- Runs as gw_owner. Re-runnable: drops what it creates first (the later auth
-- files recreate everything that lives in these schemas).

drop domain if exists auth.money_positive cascade;
drop domain if exists auth.email cascade;
drop schema if exists auth_private cascade;
drop schema if exists auth cascade;

-- Never dropped: other modules may use it. pgcrypto is trusted (PG 13+), so
-- gw_owner may create it. It lives in public, which API roles cannot use
-- (afterReset revokes it), so only owner-run security definer functions reach
-- crypt(), digest() and gen_random_bytes().
create extension if not exists pgcrypto with schema public;

-- Nothing gw_owner creates from now on is executable by PUBLIC; every function
-- is granted to the roles that need it, by name.
alter default privileges revoke execute on functions from public;

create schema auth;
comment on schema auth is
  'Identity, sessions, organizations and roles. Exposed through GraphQL; every table is guarded by row level security.';
grant usage on schema auth to gw_anonymous, gw_user;

create schema auth_private;
comment on schema auth_private is
  'Secrets and helpers only trusted code may touch (password hashes, token bookkeeping). Never exposed; API roles have no usage on it.';
revoke all on schema auth_private from public;

create domain auth.email as text
  constraint email_length check (char_length(value) <= 254)
  constraint email_format check (
    value ~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$'
  );
comment on domain auth.email is
  'An e-mail address: at most 254 characters, a local part, an @ and a domain with at least one dot (the HTML5 rule). Compared case-insensitively.';

create domain auth.money_positive as numeric
  constraint money_positive_check check (value > 0);
comment on domain auth.money_positive is
  'A strictly positive amount of money.';

-- Domains are usable by PUBLIC by default; say so explicitly for the API roles.
grant usage on domain auth.email to gw_anonymous, gw_user;
grant usage on domain auth.money_positive to gw_anonymous, gw_user;

--! split: 1000-claims.sql
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

--! split: 1100-users.sql
-- Users, their secrets, and staff roles.

drop function if exists auth."current_user"() cascade;
drop function if exists auth_private.tg_user_roles__validate() cascade;
drop table if exists auth.user_roles cascade;
drop function if exists auth_private.tg_roles__protect_admin() cascade;
drop function if exists auth_private.tg_roles__validate() cascade;
drop table if exists auth.roles cascade;
drop function if exists auth_private.assert_valid_password(text) cascade;
drop table if exists auth_private.user_secrets cascade;
drop function if exists auth_private.tg_users__validate() cascade;
drop table if exists auth.users cascade;

--------------------------------------------------------------------------------
-- auth.users

create table auth.users (
  user_id uuid primary key default gen_random_uuid(),
  username text not null
    constraint users_username_check
    check (char_length(username) between 2 and 32 and username ~ '^[a-zA-Z][a-zA-Z0-9_-]*$'),
  email auth.email not null,
  created_at timestamptz not null default now(),
  currency char(3) not null default 'USD'
    constraint users_currency_check check (currency ~ '^[A-Z]{3}$'),
  has_completed_onboarding boolean not null default false,
  tokens_revoked_at timestamptz
);
alter table auth.users enable row level security;

create unique index users_username_lower_key on auth.users (lower(username));
create unique index users_email_lower_key on auth.users (lower(email));

create policy "users see their own row and admins see every row"
  on auth.users for select to gw_user
  using (user_id = (select auth.uid()) or (select auth.has_role('gw_admin')));
create policy "users update their own row"
  on auth.users for update to gw_user
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));

grant select on auth.users to gw_user;
grant update (username, currency, has_completed_onboarding) on auth.users to gw_user;

comment on table auth.users is
  E'@behavior -insert -delete\nA person who can sign in. Accounts are created by register (not by a CRUD mutation); each user sees only their own row, admins see all.';
comment on column auth.users.user_id is 'The user''s id; the sub claim of their tokens.';
comment on column auth.users.username is 'A public handle: 2 to 32 characters, letters, digits, _ and -, starting with a letter; unique ignoring case.';
comment on column auth.users.email is 'The e-mail address; unique ignoring case. Set at registration.';
comment on column auth.users.created_at is 'When the account was created.';
comment on column auth.users.currency is 'The display currency (ISO 4217, three capital letters), for formatting amounts in the client.';
comment on column auth.users.has_completed_onboarding is 'Whether the user has finished onboarding; the client uses it to decide whether to show it.';
comment on column auth.users.tokens_revoked_at is 'Set when the password changes: every token issued (iat) before this second is dead.';

-- Coded errors instead of raw constraint violations for what users may edit.
-- Security definer: the uniqueness check must see other users' rows, which RLS hides.
create function auth_private.tg_users__validate() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if new.username is null or char_length(new.username) not between 2 and 32
     or new.username !~ '^[a-zA-Z][a-zA-Z0-9_-]*$' then
    raise exception 'A username has 2 to 32 characters (letters, digits, _ and -) and starts with a letter.'
      using errcode = 'BADUN';
  end if;
  if new.currency is null or new.currency !~ '^[A-Z]{3}$' then
    raise exception 'The currency must be an ISO 4217 code of three capital letters.'
      using errcode = 'BADIN';
  end if;
  if new.has_completed_onboarding is null then
    raise exception 'has_completed_onboarding must be true or false.'
      using errcode = 'BADIN';
  end if;
  if (tg_op = 'INSERT' or pg_catalog.lower(new.username) <> pg_catalog.lower(old.username))
     and exists (
       select 1 from auth.users u
        where pg_catalog.lower(u.username) = pg_catalog.lower(new.username)
          and u.user_id <> new.user_id
     ) then
    raise exception 'That username is taken.' using errcode = 'UNTKN';
  end if;
  return new;
end;
$$;
comment on function auth_private.tg_users__validate() is
  'Turns bad usernames, currencies and taken usernames into coded errors (BADUN, BADIN, UNTKN). Security definer because the uniqueness check must see rows RLS hides from the caller.';

create trigger _100_validate
  before insert or update on auth.users
  for each row execute function auth_private.tg_users__validate();

--------------------------------------------------------------------------------
-- auth_private.user_secrets

create table auth_private.user_secrets (
  user_id uuid primary key references auth.users (user_id) on delete cascade,
  password_hash text not null,
  failed_login_count integer not null default 0
    constraint user_secrets_failed_login_count_check check (failed_login_count >= 0),
  first_failed_login_at timestamptz,
  last_login_at timestamptz
);
-- RLS with no policies and no grants: only the owner (and its security
-- definer functions) ever reads this table.
alter table auth_private.user_secrets enable row level security;

comment on table auth_private.user_secrets is
  'Password hashes and sign-in throttling state, one row per user. No API role has any privilege on it.';
comment on column auth_private.user_secrets.password_hash is 'bcrypt (cost 10) via public.crypt(password, public.gen_salt(''bf'', 10)).';
comment on column auth_private.user_secrets.failed_login_count is 'Failed sign-ins in the window that started at first_failed_login_at.';
comment on column auth_private.user_secrets.first_failed_login_at is 'Start of the current 15-minute failure window; null when there is none.';
comment on column auth_private.user_secrets.last_login_at is 'When the user last signed in successfully.';

create function auth_private.assert_valid_password(password text) returns void
  language plpgsql
  immutable
  set search_path = ''
as $$
begin
  if assert_valid_password.password is null or assert_valid_password.password = '' then
    raise exception 'A password is required.' using errcode = 'BADIN';
  end if;
  -- bcrypt only reads the first 72 bytes: longer passwords would be silently truncated.
  if pg_catalog.octet_length(assert_valid_password.password) > 72
     or pg_catalog.char_length(assert_valid_password.password) < 10
     or assert_valid_password.password !~ '[[:alpha:]]'
     or assert_valid_password.password !~ '[0-9]' then
    raise exception 'A password needs at least 10 characters, at most 72 bytes, with at least one letter and one digit.'
      using errcode = 'WEAKP';
  end if;
end;
$$;
comment on function auth_private.assert_valid_password(text) is
  'Raises BADIN for a missing password and WEAKP unless it has at least 10 characters, at most 72 bytes, a letter and a digit.';

--------------------------------------------------------------------------------
-- auth.roles

create table auth.roles (
  role_name text primary key,
  description text
    constraint roles_description_check check (char_length(description) <= 1000)
);
alter table auth.roles enable row level security;

create policy "signed-in users see every role"
  on auth.roles for select to gw_user
  using ((select auth.uid()) is not null);
create policy "admins add roles"
  on auth.roles for insert to gw_admin
  with check ((select auth.has_role('gw_admin')));
create policy "admins edit role descriptions"
  on auth.roles for update to gw_admin
  using ((select auth.has_role('gw_admin')))
  with check ((select auth.has_role('gw_admin')));
create policy "admins remove roles"
  on auth.roles for delete to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on auth.roles to gw_user;
grant insert (role_name, description), update (description), delete on auth.roles to gw_admin;

comment on table auth.roles is
  'Staff roles a user can be granted (auth.user_roles) and then assume. Each names a Postgres request role that inherits gw_user.';
comment on column auth.roles.role_name is 'The Postgres role a token carries when this role is assumed.';
comment on column auth.roles.description is 'What the role is for.';

create function auth_private.tg_roles__validate() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if new.role_name is null or char_length(new.role_name) not between 1 and 63 then
    raise exception 'A role name is required (at most 63 characters).' using errcode = 'BADIN';
  end if;
  if new.description is not null and char_length(new.description) > 1000 then
    raise exception 'A role description has at most 1000 characters.' using errcode = 'BADIN';
  end if;
  -- Only a request role the API can become, and that inherits gw_user, can be
  -- assumed; anything else would mint tokens the server refuses or worse.
  if new.role_name = 'gw_user'
     or not exists (select 1 from pg_catalog.pg_roles r where r.rolname = new.role_name)
     or not pg_catalog.pg_has_role(new.role_name, 'gw_user', 'member')
     or not pg_catalog.pg_has_role('gw_authenticator', new.role_name, 'member') then
    raise exception 'Role % is not a staff request role (a role gw_authenticator can become that inherits gw_user).', new.role_name
      using errcode = 'BADIN';
  end if;
  return new;
end;
$$;
comment on function auth_private.tg_roles__validate() is
  'Only staff request roles (member of gw_user, reachable by gw_authenticator) may be listed; raises BADIN otherwise.';

create trigger _100_validate
  before insert or update on auth.roles
  for each row execute function auth_private.tg_roles__validate();

create function auth_private.tg_roles__protect_admin() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  raise exception 'The gw_admin role cannot be removed; it would lock every operator out.' using errcode = 'DNIED';
end;
$$;
comment on function auth_private.tg_roles__protect_admin() is
  'Refuses (DNIED) to delete the gw_admin role, which would revoke it from every operator at once.';

create trigger _200_protect_admin
  before delete on auth.roles
  for each row when (old.role_name = 'gw_admin')
  execute function auth_private.tg_roles__protect_admin();

insert into auth.roles (role_name, description) values
  ('gw_admin', 'Operators: queues, dead letters, webhooks, audit; sees every user.'),
  ('role_sales', 'Sales staff.'),
  ('role_finance', 'Finance staff.'),
  ('role_support', 'Support staff.'),
  ('role_hr', 'Human resources staff.'),
  ('role_readonly', 'Read-only staff access for reporting.')
on conflict do nothing;

--------------------------------------------------------------------------------
-- auth.user_roles

create table auth.user_roles (
  user_id uuid not null references auth.users (user_id) on delete cascade,
  role_name text not null references auth.roles (role_name) on delete cascade,
  granted_at timestamptz not null default now(),
  primary key (user_id, role_name)
);
alter table auth.user_roles enable row level security;

-- user_id is covered by the primary key's leading column.
create index user_roles_role_name_idx on auth.user_roles (role_name);

create policy "users see their own roles and admins see every grant"
  on auth.user_roles for select to gw_user
  using (user_id = (select auth.uid()) or (select auth.has_role('gw_admin')));
create policy "admins grant roles"
  on auth.user_roles for insert to gw_admin
  with check ((select auth.has_role('gw_admin')));
create policy "admins revoke roles"
  on auth.user_roles for delete to gw_admin
  using ((select auth.has_role('gw_admin')));

grant select on auth.user_roles to gw_user;
grant insert (user_id, role_name), delete on auth.user_roles to gw_admin;

comment on table auth.user_roles is
  E'@behavior -update\nWhich staff roles each user holds. A user may put a held role in their token with assumeRole; revoking a grant here takes effect at once in auth.has_role() and at the next refresh for the token role.';
comment on column auth.user_roles.user_id is 'The user holding the role.';
comment on column auth.user_roles.role_name is 'The role held.';
comment on column auth.user_roles.granted_at is 'When the role was granted.';

-- Coded errors instead of raw foreign-key violations for an admin's grant.
create function auth_private.tg_user_roles__validate() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if new.user_id is null or new.role_name is null then
    raise exception 'A user and a role are required.' using errcode = 'BADIN';
  end if;
  if not exists (select 1 from auth.users u where u.user_id = new.user_id) then
    raise exception 'No user %.', new.user_id using errcode = 'NOUSR';
  end if;
  if not exists (select 1 from auth.roles r where r.role_name = new.role_name) then
    raise exception 'Unknown role %.', pg_catalog.left(new.role_name, 63) using errcode = 'BADIN';
  end if;
  return new;
end;
$$;
comment on function auth_private.tg_user_roles__validate() is
  'Coded errors for a grant to an unknown user (NOUSR) or of an unknown role (BADIN). Security definer so that the existence checks see every row whoever inserts.';

create trigger _100_validate
  before insert on auth.user_roles
  for each row execute function auth_private.tg_user_roles__validate();

--------------------------------------------------------------------------------
-- auth.current_user()

-- Security definer so that a signed-out caller gets null instead of a
-- permission error on auth.users; it only ever returns the caller's own row.
create function auth."current_user"() returns auth.users
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select u.* from auth.users u where u.user_id = auth.uid();
$$;
comment on function auth."current_user"() is
  'The signed-in user, or null when signed out or when the session has been revoked. Security definer so that signed-out callers get null rather than a permission error; it only ever returns the caller''s own row.';

grant execute on function auth."current_user"() to gw_anonymous, gw_user;

revoke execute on all functions in schema auth, auth_private from public;

--! split: 1200-organizations.sql
-- Organizations and their memberships. Writes go through functions only (except
-- renaming), so the owner invariants live in one place.

drop function if exists auth.remove_member(uuid, uuid) cascade;
drop function if exists auth.add_member(uuid, uuid, text) cascade;
drop function if exists auth.create_organization(text, text) cascade;
drop table if exists auth.memberships cascade;
drop function if exists auth_private.tg_organizations__validate() cascade;
drop table if exists auth.organizations cascade;

--------------------------------------------------------------------------------
-- auth.organizations

create table auth.organizations (
  organization_id uuid primary key default gen_random_uuid(),
  name text not null
    constraint organizations_name_check check (char_length(name) between 1 and 100),
  slug text not null
    constraint organizations_slug_key unique
    constraint organizations_slug_check check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  created_at timestamptz not null default now()
);
alter table auth.organizations enable row level security;

-- Policies compare against array(select helper()): evaluated once per statement,
-- and the = any ($array) condition can use the primary key / unique index.

create policy "members see their organizations"
  on auth.organizations for select to gw_user
  using (organization_id = any (array(select auth.current_user_organization_ids())));
create policy "owners and admins rename their organizations"
  on auth.organizations for update to gw_user
  using (organization_id = any (array(select auth.current_user_admin_organization_ids())))
  with check (organization_id = any (array(select auth.current_user_admin_organization_ids())));

grant select on auth.organizations to gw_user;
grant update (name) on auth.organizations to gw_user;

comment on table auth.organizations is
  E'@behavior -insert -delete\nAn organization (tenant) that users belong to through memberships. Create one with createOrganization; members see it, owners and admins may rename it.';
comment on column auth.organizations.organization_id is 'The organization''s id; the org_id claim of tokens acting in it.';
comment on column auth.organizations.name is 'Display name, 1 to 100 characters.';
comment on column auth.organizations.slug is 'URL name: lowercase letters, digits and -, 2 to 63 characters, starting with a letter or digit; unique.';
comment on column auth.organizations.created_at is 'When the organization was created.';

create function auth_private.tg_organizations__validate() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if new.name is null or pg_catalog.btrim(new.name) = '' or char_length(new.name) > 100 then
    raise exception 'An organization name has 1 to 100 characters and is not blank.' using errcode = 'BADIN';
  end if;
  if new.slug is null or char_length(new.slug) > 63 or new.slug !~ '^[a-z0-9][a-z0-9-]{1,62}$' then
    raise exception 'A slug has 2 to 63 lowercase letters, digits or -, and starts with a letter or digit.'
      using errcode = 'BADIN';
  end if;
  return new;
end;
$$;
comment on function auth_private.tg_organizations__validate() is
  'Turns a bad organization name or slug into a BADIN error instead of a raw check violation.';

create trigger _100_validate
  before insert or update on auth.organizations
  for each row execute function auth_private.tg_organizations__validate();

--------------------------------------------------------------------------------
-- auth.memberships

create table auth.memberships (
  membership_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references auth.organizations (organization_id) on delete cascade,
  user_id uuid not null references auth.users (user_id) on delete cascade,
  role text not null default 'member'
    constraint memberships_role_check check (role in ('owner', 'admin', 'member')),
  created_at timestamptz not null default now(),
  constraint memberships_organization_id_user_id_key unique (organization_id, user_id)
);
alter table auth.memberships enable row level security;

-- organization_id is covered by the unique constraint's leading column.
create index memberships_user_id_idx on auth.memberships (user_id);

create policy "members see the memberships of their organizations"
  on auth.memberships for select to gw_user
  using (organization_id = any (array(select auth.current_user_organization_ids())));

grant select on auth.memberships to gw_user;

comment on table auth.memberships is
  E'@behavior -insert -update -delete\nWho belongs to which organization, and as what. Members see every membership of their organizations; changes go through addMember and removeMember.';
comment on column auth.memberships.membership_id is 'The membership''s id.';
comment on column auth.memberships.organization_id is 'The organization.';
comment on column auth.memberships.user_id is 'The member.';
comment on column auth.memberships.role is 'owner (everything, including adding owners), admin (manage members and rename) or member.';
comment on column auth.memberships.created_at is 'When the user joined.';

--------------------------------------------------------------------------------
-- Functions

create function auth.create_organization(name text, slug text) returns auth.organizations
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
  v_organization auth.organizations;
begin
  if v_user_id is null then
    raise exception 'You must be signed in to create an organization.' using errcode = 'LOGIN';
  end if;
  if create_organization.name is null or pg_catalog.btrim(create_organization.name) = ''
     or char_length(create_organization.name) > 100 then
    raise exception 'An organization name has 1 to 100 characters and is not blank.' using errcode = 'BADIN';
  end if;
  if create_organization.slug is null or char_length(create_organization.slug) > 63
     or create_organization.slug !~ '^[a-z0-9][a-z0-9-]{1,62}$' then
    raise exception 'A slug has 2 to 63 lowercase letters, digits or -, and starts with a letter or digit.'
      using errcode = 'BADIN';
  end if;
  if exists (select 1 from auth.organizations o where o.slug = create_organization.slug) then
    raise exception 'The slug % is taken.', create_organization.slug using errcode = 'SLUGT';
  end if;

  begin
    insert into auth.organizations (name, slug)
    values (create_organization.name, create_organization.slug)
    returning * into v_organization;
  exception when unique_violation then
    -- Lost a race for the same slug.
    raise exception 'The slug % is taken.', create_organization.slug using errcode = 'SLUGT';
  end;

  insert into auth.memberships (organization_id, user_id, role)
  values (v_organization.organization_id, v_user_id, 'owner');

  return v_organization;
end;
$$;
comment on function auth.create_organization(text, text) is
  E'@resultFieldName organization\nCreates an organization with you as its owner. Errors: LOGIN (signed out), BADIN (name or slug invalid), SLUGT (slug taken). Security definer because organizations and memberships have no insert grants: this is the only way to create them, and it makes the creator the first owner.';

create function auth.add_member(organization_id uuid, user_id uuid, role text default 'member') returns auth.memberships
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
  v_caller_role text;
  v_membership auth.memberships;
begin
  if v_user_id is null then
    raise exception 'You must be signed in to add members.' using errcode = 'LOGIN';
  end if;
  if add_member.organization_id is null or add_member.user_id is null or add_member.role is null then
    raise exception 'An organization, a user and a role are required.' using errcode = 'BADIN';
  end if;
  if add_member.role not in ('owner', 'admin', 'member') then
    raise exception 'A membership role is owner, admin or member.' using errcode = 'BADIN';
  end if;

  -- Serialize membership changes per organization (see remove_member: last owner).
  perform 1 from auth.organizations o where o.organization_id = add_member.organization_id for update;

  select m.role into v_caller_role
    from auth.memberships m
   where m.organization_id = add_member.organization_id
     and m.user_id = v_user_id;
  if v_caller_role is null or v_caller_role not in ('owner', 'admin') then
    raise exception 'Only owners and admins of the organization may add members.' using errcode = 'DNIED';
  end if;
  if add_member.role = 'owner' and v_caller_role <> 'owner' then
    raise exception 'Only owners may add an owner.' using errcode = 'DNIED';
  end if;
  if not exists (select 1 from auth.users u where u.user_id = add_member.user_id) then
    raise exception 'No user %.', add_member.user_id using errcode = 'NOUSR';
  end if;
  if exists (
    select 1 from auth.memberships m
     where m.organization_id = add_member.organization_id
       and m.user_id = add_member.user_id
  ) then
    raise exception 'That user is already a member of the organization.' using errcode = 'MEMBR';
  end if;

  begin
    insert into auth.memberships (organization_id, user_id, role)
    values (add_member.organization_id, add_member.user_id, add_member.role)
    returning * into v_membership;
  exception when unique_violation then
    raise exception 'That user is already a member of the organization.' using errcode = 'MEMBR';
  end;

  return v_membership;
end;
$$;
comment on function auth.add_member(uuid, uuid, text) is
  E'@resultFieldName membership\nAdds a user to an organization you own or administer, as owner, admin or member (default). Only owners may add owners. Errors: LOGIN, BADIN, DNIED (not an owner/admin there, or adding an owner as an admin), NOUSR (no such user), MEMBR (already a member). Security definer because memberships have no insert grant: the rules above are the only way in.';

create function auth.remove_member(organization_id uuid, user_id uuid) returns auth.memberships
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
  v_caller_role text;
  v_target auth.memberships;
begin
  if v_user_id is null then
    raise exception 'You must be signed in to remove members.' using errcode = 'LOGIN';
  end if;
  if remove_member.organization_id is null or remove_member.user_id is null then
    raise exception 'An organization and a user are required.' using errcode = 'BADIN';
  end if;

  -- Serialize membership changes per organization, so two concurrent removals
  -- cannot each leave the other as the "remaining" owner.
  perform 1 from auth.organizations o where o.organization_id = remove_member.organization_id for update;

  select m.role into v_caller_role
    from auth.memberships m
   where m.organization_id = remove_member.organization_id
     and m.user_id = v_user_id;

  if remove_member.user_id <> v_user_id and (v_caller_role is null or v_caller_role not in ('owner', 'admin')) then
    raise exception 'Only owners and admins may remove other members.' using errcode = 'DNIED';
  end if;

  select m.* into v_target
    from auth.memberships m
   where m.organization_id = remove_member.organization_id
     and m.user_id = remove_member.user_id
     for update;
  if not found then
    raise exception 'That user is not a member of the organization.' using errcode = 'NOMEM';
  end if;

  if v_target.role = 'owner' and remove_member.user_id <> v_user_id and v_caller_role <> 'owner' then
    raise exception 'Admins cannot remove owners.' using errcode = 'DNIED';
  end if;
  if v_target.role = 'owner' and not exists (
    select 1 from auth.memberships m
     where m.organization_id = remove_member.organization_id
       and m.role = 'owner'
       and m.membership_id <> v_target.membership_id
  ) then
    raise exception 'An organization must keep at least one owner.' using errcode = 'LOWNR';
  end if;

  delete from auth.memberships m where m.membership_id = v_target.membership_id;
  return v_target;
end;
$$;
comment on function auth.remove_member(uuid, uuid) is
  E'@resultFieldName membership\nRemoves a user from an organization and returns the removed membership. Owners and admins may remove others (admins not owners); anyone may remove themself (leave). The last owner cannot be removed. Errors: LOGIN, BADIN, DNIED, NOMEM (not a member), LOWNR (last owner). Security definer because memberships have no delete grant: these rules are the only way out.';

-- Executable by gw_anonymous too, so a signed-out caller gets LOGIN rather than
-- a permission error; each checks auth.uid() first.
grant execute on function auth.create_organization(text, text) to gw_anonymous, gw_user;
grant execute on function auth.add_member(uuid, uuid, text) to gw_anonymous, gw_user;
grant execute on function auth.remove_member(uuid, uuid) to gw_anonymous, gw_user;

revoke execute on all functions in schema auth, auth_private from public;

--! split: 1300-sessions.sql
-- Sessions: one row per refresh token. A family is every token descending from
-- one sign-in; the access token's sid claim is the family id (the session_id
-- of its first token). Refresh tokens are opaque and single-use; only their
-- sha256 is stored. Presenting a spent one revokes its whole family.

drop function if exists auth_private.retarget_session(uuid, uuid, text, boolean, uuid) cascade;
drop function if exists auth_private.revoke_family(uuid) cascade;
drop function if exists auth_private.lock_family(uuid) cascade;
drop function if exists auth_private.issue_session(uuid, uuid, uuid, text, uuid, text) cascade;
drop function if exists auth_private.effective_org_id(uuid, uuid) cascade;
drop function if exists auth_private.effective_role(uuid, text) cascade;
drop function if exists auth_private.new_refresh_token() cascade;
drop type if exists auth.token_grant cascade;
drop function if exists auth_private.cleanup_refresh_token_blacklist() cascade;
drop table if exists auth.refresh_token_blacklist cascade;
drop table if exists auth.sessions cascade;

--------------------------------------------------------------------------------
-- auth.sessions

create table auth.sessions (
  session_id uuid primary key default gen_random_uuid(),
  family_id uuid not null references auth.sessions (session_id) on delete cascade,
  parent_id uuid references auth.sessions (session_id) on delete cascade,
  user_id uuid not null references auth.users (user_id) on delete cascade,
  token_hash bytea not null
    constraint sessions_token_hash_key unique,
  role text not null default 'gw_user',
  org_id uuid references auth.organizations (organization_id) on delete set null,
  user_agent text
    constraint sessions_user_agent_check check (char_length(user_agent) <= 512),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '30 days',
  rotated_at timestamptz,
  revoked_at timestamptz,
  -- The first token of a family is its root: no parent, and its id is the family id.
  constraint sessions_root_check check ((parent_id is null) = (session_id = family_id))
);
alter table auth.sessions enable row level security;

create index sessions_family_id_idx on auth.sessions (family_id);
create index sessions_parent_id_idx on auth.sessions (parent_id);
create index sessions_user_id_idx on auth.sessions (user_id);
create index sessions_org_id_idx on auth.sessions (org_id);

create policy "users see their own sessions"
  on auth.sessions for select to gw_user
  using (user_id = (select auth.uid()));

-- Every column but token_hash.
grant select (session_id, family_id, parent_id, user_id, role, org_id, user_agent,
              created_at, expires_at, rotated_at, revoked_at)
  on auth.sessions to gw_user;

comment on table auth.sessions is
  E'@behavior -insert -update -delete\nOne row per refresh token you were issued. A family is every token descending from one sign-in; its id is the sid claim of your access tokens. Revoked families sign their access tokens out at once.';
comment on column auth.sessions.session_id is 'This token''s id (also its jti in the revocation blacklist).';
comment on column auth.sessions.family_id is 'The family: the session_id of the token issued at sign-in.';
comment on column auth.sessions.parent_id is 'The token this one replaced, or null for the first token of a family.';
comment on column auth.sessions.user_id is 'Whose session it is.';
comment on column auth.sessions.token_hash is E'@behavior -select\nsha256 of the refresh token. Never readable by API roles.';
comment on column auth.sessions.role is 'The role claim of access tokens issued with this token.';
comment on column auth.sessions.org_id is 'The org_id claim of access tokens issued with this token, if any.';
comment on column auth.sessions.user_agent is 'The client''s User-Agent when the token was issued (first 512 characters).';
comment on column auth.sessions.created_at is 'When the token was issued.';
comment on column auth.sessions.expires_at is 'When the refresh token stops working if unused (30 days after issue).';
comment on column auth.sessions.rotated_at is 'When the token was exchanged for its successor; presenting it again revokes the family.';
comment on column auth.sessions.revoked_at is 'When the token''s family was revoked (sign-out, reuse, password change).';
comment on constraint sessions_token_hash_key on auth.sessions is
  E'@behavior -single -update -delete\nRefresh token hashes are looked up only by the sign-in functions.';

--------------------------------------------------------------------------------
-- auth.refresh_token_blacklist

create table auth.refresh_token_blacklist (
  jti text primary key,
  user_id uuid not null
    constraint refresh_token_blacklist_user_id_fkey references auth.users (user_id) on delete cascade,
  expires_at timestamptz not null,
  created_at timestamptz not null default now()
);
-- RLS with no policies and no grants: only the owner's functions use it.
alter table auth.refresh_token_blacklist enable row level security;

create index refresh_token_blacklist_user_id_idx on auth.refresh_token_blacklist (user_id);

comment on table auth.refresh_token_blacklist is
  E'@behavior -*\nRevoked refresh tokens (jti = the session_id of the token), kept until they would have expired anyway. No API role has any privilege on it.';
comment on column auth.refresh_token_blacklist.jti is 'session_id of the revoked token, as text.';
comment on column auth.refresh_token_blacklist.user_id is 'Whose token it was.';
comment on column auth.refresh_token_blacklist.expires_at is 'The token''s natural expiry; the row can go after it.';
comment on column auth.refresh_token_blacklist.created_at is 'When the token was revoked.';
comment on constraint refresh_token_blacklist_user_id_fkey on auth.refresh_token_blacklist is
  E'@behavior -*\nNo relation field: the blacklist is not part of the API.';

create function auth_private.cleanup_refresh_token_blacklist() returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  delete from auth.refresh_token_blacklist b where b.expires_at < now();
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function auth_private.cleanup_refresh_token_blacklist() is
  'Deletes blacklist rows whose token has expired anyway; returns how many. Run by the worker''s crontab as gw_owner.';

--------------------------------------------------------------------------------
-- auth.token_grant

create type auth.token_grant as (
  user_id uuid,
  session_id uuid,
  role text,
  org_id uuid,
  refresh_token text,
  refresh_expires_at timestamptz,
  error_code text,
  error_message text
);
comment on type auth.token_grant is
  'What the sign-in functions return for the server to turn into tokens: either a session (error_code null) or a failure that had to be committed rather than raised (error_code set).';
comment on column auth.token_grant.user_id is 'The JWT sub.';
comment on column auth.token_grant.session_id is 'The session family id: the JWT sid.';
comment on column auth.token_grant.role is 'The JWT role.';
comment on column auth.token_grant.org_id is 'The JWT org_id, or null.';
comment on column auth.token_grant.refresh_token is 'The new opaque, single-use refresh token (only its sha256 is stored).';
comment on column auth.token_grant.refresh_expires_at is 'When the refresh token expires.';
comment on column auth.token_grant.error_code is 'Set instead of raising when the failure itself must be committed (CREDS, LOCKD, RTINV, RTRSE).';
comment on column auth.token_grant.error_message is 'A message for the client to go with error_code.';

--------------------------------------------------------------------------------
-- Private helpers (called only by the security definer functions in 1400)

create function auth_private.new_refresh_token() returns text
  language sql
  volatile
  set search_path = ''
as $$
  -- 32 random bytes, base64url without padding (43 characters).
  select pg_catalog.rtrim(pg_catalog.translate(pg_catalog.encode(public.gen_random_bytes(32), 'base64'), '+/', '-_'), '=');
$$;
comment on function auth_private.new_refresh_token() is
  'A new opaque refresh token: 32 random bytes, base64url without padding.';

create function auth_private.effective_role(user_id uuid, role text) returns text
  language sql
  stable
  set search_path = ''
as $$
  select case
    when effective_role.role = 'gw_user' then 'gw_user'
    when exists (
      select 1 from auth.user_roles ur
       where ur.user_id = effective_role.user_id
         and ur.role_name = effective_role.role
    ) then effective_role.role
    else 'gw_user'
  end;
$$;
comment on function auth_private.effective_role(uuid, text) is
  'role if the user may still carry it (gw_user, or granted in auth.user_roles), else gw_user.';

create function auth_private.effective_org_id(user_id uuid, org_id uuid) returns uuid
  language sql
  stable
  set search_path = ''
as $$
  select m.organization_id
    from auth.memberships m
   where m.organization_id = effective_org_id.org_id
     and m.user_id = effective_org_id.user_id;
$$;
comment on function auth_private.effective_org_id(uuid, uuid) is
  'org_id if the user is still a member of it, else null.';

create function auth_private.issue_session(
  user_id uuid,
  family_id uuid,
  parent_id uuid,
  role text,
  org_id uuid,
  user_agent text
) returns auth.token_grant
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_token text := auth_private.new_refresh_token();
  v_session_id uuid := gen_random_uuid();
  v_family_id uuid := coalesce(issue_session.family_id, v_session_id);
  v_expires_at timestamptz := now() + interval '30 days';
begin
  insert into auth.sessions (session_id, family_id, parent_id, user_id, token_hash, role, org_id, user_agent, expires_at)
  values (
    v_session_id,
    v_family_id,
    issue_session.parent_id,
    issue_session.user_id,
    public.digest(v_token, 'sha256'),
    issue_session.role,
    issue_session.org_id,
    pg_catalog.left(issue_session.user_agent, 512),
    v_expires_at
  );
  return row(issue_session.user_id, v_family_id, issue_session.role, issue_session.org_id,
             v_token, v_expires_at, null, null)::auth.token_grant;
end;
$$;
comment on function auth_private.issue_session(uuid, uuid, uuid, text, uuid, text) is
  'Stores a new refresh token (a new family when family_id is null, else a child of parent_id) and returns its grant.';

create function auth_private.lock_family(family_id uuid) returns boolean
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  -- Every change to a family locks its root row first, so concurrent refreshes,
  -- rotations and revocations of one family run one at a time, in one lock order.
  perform 1 from auth.sessions s where s.session_id = lock_family.family_id for update;
  return found;
end;
$$;
comment on function auth_private.lock_family(uuid) is
  'Locks the root row of a session family (false if there is none). Take it before touching any other row of the family.';

create function auth_private.revoke_family(family_id uuid) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  perform auth_private.lock_family(revoke_family.family_id);

  update auth.sessions s
     set revoked_at = now()
   where s.family_id = revoke_family.family_id
     and s.revoked_at is null;
  get diagnostics v_count = row_count;

  insert into auth.refresh_token_blacklist (jti, user_id, expires_at)
  select s.session_id::text, s.user_id, s.expires_at
    from auth.sessions s
   where s.family_id = revoke_family.family_id
  on conflict (jti) do nothing;

  return v_count;
end;
$$;
comment on function auth_private.revoke_family(uuid) is
  'Revokes every token of a session family and blacklists each one until its expiry; returns how many tokens were newly revoked.';

create function auth_private.retarget_session(
  user_id uuid,
  family_id uuid,
  role text,
  change_org boolean,
  org_id uuid
) returns auth.token_grant
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_current auth.sessions;
  v_role text;
  v_org_id uuid;
begin
  if not auth_private.lock_family(retarget_session.family_id) then
    raise exception 'Your session no longer exists; sign in again.' using errcode = 'LOGIN';
  end if;

  select s.* into v_current
    from auth.sessions s
   where s.family_id = retarget_session.family_id
     and s.user_id = retarget_session.user_id
     and s.rotated_at is null
     and s.revoked_at is null
   order by s.created_at desc
   limit 1
     for update;
  if not found or v_current.expires_at <= now() then
    raise exception 'Your session has ended; sign in again.' using errcode = 'LOGIN';
  end if;

  v_role := auth_private.effective_role(retarget_session.user_id, coalesce(retarget_session.role, v_current.role));
  v_org_id := auth_private.effective_org_id(
    retarget_session.user_id,
    case when retarget_session.change_org then retarget_session.org_id else v_current.org_id end
  );

  -- The live refresh token now carries the new role/org, so the next refresh keeps them.
  update auth.sessions s set role = v_role, org_id = v_org_id where s.session_id = v_current.session_id;

  return row(retarget_session.user_id, v_current.family_id, v_role, v_org_id,
    null::text, v_current.expires_at, null::text, null::text)::auth.token_grant;
end;
$$;
comment on function auth_private.retarget_session(uuid, uuid, text, boolean, uuid) is
  'Changes the role and/or organization of the caller''s live session (the family''s unrotated, unrevoked refresh token) and returns a grant for a new access token only: refresh_token is null, so an access token alone can never obtain a refresh token (a stolen 15-minute token cannot become a 30-day session). Raises LOGIN when the family is gone or its refresh token expired.';

revoke execute on all functions in schema auth, auth_private from public;

--! split: 1400-tokens.sql
-- Token-issuing functions. The server wraps each in its own GraphQL mutation and
-- signs the access JWT itself from the returned auth.token_grant, so none of
-- them is exposed directly (@behavior -queryField -mutationField -typeField).
-- Failures that must be committed (throttling counters, family revocation) are
-- returned in error_code instead of raised; everything else raises.

drop function if exists auth.assume_role(text, text) cascade;
drop function if exists auth.switch_organization(uuid, text) cascade;
drop function if exists auth.change_password(text, text, text) cascade;
drop function if exists auth.logout() cascade;
drop function if exists auth.refresh_session(text, text) cascade;
drop function if exists auth.login(text, text, text) cascade;
drop function if exists auth.register(text, text, text, text) cascade;
drop function if exists auth_private.claimed_family_id() cascade;

create function auth_private.claimed_family_id() returns uuid
  language sql
  stable
  set search_path = ''
as $$
  select case
    when auth.jwt() ->> 'sid' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    then (auth.jwt() ->> 'sid')::uuid
  end;
$$;
comment on function auth_private.claimed_family_id() is
  'The sid claim as a uuid, or null. Trust it only together with auth.uid(), which checks that the family is alive.';

--------------------------------------------------------------------------------

create function auth.register(username text, email text, password text, user_agent text default null)
  returns auth.token_grant
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid;
  v_constraint text;
begin
  if register.username is null or register.email is null or register.password is null
     or pg_catalog.btrim(register.username) = '' or pg_catalog.btrim(register.email) = ''
     or register.password = '' then
    raise exception 'A username, an e-mail address and a password are required.' using errcode = 'BADIN';
  end if;
  if char_length(register.username) not between 2 and 32
     or register.username !~ '^[a-zA-Z][a-zA-Z0-9_-]*$' then
    raise exception 'A username has 2 to 32 characters (letters, digits, _ and -) and starts with a letter.'
      using errcode = 'BADUN';
  end if;
  if char_length(register.email) > 254 then
    raise exception 'That e-mail address is not valid.' using errcode = 'BADEM';
  end if;
  begin
    perform register.email::auth.email;
  exception when check_violation then
    raise exception 'That e-mail address is not valid.' using errcode = 'BADEM';
  end;
  perform auth_private.assert_valid_password(register.password);

  if exists (select 1 from auth.users u where pg_catalog.lower(u.username) = pg_catalog.lower(register.username)) then
    raise exception 'That username is taken.' using errcode = 'UNTKN';
  end if;
  if exists (select 1 from auth.users u where pg_catalog.lower(u.email) = pg_catalog.lower(register.email)) then
    raise exception 'That e-mail address is already registered.' using errcode = 'EMTKN';
  end if;

  begin
    insert into auth.users (username, email)
    values (register.username, register.email)
    returning users.user_id into v_user_id;
  exception when unique_violation then
    -- Lost a race with a concurrent registration.
    get stacked diagnostics v_constraint = constraint_name;
    if v_constraint = 'users_email_lower_key' then
      raise exception 'That e-mail address is already registered.' using errcode = 'EMTKN';
    end if;
    raise exception 'That username is taken.' using errcode = 'UNTKN';
  end;

  insert into auth_private.user_secrets (user_id, password_hash)
  values (v_user_id, public.crypt(register.password, public.gen_salt('bf', 10)));

  return auth_private.issue_session(v_user_id, null, null, 'gw_user', null, register.user_agent);
end;
$$;
comment on function auth.register(text, text, text, text) is
  E'@behavior -queryField -mutationField -typeField\nCreates an account and its first session family; returns the grant for role gw_user. Raises BADIN (missing field), BADUN (bad username), BADEM (bad e-mail), WEAKP (password: at least 10 characters, at most 72 bytes, a letter and a digit), UNTKN / EMTKN (username / e-mail taken, ignoring case). Security definer because it writes auth.users, auth_private.user_secrets and auth.sessions, which API roles cannot.';

--------------------------------------------------------------------------------

create function auth.login(identifier text, password text, user_agent text default null)
  returns auth.token_grant
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid;
  v_secrets auth_private.user_secrets;
  v_window_open boolean;
  v_retry_at timestamptz;
  v_failed constant auth.token_grant :=
    row(null, null, null, null, null, null, 'CREDS', 'Wrong username, e-mail address or password.')::auth.token_grant;
begin
  if login.identifier is null or pg_catalog.btrim(login.identifier) = ''
     or login.password is null or login.password = '' then
    raise exception 'An identifier (e-mail address or username) and a password are required.' using errcode = 'BADIN';
  end if;

  -- Usernames cannot contain @, so the identifier's shape says which index to use.
  if char_length(login.identifier) <= 254 then
    if pg_catalog.strpos(login.identifier, '@') > 0 then
      select u.user_id into v_user_id from auth.users u
       where pg_catalog.lower(u.email) = pg_catalog.lower(login.identifier);
    else
      select u.user_id into v_user_id from auth.users u
       where pg_catalog.lower(u.username) = pg_catalog.lower(login.identifier);
    end if;
  end if;

  if v_user_id is not null then
    select s.* into v_secrets
      from auth_private.user_secrets s
     where s.user_id = v_user_id
       for update;
  end if;

  if v_secrets.user_id is null then
    -- Unknown account: spend what a real check costs, so timing tells nothing.
    perform public.crypt(pg_catalog.left(login.password, 72), public.gen_salt('bf', 10));
    return v_failed;
  end if;

  v_window_open := v_secrets.first_failed_login_at is not null
                   and v_secrets.first_failed_login_at > now() - interval '15 minutes';

  if v_window_open and v_secrets.failed_login_count >= 5 then
    v_retry_at := v_secrets.first_failed_login_at + interval '15 minutes';
    return row(null, null, null, null, null, null, 'LOCKD',
      pg_catalog.format('Too many failed sign-in attempts. Try again after %s (UTC).',
        pg_catalog.to_char(v_retry_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'))
    )::auth.token_grant;
  end if;

  -- bcrypt reads 72 bytes at most; a longer password was never accepted, so it is wrong.
  if pg_catalog.octet_length(login.password) > 72
     or public.crypt(login.password, v_secrets.password_hash) <> v_secrets.password_hash then
    update auth_private.user_secrets s
       set failed_login_count = case when v_window_open then s.failed_login_count + 1 else 1 end,
           first_failed_login_at = case when v_window_open then s.first_failed_login_at else now() end
     where s.user_id = v_user_id;
    return v_failed;
  end if;

  update auth_private.user_secrets s
     set failed_login_count = 0,
         first_failed_login_at = null,
         last_login_at = now()
   where s.user_id = v_user_id;

  return auth_private.issue_session(v_user_id, null, null, 'gw_user', null, login.user_agent);
end;
$$;
comment on function auth.login(text, text, text) is
  E'@behavior -queryField -mutationField -typeField\nSigns in with an e-mail address or username (ignoring case) and a password; starts a new session family with role gw_user. Does not raise on bad credentials but returns error_code, so that the failure counter commits: CREDS (unknown account or wrong password, indistinguishable) or LOCKD (5 failures within 15 minutes: refused without checking the password until 15 minutes after the first of them). Raises BADIN for a missing identifier or password. Security definer because it reads password hashes in auth_private.user_secrets.';

--------------------------------------------------------------------------------

create function auth.refresh_session(refresh_token text, user_agent text default null)
  returns auth.token_grant
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_session_id uuid;
  v_family_id uuid;
  v_session auth.sessions;
  v_invalid constant auth.token_grant :=
    row(null, null, null, null, null, null, 'RTINV', 'This refresh token is not valid; sign in again.')::auth.token_grant;
begin
  -- Real tokens are 43 characters; anything else cannot match and is not hashed.
  if refresh_session.refresh_token is null or char_length(refresh_session.refresh_token) not between 1 and 128 then
    return v_invalid;
  end if;

  select s.session_id, s.family_id into v_session_id, v_family_id
    from auth.sessions s
   where s.token_hash = public.digest(refresh_session.refresh_token, 'sha256');
  if not found then
    return v_invalid;
  end if;

  -- Root first, then the token: the lock order every family change follows.
  perform auth_private.lock_family(v_family_id);
  select s.* into v_session from auth.sessions s where s.session_id = v_session_id for update;
  if not found then
    return v_invalid;
  end if;

  if v_session.revoked_at is not null
     or exists (select 1 from auth.refresh_token_blacklist b where b.jti = v_session.session_id::text) then
    return v_invalid;
  end if;

  if v_session.rotated_at is not null then
    -- A spent token came back: someone holds a copy. Kill the whole family.
    perform auth_private.revoke_family(v_session.family_id);
    return row(null, null, null, null, null, null, 'RTRSE',
      'This refresh token was already used, so the session has been revoked; sign in again.')::auth.token_grant;
  end if;

  if v_session.expires_at <= now() then
    return v_invalid;
  end if;

  update auth.sessions s set rotated_at = now() where s.session_id = v_session.session_id;

  return auth_private.issue_session(
    v_session.user_id,
    v_session.family_id,
    v_session.session_id,
    auth_private.effective_role(v_session.user_id, v_session.role),
    auth_private.effective_org_id(v_session.user_id, v_session.org_id),
    coalesce(refresh_session.user_agent, v_session.user_agent)
  );
end;
$$;
comment on function auth.refresh_session(text, text) is
  E'@behavior -queryField -mutationField -typeField\nExchanges a refresh token for its successor in the same family (same role and organization, unless the role was revoked or the membership ended since: then gw_user / no organization). Returns error_code instead of raising, so revocations commit: RTINV (unknown, expired, revoked or blacklisted token) or RTRSE (the token was already exchanged: reuse, so the whole family is revoked). Security definer because sessions and the blacklist have no API write grants.';

--------------------------------------------------------------------------------

create function auth.logout() returns boolean
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
  v_family_id uuid := auth_private.claimed_family_id();
begin
  if v_user_id is null or v_family_id is null then
    return false;
  end if;
  if not exists (
    select 1 from auth.sessions s
     where s.session_id = v_family_id
       and s.user_id = v_user_id
  ) then
    return false;
  end if;
  return auth_private.revoke_family(v_family_id) > 0;
end;
$$;
comment on function auth.logout() is
  E'@behavior -queryField -mutationField -typeField\nRevokes the caller''s session family (the sid claim) and blacklists its refresh tokens; its access tokens stop working at once. Returns true if anything was revoked. Security definer because sessions have no API write grants.';

--------------------------------------------------------------------------------

create function auth.change_password(old_password text, new_password text, user_agent text default null)
  returns auth.token_grant
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
  v_role text;
  v_org_id uuid;
  v_secrets auth_private.user_secrets;
  v_family_id uuid;
begin
  if v_user_id is null then
    raise exception 'You must be signed in to change your password.' using errcode = 'LOGIN';
  end if;
  if change_password.old_password is null or change_password.old_password = '' then
    raise exception 'Your current password is required.' using errcode = 'BADIN';
  end if;
  perform auth_private.assert_valid_password(change_password.new_password);

  -- Keep the caller's role and organization on the new session, if still deserved;
  -- read them before the revocation below makes auth.uid() null.
  v_role := auth_private.effective_role(v_user_id, coalesce(auth.role(), 'gw_user'));
  v_org_id := auth.current_org_id();

  select s.* into v_secrets
    from auth_private.user_secrets s
   where s.user_id = v_user_id
     for update;
  if not found
     or pg_catalog.octet_length(change_password.old_password) > 72
     or public.crypt(change_password.old_password, v_secrets.password_hash) <> v_secrets.password_hash then
    raise exception 'Your current password is wrong.' using errcode = 'CREDS';
  end if;

  update auth_private.user_secrets s
     set password_hash = public.crypt(change_password.new_password, public.gen_salt('bf', 10)),
         failed_login_count = 0,
         first_failed_login_at = null
   where s.user_id = v_user_id;

  update auth.users u set tokens_revoked_at = now() where u.user_id = v_user_id;

  for v_family_id in
    select distinct s.family_id
      from auth.sessions s
     where s.user_id = v_user_id
       and s.revoked_at is null
     order by s.family_id
  loop
    perform auth_private.revoke_family(v_family_id);
  end loop;

  return auth_private.issue_session(v_user_id, null, null, v_role, v_org_id, change_password.user_agent);
end;
$$;
comment on function auth.change_password(text, text, text) is
  E'@behavior -queryField -mutationField -typeField\nChanges your password, signs out every session (tokens issued before now stop working), and returns a fresh session with your current role and organization. Raises LOGIN (signed out), BADIN (current password missing), WEAKP (new password too weak), CREDS (current password wrong). Security definer because it reads and writes auth_private.user_secrets.';

--------------------------------------------------------------------------------

create function auth.switch_organization(organization_id uuid, user_agent text default null)
  returns auth.token_grant
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
  v_family_id uuid := auth_private.claimed_family_id();
begin
  if v_user_id is null or v_family_id is null then
    raise exception 'You must be signed in (with a session) to switch organization.' using errcode = 'LOGIN';
  end if;
  if switch_organization.organization_id is not null and not exists (
    select 1 from auth.memberships m
     where m.organization_id = switch_organization.organization_id
       and m.user_id = v_user_id
  ) then
    raise exception 'You are not a member of that organization.' using errcode = 'NOMEM';
  end if;

  return auth_private.retarget_session(v_user_id, v_family_id, null, true, switch_organization.organization_id);
end;
$$;
comment on function auth.switch_organization(uuid, text) is
  E'@behavior -queryField -mutationField -typeField\nMakes your session act in an organization (org_id claim), or in none when organization_id is null. Returns a new access token; your refresh token stays the same and now refreshes into this organization (an access token alone never yields a refresh token). Raises LOGIN (signed out, no session, or session ended) or NOMEM (not a member). Security definer because sessions have no API write grants.';

--------------------------------------------------------------------------------

create function auth.assume_role(role text, user_agent text default null)
  returns auth.token_grant
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
  v_family_id uuid := auth_private.claimed_family_id();
begin
  if v_user_id is null or v_family_id is null then
    raise exception 'You must be signed in (with a session) to assume a role.' using errcode = 'LOGIN';
  end if;
  if assume_role.role is null or pg_catalog.btrim(assume_role.role) = '' or char_length(assume_role.role) > 63 then
    raise exception 'A role is required.' using errcode = 'BADIN';
  end if;
  if assume_role.role <> 'gw_user' and not exists (
    select 1 from auth.user_roles ur
     where ur.user_id = v_user_id
       and ur.role_name = assume_role.role
  ) then
    raise exception 'The role % is not granted to you.', assume_role.role using errcode = 'NOROL';
  end if;

  return auth_private.retarget_session(v_user_id, v_family_id, assume_role.role, false, null);
end;
$$;
comment on function auth.assume_role(text, text) is
  E'@behavior -queryField -mutationField -typeField\nMakes your session carry another role claim: gw_user, or a staff role granted to you in auth.user_roles. Returns a new access token; your refresh token stays the same and now refreshes into this role. Raises LOGIN (signed out, no session, or session ended), BADIN (no role) or NOROL (not granted). Security definer because sessions have no API write grants.';

--------------------------------------------------------------------------------

-- Signed-in callers may register or sign in again (e.g. a client holding an old token).
grant execute on function auth.register(text, text, text, text) to gw_anonymous, gw_user;
grant execute on function auth.login(text, text, text) to gw_anonymous, gw_user;
grant execute on function auth.refresh_session(text, text) to gw_anonymous, gw_user;
-- Functions that need a signed-in caller are executable by gw_anonymous too, so
-- that a signed-out (or revoked) caller gets their own answer (LOGIN, or false
-- from logout) rather than a permission error; each checks auth.uid() first.
grant execute on function auth.logout() to gw_anonymous, gw_user;
grant execute on function auth.change_password(text, text, text) to gw_anonymous, gw_user;
grant execute on function auth.switch_organization(uuid, text) to gw_anonymous, gw_user;
grant execute on function auth.assume_role(text, text) to gw_anonymous, gw_user;

revoke execute on all functions in schema auth, auth_private from public;

--! split: 1500-development.sql
-- Development tooling: `groundwork token` mints tokens backed by a real session,
-- so revocation, throttling of grants and org membership all apply to them.

drop function if exists auth_private.create_development_session(text, text, uuid);

create function auth_private.create_development_session(identifier text, role text, org_id uuid)
  returns table (user_id uuid, session_id uuid)
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_user_id uuid;
  v_grant auth.token_grant;
begin
  select u.user_id into v_user_id
    from auth.users u
   where u.user_id::text = lower(create_development_session.identifier)
      or lower(u.email) = lower(create_development_session.identifier)
      or lower(u.username) = lower(create_development_session.identifier);
  if v_user_id is null then
    return;
  end if;
  if auth_private.effective_role(v_user_id, create_development_session.role) <> create_development_session.role then
    raise exception 'Role % is not granted to that user (auth.user_roles).', create_development_session.role using errcode = 'NOROL';
  end if;
  if create_development_session.org_id is not null
     and auth_private.effective_org_id(v_user_id, create_development_session.org_id) is null then
    raise exception 'That user is not a member of organization %.', create_development_session.org_id using errcode = 'NOMEM';
  end if;
  v_grant := auth_private.issue_session(v_user_id, null, null, create_development_session.role,
    create_development_session.org_id, 'groundwork token (development)');
  return query select v_grant.user_id, v_grant.session_id;
end;
$$;
comment on function auth_private.create_development_session(text, text, uuid) is
  'Opens a session for `groundwork token --user <id|email|username>`: the role must be granted and the organization joined, as for assumeRole/switchOrganization. Owner only.';

revoke execute on all functions in schema auth_private from public;
