--! Previous: sha1:3d7b2f108dc5408949f987e6f9c9847cec8f5162
--! Hash: sha1:7f94cee846bd9b9c72b100aaba7682280149641c
--! Message: fintech: reporting views behind the role_finance grant, operators link customers and agents to users, ticket messages as the session's agent (issue 15)

--! split: 4110-finance-customer-links.sql
-- Who links a customer record to the user who signs in as it (issue 15).
-- finance.customers.user_id makes that user the customer: they read its
-- accounts, postings, orders and support tickets. Finance staff could set it
-- to any user, their own included, and then read the customer's tickets as a
-- plain user. Finance keeps the name and e-mail columns; the link is made by
-- an operator through finance.link_customer_user.

revoke insert (full_name, primary_email, user_id), update (full_name, primary_email, user_id) on finance.customers from role_finance;
grant insert (full_name, primary_email), update (full_name, primary_email) on finance.customers to role_finance;

comment on column finance.customers.user_id is
  'The user who signs in as this customer (the account owner), if any; unique. Set only by an operator (financeLinkCustomerUser), never by finance staff.';

create or replace function finance.link_customer_user(customer_id uuid, user_id uuid) returns finance.customers
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_customer finance.customers;
begin
  perform auth_private.assert_operator();
  if link_customer_user.user_id is not null
     and not exists (select 1 from auth.users u where u.user_id = link_customer_user.user_id) then
    raise exception 'No user %.', link_customer_user.user_id using errcode = 'NTFND';
  end if;
  update finance.customers c
     set user_id = link_customer_user.user_id
   where c.customer_id = link_customer_user.customer_id
  returning * into v_customer;
  if not found then
    raise exception 'No customer %.', link_customer_user.customer_id using errcode = 'NTFND';
  end if;
  return v_customer;
end;
$$;
comment on function finance.link_customer_user(uuid, uuid) is
  E'@resultFieldName customer\nMakes a user the customer (null: unlinks): they then read the customer''s accounts, postings, orders and tickets. Operators only (gw_admin; DNIED for a withdrawn grant); NTFND for an unknown customer or user, 23505 when the user is already another customer. Security definer because finance.customers.user_id has no grant for any request role: finance staff must not choose who becomes a customer.';
revoke all on function finance.link_customer_user(uuid, uuid) from public;
grant execute on function finance.link_customer_user(uuid, uuid) to gw_admin;

--! split: 4310-support-message-senders.sql
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

--! split: 4610-fintech-reporting-views.sql
-- The reporting views behind the grant (issue 15). A materialized view cannot
-- have row level security, so a role_finance token whose grant in
-- auth.user_roles was withdrawn (or never existed) read both. They move to
-- finance_private (no request role uses it) and finance keeps views of the
-- same names and columns, so the GraphQL API is unchanged: security_barrier
-- views that return rows only while auth.has_role('role_finance') holds, or
-- to a direct connection (the owner, the worker, maintenance), as
-- finance.refresh_views decides.

-- Re-runnable: on a second run the views exist and the materialized views
-- are already in finance_private.
do $$
begin
  -- drop view refuses a materialized view, so look at what is there first.
  if exists (select 1 from pg_catalog.pg_views where schemaname = 'finance' and viewname = 'mv_monthly_revenue') then
    drop view finance.mv_monthly_revenue;
  end if;
  if exists (select 1 from pg_catalog.pg_views where schemaname = 'finance' and viewname = 'mv_customer_value') then
    drop view finance.mv_customer_value;
  end if;
  if exists (select 1 from pg_catalog.pg_matviews where schemaname = 'finance' and matviewname = 'mv_monthly_revenue') then
    alter materialized view finance.mv_monthly_revenue set schema finance_private;
  end if;
  if exists (select 1 from pg_catalog.pg_matviews where schemaname = 'finance' and matviewname = 'mv_customer_value') then
    alter materialized view finance.mv_customer_value set schema finance_private;
  end if;
