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
