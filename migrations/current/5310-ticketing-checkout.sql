-- Holds and checkout. Availability = capacity - sold - live holds (active and
-- not yet expired), computed under the tier's row lock: every writer of sold
-- or of an active hold locks the tier first (hold_tickets, checkout, refunds,
-- cancellations), so no two of them can both see the last seat free. The
-- check constraint sold <= capacity is the backstop. Lock order everywhere:
-- the tier, then a hold, then the ledger accounts (in id order, by the
-- ledger), so checkouts cannot deadlock each other.

drop function if exists ticketing.checkout(text, uuid, uuid, integer) cascade;
drop function if exists ticketing.release_hold(uuid) cascade;
drop function if exists ticketing.hold_tickets(uuid, integer, text) cascade;
drop function if exists ticketing.ticket_tiers_available(ticketing.ticket_tiers) cascade;
drop function if exists ticketing_private.lock_tier_for_sale(uuid, integer) cascade;
drop function if exists ticketing_private.live_held(uuid) cascade;
drop function if exists ticketing_private.expire_holds(integer) cascade;

create function ticketing_private.live_held(tier_id uuid) returns integer
  language sql
  stable
  set search_path = ''
as $$
  select coalesce(pg_catalog.sum(h.quantity), 0)::integer
    from ticketing.ticket_holds h
   where h.tier_id = live_held.tier_id and h.status = 'active' and h.expires_at > pg_catalog.now()
$$;
comment on function ticketing_private.live_held(uuid) is 'Seats of the tier reserved by holds that are active and not yet expired: an expired hold stops counting at once.';

create function ticketing.ticket_tiers_available(tier ticketing.ticket_tiers) returns integer
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select greatest(tier.capacity - tier.sold - ticketing_private.live_held(tier.tier_id), 0)
$$;
comment on function ticketing.ticket_tiers_available(tier ticketing.ticket_tiers) is
  'Seats still for sale: capacity - sold - live holds (a snapshot; checkout decides under the tier''s lock). Security definer because holds are visible only to their owners.';
revoke execute on function ticketing.ticket_tiers_available(ticketing.ticket_tiers) from public;
grant execute on function ticketing.ticket_tiers_available(ticketing.ticket_tiers) to gw_anonymous, gw_user;

-- Locks the tier and checks that it is on sale and the quantity allowed.
create function ticketing_private.lock_tier_for_sale(tier_id uuid, quantity integer) returns ticketing.ticket_tiers
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_tier ticketing.ticket_tiers;
  v_event events.events;
begin
  if lock_tier_for_sale.quantity is null or lock_tier_for_sale.quantity < 1 then
    raise exception 'A quantity is a whole number of at least 1, not %.', coalesce(lock_tier_for_sale.quantity::text, 'null')
      using errcode = 'BADIN';
  end if;
  select t.* into v_tier from ticketing.ticket_tiers t where t.tier_id = lock_tier_for_sale.tier_id for update;
  if not found then
    raise exception 'No ticket tier %.', lock_tier_for_sale.tier_id using errcode = 'NTFND';
  end if;
  if lock_tier_for_sale.quantity > v_tier.max_per_order then
    raise exception 'At most % tickets of this tier per order, not %.', v_tier.max_per_order, lock_tier_for_sale.quantity
      using errcode = 'TKLIM';
  end if;
  select e.* into v_event from events.events e where e.event_id = v_tier.event_id;
  if v_event.status <> 'published'
     or pg_catalog.now() < coalesce(v_tier.sales_starts_at, '-infinity')
     or pg_catalog.now() >= coalesce(v_tier.sales_ends_at, v_event.ends_at) then
    raise exception 'Sales of tier % are closed (event %, window % to %).', v_tier.tier_id, v_event.status,
      coalesce(v_tier.sales_starts_at::text, 'publication'), coalesce(v_tier.sales_ends_at, v_event.ends_at)
      using errcode = 'TKWIN';
  end if;
  return v_tier;
end;
$$;
comment on function ticketing_private.lock_tier_for_sale(uuid, integer) is
  'Locks a tier (for update) and checks that its event is published, its sales window open and the quantity within its per-order limit (BADIN, NTFND, TKLIM, TKWIN).';

