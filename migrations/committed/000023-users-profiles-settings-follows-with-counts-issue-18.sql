--! Previous: sha1:2c79f66101afa8cde047ac6d1824facdd8305fdd
--! Hash: sha1:bd50bc3658954e0cea0476f2fd34e19e5c043ad1
--! Message: users: profiles, settings, follows with counts (issue 18)

--! split: 5100-users-profiles.sql
-- users: people of the events platform (the Liventix seed's users schema, and
-- the HFCC seed's "users/profiles" application identity). One profile per
-- auth.users row, made by a trigger on auth.users and backfilled here; the
-- public handle is auth.users.username, shown through the profile, not copied.
-- Settings (5110) and follows (5150) follow.

drop schema if exists users_private cascade;
drop schema if exists users cascade;

create schema users;
comment on schema users is
  'People: public profiles, follows of people and organizations, personal settings. Public profiles are readable by everyone.';
grant usage on schema users to gw_anonymous, gw_user;

create schema users_private;
comment on schema users_private is 'Triggers and validation of the users module; never exposed.';
revoke all on schema users_private from public;

--------------------------------------------------------------------------------
-- Who shares an organization with the caller (private profiles are visible to them).

create function users.fellow_member_ids() returns setof uuid
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select distinct b.user_id
    from auth.memberships a
    join auth.memberships b on b.organization_id = a.organization_id
   where a.user_id = auth.uid()
$$;
comment on function users.fellow_member_ids() is
  E'@behavior -queryField -mutationField -typeField\nThe users who share at least one organization with the signed-in user (the user included); none when signed out. Security definer because auth.memberships shows a member only the memberships of their own organizations, and policies call it without recursing.';
revoke execute on function users.fellow_member_ids() from public;
grant execute on function users.fellow_member_ids() to gw_anonymous, gw_user;

--------------------------------------------------------------------------------
-- users.profiles

create table users.profiles (
  user_id uuid primary key
    constraint profiles_user_id_fkey references auth.users (user_id) on delete cascade,
  display_name text
    constraint profiles_display_name_check check (char_length(display_name) between 1 and 100 and btrim(display_name) <> ''),
  avatar_url text
    constraint profiles_avatar_url_check check (avatar_url ~ '^https://[^\s/?#]+[^\s]*$' and char_length(avatar_url) <= 2000),
  bio text
    constraint profiles_bio_check check (char_length(bio) <= 2000),
  country_code text
    constraint profiles_country_code_fkey references ref.countries (code) on delete restrict,
  timezone text
    constraint profiles_timezone_fkey references ref.timezones (name) on delete restrict,
  visibility text not null default 'public'
    constraint profiles_visibility_check check (visibility in ('public', 'private')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table users.profiles enable row level security;

create index profiles_country_code_idx on users.profiles (country_code);
create index profiles_timezone_idx on users.profiles (timezone);

create policy "anyone sees public profiles, members their fellow members' and users their own"
  on users.profiles for select to gw_anonymous, gw_user
  using (
    visibility = 'public'
    or user_id = (select auth.uid())
    or user_id = any (array(select users.fellow_member_ids()))
  );
create policy "users edit their own profile"
  on users.profiles for update to gw_user
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));

grant select on users.profiles to gw_anonymous, gw_user;
grant update (display_name, avatar_url, bio, country_code, timezone, visibility) on users.profiles to gw_user;

comment on table users.profiles is
  E'@behavior -insert -delete\nA person''s public face: handle (their username), display name, avatar, bio, country, time zone. Every user has one (made when they register). Public profiles are readable by anyone; private ones by their owner and by people who share an organization with them. You edit your own.';
comment on column users.profiles.user_id is 'The user (auth.users) this profile belongs to.';
comment on column users.profiles.display_name is 'The name to show, 1 to 100 characters; clients fall back to the handle.';
comment on column users.profiles.avatar_url is 'An https URL of the avatar image (at most 2000 characters). Stored as text, never fetched by the server.';
comment on column users.profiles.bio is 'A few words about the person, at most 2000 characters (plain text: clients must escape it).';
comment on column users.profiles.country_code is 'Country (ISO 3166-1 alpha-2, ref.countries).';
comment on column users.profiles.timezone is 'Time zone (IANA name, ref.timezones).';
comment on column users.profiles.visibility is 'public (anyone) or private (only people who share an organization with you).';
comment on column users.profiles.created_at is 'When the profile was made (with the account).';
comment on column users.profiles.updated_at is 'When the profile last changed.';
comment on constraint profiles_user_id_fkey on users.profiles is
  E'@fieldName user\n@foreignFieldName profile';
comment on constraint profiles_country_code_fkey on users.profiles is
  E'@fieldName country\n@foreignFieldName profiles';
comment on constraint profiles_timezone_fkey on users.profiles is
  E'@behavior -*\nNo relation field: the name is all there is.';

create function users_private.tg_profiles__touch() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
comment on function users_private.tg_profiles__touch() is 'Keeps updated_at current.';
create trigger _100_touch before update on users.profiles
  for each row execute function users_private.tg_profiles__touch();

-- The handle: auth.users.username, which only its owner may read there.
create function users.profiles_handle(profile users.profiles) returns text
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select u.username
    from auth.users u
    join users.profiles p on p.user_id = u.user_id
   where u.user_id = profile.user_id
     and (p.visibility = 'public'
          or p.user_id = auth.uid()
          or p.user_id = any (array(select users.fellow_member_ids())))
$$;
comment on function users.profiles_handle(profile users.profiles) is
  'The person''s handle: their username, unique ignoring case. Security definer because auth.users shows a user only their own row; it returns the username only when the stored profile is one the caller may see (the argument may be forged in SQL).';
revoke execute on function users.profiles_handle(users.profiles) from public;
grant execute on function users.profiles_handle(users.profiles) to gw_anonymous, gw_user;

create function users.user_id_by_handle(handle text) returns uuid
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select u.user_id from auth.users u where pg_catalog.lower(u.username) = pg_catalog.lower(handle)
$$;
comment on function users.user_id_by_handle(handle text) is
  E'@behavior -queryField -mutationField -typeField\nThe user id of a handle (ignoring case), or null. Security definer because auth.users shows a user only their own row; a handle is public (registration already tells whether one is taken).';
revoke execute on function users.user_id_by_handle(text) from public;
grant execute on function users.user_id_by_handle(text) to gw_anonymous, gw_user;

create function users.profile_by_handle(handle text) returns users.profiles
  language sql
  stable
as $$
  select p.* from users.profiles p where p.user_id = users.user_id_by_handle(handle)
$$;
comment on function users.profile_by_handle(handle text) is
  'The profile with this handle (ignoring case), if you may see it.';
revoke execute on function users.profile_by_handle(text) from public;
grant execute on function users.profile_by_handle(text) to gw_anonymous, gw_user;

--! split: 5110-users-settings.sql
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

--! split: 5150-users-follows.sql
-- users.follows: a user follows a user or an organization. No self-follow, no
-- duplicates; following twice is a no-op (follow_user / follow_organization).
-- Follower and followed counts live in counts tables kept by one statement
-- trigger, so reading them never scans the follows (and concurrent follows of
-- one target queue on its count row instead of losing an increment).

create table users.follows (
  follow_id bigint generated always as identity primary key,
  follower_id uuid not null default auth.uid()
    constraint follows_follower_id_fkey references users.profiles (user_id) on delete cascade,
  followed_user_id uuid
    constraint follows_followed_user_id_fkey references users.profiles (user_id) on delete cascade,
  followed_organization_id uuid
    constraint follows_followed_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  created_at timestamptz not null default now(),
  constraint follows_target_check check (num_nonnulls(followed_user_id, followed_organization_id) = 1),
  constraint follows_self_check check (follower_id <> followed_user_id),
  constraint follows_user_key unique (follower_id, followed_user_id),
  constraint follows_organization_key unique (follower_id, followed_organization_id)
);
alter table users.follows enable row level security;

create index follows_followed_user_id_idx on users.follows (followed_user_id, follower_id);
create index follows_followed_organization_id_idx on users.follows (followed_organization_id, follower_id);

create policy "users see their follows, who follows them, and who follows organizations they run"
  on users.follows for select to gw_user
  using (
    follower_id = (select auth.uid())
    or followed_user_id = (select auth.uid())
    or followed_organization_id = any (array(select auth.current_user_admin_organization_ids()))
  );
create policy "users follow people they can see and any organization"
  on users.follows for insert to gw_user
  with check (
    follower_id = (select auth.uid())
    and (followed_user_id is null or exists (select 1 from users.profiles p where p.user_id = followed_user_id))
  );
create policy "users unfollow"
  on users.follows for delete to gw_user
  using (follower_id = (select auth.uid()));

grant select, delete on users.follows to gw_user;
grant insert (followed_user_id, followed_organization_id) on users.follows to gw_user;

comment on table users.follows is
  E'@behavior -insert -update\nYou follow a person or an organization (followers of an organization hear when it publishes an event). Follow with usersFollowUser / usersFollowOrganization (following twice does nothing), unfollow with usersUnfollowUser / usersUnfollowOrganization or deleteUsersFollow. You see your own follows, who follows you, and who follows the organizations you own or administer.';
comment on column users.follows.follow_id is 'The follow''s id.';
comment on column users.follows.follower_id is 'Who follows.';
comment on column users.follows.followed_user_id is 'The person followed, or null.';
comment on column users.follows.followed_organization_id is 'The organization followed, or null.';
comment on column users.follows.created_at is 'Since when.';
comment on constraint follows_follower_id_fkey on users.follows is E'@fieldName follower\n@foreignFieldName following';
comment on constraint follows_followed_user_id_fkey on users.follows is E'@fieldName followedUser\n@foreignFieldName followers';
comment on constraint follows_followed_organization_id_fkey on users.follows is E'@fieldName followedOrganization\n@foreignFieldName followers';
comment on constraint follows_user_key on users.follows is E'@behavior -single -update -delete';
comment on constraint follows_organization_key on users.follows is E'@behavior -single -update -delete';

--------------------------------------------------------------------------------
-- Counts

create table users.user_follow_counts (
  user_id uuid primary key
    constraint user_follow_counts_user_id_fkey references users.profiles (user_id) on delete cascade,
  followers bigint not null default 0
    constraint user_follow_counts_followers_check check (followers >= 0),
  following bigint not null default 0
    constraint user_follow_counts_following_check check (following >= 0)
);
alter table users.user_follow_counts enable row level security;
create policy "everyone reads follow counts" on users.user_follow_counts for select to gw_anonymous, gw_user using (true);
grant select on users.user_follow_counts to gw_anonymous, gw_user;
comment on table users.user_follow_counts is
  E'@behavior -insert -update -delete\nHow many follow a person and how many (people and organizations) they follow, kept by the database as follows come and go.';
comment on column users.user_follow_counts.user_id is 'The person.';
comment on column users.user_follow_counts.followers is 'How many users follow them.';
comment on column users.user_follow_counts.following is 'How many people and organizations they follow.';
comment on constraint user_follow_counts_user_id_fkey on users.user_follow_counts is E'@fieldName profile\n@foreignFieldName followCount';

create table users.organization_follow_counts (
  organization_id uuid primary key
    constraint organization_follow_counts_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  followers bigint not null default 0
    constraint organization_follow_counts_followers_check check (followers >= 0)
);
alter table users.organization_follow_counts enable row level security;
create policy "everyone reads follow counts" on users.organization_follow_counts for select to gw_anonymous, gw_user using (true);
grant select on users.organization_follow_counts to gw_anonymous, gw_user;
comment on table users.organization_follow_counts is
  E'@behavior -insert -update -delete\nHow many users follow an organization, kept by the database as follows come and go.';
comment on column users.organization_follow_counts.organization_id is 'The organization.';
comment on column users.organization_follow_counts.followers is 'How many users follow it.';
comment on constraint organization_follow_counts_organization_id_fkey on users.organization_follow_counts is
  E'@fieldName organization\n@foreignFieldName followCount';

-- One statement per follow statement. Count rows are written in id order
-- (users before organizations), so two transactions touching the same rows
-- (alice follows bob while bob follows alice) never wait on each other in a cycle.
create function users_private.tg_follows__count() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_ids uuid[];
  v_followers bigint[];
  v_following bigint[];
begin
  if tg_op = 'INSERT' then
    insert into users.user_follow_counts as c (user_id, followers, following)
    select d.user_id, sum(d.followers), sum(d.following)
      from (select n.followed_user_id as user_id, 1 as followers, 0 as following from new_rows n where n.followed_user_id is not null
            union all
            select n.follower_id, 0, 1 from new_rows n) d
     group by d.user_id
     order by d.user_id
    on conflict (user_id) do update
      set followers = c.followers + excluded.followers, following = c.following + excluded.following;
    insert into users.organization_follow_counts as c (organization_id, followers)
    select n.followed_organization_id, pg_catalog.count(*)
      from new_rows n where n.followed_organization_id is not null
     group by n.followed_organization_id
     order by n.followed_organization_id
    on conflict (organization_id) do update set followers = c.followers + excluded.followers;
  else
    select pg_catalog.array_agg(d.user_id order by d.user_id), pg_catalog.array_agg(d.followers order by d.user_id),
           pg_catalog.array_agg(d.following order by d.user_id)
      into v_ids, v_followers, v_following
      from (select x.user_id, sum(x.followers) as followers, sum(x.following) as following
              from (select o.followed_user_id as user_id, 1 as followers, 0 as following from old_rows o where o.followed_user_id is not null
                    union all
                    select o.follower_id, 0, 1 from old_rows o) x
             group by x.user_id) d;
    perform 1 from users.user_follow_counts c where c.user_id = any (v_ids) order by c.user_id for update;
    update users.user_follow_counts c
       set followers = c.followers - d.followers, following = c.following - d.following
      from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_followers), pg_catalog.unnest(v_following)) d(user_id, followers, following)
     where c.user_id = d.user_id;
    select pg_catalog.array_agg(d.organization_id order by d.organization_id), pg_catalog.array_agg(d.followers order by d.organization_id)
      into v_ids, v_followers
      from (select o.followed_organization_id as organization_id, pg_catalog.count(*) as followers
              from old_rows o where o.followed_organization_id is not null
             group by o.followed_organization_id) d;
    if v_ids is not null then
      perform 1 from users.organization_follow_counts c where c.organization_id = any (v_ids) order by c.organization_id for update;
      update users.organization_follow_counts c
         set followers = c.followers - d.followers
        from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_followers)) d(organization_id, followers)
       where c.organization_id = d.organization_id;
    end if;
  end if;
  return null;
