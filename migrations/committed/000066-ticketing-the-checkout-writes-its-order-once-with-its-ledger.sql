--! Previous: sha1:d949a96b65d6435b49fdb6143d6f54f5849fa92f
--! Hash: sha1:37f91174a2465f99dcfb20090733bc8f86158875
--! Message: ticketing: the checkout writes its order once, with its ledger transaction (issue 19)

--! split: 5340-ticketing-checkout-order-written-once.sql
-- ticketing.checkout writes its order once (issue 19): as in 000033, except
-- that the sale is posted before the order is inserted, so the order carries
-- its transaction_id from the start instead of being updated after the
-- posting (a non-HOT update: transaction_id is indexed, so a second row
-- version and seven index entries on every checkout). Same signature, rows,
-- events, notification and errors. Re-runnable.

create or replace function ticketing.checkout(
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
  -- The money before the order, so the order is written once, with its ledger transaction: an update
  -- of the indexed transaction_id afterwards was a second version of the row and of its seven index
  -- entries on every checkout. The organization's receivable and revenue rows stay locked a little
  -- longer (the order, item and ticket inserts), under the tier's lock that every sale of the tier
  -- holds to commit anyway.
  if v_subtotal > 0 then
    v_tx := payments.post_sale(v_user, v_tier.organization_id, v_subtotal, v_tier.currency,
      'ticketing.checkout:' || v_order_id::text, 'Tickets', pg_catalog.jsonb_build_object('orderId', v_order_id), v_fee);
  end if;
  insert into ticketing.orders (order_id, event_id, user_id, organization_id, client_key, currency, subtotal, fee, total,
                                transaction_id)
  values (v_order_id, v_tier.event_id, v_user, v_tier.organization_id, checkout.client_key, v_tier.currency, v_subtotal,
          v_fee, v_subtotal, v_tx.transaction_id)
  returning * into v_order;
  insert into ticketing.order_items (order_item_id, order_id, tier_id, quantity, unit_price)
  values (v_item_id, v_order_id, v_tier.tier_id, v_quantity, v_tier.price);
  insert into ticketing.tickets (event_id, tier_id, order_item_id, organization_id, owner_user_id)
  select v_tier.event_id, v_tier.tier_id, v_item_id, v_tier.organization_id, v_user
    from pg_catalog.generate_series(1, v_quantity);

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
