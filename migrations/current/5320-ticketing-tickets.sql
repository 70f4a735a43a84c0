-- What happens to tickets after checkout: redeem (scan at the door, by a
-- member of the event's organization acting in it, once), transfer (by the
-- owner, to another user: the old ticket becomes transferred and the
-- recipient gets a new ticket with a new code pointing back to it), refund
-- (by an owner or admin of the organization: the sale's mirror back to the
-- buyer's wallet through payments.post_refund, tickets refunded, a credit
-- note), cancel (voided without money). The status moves are checked by the
-- registry's state machine; these functions answer TKRED first.

drop function if exists ticketing.redeem_ticket(text) cascade;
drop function if exists ticketing.transfer_ticket(uuid, text) cascade;
drop function if exists ticketing.refund_order(uuid, uuid[], boolean) cascade;
drop function if exists ticketing.cancel_ticket(uuid) cascade;

create function ticketing.redeem_ticket(code text) returns ticketing.tickets
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_org uuid := auth.current_org_id();
  v_ticket ticketing.tickets;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to scan tickets.' using errcode = 'LOGIN';
  end if;
  if redeem_ticket.code is null or redeem_ticket.code !~ '^[0-9a-f]{32}$' then
    raise exception 'No such ticket.' using errcode = 'TKCOD';
  end if;
  select t.* into v_ticket from ticketing.tickets t where t.code = redeem_ticket.code for update;
  if not found then
    raise exception 'No such ticket.' using errcode = 'TKCOD';
  end if;
  if v_org is null or v_ticket.organization_id <> v_org then
    raise exception 'Only members acting in the event''s organization scan its tickets.' using errcode = 'DNIED';
  end if;
  if v_ticket.status <> 'issued' then
    raise exception 'Ticket % is % (since %), not valid for entry.', v_ticket.ticket_id, v_ticket.status,
      coalesce(v_ticket.redeemed_at, v_ticket.closed_at) using errcode = 'TKRED';
  end if;
  update ticketing.tickets t set status = 'redeemed', redeemed_at = pg_catalog.now(), redeemed_by = auth.uid()
   where t.ticket_id = v_ticket.ticket_id
  returning * into v_ticket;
  perform outbox.publish('ticket.redeemed',
    pg_catalog.jsonb_build_object('ticketId', v_ticket.ticket_id, 'eventId', v_ticket.event_id,
      'organizationId', v_ticket.organization_id, 'ownerUserId', v_ticket.owner_user_id, 'redeemedBy', auth.uid()),
    'ticket', v_ticket.ticket_id::text, v_ticket.organization_id);
  return v_ticket;
end;
$$;
comment on function ticketing.redeem_ticket(code text) is
  E'@resultFieldName ticket\nScans a ticket at the door by its code: it becomes redeemed, once. Members (any role) of the event''s organization acting in it. Publishes ticket.redeemed. Errors: LOGIN, TKCOD (no ticket has this code), DNIED (another organization''s ticket, or not acting in an organization), TKRED (already redeemed, transferred, refunded or cancelled). Security definer because tickets have no update grant and the code must be found whoever holds it.';
revoke execute on function ticketing.redeem_ticket(text) from public;
grant execute on function ticketing.redeem_ticket(text) to gw_anonymous, gw_user;

