-- users.settings: locale and notification preferences, one row per user. The
-- preferences are jsonb checked in SQL against a JSON schema (a subset of JSON
-- Schema: type, properties, additionalProperties, enum, default, maxLength,
-- minimum, maximum), so an unknown key or a wrong type is refused (USSET) and
-- what is stored always has every key (defaults filled in).

--------------------------------------------------------------------------------
-- The schema, and a small validator for it

create function users.notification_preferences_schema() returns jsonb
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
          "comment_added": {"type": "boolean", "default": true, "description": "Someone replied to your comment."}
        }
      },
      "email": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "event_published": {"type": "boolean", "default": false, "description": "An organization you follow published an event."},
          "comment_added": {"type": "boolean", "default": false, "description": "Someone replied to your comment."},
          "digest": {"type": "string", "enum": ["off", "daily", "weekly"], "default": "weekly", "description": "A summary of what happened."}
        }
      }
    }
  }'::jsonb
$$;
comment on function users.notification_preferences_schema() is
  'The JSON schema notification preferences must match (a subset of JSON Schema: type, properties, additionalProperties, enum, default, maxLength, minimum, maximum), for clients to build their settings screen.';
revoke execute on function users.notification_preferences_schema() from public;
grant execute on function users.notification_preferences_schema() to gw_anonymous, gw_user;

-- The first way `value` breaks `schema`, as "path: problem", or null when it fits.
create function users_private.json_schema_error(schema jsonb, value jsonb, path text default '$') returns text
  language plpgsql
  immutable
  set search_path = ''
as $$
declare
  v_type text := schema ->> 'type';
  v_actual text := pg_catalog.jsonb_typeof(value);
  v_key text;
  v_error text;
