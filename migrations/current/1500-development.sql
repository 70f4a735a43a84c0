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