create function ticketing.transfer_ticket(ticket_id uuid, recipient text) returns ticketing.tickets
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_ticket ticketing.tickets;
  v_new ticketing.tickets;
  v_to uuid;
  v_outbox bigint;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to transfer a ticket.' using errcode = 'LOGIN';
  end if;
  if transfer_ticket.recipient is null or char_length(transfer_ticket.recipient) not between 1 and 320 then
    raise exception 'Name the recipient by username or e-mail address.' using errcode = 'BADIN';
  end if;
  select u.user_id into v_to from auth.users u
   where pg_catalog.lower(u.username) = pg_catalog.lower(transfer_ticket.recipient)
      or pg_catalog.lower(u.email::text) = pg_catalog.lower(transfer_ticket.recipient)
   limit 1;
  if v_to is null then
    raise exception 'No user %.', pg_catalog.left(transfer_ticket.recipient, 320) using errcode = 'TKUSR';
  end if;
  select t.* into v_ticket from ticketing.tickets t
   where t.ticket_id = transfer_ticket.ticket_id and t.owner_user_id = auth.uid()
     for update;
  if not found then
    raise exception 'No ticket % of yours.', transfer_ticket.ticket_id using errcode = 'NTFND';
  end if;
  if v_to = auth.uid() then
    raise exception 'The ticket is already yours.' using errcode = 'BADIN';
  end if;
  if v_ticket.status <> 'issued' then
    raise exception 'Ticket % is %: only an issued ticket is transferred.', v_ticket.ticket_id, v_ticket.status using errcode = 'TKRED';
  end if;
  update ticketing.tickets t set status = 'transferred', closed_at = pg_catalog.now() where t.ticket_id = v_ticket.ticket_id;
  insert into ticketing.tickets (event_id, tier_id, order_item_id, organization_id, owner_user_id, previous_ticket_id)
  values (v_ticket.event_id, v_ticket.tier_id, v_ticket.order_item_id, v_ticket.organization_id, v_to, v_ticket.ticket_id)
  returning * into v_new;
  v_outbox := outbox.publish('ticket.transferred',
    pg_catalog.jsonb_build_object('ticketId', v_new.ticket_id, 'previousTicketId', v_ticket.ticket_id, 'eventId', v_new.event_id,
      'organizationId', v_new.organization_id, 'fromUserId', auth.uid(), 'toUserId', v_to),
    'ticket', v_new.ticket_id::text, v_new.organization_id);
  perform outbox.notify_user(v_to, 'ticket.transferred',
    pg_catalog.left('You received a ticket for ' || coalesce((select e.title from events.events e where e.event_id = v_new.event_id), 'an event') || '.', 1000),
    pg_catalog.jsonb_build_object('ticketId', v_new.ticket_id, 'eventId', v_new.event_id), v_outbox);
  return v_new;
end;
$$;
comment on function ticketing.transfer_ticket(ticket_id uuid, recipient text) is
  E'@resultFieldName ticket\nGives your issued ticket to another user (by username or e-mail address, case-insensitive): yours becomes transferred and the recipient gets a new ticket with a new code whose previousTicket is yours (the chain of owners). Publishes ticket.transferred and notifies the recipient. Errors: LOGIN, BADIN (no recipient, or yourself), TKUSR (no such user), NTFND (not your ticket), TKRED (not issued). Security definer because tickets have no write grants and the recipient is looked up among all users.';
revoke execute on function ticketing.transfer_ticket(uuid, text) from public;
grant execute on function ticketing.transfer_ticket(uuid, text) to gw_anonymous, gw_user;

