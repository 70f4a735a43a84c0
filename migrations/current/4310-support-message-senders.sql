-- Who a ticket message is from is the session's, not the writer's to say
-- (issue 15). Support staff could post as any agent id. An agent record now
-- names the user behind it (support_agents.user_id, linked by an operator),
-- API writers insert only ticket_id and message, and the sender trigger
-- derives sender_type and sender_id: a support staffer writes as their own
-- agent row, anyone else as the customer they are (the insert policies then
-- decide whether they may write on that ticket). Direct connections (seed,
-- maintenance) still name the sender and have it checked as before.

alter table support.support_agents add column if not exists user_id uuid;
alter table support.support_agents drop constraint if exists support_agents_user_id_fkey;
alter table support.support_agents
  add constraint support_agents_user_id_fkey foreign key (user_id) references auth.users (user_id) on delete set null;
create unique index if not exists support_agents_user_id_key on support.support_agents (user_id);
comment on column support.support_agents.user_id is
  'The user who works as this agent: their ticket messages are written as this agent. Set only by an operator (supportLinkAgentUser); unique.';

revoke insert (ticket_id, sender_type, sender_id, message) on support.ticket_messages from gw_user;
grant insert (ticket_id, message) on support.ticket_messages to gw_user;
comment on column support.ticket_messages.sender_type is
  'customer or agent; set by the database from who writes (a support staffer writes as agent).';
comment on column support.ticket_messages.sender_id is
  'The ticket''s customer_id (sender_type customer) or the writing staffer''s agent_id (sender_type agent), set by the database from the session.';

create or replace function support_private.tg_ticket_messages__validate_sender() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_agent_id uuid;
begin
  if pg_catalog.current_setting('role', true) is distinct from 'none' then
    -- An API request: the sender is whoever the session is.
    if auth.has_role('role_support') then
      select a.agent_id into v_agent_id from support.support_agents a where a.user_id = auth.uid();
      if v_agent_id is null then
        raise exception 'You have no support agent record linked to your user; an operator links it (supportLinkAgentUser).'
          using errcode = 'DNIED';
      end if;
      new.sender_type := 'agent';
      new.sender_id := v_agent_id;
    else
      -- Null for someone who is no customer: the insert policy refuses the row (42501).
      new.sender_type := 'customer';
      new.sender_id := finance.current_customer_id();
    end if;
    return new;
  end if;
  if new.sender_type = 'customer' and not exists (
    select 1 from support.tickets t where t.ticket_id = new.ticket_id and t.customer_id = new.sender_id
  ) then
    raise exception 'A customer message must come from the ticket''s customer.' using errcode = 'BADIN';
  end if;
  if new.sender_type = 'agent' and not exists (
    select 1 from support.support_agents a where a.agent_id = new.sender_id
  ) then
    raise exception 'No support agent %.', new.sender_id using errcode = 'NTFND';
  end if;
  return new;
end;
$$;
comment on function support_private.tg_ticket_messages__validate_sender() is
  'Sets sender_type and sender_id of a message written through the API from the session: a support staffer writes as the agent whose user_id is theirs (DNIED without one), anyone else as their own customer record. Direct connections name the sender, checked: the ticket''s customer (BADIN) or an existing agent (NTFND). Security definer so that it sees every ticket and agent whatever the writer may read (customers cannot read support.support_agents).';

create or replace function support.link_agent_user(agent_id uuid, user_id uuid) returns support.support_agents
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_agent support.support_agents;
begin
  perform auth_private.assert_operator();
  if link_agent_user.user_id is not null
     and not exists (select 1 from auth.users u where u.user_id = link_agent_user.user_id) then
    raise exception 'No user %.', link_agent_user.user_id using errcode = 'NTFND';
  end if;
  update support.support_agents a
     set user_id = link_agent_user.user_id
   where a.agent_id = link_agent_user.agent_id
  returning * into v_agent;
  if not found then
    raise exception 'No support agent %.', link_agent_user.agent_id using errcode = 'NTFND';
  end if;
  return v_agent;
end;
$$;
comment on function support.link_agent_user(uuid, uuid) is
  E'@resultFieldName agent\nNames the user who works as a support agent (null: unlinks): their ticket messages are then written as that agent. Operators only (gw_admin; DNIED for a withdrawn grant); NTFND for an unknown agent or user, 23505 when the user is already another agent. Security definer because support_agents.user_id has no grant for any request role: support staff must not choose whom they write as.';
revoke all on function support.link_agent_user(uuid, uuid) from public;
grant execute on function support.link_agent_user(uuid, uuid) to gw_admin;
