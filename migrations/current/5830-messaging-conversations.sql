-- Direct messages in conversations (the seed's direct_messages -> conversation_id).
-- Only current participants see a conversation, its participants (with their
-- read receipts) and its messages; a participant who leaves sees none of it
-- any more. Writes go through RLS: the creator adds participants (people whose
-- profile they can see), participants write messages and move their own read
-- receipt, and leave.

create table messaging.conversations (
  conversation_id uuid primary key default gen_random_uuid(),
  subject text
    constraint conversations_subject_check check (char_length(subject) <= 200),
  created_by uuid not null default auth.uid()
    constraint conversations_created_by_fkey references users.profiles (user_id) on delete cascade,
  created_at timestamptz not null default now()
);
alter table messaging.conversations enable row level security;
create index conversations_created_by_idx on messaging.conversations (created_by);

create table messaging.conversation_participants (
  conversation_id uuid not null
    constraint conversation_participants_conversation_id_fkey references messaging.conversations (conversation_id) on delete cascade,
  user_id uuid not null
    constraint conversation_participants_user_id_fkey references users.profiles (user_id) on delete cascade,
  joined_at timestamptz not null default now(),
  last_read_at timestamptz,
  left_at timestamptz,
  constraint conversation_participants_pkey primary key (conversation_id, user_id)
);
alter table messaging.conversation_participants enable row level security;
create index conversation_participants_user_id_idx on messaging.conversation_participants (user_id) where left_at is null;
create index conversation_participants_user_id_all_idx on messaging.conversation_participants (user_id);

create table messaging.direct_messages (
  message_id uuid primary key default gen_random_uuid(),
  conversation_id uuid not null
    constraint direct_messages_conversation_id_fkey references messaging.conversations (conversation_id) on delete cascade,
  sender_id uuid default auth.uid()
    constraint direct_messages_sender_id_fkey references users.profiles (user_id) on delete set null,
  body text not null
    constraint direct_messages_body_check check (char_length(body) between 1 and 10000),
  created_at timestamptz not null default now()
);
alter table messaging.direct_messages enable row level security;
create index direct_messages_conversation_id_idx on messaging.direct_messages (conversation_id, created_at);
create index direct_messages_sender_id_idx on messaging.direct_messages (sender_id);

-- Conversations the caller takes part in now (policies use it; reading participants through their own policy would recurse).
create function messaging.my_conversation_ids() returns setof uuid
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select p.conversation_id from messaging.conversation_participants p
   where p.user_id = auth.uid() and p.left_at is null
$$;
comment on function messaging.my_conversation_ids() is
  E'@behavior -queryField -mutationField -typeField\nThe conversations the caller takes part in and has not left. Security definer because the participants policy calls it (no recursion).';
revoke execute on function messaging.my_conversation_ids() from public;
grant execute on function messaging.my_conversation_ids() to gw_user;

create function messaging.conversation_creator(conversation_id uuid) returns uuid
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select c.created_by from messaging.conversations c where c.conversation_id = conversation_creator.conversation_id
$$;
comment on function messaging.conversation_creator(uuid) is
  E'@behavior -queryField -mutationField -typeField\nWho started a conversation. Security definer because the participants insert policy asks before the creator can see the conversation.';
revoke execute on function messaging.conversation_creator(uuid) from public;
grant execute on function messaging.conversation_creator(uuid) to gw_user;

create policy "participants see their conversations" on messaging.conversations for select to gw_user
  using (conversation_id in (select messaging.my_conversation_ids()) or created_by = (select auth.uid()) and not exists (
    select 1 from messaging.conversation_participants p where p.conversation_id = conversations.conversation_id));
create policy "users start conversations" on messaging.conversations for insert to gw_user
  with check (created_by = (select auth.uid()));
grant select on messaging.conversations to gw_user;
grant insert (conversation_id, subject) on messaging.conversations to gw_user;

create policy "participants see who takes part and their read receipts" on messaging.conversation_participants for select to gw_user
  using (conversation_id in (select messaging.my_conversation_ids()));
create policy "creators add people they can see" on messaging.conversation_participants for insert to gw_user
  with check (messaging.conversation_creator(conversation_id) = (select auth.uid())
              and (user_id = (select auth.uid())
                   or (conversation_id in (select messaging.my_conversation_ids())
                       and exists (select 1 from users.profiles p where p.user_id = conversation_participants.user_id))));
create policy "participants move their read receipt and leave" on messaging.conversation_participants for update to gw_user
  using (user_id = (select auth.uid()) and left_at is null)
  with check (user_id = (select auth.uid()));
grant select on messaging.conversation_participants to gw_user;
grant insert (conversation_id, user_id), update (last_read_at, left_at) on messaging.conversation_participants to gw_user;

create policy "participants read the messages" on messaging.direct_messages for select to gw_user
  using (conversation_id in (select messaging.my_conversation_ids()));
create policy "participants write as themselves" on messaging.direct_messages for insert to gw_user
  with check (sender_id = (select auth.uid()) and conversation_id in (select messaging.my_conversation_ids()));
grant select on messaging.direct_messages to gw_user;
grant insert (conversation_id, body) on messaging.direct_messages to gw_user;

comment on table messaging.conversations is
  E'@behavior -insert -update -delete\nA conversation between people (messagingStartConversation). Only its current participants see it.';
comment on column messaging.conversations.conversation_id is 'The conversation''s id.';
comment on column messaging.conversations.subject is 'An optional subject (at most 200 characters).';
comment on column messaging.conversations.created_by is 'Who started it.';
comment on column messaging.conversations.created_at is 'When.';
comment on table messaging.conversation_participants is
  E'@behavior -insert -update -delete\nWho takes part in a conversation, with their read receipt (lastReadAt: messagingMarkConversationRead). Participants see each other; leaving (messagingLeaveConversation) hides the conversation from the one who left.';
comment on column messaging.conversation_participants.conversation_id is 'The conversation.';
comment on column messaging.conversation_participants.user_id is 'The participant.';
comment on column messaging.conversation_participants.joined_at is 'When they were added.';
comment on column messaging.conversation_participants.last_read_at is 'Read receipt: messages up to this time are read.';
comment on column messaging.conversation_participants.left_at is 'When they left (they no longer see the conversation).';
comment on table messaging.direct_messages is
  E'@behavior -insert -update -delete\nA message in a conversation (messagingSendDirectMessage): plain text, never interpreted. Only current participants read them; the others are told by a notification (preference direct_message).';
comment on column messaging.direct_messages.message_id is 'The message''s id.';
comment on column messaging.direct_messages.conversation_id is 'The conversation.';
comment on column messaging.direct_messages.sender_id is 'Who wrote it.';
comment on column messaging.direct_messages.body is 'The text (1-10,000 characters).';
comment on column messaging.direct_messages.created_at is 'When it was sent.';
comment on constraint conversations_created_by_fkey on messaging.conversations is E'@behavior -*';
comment on constraint conversation_participants_user_id_fkey on messaging.conversation_participants is E'@fieldName participant\n@foreignFieldName -\n@backwardBehavior -*';
comment on constraint direct_messages_sender_id_fkey on messaging.direct_messages is E'@behavior -*';

create function messaging.start_conversation(participant_ids uuid[], body text, subject text default null)
  returns messaging.conversations
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_me uuid := auth.uid();
  v_conversation messaging.conversations;
  v_others uuid[];
begin
  if v_me is null then
    raise exception 'Sign in to write to people.' using errcode = 'LOGIN';
  end if;
  v_others := array(select distinct p from pg_catalog.unnest(start_conversation.participant_ids) p where p is not null and p <> v_me);
  if pg_catalog.cardinality(v_others) not between 1 and 50 then
    raise exception 'A conversation has 1 to 50 other participants.' using errcode = 'BADIN';
  end if;
  if start_conversation.body is null or pg_catalog.btrim(start_conversation.body) = '' or char_length(start_conversation.body) > 10000
     or char_length(start_conversation.subject) > 200 then
    raise exception 'A message has 1 to 10,000 characters, a subject at most 200.' using errcode = 'BADIN';
  end if;
  -- People the caller cannot see are as unknown as people who do not exist.
  if (select pg_catalog.count(*) from users.profiles p where p.user_id = any (v_others)) <> pg_catalog.cardinality(v_others) then
    raise exception 'Some of these people do not exist or you cannot see them.' using errcode = 'NTFND';
  end if;
  insert into messaging.conversations (subject) values (start_conversation.subject) returning * into v_conversation;
  insert into messaging.conversation_participants (conversation_id, user_id) values (v_conversation.conversation_id, v_me);
  insert into messaging.conversation_participants (conversation_id, user_id) select v_conversation.conversation_id, o from pg_catalog.unnest(v_others) o;
  insert into messaging.direct_messages (conversation_id, body) values (v_conversation.conversation_id, start_conversation.body);
  update messaging.conversation_participants p set last_read_at = pg_catalog.now()
   where p.conversation_id = v_conversation.conversation_id and p.user_id = v_me;
  return v_conversation;
end;
$$;
comment on function messaging.start_conversation(uuid[], text, text) is
  'Starts a conversation with 1-50 people whose profiles you can see (NTFND otherwise) and sends its first message. Runs with your rights (every write goes through the policies).';
revoke execute on function messaging.start_conversation(uuid[], text, text) from public;
grant execute on function messaging.start_conversation(uuid[], text, text) to gw_user;

create function messaging.send_direct_message(conversation_id uuid, body text) returns messaging.direct_messages
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_message messaging.direct_messages;
begin
  if send_direct_message.body is null or pg_catalog.btrim(send_direct_message.body) = '' or char_length(send_direct_message.body) > 10000 then
    raise exception 'A message has 1 to 10,000 characters.' using errcode = 'BADIN';
  end if;
  if send_direct_message.conversation_id is null or not (send_direct_message.conversation_id in (select messaging.my_conversation_ids())) then
    raise exception 'No conversation % that you take part in.', send_direct_message.conversation_id using errcode = 'NTFND';
  end if;
  insert into messaging.direct_messages (conversation_id, body) values (send_direct_message.conversation_id, send_direct_message.body)
  returning * into v_message;
  update messaging.conversation_participants p set last_read_at = v_message.created_at
   where p.conversation_id = send_direct_message.conversation_id and p.user_id = auth.uid();
  return v_message;
end;
$$;
comment on function messaging.send_direct_message(uuid, text) is
  'Sends a message in a conversation you take part in (NTFND otherwise); it counts as read by you. Runs with your rights.';
revoke execute on function messaging.send_direct_message(uuid, text) from public;
grant execute on function messaging.send_direct_message(uuid, text) to gw_user;

create function messaging.mark_conversation_read(conversation_id uuid) returns messaging.conversation_participants
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_row messaging.conversation_participants;
begin
  update messaging.conversation_participants p set last_read_at = pg_catalog.now()
   where p.conversation_id = mark_conversation_read.conversation_id and p.user_id = auth.uid() and p.left_at is null
  returning * into v_row;
  if not found then
    raise exception 'No conversation % that you take part in.', mark_conversation_read.conversation_id using errcode = 'NTFND';
  end if;
  return v_row;
end;
$$;
comment on function messaging.mark_conversation_read(uuid) is 'Marks a conversation read up to now (your read receipt, seen by the other participants). NTFND if you do not take part.';
revoke execute on function messaging.mark_conversation_read(uuid) from public;
grant execute on function messaging.mark_conversation_read(uuid) to gw_user;

create function messaging.leave_conversation(conversation_id uuid) returns boolean
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  update messaging.conversation_participants p set left_at = pg_catalog.now()
   where p.conversation_id = leave_conversation.conversation_id and p.user_id = auth.uid() and p.left_at is null;
  if not found then
    raise exception 'No conversation % that you take part in.', leave_conversation.conversation_id using errcode = 'NTFND';
  end if;
  return true;
end;
$$;
comment on function messaging.leave_conversation(uuid) is 'Leaves a conversation: you no longer see it or get its messages. NTFND if you do not take part.';
revoke execute on function messaging.leave_conversation(uuid) from public;
grant execute on function messaging.leave_conversation(uuid) to gw_user;

-- The other participants hear of a new message (in-app, if they want direct_message notifications).
create function messaging_private.tg_direct_messages__notify() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_sender text;
begin
  select coalesce(p.display_name, u.username) into v_sender
    from users.profiles p join auth.users u on u.user_id = p.user_id where p.user_id = new.sender_id;
  perform outbox.notify_user(p.user_id, 'messaging.direct_message',
            pg_catalog.left(coalesce(v_sender, 'Someone') || ' wrote to you', 1000),
            pg_catalog.jsonb_build_object('conversationId', new.conversation_id, 'messageId', new.message_id))
     from messaging.conversation_participants p
    where p.conversation_id = new.conversation_id and p.left_at is null and p.user_id is distinct from new.sender_id
      and users.notification_enabled(p.user_id, 'in_app', 'direct_message');
  return null;
end;
$$;
comment on function messaging_private.tg_direct_messages__notify() is
  'Notifies the other current participants of a new direct message (without its text). Security definer because outbox.notify_user is not granted to API roles.';
create trigger _500_notify after insert on messaging.direct_messages
  for each row execute function messaging_private.tg_direct_messages__notify();
