-- support: agents, tickets of finance customers, ticket messages.
-- Re-runnable: 4000-capstone-types.sql drops the support schemas first.

--------------------------------------------------------------------------------
-- support.support_agents

create table support.support_agents (
  agent_id uuid primary key default gen_random_uuid(),
  full_name text not null
    constraint support_agents_full_name_check check (char_length(btrim(full_name)) between 1 and 200),
  email auth.email not null
);
alter table support.support_agents enable row level security;

create unique index support_agents_email_lower_key on support.support_agents (lower(email));

create policy "support and readonly staff see agents"
  on support.support_agents for select to role_support, role_readonly
  using ((select auth.has_role('role_support')) or (select auth.has_role('role_readonly')));
create policy "support staff add agents"
  on support.support_agents for insert to role_support
  with check ((select auth.has_role('role_support')));
create policy "support staff edit agents"
  on support.support_agents for update to role_support
  using ((select auth.has_role('role_support')))
  with check ((select auth.has_role('role_support')));

grant select on support.support_agents to role_support, role_readonly;
grant insert (full_name, email), update (full_name, email) on support.support_agents to role_support;

comment on table support.support_agents is
  E'@behavior -delete\nA support agent. Support and readonly staff only.';
comment on column support.support_agents.agent_id is 'The agent''s id.';
comment on column support.support_agents.full_name is 'Full name.';
comment on column support.support_agents.email is 'Work e-mail; unique ignoring case.';

--------------------------------------------------------------------------------
-- support.tickets

create table support.tickets (
  ticket_id uuid primary key default gen_random_uuid(),
  customer_id uuid not null references finance.customers (customer_id) on delete restrict,
  subject text not null
    constraint tickets_subject_check check (char_length(btrim(subject)) between 1 and 200),
  status support.ticket_status not null default 'open',
  created_at timestamptz not null default now()
);
alter table support.tickets enable row level security;

create index tickets_customer_id_idx on support.tickets (customer_id);

create policy "customers see their own tickets"
  on support.tickets for select to gw_user
  using (customer_id = (select finance.current_customer_id()));
create policy "support and readonly staff see every ticket"
  on support.tickets for select to role_support, role_readonly
  using ((select auth.has_role('role_support')) or (select auth.has_role('role_readonly')));
create policy "customers open tickets for themselves"
  on support.tickets for insert to gw_user
  with check (customer_id = (select finance.current_customer_id()) and status = 'open');
create policy "support staff open tickets for any customer"
  on support.tickets for insert to role_support
  with check ((select auth.has_role('role_support')));
create policy "support staff update tickets"
  on support.tickets for update to role_support
  using ((select auth.has_role('role_support')))
  with check ((select auth.has_role('role_support')));

grant select on support.tickets to gw_user;
grant insert (customer_id, subject) on support.tickets to gw_user;
grant update (subject, status) on support.tickets to role_support;

comment on table support.tickets is
  E'@behavior -delete\nA support request of a customer. Customers open and read their own; support staff read all, open them for any customer and change subject and status; readonly staff read them.';
comment on column support.tickets.ticket_id is 'The ticket''s id.';
comment on column support.tickets.customer_id is 'The customer it is about.';
comment on column support.tickets.subject is 'Subject line, 1 to 200 characters.';
comment on column support.tickets.status is 'open, pending or closed.';
comment on column support.tickets.created_at is 'When it was opened.';

--------------------------------------------------------------------------------
-- support.ticket_messages

create table support.ticket_messages (
  message_id uuid primary key default gen_random_uuid(),
  ticket_id uuid not null references support.tickets (ticket_id) on delete cascade,
  sender_type support.sender_type not null,
  sender_id uuid not null,
  message text not null
    constraint ticket_messages_message_check check (char_length(btrim(message)) between 1 and 10000),
  sent_at timestamptz not null default now()
);
alter table support.ticket_messages enable row level security;

create index ticket_messages_ticket_id_sent_at_idx on support.ticket_messages (ticket_id, sent_at);

create policy "customers see the messages of their own tickets"
  on support.ticket_messages for select to gw_user
  using (ticket_id in (select t.ticket_id from support.tickets t where t.customer_id = (select finance.current_customer_id())));
create policy "support and readonly staff see every message"
  on support.ticket_messages for select to role_support, role_readonly
  using ((select auth.has_role('role_support')) or (select auth.has_role('role_readonly')));
create policy "customers write on their own tickets as themselves"
  on support.ticket_messages for insert to gw_user
  with check (
    sender_type = 'customer'
    and sender_id = (select finance.current_customer_id())
    and ticket_id in (select t.ticket_id from support.tickets t where t.customer_id = (select finance.current_customer_id()))
  );
create policy "support staff write as agents"
  on support.ticket_messages for insert to role_support
  with check (sender_type = 'agent' and (select auth.has_role('role_support')));

grant select on support.ticket_messages to gw_user;
grant insert (ticket_id, sender_type, sender_id, message) on support.ticket_messages to gw_user;

comment on table support.ticket_messages is
  E'@behavior -update -delete\nA message on a ticket, by its customer or by an agent; never edited. Customers read and write on their own tickets; support staff read all and write as agents.';
comment on column support.ticket_messages.message_id is 'The message''s id.';
comment on column support.ticket_messages.ticket_id is 'The ticket.';
comment on column support.ticket_messages.sender_type is 'customer or agent.';
comment on column support.ticket_messages.sender_id is 'The ticket''s customer_id (sender_type customer) or a support agent''s agent_id (sender_type agent).';
comment on column support.ticket_messages.message is 'The text, 1 to 10000 characters.';
comment on column support.ticket_messages.sent_at is 'When it was written.';

-- Security definer: the sender must exist whatever the writer may see.
create function support_private.tg_ticket_messages__validate_sender() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
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
  'sender_id must be the ticket''s customer (BADIN) or an existing agent (NTFND), by sender_type.';

create trigger _100_validate_sender
  before insert on support.ticket_messages
  for each row execute function support_private.tg_ticket_messages__validate_sender();

--------------------------------------------------------------------------------
-- Contact columns for support staff (who do not see finance.customers).

create view support.customer_contacts
  with (security_barrier = true)
as
  select c.customer_id, c.full_name, c.primary_email
    from finance.customers c
   where (select auth.has_role('role_support'));
grant select on support.customer_contacts to role_support;
comment on view support.customer_contacts is
  E'@primaryKey customer_id\n@behavior -insert -update -delete\nName and e-mail of every customer, for support staff (finance.customers itself is finance''s). Empty for everyone else.';
comment on column support.customer_contacts.customer_id is 'The customer''s id.';
comment on column support.customer_contacts.full_name is 'The customer''s full name.';
comment on column support.customer_contacts.primary_email is 'The customer''s contact e-mail.';
