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
