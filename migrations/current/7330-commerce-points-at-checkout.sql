-- Loyalty points granted inside the paying transaction (issue 21): commerce_private.pay
-- calls commerce_private.award_points instead of queuing the commerce_award_points job.
--
-- Why: graphile-worker's add_job always runs pg_notify('jobs:insert', …), and a
-- notifying transaction holds PostgreSQL's database-wide notify lock from
-- before its commit record until after its WAL flush, so every checkout at a
-- merchant with a loyalty rule committed one at a time (its connections waited
-- on that lock in ~80 % of samples; checkouts ran at 0.08–0.09 of
-- ledger.post_transfer). Granting in the same transaction needs no job, and the
-- customer sees the points as soon as the checkout returns; a paid order and
-- its points now commit or roll back together.
--
-- award_points grants through payments.trusted_grant_credits (split 5470): the
-- checkout runs as the customer, whom payments.grant_credits refuses. Each
-- merchant's points are issued from its own XLP account
-- (commerce.points.issued.<organization>.xlp, expense, may go negative), beside the
-- commerce.points.redeemed.<organization>.xlp account points spent there go to:
-- one platform-wide issuing account would be a row every such checkout locks
-- until its commit. Still idempotent: one award per order and rule
-- (commerce.point_awards), one ledger key per order and rule.
--
-- The worker task commerce_award_points stays, calling award_points, for jobs
-- queued before this migration; nothing queues it any more.

-- commerce_private.award_points: as in 000043, on payments' trusted grant, from the merchant's issuing account
create or replace function commerce_private.award_points(order_id uuid) returns bigint
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_order commerce.orders;
  v_rule commerce.loyalty_rules;
  v_base bigint;
  v_points bigint;
  v_lot payments.credit_lots;
  v_total bigint := 0;
  v_issuer bigint;
begin
  select o.* into v_order from commerce.orders o where o.order_id = award_points.order_id for update;
  if not found or v_order.status not in ('paid', 'fulfilled') then
    return 0; -- gone, or no longer paid: nothing to award
  end if;
  for v_rule in
    select r.* from commerce.loyalty_rules r
     where r.organization_id = v_order.organization_id and r.currency = v_order.currency and r.active
       and not exists (select 1 from commerce.point_awards a where a.order_id = v_order.order_id and a.rule_id = r.rule_id)
     order by r.rule_id
  loop
    if v_order.total < v_rule.min_order then
      continue;
    end if;
    v_base := case when v_rule.product_id is null then v_order.total
                   else (select coalesce(pg_catalog.sum(it.amount), 0) from commerce.order_items it
                          where it.order_id = v_order.order_id and it.product_id = v_rule.product_id) end;
    v_points := v_base * v_rule.points_per_100 / 100;
    if v_points <= 0 then
      continue;
    end if;
    v_issuer := coalesce(v_issuer, payments.system_account('commerce.points.issued.' || v_order.organization_id::text,
      'Points issued by ' || v_order.organization_id::text, 'XLP', 'expense', true));
    v_lot := payments.trusted_grant_credits(v_order.customer_id, null, v_points, 'XLP',
      case when v_rule.expires_days is not null then pg_catalog.now() + pg_catalog.make_interval(days => v_rule.expires_days) end,
      'granted', 'commerce.points_earn:' || v_order.order_id::text || ':' || v_rule.rule_id::text, v_order.customer_id, v_issuer);
    insert into commerce.point_awards (order_id, rule_id, customer_id, organization_id, points, lot_id)
    values (v_order.order_id, v_rule.rule_id, v_order.customer_id, v_order.organization_id, v_points, v_lot.lot_id);
    v_total := v_total + v_points;
  end loop;
  return v_total;
end;
$$;
comment on function commerce_private.award_points(uuid) is
  'Grants the points a paid order earned by each active loyalty rule of its merchant and currency not yet applied to it (points = paid amount, or the rule''s product lines, x pointsPer100 / 100, rounded down; orders below the rule''s minimum earn none): one credit lot each in the customer''s XLP wallet through payments.trusted_grant_credits, issued from the merchant''s account commerce.points.issued.<organization>.xlp (idempotency key per order and rule), expiring after the rule''s days. Returns the points granted now. Called by commerce_private.pay in the paying transaction (and by the worker task commerce_award_points for jobs queued before split 7330).';

-- commerce_private.pay: as in 000061 (split 7400), awarding the points itself instead of add_job
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
  elsif exists (select 1 from commerce.loyalty_rules r
                 where r.organization_id = v_order.organization_id and r.currency = v_order.currency and r.active) then
    -- The award below locks the customer's XLP wallet after the sale has locked their money wallet; a
    -- concurrent checkout of theirs that spends points locks the two the other way round (XLP first).
    -- Locking the XLP wallet first here too keeps one order: no deadlock.
    perform 1 from ledger.accounts a where a.account_id = payments.user_wallet(v_order.customer_id, 'XLP') for update;
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
  -- The points it earned, in this transaction: visible at once, and no add_job (whose notify would serialize commits).
  perform commerce_private.award_points(v_order.order_id);
  return v_order;
end;
$$;
comment on function commerce_private.pay(uuid, uuid) is
  'Pays the customer''s pending order: spends its points (one XLP ledger transaction, wallet to the merchant''s redeemed points, first-expiring lots first; CMPTS when short), then one ledger transaction for the money (payments.post_sale; LFUND when the wallet is short), redeems its promotion atomically (CMUSD; last but the award, so the promotion''s row lock is held short), marks it paid, publishes commerce.order.paid and grants the points it earned (commerce_private.award_points, in this transaction: no job, so its commit sends no notification). A paid order is returned as it is.';
