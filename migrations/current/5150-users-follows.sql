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
