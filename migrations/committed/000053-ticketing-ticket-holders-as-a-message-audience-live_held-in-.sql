--! Previous: sha1:bd76812e491cffd9376f6ee93b931d239072c80b
--! Hash: sha1:2bfb9455da1917312487b01087a11c1f2cc36376
--! Message: ticketing: ticket holders as a message audience, live_held in plpgsql (issues 19, 23)

--! split: 5330-ticketing-message-audience.sql
-- Ticket holders as a messaging audience (issue 23): ticketing owns who holds
-- tickets, so it answers "who holds a ticket of this event" through a function
-- of its own; messaging registers the audience event_ticket_holders with this
-- function as its resolver (5840-messaging-ticket-holders.sql) and never reads
-- tickets itself. Only trusted code (the worker's fan-out) calls it: no API
-- role may execute it. create or replace, never drop: the audience row holds
-- the function's oid.

create index if not exists tickets_event_holder_idx on ticketing.tickets (event_id, owner_user_id)
  where status in ('issued', 'redeemed');

create or replace function ticketing.event_ticket_holders(organization_id uuid, event_id uuid, after_user_id uuid, batch_size integer)
  returns setof uuid
  language sql
  stable
  set search_path = ''
as $$
  select distinct t.owner_user_id
    from ticketing.tickets t
   where t.event_id = event_ticket_holders.event_id
     and t.organization_id = event_ticket_holders.organization_id
     and t.status in ('issued', 'redeemed')
     and (event_ticket_holders.after_user_id is null or t.owner_user_id > event_ticket_holders.after_user_id)
   order by t.owner_user_id
   limit event_ticket_holders.batch_size
$$;
comment on function ticketing.event_ticket_holders(uuid, uuid, uuid, integer) is
  E'@behavior -queryField -mutationField -typeField\nThe people who hold a valid ticket (issued or redeemed; a transferred ticket counts for its new owner) of an event of the organization, each once, in user-id order after a cursor, at most batch_size: the resolver of messaging''s audience event_ticket_holders. Trusted code only (no API role may execute it).';
revoke execute on function ticketing.event_ticket_holders(uuid, uuid, uuid, integer) from public;

--! split: 5335-ticketing-live-held-plpgsql.sql
-- ticketing_private.live_held in plpgsql (issue 19 measurements): a language
-- sql function with `set search_path` is never inlined and, before
-- PostgreSQL 18, planned again on every call; plpgsql keeps the plan.

create or replace function ticketing_private.live_held(tier_id uuid) returns integer
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_held integer;
begin
  select coalesce(pg_catalog.sum(h.quantity), 0)::integer into v_held
    from ticketing.ticket_holds h
   where h.tier_id = live_held.tier_id and h.status = 'active' and h.expires_at > pg_catalog.now();
  return v_held;
end;
$$;
