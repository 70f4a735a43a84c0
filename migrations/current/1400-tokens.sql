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
