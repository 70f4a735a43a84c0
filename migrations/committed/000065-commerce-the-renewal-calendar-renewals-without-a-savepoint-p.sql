--! Previous: sha1:6755d643662f9fc87e46700a5a6454e01b3e0a53
--! Hash: sha1:d949a96b65d6435b49fdb6143d6f54f5849fa92f
--! Message: commerce: the renewal calendar, renewals without a savepoint, points at checkout: no notify in a renewal's or a checkout's commit (issue 21)

--! split: 7310-commerce-renewal-calendar.sql
-- The renewal calendar (issue 21): far-future renewals wait in a commerce
-- table, and a scheduler run by the crontab every minute hands those due
-- within the horizon to graphile-worker, many per add_jobs call.
--
-- Why: graphile-worker's add_jobs always runs pg_notify('jobs:insert', …), even
-- for a job due a month later, and a notifying transaction holds PostgreSQL's
-- global notify lock from before its commit record until after its WAL flush.
-- Scheduling the next period's job from the renewal's own transaction made
-- every renewal such a commit, so renewals committed one at a time (383/s
-- against 2,448 no-op jobs/s on a quiet machine). Now the renewal writes one
-- calendar row and notifies nothing; the scheduler notifies once per batch.
--
-- The renewal is still a job at its period end, never a scan of
-- subscriptions: the calendar holds exactly the scheduled renewals (one row per
-- subscription at most, read by an index range on run_at), and the job the
-- scheduler adds carries the row's exact run_at, identifier, payload, key and
-- max_attempts, as schedule_renewal gave them before.
--
-- Invariant: a subscription's next renewal is a calendar row or a waiting
-- (unlocked) job with key commerce_renew:<id>, never both. A running (locked)
-- job may coexist with a calendar row: it is the renewal that wrote that row.

create table if not exists commerce_private.renewal_calendar (
  subscription_id uuid primary key
    constraint renewal_calendar_subscription_id_fkey references commerce.subscriptions (subscription_id) on delete cascade,
  run_at timestamptz not null
);
-- Private: no policies and no grants, so only the owner (security definer
-- functions, the worker) reads or writes it; RLS on like every table.
alter table commerce_private.renewal_calendar enable row level security;
create index if not exists renewal_calendar_run_at_idx on commerce_private.renewal_calendar (run_at);
comment on table commerce_private.renewal_calendar is
  'Renewals of subscriptions due beyond the hand-off horizon (commerce_private.renewal_horizon()): one row per subscription at its renewal time. commerce_private.hand_over_renewals (the crontab task commerce_schedule_renewals, every minute) moves rows due within the horizon into graphile-worker as commerce_renew_subscription jobs at that exact run_at, so a renewal''s commit does not notify.';
comment on column commerce_private.renewal_calendar.subscription_id is 'The subscription (its renewal job key is commerce_renew:<id>).';
comment on column commerce_private.renewal_calendar.run_at is 'When the renewal job must run: the period end or the dunning retry time.';

-- 10 minutes: the scheduler runs every minute, so a row reaches graphile-worker
-- 9–10 minutes before it is due and nine missed runs (a worker restart, a busy
-- minute) still cost no lateness; and only ten minutes of renewals wait as jobs,
-- so graphile-worker's queue stays small. A renewal needed sooner than that
-- (an overdue one, a resume with minutes left) is added at once, notified.
create or replace function commerce_private.renewal_horizon() returns interval
  language sql
  immutable
  parallel safe
  set search_path = ''
as $$
  select interval '10 minutes'
$$;
comment on function commerce_private.renewal_horizon() is
  'How far ahead of the real clock (now(), by which graphile-worker runs jobs) a renewal is handed to graphile-worker: 10 minutes, ten runs of the every-minute scheduler.';

create or replace function commerce_private.schedule_renewal(subscription_id uuid, run_at timestamptz) returns void
  language plpgsql
  volatile
  set search_path = ''
  set plan_cache_mode = force_generic_plan
as $$
declare
  v_key text := 'commerce_renew:' || schedule_renewal.subscription_id::text;
