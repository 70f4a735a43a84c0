--! Previous: sha1:594c8c15232eb5a6be326fe6026accc3de0863d7
--! Hash: sha1:b907bac562ccc8648f9957226c3597aadf01a534
--! Message: fintech: on the modules' trusted interfaces (issue 22)

--! split: 4620-fintech-on-module-interfaces.sql
--! split: 4620-fintech-on-module-interfaces.sql
-- Fintech's operator-only links on auth's trusted interface
-- (auth.assert_operator, 1910) instead of auth_private (CONVENTIONS: a module
-- never reads another module's *_private schema). Only the operator check
-- changes.

-- finance.link_customer_user: as in 000018, on the interfaces
create or replace function finance.link_customer_user(customer_id uuid, user_id uuid) returns finance.customers
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_customer finance.customers;
begin
  perform auth.assert_operator();
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

-- support.link_agent_user: as in 000018, on the interfaces
create or replace function support.link_agent_user(agent_id uuid, user_id uuid) returns support.support_agents
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_agent support.support_agents;
begin
  perform auth.assert_operator();
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
