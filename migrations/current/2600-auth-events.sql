-- The platform primitives applied to auth: its tables are audited, and the
-- changes others care about publish outbox events, record activity and notify
-- the people concerned. Triggers, so every path (functions, admin SQL) counts.

drop trigger if exists _600_publish_registered on auth.users;
drop trigger if exists _600_publish_member_added on auth.memberships;
drop trigger if exists _600_publish_member_removed on auth.memberships;
drop function if exists auth_private.tg_users__publish_registered() cascade;
drop function if exists auth_private.tg_memberships__publish_added() cascade;
drop function if exists auth_private.tg_memberships__publish_removed() cascade;
drop function if exists auth_private.tg_organizations__record_created() cascade;

-- Audit: a user may read the entries of records that are theirs. Sessions
-- never log their refresh-token hash.
select audit.enable_tracking('auth.users', 'user_id');
select audit.enable_tracking('auth.memberships', 'user_id');
select audit.enable_tracking('auth.user_roles', 'user_id');
select audit.enable_tracking('auth.sessions', 'user_id', array['token_hash']);
select audit.enable_tracking('auth.organizations');
select audit.enable_tracking('auth.roles');

create function auth_private.tg_users__publish_registered() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  perform outbox.publish('user.registered',
    pg_catalog.jsonb_build_object('userId', new.user_id, 'username', new.username),
    'user', new.user_id::text, null);
  return null;
end;
$$;
comment on function auth_private.tg_users__publish_registered() is 'Publishes user.registered.';

create trigger _600_publish_registered
  after insert on auth.users
  for each row execute function auth_private.tg_users__publish_registered();

create function auth_private.tg_organizations__record_created() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_actor text := (select u.username from auth.users u where u.user_id = auth.uid());
begin
  perform audit.record_activity('organization.created', 'organization', new.organization_id::text,
    coalesce(v_actor, 'The system') || ' created ' || new.name,
    new.organization_id, null, pg_catalog.jsonb_build_object('slug', new.slug));
  return null;
end;
$$;
comment on function auth_private.tg_organizations__record_created() is 'Records organization.created activity.';

create trigger _600_record_created
  after insert on auth.organizations
  for each row execute function auth_private.tg_organizations__record_created();

create function auth_private.tg_memberships__publish_added() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_actor_id uuid := auth.uid();
  v_actor text := (select u.username from auth.users u where u.user_id = v_actor_id);
  v_member text := (select u.username from auth.users u where u.user_id = new.user_id);
  v_organization text := (select o.name from auth.organizations o where o.organization_id = new.organization_id);
  v_event_id bigint;
begin
  v_event_id := outbox.publish('member.added',
    pg_catalog.jsonb_build_object('organizationId', new.organization_id, 'userId', new.user_id,
                                  'role', new.role, 'addedBy', v_actor_id),
    'organization', new.organization_id::text, new.organization_id);
  if v_actor_id is distinct from new.user_id then
    perform audit.record_activity('member.added', 'membership', new.membership_id::text,
      coalesce(v_actor, 'The system') || ' added ' || v_member || ' to ' || v_organization,
      new.organization_id, new.user_id, pg_catalog.jsonb_build_object('role', new.role));
    perform outbox.notify_user(new.user_id, 'member.added',
      coalesce(v_actor, 'The system') || ' added you to ' || v_organization || ' as ' || new.role,
      pg_catalog.jsonb_build_object('organizationId', new.organization_id, 'role', new.role), v_event_id);
  end if;
  return null;
end;
$$;
comment on function auth_private.tg_memberships__publish_added() is
  'Publishes member.added; records activity and notifies the new member when someone else added them.';

create trigger _600_publish_member_added
  after insert on auth.memberships
  for each row execute function auth_private.tg_memberships__publish_added();

create function auth_private.tg_memberships__publish_removed() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_actor_id uuid := auth.uid();
  v_actor text := (select u.username from auth.users u where u.user_id = v_actor_id);
  v_member text := (select u.username from auth.users u where u.user_id = old.user_id);
  v_organization text := (select o.name from auth.organizations o where o.organization_id = old.organization_id);
  v_event_id bigint;
begin
  -- When the organization itself is being deleted, its events and activity go with it.
  if v_organization is null then
    return null;
  end if;
  v_event_id := outbox.publish('member.removed',
    pg_catalog.jsonb_build_object('organizationId', old.organization_id, 'userId', old.user_id,
                                  'role', old.role, 'removedBy', v_actor_id),
    'organization', old.organization_id::text, old.organization_id);
  perform audit.record_activity(
    case when v_actor_id is not distinct from old.user_id then 'member.left' else 'member.removed' end,
    'membership', old.membership_id::text,
    case when v_actor_id is not distinct from old.user_id
         then v_member || ' left ' || v_organization
         else coalesce(v_actor, 'The system') || ' removed ' || coalesce(v_member, 'a deleted user') || ' from ' || v_organization end,
    -- The subject may be a user being deleted right now (cascade): keep only their id in the context.
    old.organization_id, case when v_member is not null then old.user_id end,
    pg_catalog.jsonb_build_object('role', old.role, 'userId', old.user_id));
  if v_actor_id is distinct from old.user_id and v_member is not null then
    perform outbox.notify_user(old.user_id, 'member.removed',
      coalesce(v_actor, 'The system') || ' removed you from ' || v_organization,
      pg_catalog.jsonb_build_object('organizationId', old.organization_id), v_event_id);
  end if;
  return null;
end;
$$;
comment on function auth_private.tg_memberships__publish_removed() is
  'Publishes member.removed, records activity and notifies the removed member.';

create trigger _600_publish_member_removed
  after delete on auth.memberships
  for each row execute function auth_private.tg_memberships__publish_removed();