create function ticketing.refund_order(order_id uuid, ticket_ids uuid[] default null, after_start boolean default false)
  returns ticketing.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order ticketing.orders;
  v_event events.events;
  v_ids uuid[];
  v_amount bigint;
  v_fee bigint;
  v_tx ledger.transactions;
  v_note uuid;
  v_tier record;
  v_outbox bigint;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to refund.' using errcode = 'LOGIN';
  end if;
  select o.* into v_order from ticketing.orders o where o.order_id = refund_order.order_id;
  if not found or v_order.organization_id is distinct from auth.current_org_id() then
    raise exception 'No order % of the organization you act in.', refund_order.order_id using errcode = 'NTFND';
  end if;
  if v_order.organization_id is distinct from events.managed_organization_id() then
    raise exception 'Only owners and admins acting in the organization refund its orders.' using errcode = 'DNIED';
  end if;
  select e.* into v_event from events.events e where e.event_id = v_order.event_id;
  if v_event.starts_at <= pg_catalog.now() and not coalesce(refund_order.after_start, false) then
    raise exception 'The event started at %: refunding now needs afterStart true.', v_event.starts_at using errcode = 'TKSTA';
  end if;
  -- Tiers first (the lock order of checkout), then the order, then its tickets.
  perform 1 from ticketing.ticket_tiers t
   where t.tier_id in (select i.tier_id from ticketing.order_items i where i.order_id = v_order.order_id)
   order by t.tier_id for update;
  select o.* into v_order from ticketing.orders o where o.order_id = v_order.order_id for update;
  if refund_order.ticket_ids is not null then
    if pg_catalog.cardinality(refund_order.ticket_ids) = 0 or pg_catalog.cardinality(refund_order.ticket_ids) > 1000 then
      raise exception 'Name 1 to 1000 tickets, or none for the whole order.' using errcode = 'BADIN';
    end if;
    if exists (select 1 from pg_catalog.unnest(refund_order.ticket_ids) x (id)
                where not exists (select 1 from ticketing.tickets t join ticketing.order_items i on i.order_item_id = t.order_item_id
                                   where t.ticket_id = x.id and i.order_id = v_order.order_id)) then
      raise exception 'A ticket named is not of order %.', v_order.order_id using errcode = 'NTFND';
    end if;
  end if;
  select pg_catalog.array_agg(t.ticket_id order by t.ticket_id) into v_ids
    from ticketing.tickets t join ticketing.order_items i on i.order_item_id = t.order_item_id
   where i.order_id = v_order.order_id
     and (refund_order.ticket_ids is null or t.ticket_id = any (refund_order.ticket_ids));
  perform 1 from ticketing.tickets t where t.ticket_id = any (v_ids) order by t.ticket_id for update;
  if refund_order.ticket_ids is null then
    select pg_catalog.array_agg(t.ticket_id order by t.ticket_id) into v_ids
      from ticketing.tickets t where t.ticket_id = any (v_ids) and t.status = 'issued';
  elsif exists (select 1 from ticketing.tickets t where t.ticket_id = any (v_ids) and t.status <> 'issued') then
    raise exception 'Only issued tickets are refunded.' using errcode = 'TKRED';
  end if;
  if v_ids is null then
    raise exception 'Order % has no issued ticket left to refund.', v_order.order_id using errcode = 'TKRED';
  end if;

  select coalesce(pg_catalog.sum(i.unit_price), 0) into v_amount
    from ticketing.tickets t join ticketing.order_items i on i.order_item_id = t.order_item_id
   where t.ticket_id = any (v_ids);
  -- The fee share is cumulative, so refunding every ticket gives back exactly the fee charged.
  v_fee := case when v_order.total = 0 then 0
                else pg_catalog.round(v_order.fee::numeric * (v_order.refunded_amount + v_amount) / v_order.total)::bigint - v_order.refunded_fee end;
  if v_amount > 0 then
    v_tx := payments.post_refund(v_order.transaction_id, v_amount, v_fee, null, 'Ticket refund',
      pg_catalog.jsonb_build_object('orderId', v_order.order_id), auth.uid());
    v_note := payments.issue_credit_note(v_order.organization_id, v_order.user_id, v_order.currency, v_amount,
      'Refund of ' || pg_catalog.cardinality(v_ids) || ' ticket(s) of order ' || v_order.order_id::text,
      pg_catalog.jsonb_build_object('orderId', v_order.order_id, 'transactionId', v_tx.transaction_id));
  end if;

  update ticketing.tickets t set status = 'refunded', closed_at = pg_catalog.now() where t.ticket_id = any (v_ids);
  for v_tier in
    select t.tier_id, pg_catalog.count(*)::integer as n from ticketing.tickets t where t.ticket_id = any (v_ids)
     group by t.tier_id order by t.tier_id
  loop
    update ticketing.ticket_tiers t set sold = t.sold - v_tier.n where t.tier_id = v_tier.tier_id;
  end loop;
  update ticketing.orders o
     set refunded_amount = o.refunded_amount + v_amount, refunded_fee = o.refunded_fee + v_fee, updated_at = pg_catalog.now(),
         status = case when not exists (select 1 from ticketing.tickets t join ticketing.order_items i on i.order_item_id = t.order_item_id
                                         where i.order_id = o.order_id and t.status = 'issued')
                       then 'refunded' else 'partially_refunded' end
   where o.order_id = v_order.order_id
  returning * into v_order;

  v_outbox := outbox.publish('ticket.refunded',
    pg_catalog.jsonb_build_object('orderId', v_order.order_id, 'ticketIds', pg_catalog.to_jsonb(v_ids), 'eventId', v_order.event_id,
      'organizationId', v_order.organization_id, 'userId', v_order.user_id, 'amount', v_amount, 'fee', v_fee,
      'currency', v_order.currency, 'transactionId', v_tx.transaction_id, 'creditNoteId', v_note),
    'order', v_order.order_id::text, v_order.organization_id);
  perform outbox.notify_user(v_order.user_id, 'ticket.refunded',
    pg_catalog.left(pg_catalog.cardinality(v_ids) || ' ticket(s) for ' || coalesce(v_event.title, 'an event') || ' were refunded to your wallet.', 1000),
    pg_catalog.jsonb_build_object('orderId', v_order.order_id, 'amount', v_amount, 'currency', v_order.currency), v_outbox);
  return v_order;
