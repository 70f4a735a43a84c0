--! Previous: sha1:7d56de5c631509e0aea9dbc45a24b93858709a16
--! Hash: sha1:12d855a73730eecceed98d2361370aff326a2439
--! Message: commerce: the test clock for owner sessions only, renewal scheduling with generic plans, on the trusted interfaces (issues 21, 22)

--! split: 7090-commerce-clock-trusted-sessions.sql
-- The test clock (commerce.now) counts only in trusted sessions. A custom
-- setting can be set by any session (set_config is open to every role), so an
-- API session could otherwise move commerce's time (a promotion's window, a
-- renewal's due date) for its own transaction. Only a session that logged in
-- as the owner (gw_owner, or a member of it: the worker, migrations, tests'
-- root connection, a superuser) moves the clock; everywhere else the setting is
-- ignored and commerce runs on now(). plpgsql: called on hot paths, its plan is kept.

create or replace function commerce_private.now() returns timestamptz
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_clock text := pg_catalog.current_setting('commerce.now', true);
begin
  if v_clock is null or v_clock = '' or not pg_catalog.pg_has_role(session_user, 'gw_owner', 'member') then
    return pg_catalog.now();
  end if;
  return v_clock::timestamptz;
end;
$$;
comment on function commerce_private.now() is
  'The time commerce reasons with: now(), or the setting commerce.now when the session logged in as the owner (gw_owner or a member of it: the worker, tests, operators; tests move the clock with set_config(''commerce.now'', …, true)). An API session (gw_authenticator) cannot move it: its setting is ignored.';

--! split: 7091-commerce-schedule-renewal-generic-plans.sql
-- Scheduling a renewal job with graphile-worker's generic plans (issue 21
-- measurements). graphile_worker.add_jobs (called by add_job) runs five
-- statements over unnest(specs); with a one-element array the planner's
-- custom plans always look cheaper than the generic ones (which assume ten
-- rows), so PostgreSQL keeps planning all five again on every call: ~1.2 ms
-- of a renewal's ~5 ms, against ~0.25 ms with the generic plans, which are the
-- same shapes (index lookups on the job key, the task and the queue). The
-- setting holds only while this function runs; the library's SQL is untouched.

create or replace function commerce_private.schedule_renewal(subscription_id uuid, run_at timestamptz) returns void
  language plpgsql
  volatile
  set search_path = ''
  set plan_cache_mode = force_generic_plan
as $$
begin
  perform graphile_worker.add_job('commerce_renew_subscription', pg_catalog.json_build_object('id', schedule_renewal.subscription_id),
    run_at => schedule_renewal.run_at, max_attempts => 5, job_key => 'commerce_renew:' || schedule_renewal.subscription_id::text,
    job_key_mode => 'replace');
end;
$$;
comment on function commerce_private.schedule_renewal(uuid, timestamptz) is
  'Schedules (or moves) the one renewal job of a subscription to run at run_at (job key commerce_renew:<id>). plan_cache_mode = force_generic_plan: graphile-worker''s add_jobs would otherwise be planned again on every call.';

--! split: 7400-commerce-on-module-interfaces.sql
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
