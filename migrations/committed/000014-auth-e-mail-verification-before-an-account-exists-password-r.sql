--! Previous: sha1:f49b1cc8aea95e7b69c401492e7208deedc64a90
--! Hash: sha1:327ff2d7c9964ee7e8d67b0d86a047486dcf4ea4
--! Message: auth: e-mail verification before an account exists, password reset by single-use hashed token, mail through a worker task (issue 15)

--! split: 1600-auth-mail-jobs.sql
-- Mail the auth module sends (issue 15): sign-up confirmations, notices of a
-- sign-up with an address that already has an account, password resets. A
-- function adds an auth_send_mail job in its own transaction (never a mail in
-- the request); the worker task reads what to send through
-- auth_private.mail_for, which makes the link's token then: the token exists
-- only in the mail, the database keeps its sha256 (auth_private.link_tokens,
-- created in 1620-auth-password-reset.sql).
-- Re-runnable: create or replace throughout.

create or replace function auth_private.enqueue_mail(kind text, id uuid) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  -- One pending job per mail: a burst of the same request while it waits sends one mail.
  perform graphile_worker.add_job('auth_send_mail', pg_catalog.json_build_object('kind', enqueue_mail.kind, 'id', enqueue_mail.id),
    max_attempts := 10, job_key := 'auth_send_mail:' || enqueue_mail.kind || ':' || enqueue_mail.id::text);
end;
$$;
comment on function auth_private.enqueue_mail(text, uuid) is
  'Queues an auth_send_mail job (kind verify_email: a signup id; password_reset: a reset id; signup_attempt: a user id) in the caller''s transaction.';
revoke all on function auth_private.enqueue_mail(text, uuid) from public;

create or replace function auth_private.mail_for(kind text, id uuid)
  returns table (to_address text, username text, token text, expires_at timestamptz)
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  -- 32 random bytes, base64url: the same shape as a refresh token.
  v_token text := auth_private.new_refresh_token();
begin
  if mail_for.kind = 'verify_email' then
    return query
      with pending as (
        select s.signup_id, s.email::text as email, s.username, s.expires_at
          from auth_private.signups s
         where s.signup_id = mail_for.id and s.expires_at > pg_catalog.now()
      ), issued as (
        insert into auth_private.link_tokens (token_hash, signup_id)
        select public.digest(v_token, 'sha256'), p.signup_id from pending p
        returning signup_id
      )
      select p.email, p.username, v_token, p.expires_at from pending p join issued i using (signup_id);
  elsif mail_for.kind = 'password_reset' then
    return query
      with pending as (
        select r.reset_id, u.email::text as email, u.username, r.expires_at
          from auth_private.password_resets r
          join auth.users u on u.user_id = r.user_id
         where r.reset_id = mail_for.id and r.used_at is null and r.expires_at > pg_catalog.now()
      ), issued as (
        insert into auth_private.link_tokens (token_hash, reset_id)
        select public.digest(v_token, 'sha256'), p.reset_id from pending p
        returning reset_id
      )
      select p.email, p.username, v_token, p.expires_at from pending p join issued i using (reset_id);
  elsif mail_for.kind = 'signup_attempt' then
    return query select u.email::text, u.username, null::text, null::timestamptz from auth.users u where u.user_id = mail_for.id;
  else
    raise exception 'No mail of kind %.', mail_for.kind using errcode = 'BADIN';
  end if;
end;
$$;
comment on function auth_private.mail_for(text, uuid) is
  'What the auth_send_mail task sends: the address, the username and, for verify_email and password_reset, a new link token (its sha256 goes into auth_private.link_tokens; earlier mails'' links keep working until the sign-up or reset is spent). No row when the mail no longer applies (verified, used, expired, gone). Owner only (the worker).';
revoke all on function auth_private.mail_for(text, uuid) from public;

create or replace function auth_private.cleanup_links() returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_signups integer;
  v_resets integer;
begin
  delete from auth_private.signups s where s.expires_at < pg_catalog.now();
  get diagnostics v_signups = row_count;
  -- Used or expired resets stay a day, for whoever looks into an account's history.
  delete from auth_private.password_resets r where r.expires_at < pg_catalog.now() - interval '1 day';
  get diagnostics v_resets = row_count;
  return v_signups + v_resets;
