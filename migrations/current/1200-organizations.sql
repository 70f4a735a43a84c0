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