end;
$$;
comment on function ticketing.refund_order(order_id uuid, ticket_ids uuid[], after_start boolean) is
  E'@resultFieldName order\nRefunds an order''s issued tickets (ticketIds, or all of them) to the buyer''s wallet: one ledger transaction that mirrors the sale''s share of those tickets (the fee share is cumulative, so a full refund gives back exactly what was charged), the tickets refunded and their seats for sale again, a credit note issued, ticket.refunded published and the buyer notified. After the event started it needs afterStart true. Owners and admins acting in the event''s organization. Errors: LOGIN, NTFND (no such order of your organization, or a ticket not of it), DNIED (a member who is not owner or admin), TKSTA (the event started), TKRED (a ticket not issued; nothing left to refund), BADIN, LFUND (the receivable was paid out). Security definer because orders, tickets and the ledger have no write grants for API roles.';
revoke execute on function ticketing.refund_order(uuid, uuid[], boolean) from public;
grant execute on function ticketing.refund_order(uuid, uuid[], boolean) to gw_anonymous, gw_user;

create function ticketing.cancel_ticket(ticket_id uuid) returns ticketing.tickets
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_ticket ticketing.tickets;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  select t.* into v_ticket from ticketing.tickets t where t.ticket_id = cancel_ticket.ticket_id;
  if not found or v_ticket.organization_id is distinct from auth.current_org_id() then
    raise exception 'No ticket % of the organization you act in.', cancel_ticket.ticket_id using errcode = 'NTFND';
  end if;
  if v_ticket.organization_id is distinct from events.managed_organization_id() then
    raise exception 'Only owners and admins acting in the organization cancel its tickets.' using errcode = 'DNIED';
  end if;
  perform 1 from ticketing.ticket_tiers t where t.tier_id = v_ticket.tier_id for update;
  select t.* into v_ticket from ticketing.tickets t where t.ticket_id = cancel_ticket.ticket_id for update;
  if v_ticket.status <> 'issued' then
    raise exception 'Ticket % is %: only an issued ticket is cancelled.', v_ticket.ticket_id, v_ticket.status using errcode = 'TKRED';
  end if;
  update ticketing.tickets t set status = 'cancelled', closed_at = pg_catalog.now() where t.ticket_id = v_ticket.ticket_id
  returning * into v_ticket;
  update ticketing.ticket_tiers t set sold = t.sold - 1 where t.tier_id = v_ticket.tier_id;
  return v_ticket;
end;
$$;
comment on function ticketing.cancel_ticket(ticket_id uuid) is
  E'@resultFieldName ticket\nVoids an issued ticket without moving money (a complimentary ticket, a duplicate): it becomes cancelled and its seat is for sale again. Refund with ticketingRefundOrder instead when it was paid. Owners and admins acting in the event''s organization. Errors: LOGIN, NTFND, DNIED, TKRED. Security definer because tickets have no update grant.';
revoke execute on function ticketing.cancel_ticket(uuid) from public;
grant execute on function ticketing.cancel_ticket(uuid) to gw_anonymous, gw_user;
