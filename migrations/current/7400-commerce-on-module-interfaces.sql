--! split: 7400-commerce-on-module-interfaces.sql
-- Commerce's payment of an order on the trusted interfaces of payments
-- (5450: the customer's wallet, the platform's accounts, credit lots) and the
-- ledger (3900: ledger.trusted_transfer), instead of their *_private schemas
-- (CONVENTIONS). Only those calls change.

-- commerce_private.pay: as in 000043, on the interfaces
create or replace function commerce_private.pay(order_id uuid, customer_id uuid) returns commerce.orders
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_order commerce.orders;
  v_points_wallet bigint;
  v_points_tx ledger.transactions;
  v_tx ledger.transactions;
  v_fee bigint := 0;
begin
  select o.* into v_order from commerce.orders o
   where o.order_id = pay.order_id and o.customer_id = pay.customer_id for update;
  if not found then
    raise exception 'No order % of yours.', pay.order_id using errcode = 'NTFND';
  end if;
  if v_order.status <> 'pending' then
    return v_order; -- paid already (a replay), or cancelled: the state machine refuses below only for a real move
  end if;
  if v_order.points_spent > 0 then
    v_points_wallet := payments.user_wallet(v_order.customer_id, 'XLP');
    if (select a.balance - a.pending_out from ledger.accounts a where a.account_id = v_points_wallet) < v_order.points_spent then
      raise exception 'You hold fewer than % points.', v_order.points_spent using errcode = 'CMPTS';
    end if;
    v_points_tx := ledger.trusted_transfer(v_points_wallet,
      payments.system_account('commerce.points.redeemed.' || v_order.organization_id::text, 'Points redeemed at ' || v_order.organization_id::text,
        'XLP', 'revenue', false),
      v_order.points_spent, 'XLP', 'commerce.points_spend:' || v_order.order_id::text, 'commerce.points_spend', 'Points spent',
      pg_catalog.jsonb_build_object('orderId', v_order.order_id), null, v_order.customer_id, false);
    perform payments.consume_lots(v_points_wallet, v_order.points_spent);
  end if;
  -- Money last: the merchant's receivable and revenue rows are locked for the shortest time.
  if v_order.total > 0 then
    v_fee := payments.fee_for(v_order.organization_id, v_order.total);
    v_tx := payments.post_sale(v_order.customer_id, v_order.organization_id, v_order.total, v_order.currency,
      'commerce.order:' || v_order.order_id::text, 'Order', pg_catalog.jsonb_build_object('orderId', v_order.order_id), v_fee);
  end if;
  -- The promotion's row is every checkout's of this merchant with the code: redeemed last, so its lock is held shortest.
  if v_order.promotion_id is not null then
    perform commerce_private.redeem(v_order.promotion_id, v_order.customer_id, v_order.currency, v_order.discount);
  end if;
  update commerce.orders o
     set status = 'paid', fee = v_fee, transaction_id = v_tx.transaction_id, points_transaction_id = v_points_tx.transaction_id,
         paid_at = pg_catalog.now(), updated_at = pg_catalog.now()
   where o.order_id = v_order.order_id
  returning * into v_order;
  perform outbox.publish('commerce.order.paid',
    pg_catalog.jsonb_build_object('orderId', v_order.order_id, 'organizationId', v_order.organization_id, 'customerId', v_order.customer_id,
      'total', v_order.total, 'discount', v_order.discount, 'pointsSpent', v_order.points_spent, 'currency', v_order.currency,
      'transactionId', v_order.transaction_id),
    'commerce_order', v_order.order_id::text, v_order.organization_id);
  if exists (select 1 from commerce.loyalty_rules r
              where r.organization_id = v_order.organization_id and r.currency = v_order.currency and r.active) then
    perform graphile_worker.add_job('commerce_award_points', pg_catalog.json_build_object('id', v_order.order_id),
      job_key => 'commerce_award_points:' || v_order.order_id::text, max_attempts => 10);
  end if;
  return v_order;
end;
$$;
