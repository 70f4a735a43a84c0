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
