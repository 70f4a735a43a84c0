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
