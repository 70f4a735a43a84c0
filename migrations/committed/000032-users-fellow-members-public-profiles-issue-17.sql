--! Previous: sha1:f90f0b1915a9085651b91a17506cd740aedd8265
--! Hash: sha1:ef73e4264a4a32ee4a335002e135ca64f3fb559d
--! Message: users: fellow members' public profiles (issue 17)

--! split: 5130-users-member-profiles.sql
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

--! split: 5160-users-messaging-preferences.sql
-- Notification preferences for the messaging module (issue 23): messages an
-- organization sends to an audience (organization_message) and direct
-- messages (direct_message), on both channels. Stored settings keep their
-- keys; a missing key reads as its default (users.notification_enabled).

create or replace function users.notification_preferences_schema() returns jsonb
  language sql
  immutable
as $$
  select '{
    "type": "object",
    "additionalProperties": false,
    "properties": {
      "in_app": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "event_published": {"type": "boolean", "default": true, "description": "An organization you follow published an event."},
          "comment_added": {"type": "boolean", "default": true, "description": "Someone replied to your comment."},
          "organization_message": {"type": "boolean", "default": true, "description": "An organization messaged its audience (followers, members, ticket holders)."},
          "direct_message": {"type": "boolean", "default": true, "description": "Someone wrote to you in a conversation."}
        }
      },
      "email": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "event_published": {"type": "boolean", "default": false, "description": "An organization you follow published an event."},
          "comment_added": {"type": "boolean", "default": false, "description": "Someone replied to your comment."},
          "organization_message": {"type": "boolean", "default": true, "description": "An organization messaged its audience by e-mail."},
          "direct_message": {"type": "boolean", "default": false, "description": "Someone wrote to you in a conversation."},
          "digest": {"type": "string", "enum": ["off", "daily", "weekly"], "default": "weekly", "description": "A summary of what happened."}
        }
      }
    }
  }'::jsonb
$$;
