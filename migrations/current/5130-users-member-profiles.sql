-- users: members of an organization see each other (issue 17). A membership's
-- user is auth.users, which shows a user only their own row (email, onboarding
-- flags); the member's public face is their profile, which fellow members may
-- read (users.profiles' select policy). This field joins the two, as the caller.

drop function if exists users.memberships_profile(auth.memberships);

create function users.memberships_profile(membership auth.memberships) returns users.profiles
  language sql
  stable
  security invoker
  set search_path = ''
as $$
  select p.* from users.profiles p where p.user_id = membership.user_id
$$;
comment on function users.memberships_profile(auth.memberships) is
  'The member''s public profile (handle, display name, avatar): readable by fellow members of the organization, never their email or account flags.';
revoke execute on function users.memberships_profile(auth.memberships) from public;
grant execute on function users.memberships_profile(auth.memberships) to gw_user;