end;
$$;
comment on function users_private.tg_follows__count() is
  'Adds the follows a statement inserted to, or takes those it deleted from, the counts of both sides, locking count rows in id order. Security definer because the counts tables have no write grants.';

create trigger _500_count_inserted after insert on users.follows
  referencing new table as new_rows for each statement execute function users_private.tg_follows__count();
create trigger _500_count_deleted after delete on users.follows
  referencing old table as old_rows for each statement execute function users_private.tg_follows__count();

--------------------------------------------------------------------------------
-- Follow and unfollow

create function users.follow_user(user_id uuid) returns users.follows
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_me uuid := auth.uid();
  v_follow users.follows;
begin
  if v_me is null then
    raise exception 'You must be signed in to follow someone.' using errcode = 'LOGIN';
  end if;
  if follow_user.user_id is null then
    raise exception 'Whom to follow is required.' using errcode = 'BADIN';
  end if;
  if follow_user.user_id = v_me then
    raise exception 'You cannot follow yourself.' using errcode = 'USSLF';
  end if;
  if not exists (select 1 from users.profiles p where p.user_id = follow_user.user_id) then
    raise exception 'No profile % that you may see.', follow_user.user_id using errcode = 'NTFND';
  end if;
  -- follower_id is its default, auth.uid(): it has no insert grant, so nobody follows on another's behalf.
  insert into users.follows (followed_user_id)
  values (follow_user.user_id)
  on conflict (follower_id, followed_user_id) do nothing
  returning * into v_follow;
  if v_follow.follow_id is null then
    -- Already followed (perhaps by a concurrent call that has just committed).
    select f.* into v_follow from users.follows f where f.follower_id = v_me and f.followed_user_id = follow_user.user_id;
  end if;
  return v_follow;