create function ticketing.hold_tickets(tier_id uuid, quantity integer, session_id text default null)
  returns ticketing.ticket_holds
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_tier ticketing.ticket_tiers;
  v_hold ticketing.ticket_holds;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to hold tickets.' using errcode = 'LOGIN';
  end if;
  if char_length(hold_tickets.session_id) > 200 then
    raise exception 'A session id has at most 200 characters.' using errcode = 'BADIN';
  end if;
  v_tier := ticketing_private.lock_tier_for_sale(hold_tickets.tier_id, hold_tickets.quantity);
  if v_tier.capacity - v_tier.sold - ticketing_private.live_held(v_tier.tier_id) < hold_tickets.quantity then
    raise exception 'Only % tickets of tier % are left.',
      greatest(v_tier.capacity - v_tier.sold - ticketing_private.live_held(v_tier.tier_id), 0), v_tier.tier_id
      using errcode = 'TKSLD';
  end if;
  insert into ticketing.ticket_holds (tier_id, user_id, session_id, quantity, expires_at)
  values (v_tier.tier_id, auth.uid(), hold_tickets.session_id, hold_tickets.quantity, pg_catalog.now() + interval '10 minutes')
  returning * into v_hold;
  return v_hold;
end;
$$;
comment on function ticketing.hold_tickets(tier_id uuid, quantity integer, session_id text) is
  E'@resultFieldName hold\nReserves quantity seats of a tier for you for 10 minutes: check out with the hold (ticketingCheckout holdId) before it expires. Errors: LOGIN, BADIN (quantity below 1), NTFND (no such tier you may see), TKLIM (over the per-order limit), TKWIN (event not published, or outside the sales window), TKSLD (not that many seats left). Security definer because holds have no insert grant and availability counts everyone''s holds.';
revoke execute on function ticketing.hold_tickets(uuid, integer, text) from public;
grant execute on function ticketing.hold_tickets(uuid, integer, text) to gw_anonymous, gw_user;

create function ticketing.release_hold(hold_id uuid) returns ticketing.ticket_holds
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_hold ticketing.ticket_holds;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  update ticketing.ticket_holds h set status = 'released'
   where h.hold_id = release_hold.hold_id and h.user_id = auth.uid() and h.status = 'active'
  returning * into v_hold;
  if not found then
    raise exception 'No active hold % of yours.', release_hold.hold_id using errcode = 'NTFND';
  end if;
  return v_hold;
end;
$$;
comment on function ticketing.release_hold(hold_id uuid) is
  E'@resultFieldName hold\nGives back the seats of your active hold at once. Errors: LOGIN, NTFND. Security definer because holds have no update grant.';
revoke execute on function ticketing.release_hold(uuid) from public;
grant execute on function ticketing.release_hold(uuid) to gw_anonymous, gw_user;

--------------------------------------------------------------------------------
-- Checkout

create function ticketing.checkout(
  client_key text,
  hold_id uuid default null,
  tier_id uuid default null,
  quantity integer default null
) returns ticketing.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_order ticketing.orders;
  v_hold ticketing.ticket_holds;
  v_tier ticketing.ticket_tiers;
  v_tier_id uuid := checkout.tier_id;
  v_quantity integer := checkout.quantity;
  v_item_id uuid := gen_random_uuid();
  v_order_id uuid := gen_random_uuid();
  v_subtotal bigint;
  v_fee bigint;
  v_tx ledger.transactions;
  v_outbox bigint;
