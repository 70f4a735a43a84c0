-- The social content of an event: the organization's posts, people's comments
-- (with replies; authors edit or delete their own, the organization hides
-- them), reactions (one of a kind per person per post), cultural guides (one
-- per event and locale). Each is visible exactly when its event is: the
-- policies read events.events (or event_posts) under the caller's own RLS.

insert into registry.types (namespace, code, label, sort_order) values
  ('reaction_kind', 'like', 'Like', 10),
  ('reaction_kind', 'love', 'Love', 20),
  ('reaction_kind', 'celebrate', 'Celebrate', 30),
  ('reaction_kind', 'insightful', 'Insightful', 40),
  ('reaction_kind', 'curious', 'Curious', 50)
on conflict (namespace, code) do update set label = excluded.label, sort_order = excluded.sort_order;

--------------------------------------------------------------------------------
-- events.event_posts

create table events.event_posts (
  post_id uuid primary key default gen_random_uuid(),
  event_id uuid not null
    constraint event_posts_event_id_fkey references events.events (event_id) on delete cascade,
  author_id uuid default auth.uid()
    constraint event_posts_author_id_fkey references users.profiles (user_id) on delete set null,
  body text not null
    constraint event_posts_body_check check (char_length(body) between 1 and 10000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table events.event_posts enable row level security;

create index event_posts_event_id_idx on events.event_posts (event_id, created_at);
create index event_posts_author_id_idx on events.event_posts (author_id);

create policy "anyone sees the posts of events they can see"
  on events.event_posts for select to gw_anonymous, gw_user
  using (exists (select 1 from events.events e where e.event_id = event_posts.event_id));
create policy "owners and admins acting in an organization post on its events"
  on events.event_posts for insert to gw_user
  with check (author_id = (select auth.uid())
              and exists (select 1 from events.events e
                           where e.event_id = event_posts.event_id and e.owner_context_id = (select events.managed_organization_id())));
create policy "owners and admins acting in an organization edit its posts"
  on events.event_posts for update to gw_user
  using (exists (select 1 from events.events e
                  where e.event_id = event_posts.event_id and e.owner_context_id = (select events.managed_organization_id())));
create policy "owners and admins acting in an organization delete its posts"
  on events.event_posts for delete to gw_user
  using (exists (select 1 from events.events e
                  where e.event_id = event_posts.event_id and e.owner_context_id = (select events.managed_organization_id())));

grant select on events.event_posts to gw_anonymous, gw_user;
grant insert (event_id, body), update (body), delete on events.event_posts to gw_user;

comment on table events.event_posts is
  'A post by the organization on one of its events (news, line-up, practical details). Visible with its event; written by the owners and admins acting in the organization.';
comment on column events.event_posts.post_id is 'The post''s id.';
comment on column events.event_posts.event_id is 'The event it is about.';
comment on column events.event_posts.author_id is 'Who wrote it.';
comment on column events.event_posts.body is 'The text, 1 to 10,000 characters (plain text, never interpreted: clients must escape it).';
comment on column events.event_posts.created_at is 'When it was posted.';
comment on column events.event_posts.updated_at is 'When it last changed.';
comment on constraint event_posts_event_id_fkey on events.event_posts is E'@fieldName event\n@foreignFieldName posts';
comment on constraint event_posts_author_id_fkey on events.event_posts is E'@fieldName author\n@foreignFieldName eventPosts';

--------------------------------------------------------------------------------
-- events.event_comments

create table events.event_comments (
  comment_id uuid primary key default gen_random_uuid(),
  post_id uuid not null
    constraint event_comments_post_id_fkey references events.event_posts (post_id) on delete cascade,
  parent_id uuid,
  author_id uuid not null default auth.uid()
    constraint event_comments_author_id_fkey references users.profiles (user_id) on delete cascade,
  body text not null
    constraint event_comments_body_check check (char_length(body) between 1 and 5000),
  created_at timestamptz not null default now(),
  edited_at timestamptz,
  hidden_at timestamptz,
  hidden_by uuid
    constraint event_comments_hidden_by_fkey references users.profiles (user_id) on delete set null,
  constraint event_comments_post_comment_key unique (post_id, comment_id),
  -- A reply is on its parent's post; deleting the parent keeps the replies (at the top level).
  constraint event_comments_parent_fkey foreign key (post_id, parent_id)
    references events.event_comments (post_id, comment_id) on delete set null (parent_id),
  constraint event_comments_parent_check check (parent_id <> comment_id)
);
alter table events.event_comments enable row level security;

create index event_comments_parent_idx on events.event_comments (post_id, parent_id);
create index event_comments_post_created_idx on events.event_comments (post_id, created_at);
create index event_comments_author_id_idx on events.event_comments (author_id);
create index event_comments_hidden_by_idx on events.event_comments (hidden_by);

create policy "anyone sees the comments on posts they can see, hidden ones only their authors and the organization"
  on events.event_comments for select to gw_anonymous, gw_user
  using (
    exists (select 1 from events.event_posts p where p.post_id = event_comments.post_id)
    and (hidden_at is null
         or author_id = (select auth.uid())
         or exists (select 1 from events.event_posts p join events.events e on e.event_id = p.event_id
                     where p.post_id = event_comments.post_id and e.owner_context_id = (select events.managed_organization_id())))
  );
create policy "signed-in users comment on posts they can see"
  on events.event_comments for insert to gw_user
  with check (author_id = (select auth.uid())
              and exists (select 1 from events.event_posts p where p.post_id = event_comments.post_id));
create policy "authors edit their comments"
  on events.event_comments for update to gw_user
  using (author_id = (select auth.uid())) with check (author_id = (select auth.uid()));
create policy "authors delete their comments"
  on events.event_comments for delete to gw_user
  using (author_id = (select auth.uid()));

grant select on events.event_comments to gw_anonymous, gw_user;
grant insert (post_id, parent_id, body), update (body), delete on events.event_comments to gw_user;

comment on table events.event_comments is
  'A comment on a post, or a reply to a comment. Signed-in users comment on posts they can see; authors edit or delete their own; owners and admins acting in the event''s organization hide comments (eventsHideComment), which then only their author and the organization see.';
comment on column events.event_comments.comment_id is 'The comment''s id.';
comment on column events.event_comments.post_id is 'The post it is on.';
comment on column events.event_comments.parent_id is 'The comment it replies to (on the same post), or null.';
comment on column events.event_comments.author_id is 'Who wrote it.';
comment on column events.event_comments.body is 'The text, 1 to 5,000 characters (plain text, never interpreted: clients must escape it).';
comment on column events.event_comments.created_at is 'When it was written.';
comment on column events.event_comments.edited_at is 'When its author last changed it.';
comment on column events.event_comments.hidden_at is 'When the organization hid it (null: shown).';
comment on column events.event_comments.hidden_by is 'Who hid it.';
comment on constraint event_comments_post_id_fkey on events.event_comments is E'@fieldName post\n@foreignFieldName comments';
comment on constraint event_comments_parent_fkey on events.event_comments is E'@fieldName parent\n@foreignFieldName replies';
comment on constraint event_comments_author_id_fkey on events.event_comments is E'@fieldName author\n@foreignFieldName eventComments';
comment on constraint event_comments_hidden_by_fkey on events.event_comments is E'@fieldName moderator\n@backwardBehavior -*';
comment on constraint event_comments_post_comment_key on events.event_comments is E'@behavior -single -update -delete';

create function events_private.tg_event_comments__edited() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if new.body is distinct from old.body then
    new.edited_at := pg_catalog.now();
  end if;
  return new;
end;
$$;
comment on function events_private.tg_event_comments__edited() is 'Stamps edited_at when the body changes.';
create trigger _100_edited before update on events.event_comments
  for each row execute function events_private.tg_event_comments__edited();

create function events_private.tg_event_posts__touch() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
comment on function events_private.tg_event_posts__touch() is 'Keeps updated_at current.';
create trigger _100_touch before update on events.event_posts
  for each row execute function events_private.tg_event_posts__touch();

--------------------------------------------------------------------------------
-- events.event_reactions

create table events.event_reactions (
  post_id uuid not null
    constraint event_reactions_post_id_fkey references events.event_posts (post_id) on delete cascade,
  user_id uuid not null default auth.uid()
    constraint event_reactions_user_id_fkey references users.profiles (user_id) on delete cascade,
  kind text not null,
  created_at timestamptz not null default now(),
  constraint event_reactions_pkey primary key (post_id, user_id, kind)
);
alter table events.event_reactions enable row level security;
select registry.add_type_column('events.event_reactions', 'kind', 'reaction_kind');
comment on constraint event_reactions_kind_type_fkey on events.event_reactions is
  E'@behavior -*\nNo relation field: anonymous callers cannot read the registry; kind is the code.';

create index event_reactions_user_id_idx on events.event_reactions (user_id);
-- Counting a post's reactions of a kind.
create index event_reactions_post_kind_idx on events.event_reactions (post_id, kind);

create policy "anyone sees the reactions on posts they can see"
  on events.event_reactions for select to gw_anonymous, gw_user
  using (exists (select 1 from events.event_posts p where p.post_id = event_reactions.post_id));
create policy "signed-in users react to posts they can see"
  on events.event_reactions for insert to gw_user
  with check (user_id = (select auth.uid())
              and exists (select 1 from events.event_posts p where p.post_id = event_reactions.post_id));
create policy "users take back their reactions"
  on events.event_reactions for delete to gw_user
  using (user_id = (select auth.uid()));

grant select on events.event_reactions to gw_anonymous, gw_user;
grant insert (post_id, kind), delete on events.event_reactions to gw_user;

comment on table events.event_reactions is
  E'@behavior -update\nA reaction to a post: one of each kind (like, love, ...: registry namespace reaction_kind) per person per post; a second one of the same kind is refused (23505).';
comment on column events.event_reactions.post_id is 'The post reacted to.';
comment on column events.event_reactions.user_id is 'Who reacted.';
comment on column events.event_reactions.kind is 'What kind of reaction (registry namespace reaction_kind).';
comment on column events.event_reactions.created_at is 'When.';
comment on constraint event_reactions_post_id_fkey on events.event_reactions is E'@fieldName post\n@foreignFieldName reactions';
comment on constraint event_reactions_user_id_fkey on events.event_reactions is E'@fieldName user\n@foreignFieldName eventReactions';

--------------------------------------------------------------------------------
-- events.cultural_guides

create table events.cultural_guides (
  guide_id uuid primary key default gen_random_uuid(),
  event_id uuid not null
    constraint cultural_guides_event_id_fkey references events.events (event_id) on delete cascade,
  locale text not null
    constraint cultural_guides_locale_check check (locale ~ '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$'),
  title text not null
    constraint cultural_guides_title_check check (char_length(title) between 1 and 200),
  body text not null
    constraint cultural_guides_body_check check (char_length(body) between 1 and 50000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint cultural_guides_event_locale_key unique (event_id, locale)
);
alter table events.cultural_guides enable row level security;

create policy "anyone sees the guides of events they can see"
  on events.cultural_guides for select to gw_anonymous, gw_user
  using (exists (select 1 from events.events e where e.event_id = cultural_guides.event_id));
create policy "owners and admins acting in an organization write guides to its events"
  on events.cultural_guides for insert to gw_user
  with check (exists (select 1 from events.events e
                       where e.event_id = cultural_guides.event_id and e.owner_context_id = (select events.managed_organization_id())));
create policy "owners and admins acting in an organization edit its guides"
  on events.cultural_guides for update to gw_user
  using (exists (select 1 from events.events e
                  where e.event_id = cultural_guides.event_id and e.owner_context_id = (select events.managed_organization_id())));
create policy "owners and admins acting in an organization delete its guides"
  on events.cultural_guides for delete to gw_user
  using (exists (select 1 from events.events e
                  where e.event_id = cultural_guides.event_id and e.owner_context_id = (select events.managed_organization_id())));

grant select on events.cultural_guides to gw_anonymous, gw_user;
grant insert (event_id, locale, title, body), update (title, body), delete on events.cultural_guides to gw_user;

comment on table events.cultural_guides is
  'A cultural guide to an event in one language: customs, dress, etiquette, words worth knowing. One per event and locale; visible with its event; written by the owners and admins acting in its organization.';
comment on column events.cultural_guides.guide_id is 'The guide''s id.';
comment on column events.cultural_guides.event_id is 'The event it is about.';
comment on column events.cultural_guides.locale is 'Its language as a BCP 47 tag, e.g. en, fr, yo-NG.';
comment on column events.cultural_guides.title is 'The title, 1 to 200 characters.';
comment on column events.cultural_guides.body is 'The guide, 1 to 50,000 characters (plain text, never interpreted: clients must escape it).';
comment on column events.cultural_guides.created_at is 'When it was written.';
comment on column events.cultural_guides.updated_at is 'When it last changed.';
comment on constraint cultural_guides_event_id_fkey on events.cultural_guides is E'@fieldName event\n@foreignFieldName culturalGuides';

create function events_private.tg_cultural_guides__touch() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
comment on function events_private.tg_cultural_guides__touch() is 'Keeps updated_at current.';
create trigger _100_touch before update on events.cultural_guides
  for each row execute function events_private.tg_cultural_guides__touch();