end;
$$;
comment on function users.follow_user(user_id uuid) is
  E'@resultFieldName follow\nFollows a person whose profile you can see and returns the follow; following again returns the existing one. Errors: LOGIN, BADIN, USSLF (yourself), NTFND (no such profile you may see).';
revoke execute on function users.follow_user(uuid) from public;
grant execute on function users.follow_user(uuid) to gw_anonymous, gw_user;

create function users.follow_organization(organization_id uuid) returns users.follows
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_me uuid := auth.uid();
  v_follow users.follows;
begin
  if v_me is null then
    raise exception 'You must be signed in to follow an organization.' using errcode = 'LOGIN';
  end if;
  if follow_organization.organization_id is null then
    raise exception 'Which organization to follow is required.' using errcode = 'BADIN';
  end if;
  begin
    insert into users.follows (followed_organization_id)
    values (follow_organization.organization_id)
    on conflict (follower_id, followed_organization_id) do nothing
    returning * into v_follow;
  exception when foreign_key_violation then
    raise exception 'No organization %.', follow_organization.organization_id using errcode = 'NTFND';
  end;
  if v_follow.follow_id is null then
    select f.* into v_follow from users.follows f
     where f.follower_id = v_me and f.followed_organization_id = follow_organization.organization_id;
  end if;
  return v_follow;
