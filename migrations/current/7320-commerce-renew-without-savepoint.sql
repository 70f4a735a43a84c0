-- The renewal without a savepoint when the wallet can pay (issue 21).
-- commerce_private.renew as in 000043, except around the charge: the charge
-- used to run in an exception block, which PostgreSQL runs as a
-- subtransaction on every renewal, to catch LFUND for the dunning path. Now
-- the wallet's available balance is read first; when it covers the period,
-- the charge runs without the block. A short wallet takes the old path
-- (charge in the block, LFUND -> payment_failed), so an idempotent replay of
-- a charge that exists still returns it. Re-runnable.

create or replace function commerce_private.renew(subscription_id uuid) returns text
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_s commerce.subscriptions;
  v_price commerce.prices;
  v_now timestamptz := commerce_private.now();
  v_amount bigint;
  v_tx ledger.transactions;
  v_days integer[];
  v_start timestamptz;
  v_key text;
  v_wallet bigint;
begin
  select s.* into v_s from commerce.subscriptions s where s.subscription_id = renew.subscription_id for update;
  if not found then
    return 'gone';
  end if;
  if not ((v_s.status in ('trialing', 'active') and v_s.current_period_end <= v_now)
          or (v_s.status = 'payment_failed' and v_s.next_retry_at <= v_now)) then
    return 'not_due'; -- renewed already (a duplicated job), paused, canceled, or not yet
  end if;
  select p.* into v_price from commerce.prices p where p.price_id = v_s.price_id;
  if v_s.status <> 'payment_failed' then
    update commerce.subscriptions s set status = 'renewal_pending', updated_at = pg_catalog.now()
     where s.subscription_id = v_s.subscription_id returning * into v_s;
    if v_s.cancel_at_period_end then
      update commerce.subscriptions s set status = 'canceled', canceled_at = v_now, updated_at = pg_catalog.now()
       where s.subscription_id = v_s.subscription_id;
      return 'canceled';
    end if;
    if v_price.interval_count is not null and v_s.period_number >= v_price.interval_count then
      update commerce.subscriptions s set status = 'expired', updated_at = pg_catalog.now()
       where s.subscription_id = v_s.subscription_id;
      return 'expired';
    end if;
  end if;
  v_amount := commerce_private.period_amount(v_s);
  -- A recovered renewal starts its period when it is paid; an on-time one at the old period end.
  v_start := case when v_s.status = 'payment_failed' then v_now else v_s.current_period_end end;
  v_key := 'commerce.renewal:' || v_s.subscription_id::text || ':' || (v_s.period_number + 1)::text;
  -- The wallet holds enough (the usual case): charge without a savepoint. An
  -- exception block is a subtransaction (its own transaction id, and its
  -- writes' WAL), paid by every renewal for the rare one that fails. If a
  -- concurrent spend empties the wallet between this read and the charge,
  -- the charge's LFUND aborts this renewal and the job's retry takes the
  -- dunning path below.
  if v_amount > 0 then
    -- In a variable: user_wallet is volatile (it opens a missing wallet), so in the WHERE clause it would run per row.
    v_wallet := payments.user_wallet(v_s.customer_id, v_s.currency);
  end if;
  if v_amount <= 0
     or (select a.balance - a.pending_out from ledger.accounts a where a.account_id = v_wallet) >= v_amount then
    v_tx := commerce_private.charge(v_s, v_amount, 'renewal', v_s.period_number + 1, v_key);
  else
  begin
    v_tx := commerce_private.charge(v_s, v_amount, 'renewal', v_s.period_number + 1, v_key);
  exception when sqlstate 'LFUND' then
    v_days := (commerce_private.settings(v_s.organization_id)).dunning_days;
    if v_s.dunning_attempt >= pg_catalog.cardinality(v_days) then
      update commerce.subscriptions s
         set status = 'canceled', canceled_at = v_now, dunning_attempt = s.dunning_attempt + 1, next_retry_at = null,
             updated_at = pg_catalog.now()
       where s.subscription_id = v_s.subscription_id;
      return 'canceled';
    end if;
    update commerce.subscriptions s
       set status = 'payment_failed', dunning_attempt = s.dunning_attempt + 1,
           next_retry_at = s.current_period_end + pg_catalog.make_interval(days => v_days[s.dunning_attempt + 1]),
           updated_at = pg_catalog.now()
     where s.subscription_id = v_s.subscription_id
    returning * into v_s;
    perform commerce_private.schedule_renewal(v_s.subscription_id, v_s.next_retry_at);
    return 'payment_failed';
  end;
  end if;
  update commerce.subscriptions s
     set status = 'active', period_number = s.period_number + 1, period_rate = v_amount,
         current_period_start = v_start, current_period_end = v_start + v_price.recurring_interval,
         dunning_attempt = 0, next_retry_at = null,
         promotion_periods_left = case when s.promotion_periods_left > 0 then s.promotion_periods_left - 1 else s.promotion_periods_left end,
         updated_at = pg_catalog.now()
   where s.subscription_id = v_s.subscription_id
  returning * into v_s;
  perform commerce_private.schedule_renewal(v_s.subscription_id, v_s.current_period_end);
  perform outbox.publish('subscription.renewed',
    pg_catalog.jsonb_build_object('subscriptionId', v_s.subscription_id, 'organizationId', v_s.organization_id, 'customerId', v_s.customer_id,
      'amount', v_amount, 'currency', v_s.currency, 'periodStart', v_s.current_period_start, 'periodEnd', v_s.current_period_end,
      'transactionId', v_tx.transaction_id),
    'subscription', v_s.subscription_id::text, v_s.organization_id);
  return 'renewed';
end;
$$;
comment on function commerce_private.renew(uuid) is
  'The renewal job''s work, under the subscription''s row lock: acts only when due (trialing or active past the period end, or payment_failed past its retry time), so a duplicated job does nothing. Moves through renewal_pending to canceled (cancel at period end), expired (all periods of the price run) or a charge of the period (ledger key commerce.renewal:<id>:<period>): paid -> active with the next period and the next job at its end; LFUND -> payment_failed with a retry on the dunning schedule (days after the period end), and canceled after the last retry fails. Returns gone, not_due, renewed, payment_failed, canceled or expired.';