begin
  if v_user is null then
    raise exception 'You must be signed in to buy tickets.' using errcode = 'LOGIN';
  end if;
  if checkout.client_key is null or char_length(checkout.client_key) not between 1 and 200 then
    raise exception 'A client key of 1 to 200 characters makes a checkout safe to retry.' using errcode = 'BADIN';
  end if;
  if checkout.hold_id is null and (checkout.tier_id is null or checkout.quantity is null) then
    raise exception 'Check out a hold (holdId), or a tier and a quantity.' using errcode = 'BADIN';
  end if;

  -- A replay returns the original order (same hold, or same tier and quantity).
  select o.* into v_order from ticketing.orders o where o.user_id = v_user and o.client_key = checkout.client_key;
  if found then
    return ticketing_private.assert_replay(v_order, checkout.hold_id, checkout.tier_id, checkout.quantity);
  end if;

  if checkout.hold_id is not null then
    select h.* into v_hold from ticketing.ticket_holds h where h.hold_id = checkout.hold_id and h.user_id = v_user;
    if not found then
      raise exception 'No hold % of yours.', checkout.hold_id using errcode = 'NTFND';
    end if;
    if (checkout.tier_id is not null and checkout.tier_id <> v_hold.tier_id)
       or (checkout.quantity is not null and checkout.quantity <> v_hold.quantity) then
      raise exception 'The hold is for % tickets of tier %.', v_hold.quantity, v_hold.tier_id using errcode = 'BADIN';
    end if;
    v_tier_id := v_hold.tier_id;
    v_quantity := v_hold.quantity;
  end if;

  -- The tier's lock serializes everyone selling its seats.
  v_tier := ticketing_private.lock_tier_for_sale(v_tier_id, v_quantity);

  -- A concurrent replay of the same key waited on the tier's lock: it finds the order now.
  select o.* into v_order from ticketing.orders o where o.user_id = v_user and o.client_key = checkout.client_key;
  if found then
    return ticketing_private.assert_replay(v_order, checkout.hold_id, checkout.tier_id, checkout.quantity);
  end if;

  if v_hold.hold_id is not null then
    select h.* into v_hold from ticketing.ticket_holds h where h.hold_id = v_hold.hold_id for update;
    if v_hold.status <> 'active' or v_hold.expires_at <= pg_catalog.now() then
      raise exception 'Hold % is % (it expired at %): hold the tickets again.', v_hold.hold_id,
        case when v_hold.status = 'active' then 'expired' else v_hold.status end, v_hold.expires_at using errcode = 'TKHEX';
    end if;
    update ticketing.ticket_holds h set status = 'converted' where h.hold_id = v_hold.hold_id;
  else
    if v_tier.capacity - v_tier.sold - ticketing_private.live_held(v_tier.tier_id) < v_quantity then
      raise exception 'Only % tickets of tier % are left.',
        greatest(v_tier.capacity - v_tier.sold - ticketing_private.live_held(v_tier.tier_id), 0), v_tier.tier_id
        using errcode = 'TKSLD';
    end if;
    -- The hold of this checkout, converted at once: the record of the reservation.
    insert into ticketing.ticket_holds (tier_id, user_id, quantity, status, expires_at)
    values (v_tier.tier_id, v_user, v_quantity, 'converted', pg_catalog.now());
  end if;

  update ticketing.ticket_tiers t set sold = t.sold + v_quantity where t.tier_id = v_tier.tier_id;

  v_subtotal := v_tier.price * v_quantity;
  v_fee := case when v_subtotal > 0 then payments.fee_for(v_tier.organization_id, v_subtotal) else 0 end;
  insert into ticketing.orders (order_id, event_id, user_id, organization_id, client_key, currency, subtotal, fee, total)
  values (v_order_id, v_tier.event_id, v_user, v_tier.organization_id, checkout.client_key, v_tier.currency, v_subtotal,
          v_fee, v_subtotal);
  insert into ticketing.order_items (order_item_id, order_id, tier_id, quantity, unit_price)
  values (v_item_id, v_order_id, v_tier.tier_id, v_quantity, v_tier.price);
  insert into ticketing.tickets (event_id, tier_id, order_item_id, organization_id, owner_user_id)
  select v_tier.event_id, v_tier.tier_id, v_item_id, v_tier.organization_id, v_user
    from pg_catalog.generate_series(1, v_quantity);

  -- Money last: the ledger's hot rows (receivable, revenue) are locked for the shortest time.
  if v_subtotal > 0 then
    v_tx := payments.post_sale(v_user, v_tier.organization_id, v_subtotal, v_tier.currency,
      'ticketing.checkout:' || v_order_id::text, 'Tickets', pg_catalog.jsonb_build_object('orderId', v_order_id), v_fee);
  end if;
  update ticketing.orders o set transaction_id = v_tx.transaction_id where o.order_id = v_order_id
  returning * into v_order;

  v_outbox := outbox.publish('order.paid',
    pg_catalog.jsonb_build_object('orderId', v_order_id, 'eventId', v_tier.event_id, 'organizationId', v_tier.organization_id,
      'userId', v_user, 'total', v_order.total, 'fee', v_order.fee, 'currency', v_order.currency, 'quantity', v_quantity,
      'transactionId', v_tx.transaction_id),
    'order', v_order_id::text, v_tier.organization_id);
  perform outbox.publish('ticket.issued',
    pg_catalog.jsonb_build_object('ticketId', t.ticket_id, 'orderId', v_order_id, 'eventId', t.event_id, 'tierId', t.tier_id,
      'organizationId', t.organization_id, 'ownerUserId', t.owner_user_id),
    'ticket', t.ticket_id::text, t.organization_id)
    from ticketing.tickets t where t.order_item_id = v_item_id;
  perform outbox.notify_user(v_user, 'order.paid',
    pg_catalog.left('Your ' || v_quantity || ' ticket(s) for ' || coalesce((select e.title from events.events e where e.event_id = v_tier.event_id), 'the event') || ' are ready.', 1000),
    pg_catalog.jsonb_build_object('orderId', v_order_id, 'eventId', v_tier.event_id), v_outbox);
  return v_order;