end;
$$;
revoke all on finance_private.mv_monthly_revenue from role_finance;
revoke all on finance_private.mv_customer_value from role_finance;
comment on materialized view finance_private.mv_monthly_revenue is
  'Sales revenue per UTC month of placed and shipped orders (read through the view finance.mv_monthly_revenue, which checks the grant). Refreshed every 10 minutes and by finance.refresh_views().';
comment on materialized view finance_private.mv_customer_value is
  'Per customer: orders, lifetime value, accounts and balances (read through the view finance.mv_customer_value, which checks the grant). Refreshed every 10 minutes and by finance.refresh_views().';

create view finance.mv_monthly_revenue with (security_barrier = true) as
  select r.month, r.orders_count, r.units_sold, r.revenue, r.avg_unit_price
    from finance_private.mv_monthly_revenue r
   where pg_catalog.current_setting('role', true) is not distinct from 'none'
      or (select auth.has_role('role_finance'));
grant select on finance.mv_monthly_revenue to role_finance;
comment on view finance.mv_monthly_revenue is
  E'@primaryKey month\nSales revenue per UTC month of placed and shipped orders: orders, units, revenue and the average unit price weighted by quantity (finance.weighted_avg). Refreshed every 10 minutes and by refreshViews. Finance staff only: empty unless your role_finance grant is current.';
comment on column finance.mv_monthly_revenue.month is 'First day of the month (UTC) the orders were placed in.';
comment on column finance.mv_monthly_revenue.orders_count is 'Placed and shipped orders.';
comment on column finance.mv_monthly_revenue.units_sold is 'Units sold.';
comment on column finance.mv_monthly_revenue.revenue is 'Sum of quantity × unit price.';
comment on column finance.mv_monthly_revenue.avg_unit_price is 'Average unit price weighted by quantity.';

create view finance.mv_customer_value with (security_barrier = true) as
  select v.customer_id, v.orders_count, v.lifetime_value, v.last_order_at, v.accounts_count, v.total_balance
    from finance_private.mv_customer_value v
   where pg_catalog.current_setting('role', true) is not distinct from 'none'
      or (select auth.has_role('role_finance'));
grant select on finance.mv_customer_value to role_finance;
comment on view finance.mv_customer_value is
  E'@primaryKey customer_id\nPer customer: placed and shipped orders, their lifetime value, the last order, accounts and their total balance. Refreshed every 10 minutes and by refreshViews. Finance staff only: empty unless your role_finance grant is current.';
comment on column finance.mv_customer_value.customer_id is 'The customer.';
comment on column finance.mv_customer_value.orders_count is 'Placed and shipped orders.';
comment on column finance.mv_customer_value.lifetime_value is 'Sum of their totals.';
comment on column finance.mv_customer_value.last_order_at is 'When the last of them was placed.';
comment on column finance.mv_customer_value.accounts_count is 'Accounts held.';
comment on column finance.mv_customer_value.total_balance is 'Sum of the accounts'' balances.';

create or replace function finance.refresh_views() returns boolean
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if not (pg_catalog.current_setting('role', true) is not distinct from 'none'
          or auth.has_role('role_finance') or auth.has_role('gw_admin')) then
    raise exception 'Only finance staff and operators refresh the reporting views.' using errcode = 'DNIED';
  end if;
  -- Concurrently: readers keep the old contents until the new ones are ready.
  refresh materialized view concurrently finance_private.mv_monthly_revenue;
  refresh materialized view concurrently finance_private.mv_customer_value;
  return true;
end;
$$;
comment on function finance.refresh_views() is
  'Refreshes the reporting views (finance_private.mv_monthly_revenue and mv_customer_value, read through finance.mv_monthly_revenue and finance.mv_customer_value) concurrently (readers are not blocked); the worker also does it every 10 minutes. Finance staff and operators (DNIED otherwise). Security definer: only the owner of a materialized view may refresh it.';
