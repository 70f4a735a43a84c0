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