end;
$$;
comment on function auth_private.cleanup_links() is
  'Deletes expired sign-ups and password resets expired for a day; returns how many (the auth_cleanup_links task, every 15 minutes).';
revoke all on function auth_private.cleanup_links() from public;

--! split: 1610-auth-signup-verification.sql
-- Sign-up by e-mail verification (issue 15). register used to answer EMTKN
-- for an address that has an account, so anyone could tell which addresses
-- are registered. Now register answers every valid sign-up the same way
-- ("check your mail") and creates no account: a new address gets a pending
-- sign-up and a confirmation link, an address with an account gets a notice
-- ("someone tried to sign up with your address"). The account and its first
-- session come from verify_email, with the link's token. Usernames are public
-- handles, so UNTKN still says a username is taken.

drop function if exists auth.verify_email(text, text);
drop function if exists auth.register(text, text, text, text);
drop table if exists auth_private.signups cascade;

create table auth_private.signups (
  signup_id uuid primary key default gen_random_uuid(),
  username text not null,
  email auth.email not null,
  password_hash text not null,
  user_agent text,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
alter table auth_private.signups enable row level security;
create index signups_email_lower_idx on auth_private.signups (pg_catalog.lower(email::text));
create index signups_expires_at_idx on auth_private.signups (expires_at);
comment on table auth_private.signups is
  'Sign-ups waiting for their address to be confirmed: no account exists until verify_email. Their links'' tokens are in auth_private.link_tokens. No API role has any privilege on it.';
comment on column auth_private.signups.password_hash is 'bcrypt (cost 10), moved to auth_private.user_secrets on verification.';

alter table auth.users add column if not exists email_verified_at timestamptz;
comment on column auth.users.email_verified_at is
  'When the user proved they receive mail at the address (verify_email, or a password reset); null for accounts created before verification existed.';

create function auth.register(username text, email text, password text, user_agent text default null)
  returns timestamptz
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid;
  v_signup_id uuid;
  v_password_hash text;
  v_expires_at timestamptz := pg_catalog.now() + interval '24 hours';
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
  -- Usernames are public handles: saying one is taken reveals nothing private.
  if exists (select 1 from auth.users u where pg_catalog.lower(u.username) = pg_catalog.lower(register.username)) then
    raise exception 'That username is taken.' using errcode = 'UNTKN';
  end if;

  -- Hash on both paths, so the time the answer takes says nothing about the address.
  v_password_hash := public.crypt(register.password, public.gen_salt('bf', 10));

  select u.user_id into v_user_id from auth.users u where pg_catalog.lower(u.email) = pg_catalog.lower(register.email);
  if v_user_id is not null then
    perform auth_private.enqueue_mail('signup_attempt', v_user_id);
    return v_expires_at;
  end if;

  delete from auth_private.signups s
   where pg_catalog.lower(s.email) = pg_catalog.lower(register.email) and s.expires_at <= pg_catalog.now();
  -- Five live links to one address are enough: more sign-ups are answered alike and mail nothing.
  if (select pg_catalog.count(*) from auth_private.signups s where pg_catalog.lower(s.email) = pg_catalog.lower(register.email)) >= 5 then
    return v_expires_at;
  end if;
  insert into auth_private.signups (username, email, password_hash, user_agent, expires_at)
  values (register.username, register.email, v_password_hash, pg_catalog.left(register.user_agent, 512), v_expires_at)
  returning signup_id into v_signup_id;
  perform auth_private.enqueue_mail('verify_email', v_signup_id);
  return v_expires_at;
end;
$$;
comment on function auth.register(text, text, text, text) is
  E'@behavior -queryField -mutationField -typeField\nStarts a sign-up and returns when its link expires; creates no account. The answer is the same whether or not the address has an account (accounts cannot be enumerated): a new address is mailed a confirmation link (verify_email creates the account), an address with an account is mailed a notice. Raises BADIN (missing field), BADUN (bad username), BADEM (bad e-mail), WEAKP (password: at least 10 characters, at most 72 bytes, a letter and a digit), UNTKN (username taken: usernames are public). Security definer because it writes auth_private.signups and queues mail, which API roles cannot.';
revoke all on function auth.register(text, text, text, text) from public;
grant execute on function auth.register(text, text, text, text) to gw_anonymous, gw_user;

create function auth.verify_email(token text, user_agent text default null)
  returns auth.token_grant
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_signup auth_private.signups;
  v_user_id uuid;
  v_constraint text;
begin
  if verify_email.token is null or char_length(verify_email.token) not between 1 and 128 then
    raise exception 'This link is invalid, used or expired; sign up again.' using errcode = 'AUTOK';
  end if;
  select s.* into v_signup
    from auth_private.link_tokens t
    join auth_private.signups s on s.signup_id = t.signup_id
   where t.token_hash = public.digest(verify_email.token, 'sha256') and s.expires_at > pg_catalog.now()
     for update of s;
  -- Verified already (the sign-up is gone), or another sign-up of the address was verified first.
  if not found or exists (select 1 from auth.users u where pg_catalog.lower(u.email) = pg_catalog.lower(v_signup.email)) then
    raise exception 'This link is invalid, used or expired; sign up again.' using errcode = 'AUTOK';
  end if;
  begin
    insert into auth.users (username, email, email_verified_at)
    values (v_signup.username, v_signup.email, pg_catalog.now())
    returning users.user_id into v_user_id;
  exception when unique_violation then
    get stacked diagnostics v_constraint = constraint_name;
    if v_constraint = 'users_email_lower_key' then
      raise exception 'This link is invalid, used or expired; sign up again.' using errcode = 'AUTOK';
    end if;
    raise exception 'That username was taken meanwhile; sign up again with another.' using errcode = 'UNTKN';
  end;
  insert into auth_private.user_secrets (user_id, password_hash) values (v_user_id, v_signup.password_hash);
  -- Every other pending sign-up of the address dies with this one, and every link token with them.
  delete from auth_private.signups s where pg_catalog.lower(s.email) = pg_catalog.lower(v_signup.email);
  return auth_private.issue_session(v_user_id, null, null, 'gw_user', null, coalesce(verify_email.user_agent, v_signup.user_agent));
end;
$$;
comment on function auth.verify_email(text, text) is
  E'@behavior -queryField -mutationField -typeField\nConfirms a sign-up with the token from its mail: creates the account (its address verified) and its first session family, and returns the grant for role gw_user. A token works once. Raises AUTOK (unknown, used or expired token, or the address got an account meanwhile) and UNTKN (the username was taken meanwhile; the users trigger''s BADUN too). Security definer because it writes auth.users, auth_private.user_secrets and auth.sessions.';
revoke all on function auth.verify_email(text, text) from public;
grant execute on function auth.verify_email(text, text) to gw_anonymous, gw_user;

--! split: 1620-auth-password-reset.sql
-- Password reset by mail (issue 15): a single-use token that expires in an
-- hour, stored as its sha256, sent by the worker. Asking answers the same
-- whether or not the address has an account; resetting revokes every session
-- of the user (tokens_revoked_at and every family) and starts a new one.

drop function if exists auth.reset_password(text, text, text);
drop function if exists auth.request_password_reset(text);
drop table if exists auth_private.password_resets cascade;

create table auth_private.password_resets (
  reset_id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (user_id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
alter table auth_private.password_resets enable row level security;
create index password_resets_user_id_idx on auth_private.password_resets (user_id);
create index password_resets_expires_at_idx on auth_private.password_resets (expires_at);
comment on table auth_private.password_resets is
  'Password reset requests: single use (used_at), expiring; their links'' tokens are in auth_private.link_tokens. No API role has any privilege on it.';

create function auth.request_password_reset(email text)
  returns boolean
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid;
  v_reset_id uuid;
begin
  if request_password_reset.email is null or pg_catalog.btrim(request_password_reset.email) = '' then
    raise exception 'An e-mail address is required.' using errcode = 'BADIN';
  end if;
  if char_length(request_password_reset.email) <= 254 then
    select u.user_id into v_user_id from auth.users u
     where pg_catalog.lower(u.email) = pg_catalog.lower(request_password_reset.email);
  end if;
  -- At most three live links per account: more requests are answered alike and mail nothing.
  if v_user_id is not null and (
       select pg_catalog.count(*) from auth_private.password_resets r
        where r.user_id = v_user_id and r.used_at is null and r.expires_at > pg_catalog.now()
     ) < 3 then
    insert into auth_private.password_resets (user_id, expires_at)
    values (v_user_id, pg_catalog.now() + interval '1 hour')
    returning reset_id into v_reset_id;
    perform auth_private.enqueue_mail('password_reset', v_reset_id);
  end if;
  return true;
end;
$$;
comment on function auth.request_password_reset(text) is
  E'@resultFieldName accepted\nMails a password reset link (valid for an hour, once) if an account has this address. Answers true either way, so it tells nothing about the address. Raises BADIN for a missing address. Security definer because it writes auth_private.password_resets and queues mail.';
revoke all on function auth.request_password_reset(text) from public;
grant execute on function auth.request_password_reset(text) to gw_anonymous, gw_user;

create function auth.reset_password(token text, new_password text, user_agent text default null)
  returns auth.token_grant
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_reset auth_private.password_resets;
  v_family_id uuid;
begin
  perform auth_private.assert_valid_password(reset_password.new_password);
  if reset_password.token is null or char_length(reset_password.token) not between 1 and 128 then
    raise exception 'This password reset link is invalid, used or expired; ask for a new one.' using errcode = 'AUTOK';
  end if;
  select r.* into v_reset
    from auth_private.link_tokens t
    join auth_private.password_resets r on r.reset_id = t.reset_id
   where t.token_hash = public.digest(reset_password.token, 'sha256')
     and r.used_at is null and r.expires_at > pg_catalog.now()
     for update of r;
  if not found then
    raise exception 'This password reset link is invalid, used or expired; ask for a new one.' using errcode = 'AUTOK';
  end if;
  -- This link and every other open one of the user are spent.
  update auth_private.password_resets r set used_at = pg_catalog.now()
   where r.user_id = v_reset.user_id and r.used_at is null;

  update auth_private.user_secrets s
     set password_hash = public.crypt(reset_password.new_password, public.gen_salt('bf', 10)),
         failed_login_count = 0,
         first_failed_login_at = null
   where s.user_id = v_reset.user_id;
  -- The mail reached them: the address is verified too.
  update auth.users u
     set tokens_revoked_at = pg_catalog.now(), email_verified_at = coalesce(u.email_verified_at, pg_catalog.now())
   where u.user_id = v_reset.user_id;
  for v_family_id in
    select distinct s.family_id from auth.sessions s
     where s.user_id = v_reset.user_id and s.revoked_at is null
     order by s.family_id
  loop
    perform auth_private.revoke_family(v_family_id);
  end loop;
  return auth_private.issue_session(v_reset.user_id, null, null, 'gw_user', null, reset_password.user_agent);
end;
$$;
comment on function auth.reset_password(text, text, text) is
  E'@behavior -queryField -mutationField -typeField\nSets a new password with the token from a reset mail, signs out every session of the user (tokens issued before now stop working, every refresh token is revoked) and returns a fresh session (role gw_user). The token works once; asking again spends the older links too. Raises WEAKP/BADIN (new password), AUTOK (unknown, used or expired token). Security definer because it writes auth_private.user_secrets, auth_private.password_resets and auth.sessions.';
revoke all on function auth.reset_password(text, text, text) from public;
grant execute on function auth.reset_password(text, text, text) to gw_anonymous, gw_user;

-- The tokens of the links mailed for sign-ups and resets, as their sha256.
-- One sign-up or reset may have several (each mail, a resent one or a retried
-- send, carries its own): every one works until the sign-up is verified or the
-- reset used, and dies with it (on delete cascade, used_at).
drop table if exists auth_private.link_tokens cascade;
create table auth_private.link_tokens (
  token_hash bytea primary key,
  signup_id uuid references auth_private.signups (signup_id) on delete cascade,
  reset_id uuid references auth_private.password_resets (reset_id) on delete cascade,
  created_at timestamptz not null default now(),
  constraint link_tokens_one_target check ((signup_id is null) <> (reset_id is null))
);
alter table auth_private.link_tokens enable row level security;
create index link_tokens_signup_id_idx on auth_private.link_tokens (signup_id);
create index link_tokens_reset_id_idx on auth_private.link_tokens (reset_id);
comment on table auth_private.link_tokens is
  'sha256 of each token mailed for a sign-up (verify_email) or a password reset (reset_password); the tokens themselves exist only in the mails. No API role has any privilege on it.';