begin
  -- Real time, not commerce_private.now(): graphile-worker runs jobs by now().
  if schedule_renewal.run_at <= pg_catalog.now() + commerce_private.renewal_horizon() then
    -- Needed soon: a job now (notified). A calendar row left would later move it back.
    delete from commerce_private.renewal_calendar c where c.subscription_id = schedule_renewal.subscription_id;
    perform graphile_worker.add_job('commerce_renew_subscription', pg_catalog.json_build_object('id', schedule_renewal.subscription_id),
      run_at => schedule_renewal.run_at, max_attempts => 5, job_key => v_key, job_key_mode => 'replace');
    return;
  end if;
  -- Upsert first: it waits for a scheduler handing this row over, so the check
  -- below (a new snapshot) sees the job that scheduler added.
  insert into commerce_private.renewal_calendar as c (subscription_id, run_at)
  values (schedule_renewal.subscription_id, schedule_renewal.run_at)
  on conflict on constraint renewal_calendar_pkey do update set run_at = excluded.run_at;
  -- A waiting job of this key is an earlier schedule: it goes (remove_job
  -- notifies when it deletes, so only then). A locked one is this renewal
  -- running: left alone (remove_job would also stop its retries).
  if exists (select 1 from graphile_worker.jobs j where j.key = v_key and j.locked_at is null) then
    perform graphile_worker.remove_job(v_key);
  end if;
end;
$$;
comment on function commerce_private.schedule_renewal(uuid, timestamptz) is
  'Schedules (or moves) the one renewal of a subscription to run at run_at: within the hand-off horizon of now() (commerce_private.renewal_horizon(), 10 minutes) as a graphile-worker job now (key commerce_renew:<id>, replacing a waiting one); later as a row of commerce_private.renewal_calendar, removing a waiting job of the key, so the caller''s commit does not notify. plan_cache_mode = force_generic_plan: graphile-worker''s add_jobs would otherwise be planned again on every call.';

create or replace function commerce_private.unschedule_renewal(subscription_id uuid) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  delete from commerce_private.renewal_calendar c where c.subscription_id = unschedule_renewal.subscription_id;
  perform graphile_worker.remove_job('commerce_renew:' || unschedule_renewal.subscription_id::text);
end;
$$;
comment on function commerce_private.unschedule_renewal(uuid) is
  'Removes the scheduled renewal of a subscription: its calendar row and its waiting job (a running one finds nothing due).';

-- The scheduler's batch: up to max_rows calendar rows due by up_to (default:
-- now() + the horizon), earliest first, locked with skip locked so two
-- schedulers never hand the same row, deleted and added as jobs in this one
-- transaction (one add_jobs, one notification). Returns how many it handed.
create or replace function commerce_private.hand_over_renewals(max_rows integer default 1000, up_to timestamptz default null)
  returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  -- No variable of graphile_worker's types: plpgsql resolves declared types when the function is created,
  -- and graphile-worker creates its schema when a worker first starts, which may be after this migration.
  v_up_to constant timestamptz := coalesce(hand_over_renewals.up_to, pg_catalog.now() + commerce_private.renewal_horizon());
  v_count integer;
begin
  if not exists (select 1 from commerce_private.renewal_calendar c where c.run_at <= v_up_to) then
    return 0; -- nothing due: no add_jobs, whose notification would be for nothing
  end if;
  with due as (
    select c.subscription_id
      from commerce_private.renewal_calendar c
     where c.run_at <= v_up_to
     order by c.run_at
     limit hand_over_renewals.max_rows
       for update skip locked
  ), handed as (
    delete from commerce_private.renewal_calendar c using due
     where c.subscription_id = due.subscription_id
    returning c.subscription_id, c.run_at
  )
  select pg_catalog.count(*)::integer into v_count
    from graphile_worker.add_jobs(array(
      select row('commerce_renew_subscription', pg_catalog.json_build_object('id', h.subscription_id), null, h.run_at, 5,
                 'commerce_renew:' || h.subscription_id::text, null, null)::graphile_worker.job_spec
        from handed h));
  return v_count;
end;
$$;
comment on function commerce_private.hand_over_renewals(integer, timestamptz) is
  'Moves up to max_rows renewals of commerce_private.renewal_calendar due by up_to (default now() + commerce_private.renewal_horizon()) into graphile-worker with one add_jobs (commerce_renew_subscription, key commerce_renew:<id>, their exact run_at, max_attempts 5) and deletes their rows, in one transaction; rows another scheduler holds are skipped. Returns how many it handed over (fewer than max_rows: nothing more is due). Called by the crontab task commerce_schedule_renewals.';

--! split: 7320-commerce-renew-without-savepoint.sql
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

--! split: 7330-commerce-points-at-checkout.sql
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
