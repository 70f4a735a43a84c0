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
