--! Previous: sha1:7f94cee846bd9b9c72b100aaba7682280149641c
--! Hash: sha1:ad0b97b956c703564a0593ca3aa22fe7d3ca6505
--! Message: auth: user_orgs(), the caller's organizations (issue 18)

--! split: 1630-auth-user-orgs.sql
-- auth.user_orgs(): the Liventix seed's name for "the organizations I belong
-- to", beside auth.current_org_id() (the seed's current_org_id()). Policies of
-- the events platform and the seed's SQL clients (public.user_orgs()) call it.
-- create or replace only: policies of later modules may depend on it.

create or replace function auth.user_orgs() returns setof uuid
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select m.organization_id
    from auth.memberships m
   where m.user_id = auth.uid()
   order by m.organization_id
$$;
comment on function auth.user_orgs() is
  E'@behavior -queryField -mutationField -typeField\nThe ids of the organizations the signed-in user belongs to (any membership role); none when signed out or revoked. The Liventix seed''s user_orgs(); use it in policies as organization_id = any (array(select auth.user_orgs())). Security definer so that policies can read auth.memberships without recursing into its own policies.';
revoke execute on function auth.user_orgs() from public;
grant execute on function auth.user_orgs() to gw_anonymous, gw_user;