begin
  if v_type is not null and not (
       v_actual = v_type
       or (v_type = 'integer' and v_actual = 'number' and value::text ~ '^-?[0-9]+$')
     ) then
    return pg_catalog.format('%s: expected %s, got %s', path, v_type, v_actual);
  end if;
  if schema ? 'enum' and not (schema -> 'enum') @> pg_catalog.jsonb_build_array(value) then
    return pg_catalog.format('%s: %s is not one of %s', path, value::text, (schema -> 'enum')::text);
  end if;
  if v_actual = 'string' and schema ? 'maxLength' and char_length(value #>> '{}') > (schema ->> 'maxLength')::integer then
    return pg_catalog.format('%s: longer than %s characters', path, schema ->> 'maxLength');
  end if;
  if v_actual = 'number' and schema ? 'minimum' and (value::text)::numeric < (schema ->> 'minimum')::numeric then
    return pg_catalog.format('%s: less than %s', path, schema ->> 'minimum');
  end if;
  if v_actual = 'number' and schema ? 'maximum' and (value::text)::numeric > (schema ->> 'maximum')::numeric then
    return pg_catalog.format('%s: more than %s', path, schema ->> 'maximum');
  end if;
  if v_actual = 'object' then
    for v_key in select k from pg_catalog.jsonb_object_keys(value) k order by k loop
      if schema -> 'properties' ? v_key then
        v_error := users_private.json_schema_error(schema -> 'properties' -> v_key, value -> v_key, path || '.' || v_key);
        if v_error is not null then
          return v_error;
        end if;
      elsif (schema -> 'additionalProperties') = 'false'::jsonb then
        return pg_catalog.format('%s: unknown key %s', path, v_key);
      end if;
    end loop;
  end if;
  return null;
end;
$$;
comment on function users_private.json_schema_error(schema jsonb, value jsonb, path text) is
  'The first way value breaks schema, as "path: problem", or null when it fits.';

-- value with every missing property of schema filled from its default (objects recursively).
create function users_private.json_schema_defaults(schema jsonb, value jsonb) returns jsonb
  language sql
  immutable
  set search_path = ''
as $$
  select case
    when json_schema_defaults.schema ->> 'type' = 'object' then
      coalesce(json_schema_defaults.value, '{}'::jsonb) || coalesce((
        select pg_catalog.jsonb_object_agg(p.key, d.filled)
          from pg_catalog.jsonb_each(json_schema_defaults.schema -> 'properties') p
         cross join lateral (select users_private.json_schema_defaults(p.value, json_schema_defaults.value -> p.key) as filled) d
         where d.filled is not null
      ), '{}'::jsonb)
    else coalesce(json_schema_defaults.value, json_schema_defaults.schema -> 'default')
  end
$$;
comment on function users_private.json_schema_defaults(schema jsonb, value jsonb) is
  'value with every property the schema gives a default for filled in (objects recursively); given values win.';

--------------------------------------------------------------------------------
-- users.settings

create table users.settings (
  user_id uuid primary key
    constraint settings_user_id_fkey references users.profiles (user_id) on delete cascade,
  locale text not null default 'en'
    constraint settings_locale_check check (locale ~ '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$'),
  notification_preferences jsonb not null default '{}'::jsonb,
  updated_at timestamptz not null default now()
);
alter table users.settings enable row level security;

create policy "users see their own settings" on users.settings for select to gw_user
  using (user_id = (select auth.uid()));
create policy "users change their own settings" on users.settings for update to gw_user
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

grant select on users.settings to gw_user;
grant update (locale, notification_preferences) on users.settings to gw_user;

comment on table users.settings is
  E'@behavior -insert -delete\nYour settings: locale and notification preferences (every user has a row, made when they register). Only you see and change them.';
comment on column users.settings.user_id is 'Whose settings these are.';
comment on column users.settings.locale is 'Language (and optionally script and region) as a BCP 47 tag, e.g. en, fr-CA, yo-NG.';
comment on column users.settings.notification_preferences is
  'Which notifications you get, per channel: {"in_app": {"event_published": true, ...}, "email": {...}}. Must match usersNotificationPreferencesSchema (unknown keys and wrong types are refused: USSET); missing keys get their defaults.';
comment on column users.settings.updated_at is 'When the settings last changed.';
comment on constraint settings_user_id_fkey on users.settings is
  E'@fieldName profile\n@foreignFieldName settings\n@backwardBehavior -*';

create function users_private.tg_settings__validate() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_schema constant jsonb := users.notification_preferences_schema();
  v_error text;
begin
  if new.notification_preferences is null then
    new.notification_preferences := '{}'::jsonb;
  end if;
  if pg_catalog.pg_column_size(new.notification_preferences) > 16384 then
    raise exception 'Notification preferences are at most 16 kB.' using errcode = 'USSET';
  end if;
  v_error := users_private.json_schema_error(v_schema, new.notification_preferences);
  if v_error is not null then
    raise exception 'Notification preferences do not match the schema: %.', v_error using errcode = 'USSET';
  end if;
  new.notification_preferences := users_private.json_schema_defaults(v_schema, new.notification_preferences);
  if new.locale is null or new.locale !~ '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$' then
    raise exception 'A locale is a BCP 47 tag such as en, fr-CA or zh-Hant-TW.' using errcode = 'USSET';
  end if;
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
comment on function users_private.tg_settings__validate() is
  'Checks the notification preferences against users.notification_preferences_schema() and the locale (USSET), and fills in defaults. Security definer because the validator lives in users_private, which API roles may not use.';
create trigger _100_validate before insert or update on users.settings
  for each row execute function users_private.tg_settings__validate();

-- For trusted code deciding whether to notify (the worker's fan-out): stored value, else the schema's default.
create function users.notification_enabled(user_id uuid, channel text, topic text) returns boolean
  language sql
  stable
  set search_path = ''
as $$
  select coalesce(
    (select (s.notification_preferences -> channel ->> topic)::boolean from users.settings s where s.user_id = notification_enabled.user_id),
    (users.notification_preferences_schema() -> 'properties' -> channel -> 'properties' -> topic ->> 'default')::boolean,
    false)
$$;
comment on function users.notification_enabled(user_id uuid, channel text, topic text) is
  E'@behavior -queryField -mutationField -typeField\nWhether the user wants notifications of this topic on this channel (in_app, email): their setting, else the default. For trusted code (the worker); not granted to API roles.';
revoke execute on function users.notification_enabled(uuid, text, text) from public;
