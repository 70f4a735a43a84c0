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