end;
$$;
comment on function users.follow_organization(organization_id uuid) is
  E'@resultFieldName follow\nFollows an organization (you hear when it publishes an event) and returns the follow; following again returns the existing one. Errors: LOGIN, BADIN, NTFND (no such organization).';
revoke execute on function users.follow_organization(uuid) from public;
grant execute on function users.follow_organization(uuid) to gw_anonymous, gw_user;

create function users.unfollow_user(user_id uuid) returns boolean
  language sql
  volatile
as $$
  with gone as (
    delete from users.follows f where f.follower_id = auth.uid() and f.followed_user_id = unfollow_user.user_id returning 1
  )
  select exists (select 1 from gone)
$$;
comment on function users.unfollow_user(user_id uuid) is
  E'@resultFieldName unfollowed\nStops following a person; true if you followed them.';
revoke execute on function users.unfollow_user(uuid) from public;
grant execute on function users.unfollow_user(uuid) to gw_user;

create function users.unfollow_organization(organization_id uuid) returns boolean
  language sql
  volatile
as $$
  with gone as (
    delete from users.follows f where f.follower_id = auth.uid() and f.followed_organization_id = unfollow_organization.organization_id returning 1
  )
  select exists (select 1 from gone)
$$;
comment on function users.unfollow_organization(organization_id uuid) is
  E'@resultFieldName unfollowed\nStops following an organization; true if you followed it.';
revoke execute on function users.unfollow_organization(uuid) from public;
grant execute on function users.unfollow_organization(uuid) to gw_user;

--------------------------------------------------------------------------------
-- Every user has a profile, settings and a count row: made with the account, and backfilled.

create function users_private.tg_users__create_profile() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  insert into users.profiles (user_id) select n.user_id from new_users n on conflict (user_id) do nothing;
  insert into users.settings (user_id) select n.user_id from new_users n on conflict (user_id) do nothing;
  insert into users.user_follow_counts (user_id) select n.user_id from new_users n on conflict (user_id) do nothing;
  return null;
end;
$$;
comment on function users_private.tg_users__create_profile() is
  'Gives every new user a profile, settings and a follow-count row. Security definer because registration runs as gw_anonymous, which may not write these tables.';

create trigger _700_create_profile after insert on auth.users
  referencing new table as new_users for each statement execute function users_private.tg_users__create_profile();

insert into users.profiles (user_id) select u.user_id from auth.users u on conflict (user_id) do nothing;
insert into users.settings (user_id) select u.user_id from auth.users u on conflict (user_id) do nothing;
insert into users.user_follow_counts (user_id) select u.user_id from auth.users u on conflict (user_id) do nothing;