end;
$$;

create function ticketing_private.assert_replay(original ticketing.orders, hold_id uuid, tier_id uuid, quantity integer)
  returns ticketing.orders
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_item ticketing.order_items;
begin
  select i.* into v_item from ticketing.order_items i where i.order_id = original.order_id;
  if (assert_replay.tier_id is not null and assert_replay.tier_id <> v_item.tier_id)
     or (assert_replay.quantity is not null and assert_replay.quantity <> v_item.quantity)
     or (assert_replay.hold_id is not null and not exists (
          select 1 from ticketing.ticket_holds h
           where h.hold_id = assert_replay.hold_id and h.tier_id = v_item.tier_id and h.quantity = v_item.quantity)) then
    raise exception 'Client key % was already used for order % of other tickets.', original.client_key, original.order_id
      using errcode = 'TKKEY';
  end if;
  return original;
end;
$$;
comment on function ticketing_private.assert_replay(ticketing.orders, uuid, uuid, integer) is
  'Returns the original order of a replayed client key when the request asks for the same tickets; TKKEY otherwise.';

comment on function ticketing.checkout(client_key text, hold_id uuid, tier_id uuid, quantity integer) is
  E'@resultFieldName order\nBuys tickets in one transaction: your hold (holdId), or a tier and a quantity (a hold is taken and converted at once); then the order, one ledger transaction from your wallet in the tier''s currency (your wallet -total, the organization''s receivable +(total - fee), platform revenue +fee; fee rate per organization, default 5 %) and the tickets, issued to you. Idempotent by clientKey: the same key returns the original order. Publishes order.paid and ticket.issued and notifies you. On any error nothing is written. Errors: LOGIN, BADIN (no key; quantity below 1), NTFND (no such tier, or not your hold), TKLIM (over the per-order limit), TKWIN (sales closed), TKSLD (sold out), TKHEX (the hold expired or was used), TKKEY (the key was used for other tickets), LFUND (your wallet does not hold enough). Security definer because orders, tickets and the ledger have no write grants for API roles.';
revoke execute on function ticketing.checkout(text, uuid, uuid, integer) from public;
grant execute on function ticketing.checkout(text, uuid, uuid, integer) to gw_anonymous, gw_user;

--------------------------------------------------------------------------------
-- The hold expiry job (ticketing_expire_holds): expired holds already stop
-- counting; this marks them, and forgets finished holds after a day.

create function ticketing_private.expire_holds(max_holds integer default 1000) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  with due as (
    select h.hold_id from ticketing.ticket_holds h
     where h.status = 'active' and h.expires_at <= pg_catalog.now()
     order by h.expires_at
     limit expire_holds.max_holds
       for update skip locked
  )
  update ticketing.ticket_holds h set status = 'expired' from due where h.hold_id = due.hold_id;
  get diagnostics v_count = row_count;
  delete from ticketing.ticket_holds h
   where h.hold_id in (select d.hold_id from ticketing.ticket_holds d
                        where d.status <> 'active' and d.created_at < pg_catalog.now() - interval '1 day'
                        limit expire_holds.max_holds);
  return v_count;
end;
$$;
comment on function ticketing_private.expire_holds(integer) is
  'Marks up to max_holds active holds past expires_at as expired (skipping holds a checkout is converting) and deletes up to as many finished holds older than a day; returns how many it expired. Run by the worker task ticketing_expire_holds.';
