-- Subscriptions: the seed's lifecycle (trialing, active, renewal pending,
-- payment failed, paused, canceled, expired) as registry types whose moves are
-- enforced by registry.add_state_machine; every change recorded in the
-- activity log and published on the outbox (subscription.changed) by one
-- trigger. The renewal engine: each subscription's renewal is one
-- graphile-worker job (commerce_renew_subscription) scheduled at its period
-- end with job key commerce_renew:<id>; the job locks the row and acts only
-- when the renewal is due, so a duplicated or retried job renews once (the
-- ledger's idempotency key per period is the backstop). A failed charge moves
-- to payment_failed and is retried on the merchant's dunning schedule
-- (default 1, 3, 7 days after the period end), then the subscription is
-- canceled. Plan changes prorate by the second.

create table commerce.subscriptions (
  subscription_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null
    constraint subscriptions_organization_id_fkey references auth.organizations (organization_id) on delete restrict,
  customer_id uuid not null
    constraint subscriptions_customer_id_fkey references auth.users (user_id) on delete restrict,
  price_id uuid not null
    constraint subscriptions_price_id_fkey references commerce.prices (price_id) on delete restrict,
  client_key text not null
    constraint subscriptions_client_key_check check (char_length(client_key) between 1 and 200),
  currency text not null,
  period_rate bigint not null constraint subscriptions_period_rate_check check (period_rate >= 0),
  current_period_start timestamptz not null,
  current_period_end timestamptz not null,
  period_number integer not null default 0,
  cancel_at_period_end boolean not null default false,
  canceled_at timestamptz,
  pause_remaining interval,
  dunning_attempt integer not null default 0,
  next_retry_at timestamptz,
  promotion_id uuid
    constraint subscriptions_promotion_id_fkey references commerce.promotions (promotion_id) on delete restrict,
  promotion_periods_left integer,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint subscriptions_customer_client_key_key unique (customer_id, client_key),
  constraint subscriptions_period_check check (current_period_end > current_period_start)
);
alter table commerce.subscriptions enable row level security;
select registry.add_type_column('commerce.subscriptions', 'status', 'subscription_status', true, null);
select registry.add_state_machine('commerce.subscriptions', 'status', 'subscription_status');
create index subscriptions_organization_id_idx on commerce.subscriptions (organization_id, created_at);
create index subscriptions_customer_id_idx on commerce.subscriptions (customer_id, created_at);
create index subscriptions_price_id_idx on commerce.subscriptions (price_id);
create index subscriptions_promotion_id_idx on commerce.subscriptions (promotion_id) where promotion_id is not null;

create policy "customers see their subscriptions; members of a merchant see its subscriptions"
  on commerce.subscriptions for select to gw_user
  using (customer_id = (select auth.uid()) or organization_id = any (array(select auth.current_user_organization_ids())));
grant select on commerce.subscriptions to gw_user;

comment on table commerce.subscriptions is
  E'@behavior -insert -update -delete\nA customer''s subscription to a recurring price of a merchant. Status trialing, active, renewal_pending, payment_failed, paused, canceled or expired, moving only as registry.transitions allows; each move is in the activity log and published as subscription.changed. Renewed by a job at currentPeriodEnd, from the customer''s wallet through the ledger. Customers see theirs; members see their merchant''s.';
comment on column commerce.subscriptions.subscription_id is 'The subscription''s id.';
comment on column commerce.subscriptions.organization_id is 'The merchant.';
comment on column commerce.subscriptions.customer_id is 'The customer.';
comment on column commerce.subscriptions.price_id is 'The current plan (a recurring price).';
comment on column commerce.subscriptions.client_key is 'The customer''s idempotency key of commerceSubscribe.';
comment on column commerce.subscriptions.currency is 'The currency.';
comment on column commerce.subscriptions.period_rate is 'What the current period costs on the current plan (after a promotion), the base of proration credits.';
comment on column commerce.subscriptions.current_period_start is 'Start of the current period (or trial).';
comment on column commerce.subscriptions.current_period_end is 'End of the current period: the renewal is due then.';
comment on column commerce.subscriptions.period_number is 'Paid periods so far (0 in the trial).';
comment on column commerce.subscriptions.cancel_at_period_end is 'Cancel instead of renewing at the period end.';
comment on column commerce.subscriptions.canceled_at is 'When it was canceled.';
comment on column commerce.subscriptions.pause_remaining is 'While paused: the rest of the period, given back at the resume.';
comment on column commerce.subscriptions.dunning_attempt is 'Failed charges of the current renewal.';
comment on column commerce.subscriptions.next_retry_at is 'When the failed renewal is retried.';
comment on column commerce.subscriptions.promotion_id is 'The promotion applied, if any.';
comment on column commerce.subscriptions.promotion_periods_left is 'Periods the promotion still discounts (null with a promotion: all).';
comment on column commerce.subscriptions.created_at is 'When it was made.';
comment on column commerce.subscriptions.updated_at is 'When it last changed.';
comment on column commerce.subscriptions.status is 'The lifecycle state (registry namespace subscription_status).';
comment on constraint subscriptions_organization_id_fkey on commerce.subscriptions is E'@behavior -*\nNo relation field.';
comment on constraint subscriptions_customer_id_fkey on commerce.subscriptions is E'@behavior -*\nNo relation field.';
comment on constraint subscriptions_price_id_fkey on commerce.subscriptions is E'@fieldName price\n@foreignFieldName subscriptions';
comment on constraint subscriptions_promotion_id_fkey on commerce.subscriptions is E'@behavior -*\nNo relation field: promotions are visible to members only.';
comment on constraint subscriptions_status_type_fkey on commerce.subscriptions is E'@behavior -*\nNo relation field: status is the code.';
comment on constraint subscriptions_customer_client_key_key on commerce.subscriptions is E'@behavior -single -update -delete\nOne subscription per client key and customer.';

-- Every charge and proration of a subscription, with its ledger transaction.
create table commerce.subscription_charges (
  charge_id uuid primary key default gen_random_uuid(),
  subscription_id uuid not null
    constraint subscription_charges_subscription_id_fkey references commerce.subscriptions (subscription_id) on delete cascade,
  customer_id uuid not null
    constraint subscription_charges_customer_id_fkey references auth.users (user_id) on delete cascade,
  organization_id uuid not null
    constraint subscription_charges_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  period_number integer not null,
  reason text not null
    constraint subscription_charges_reason_check check (reason in ('first', 'renewal', 'plan_change', 'plan_change_credit')),
  amount bigint not null,
  fee bigint not null default 0,
  refunded bigint not null default 0,
  transaction_id bigint not null, -- no foreign key to ledger.transactions: see commerce.orders
  created_at timestamptz not null default clock_timestamp(), -- several in one transaction keep their order
  constraint subscription_charges_transaction_id_key unique (transaction_id),
  constraint subscription_charges_refunded_check check (refunded between 0 and greatest(amount, 0))
);
alter table commerce.subscription_charges enable row level security;
create index subscription_charges_subscription_id_idx on commerce.subscription_charges (subscription_id, period_number);
create index subscription_charges_customer_id_idx on commerce.subscription_charges (customer_id);
create index subscription_charges_organization_id_idx on commerce.subscription_charges (organization_id);

create policy "customers see their subscription charges; members of a merchant see its charges"
  on commerce.subscription_charges for select to gw_user
  using (customer_id = (select auth.uid()) or organization_id = any (array(select auth.current_user_organization_ids())));
grant select on commerce.subscription_charges to gw_user;

comment on table commerce.subscription_charges is
  E'@behavior -insert -update -delete\nMoney moved for a subscription: the first charge, renewals, plan-change charges (positive amount, a sale) and plan-change credits (negative amount, a refund of earlier charges of the period), each with its ledger transaction. Customers see theirs; members see their merchant''s.';
comment on column commerce.subscription_charges.charge_id is 'The charge''s id.';
comment on column commerce.subscription_charges.subscription_id is 'The subscription.';
comment on column commerce.subscription_charges.customer_id is 'The customer.';
comment on column commerce.subscription_charges.organization_id is 'The merchant.';
comment on column commerce.subscription_charges.period_number is 'The period it belongs to.';
comment on column commerce.subscription_charges.reason is 'first, renewal, plan_change or plan_change_credit.';
comment on column commerce.subscription_charges.amount is 'Charged (positive) or credited back (negative), in minor units.';
comment on column commerce.subscription_charges.fee is 'The platform fee of a charge.';
comment on column commerce.subscription_charges.refunded is 'How much of a charge later credits paid back.';
comment on column commerce.subscription_charges.transaction_id is 'The ledger transaction.';
comment on column commerce.subscription_charges.created_at is 'When.';
comment on constraint subscription_charges_subscription_id_fkey on commerce.subscription_charges is E'@fieldName subscription\n@foreignFieldName charges';
comment on constraint subscription_charges_customer_id_fkey on commerce.subscription_charges is E'@behavior -*\nNo relation field.';
comment on constraint subscription_charges_organization_id_fkey on commerce.subscription_charges is E'@behavior -*\nNo relation field.';
comment on constraint subscription_charges_transaction_id_key on commerce.subscription_charges is E'@behavior -single -update -delete\nOne charge per ledger transaction.';

--------------------------------------------------------------------------------
-- Activity and outbox for every state change.

create function commerce_private.tg_subscriptions__record_change() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_from text := case when tg_op = 'UPDATE' then old.status end;
begin
  perform audit.record_activity('subscription.' || new.status, 'subscription', new.subscription_id::text,
    pg_catalog.format('Subscription %s: %s -> %s', new.subscription_id, coalesce(v_from, 'new'), new.status),
    new.organization_id, new.customer_id,
    pg_catalog.jsonb_build_object('from', v_from, 'to', new.status, 'periodEnd', new.current_period_end));
  perform outbox.publish('subscription.changed',
    pg_catalog.jsonb_build_object('subscriptionId', new.subscription_id, 'organizationId', new.organization_id,
      'customerId', new.customer_id, 'from', v_from, 'to', new.status, 'periodEnd', new.current_period_end),
    'subscription', new.subscription_id::text, new.organization_id);
  return null;
end;
$$;
comment on function commerce_private.tg_subscriptions__record_change() is
  'Writes each status change of a subscription to the activity log (verb subscription.<status>, subject the customer) and publishes subscription.changed.';
create trigger _900_record_insert after insert on commerce.subscriptions
  for each row execute function commerce_private.tg_subscriptions__record_change();
create trigger _900_record_change after update of status on commerce.subscriptions
  for each row when (old.status is distinct from new.status) execute function commerce_private.tg_subscriptions__record_change();

--------------------------------------------------------------------------------
-- The engine's parts.

create function commerce_private.schedule_renewal(subscription_id uuid, run_at timestamptz) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  perform graphile_worker.add_job('commerce_renew_subscription', pg_catalog.json_build_object('id', schedule_renewal.subscription_id),
    run_at => schedule_renewal.run_at, max_attempts => 5, job_key => 'commerce_renew:' || schedule_renewal.subscription_id::text,
    job_key_mode => 'replace');
end;
$$;
comment on function commerce_private.schedule_renewal(uuid, timestamptz) is
  'Schedules (or moves) the one renewal job of a subscription to run at run_at (job key commerce_renew:<id>).';

create function commerce_private.unschedule_renewal(subscription_id uuid) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  perform graphile_worker.remove_job('commerce_renew:' || unschedule_renewal.subscription_id::text);
end;
$$;
comment on function commerce_private.unschedule_renewal(uuid) is 'Removes the waiting renewal job of a subscription (a running one finds nothing due).';

-- The amount of the next period: the price, less the promotion while it lasts.
create function commerce_private.period_amount(s commerce.subscriptions) returns bigint
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_price commerce.prices;
  v_promotion commerce.promotions;
begin
  select p.* into v_price from commerce.prices p where p.price_id = s.price_id;
  if s.promotion_id is null or s.promotion_periods_left = 0 then
    return v_price.amount;
  end if;
  select p.* into v_promotion from commerce.promotions p where p.promotion_id = s.promotion_id;
  return v_price.amount - commerce_private.discount_for(v_promotion, v_price.currency,
    pg_catalog.jsonb_build_object(v_price.product_id, v_price.amount));
end;
$$;
comment on function commerce_private.period_amount(commerce.subscriptions) is 'What the next period of a subscription costs: its price less its promotion while periods of it are left.';

create function commerce_private.charge(s commerce.subscriptions, amount bigint, reason text, period_number integer, key text)
  returns ledger.transactions
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_tx ledger.transactions;
  v_fee bigint;
begin
  if charge.amount <= 0 then
    return null;
  end if;
  v_fee := payments.fee_for(s.organization_id, charge.amount);
  v_tx := payments.post_sale(s.customer_id, s.organization_id, charge.amount, s.currency, charge.key, 'Subscription',
    pg_catalog.jsonb_build_object('subscriptionId', s.subscription_id, 'period', charge.period_number), v_fee);
  insert into commerce.subscription_charges (subscription_id, customer_id, organization_id, period_number, reason, amount, fee, transaction_id)
  values (s.subscription_id, s.customer_id, s.organization_id, charge.period_number, charge.reason, charge.amount,
          v_fee, v_tx.transaction_id)
  on conflict (transaction_id) do nothing;
  return v_tx;
end;
$$;
comment on function commerce_private.charge(commerce.subscriptions, bigint, text, integer, text) is
  'One sale from the customer''s wallet for a subscription (payments.post_sale, idempotent by key) and its row in subscription_charges; nothing for a zero amount. LFUND when the wallet is short.';

--------------------------------------------------------------------------------
-- Renewal: the job's SQL. Returns what it did.

create function commerce_private.renew(subscription_id uuid) returns text
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
  begin
    v_tx := commerce_private.charge(v_s, v_amount, 'renewal', v_s.period_number + 1,
      'commerce.renewal:' || v_s.subscription_id::text || ':' || (v_s.period_number + 1)::text);
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

--------------------------------------------------------------------------------
-- The customer's and the merchant's operations.

create function commerce_private.subscription_for_change(subscription_id uuid) returns commerce.subscriptions
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_s commerce.subscriptions;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  select s.* into v_s from commerce.subscriptions s
   where s.subscription_id = subscription_for_change.subscription_id
     and (s.customer_id = auth.uid() or s.organization_id = commerce.managed_organization_id())
     for update;
  if not found then
    raise exception 'No subscription % you may change.', subscription_for_change.subscription_id using errcode = 'NTFND';
  end if;
  return v_s;
end;
$$;
comment on function commerce_private.subscription_for_change(uuid) is
  'Locks a subscription the caller may change (its customer, or an owner or admin acting in its merchant); LOGIN, NTFND.';

create function commerce.subscribe(client_key text, price_id uuid, promotion_code text default null) returns commerce.subscriptions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_price commerce.prices;
  v_s commerce.subscriptions;
  v_promotion commerce.promotions;
  v_now timestamptz := commerce_private.now();
  v_id uuid := gen_random_uuid();
  v_amount bigint;
  v_discount bigint := 0;
begin
  if v_user is null then
    raise exception 'You must be signed in to subscribe.' using errcode = 'LOGIN';
  end if;
  if subscribe.client_key is null or char_length(subscribe.client_key) not between 1 and 200 then
    raise exception 'A client key of 1 to 200 characters makes subscribing safe to retry.' using errcode = 'BADIN';
  end if;
  select s.* into v_s from commerce.subscriptions s where s.customer_id = v_user and s.client_key = subscribe.client_key;
  if found then
    if v_s.subscription_id is not null and (select c.price_id from commerce.subscriptions c where c.subscription_id = v_s.subscription_id) is distinct from subscribe.price_id
       and not exists (select 1 from commerce.subscription_charges c where c.subscription_id = v_s.subscription_id and c.reason like 'plan_change%') then
      raise exception 'Client key % was already used for subscription % to another price.', subscribe.client_key, v_s.subscription_id using errcode = 'CMKEY';
    end if;
    return v_s;
  end if;
  select p.* into v_price from commerce.prices p join commerce.products r on r.product_id = p.product_id
   where p.price_id = subscribe.price_id and p.active and r.active;
  if not found then
    raise exception 'Price % is unknown or not for sale.', subscribe.price_id using errcode = 'CMINA';
  end if;
  if v_price.recurring_interval is null then
    raise exception 'Price % is one-time: order it (commerceCheckout).', subscribe.price_id using errcode = 'CMINT';
  end if;
  v_amount := v_price.amount;
  if subscribe.promotion_code is not null then
    v_promotion := commerce_private.find_promotion(v_price.organization_id, subscribe.promotion_code);
    v_discount := commerce_private.discount_for(v_promotion, v_price.currency, pg_catalog.jsonb_build_object(v_price.product_id, v_price.amount));
    perform commerce_private.redeem(v_promotion.promotion_id, v_user, v_price.currency, v_discount);
  end if;
  insert into commerce.subscriptions (subscription_id, organization_id, customer_id, price_id, client_key, currency, period_rate,
    current_period_start, current_period_end, period_number, promotion_id, promotion_periods_left, status)
  values (v_id, v_price.organization_id, v_user, v_price.price_id, subscribe.client_key, v_price.currency,
    case when v_price.trial_days > 0 then 0 else v_amount - v_discount end,
    v_now, case when v_price.trial_days > 0 then v_now + pg_catalog.make_interval(days => v_price.trial_days) else v_now + v_price.recurring_interval end,
    case when v_price.trial_days > 0 then 0 else 1 end,
    v_promotion.promotion_id,
    case when v_promotion.promotion_id is null then null
         when v_price.trial_days > 0 then v_promotion.duration_periods
         else v_promotion.duration_periods - 1 end,
    case when v_price.trial_days > 0 then 'trialing' else 'active' end)
  returning * into v_s;
  if v_price.trial_days = 0 then
    perform commerce_private.charge(v_s, v_amount - v_discount, 'first', 1, 'commerce.renewal:' || v_id::text || ':1');
  end if;
  perform commerce_private.schedule_renewal(v_id, v_s.current_period_end);
  return v_s;
end;
$$;
comment on function commerce.subscribe(client_key text, price_id uuid, promotion_code text) is
  E'@resultFieldName subscription\nSubscribes you to a recurring price: a trial (trialing, no charge) when the price has trial days, else the first period charged from your wallet now (one ledger transaction) and active; the renewal is scheduled at the period end. A promotion code discounts its durationPeriods periods (all when null). Idempotent by clientKey. Errors: LOGIN, BADIN, CMINA (not for sale), CMINT (a one-time price), CMCOD, CMEXP, CMMIN, CMUSD (the code), CMKEY (key used for another price), LFUND (wallet short). Security definer because subscriptions and the ledger have no write grants for API roles.';
revoke execute on function commerce.subscribe(text, uuid, text) from public;
grant execute on function commerce.subscribe(text, uuid, text) to gw_user;

create function commerce.cancel_subscription(subscription_id uuid, at_period_end boolean default true) returns commerce.subscriptions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_s commerce.subscriptions := commerce_private.subscription_for_change(cancel_subscription.subscription_id);
begin
  if v_s.status in ('canceled', 'expired') then
    raise exception 'Subscription % is % already.', v_s.subscription_id, v_s.status using errcode = 'CMSUB';
  end if;
  if cancel_subscription.at_period_end and v_s.status in ('trialing', 'active') then
    update commerce.subscriptions s set cancel_at_period_end = true, updated_at = pg_catalog.now()
     where s.subscription_id = v_s.subscription_id returning * into v_s;
    return v_s;
  end if;
  update commerce.subscriptions s
     set status = 'canceled', canceled_at = commerce_private.now(), next_retry_at = null, pause_remaining = null, updated_at = pg_catalog.now()
   where s.subscription_id = v_s.subscription_id returning * into v_s;
  perform commerce_private.unschedule_renewal(v_s.subscription_id);
  return v_s;
end;
$$;
comment on function commerce.cancel_subscription(subscription_id uuid, at_period_end boolean) is
  E'@resultFieldName subscription\nCancels a subscription (its customer, or an owner or admin acting in the merchant): at the period end (default; it stays usable until then and is not renewed) or at once (atPeriodEnd false; always at once when paused or in dunning). No money is returned for the rest of a period canceled at once. Errors: LOGIN, NTFND, CMSUB (canceled or expired already), RGTRN (a move the state machine refuses). Security definer because subscriptions have no update grant.';
revoke execute on function commerce.cancel_subscription(uuid, boolean) from public;
grant execute on function commerce.cancel_subscription(uuid, boolean) to gw_user;

create function commerce.pause_subscription(subscription_id uuid) returns commerce.subscriptions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_s commerce.subscriptions := commerce_private.subscription_for_change(pause_subscription.subscription_id);
begin
  if v_s.status <> 'active' or v_s.current_period_end <= commerce_private.now() then
    raise exception 'Only an active subscription within its period is paused; % is %.', v_s.subscription_id, v_s.status using errcode = 'CMSUB';
  end if;
  update commerce.subscriptions s
     set status = 'paused', pause_remaining = s.current_period_end - commerce_private.now(), updated_at = pg_catalog.now()
   where s.subscription_id = v_s.subscription_id returning * into v_s;
  perform commerce_private.unschedule_renewal(v_s.subscription_id);
  return v_s;
end;
$$;
comment on function commerce.pause_subscription(subscription_id uuid) is
  E'@resultFieldName subscription\nPauses an active subscription: no renewal while paused; the rest of the paid period is kept for the resume. Errors: LOGIN, NTFND, CMSUB (not active). Security definer because subscriptions have no update grant.';
revoke execute on function commerce.pause_subscription(uuid) from public;
grant execute on function commerce.pause_subscription(uuid) to gw_user;

create function commerce.resume_subscription(subscription_id uuid) returns commerce.subscriptions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_s commerce.subscriptions := commerce_private.subscription_for_change(resume_subscription.subscription_id);
  v_now timestamptz := commerce_private.now();
begin
  if v_s.status <> 'paused' then
    raise exception 'Only a paused subscription is resumed; % is %.', v_s.subscription_id, v_s.status using errcode = 'CMSUB';
  end if;
  update commerce.subscriptions s
     set status = 'active', current_period_end = v_now + s.pause_remaining,
         current_period_start = least(s.current_period_start, v_now + s.pause_remaining - interval '1 second'),
         pause_remaining = null, updated_at = pg_catalog.now()
   where s.subscription_id = v_s.subscription_id returning * into v_s;
  perform commerce_private.schedule_renewal(v_s.subscription_id, v_s.current_period_end);
  return v_s;
end;
$$;
comment on function commerce.resume_subscription(subscription_id uuid) is
  E'@resultFieldName subscription\nResumes a paused subscription: the rest of the period it had when paused runs from now, and the renewal is scheduled at its new end. Errors: LOGIN, NTFND, CMSUB (not paused). Security definer because subscriptions have no update grant.';
revoke execute on function commerce.resume_subscription(uuid) from public;
grant execute on function commerce.resume_subscription(uuid) to gw_user;

create function commerce.retry_subscription_payment(subscription_id uuid) returns commerce.subscriptions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_s commerce.subscriptions := commerce_private.subscription_for_change(retry_subscription_payment.subscription_id);
begin
  if v_s.status <> 'payment_failed' then
    raise exception 'Only a subscription whose renewal failed is renewed by hand; % is %.', v_s.subscription_id, v_s.status using errcode = 'CMSUB';
  end if;
  update commerce.subscriptions s set next_retry_at = commerce_private.now() where s.subscription_id = v_s.subscription_id;
  perform commerce_private.renew(v_s.subscription_id);
  select s.* into v_s from commerce.subscriptions s where s.subscription_id = v_s.subscription_id;
  return v_s;
end;
$$;
comment on function commerce.retry_subscription_payment(subscription_id uuid) is
  E'@resultFieldName subscription\nCharges a failed renewal now (after funding the wallet) instead of waiting for the next dunning retry; a failure counts as a dunning attempt. Errors: LOGIN, NTFND, CMSUB (not in payment_failed: a canceled or expired subscription is never renewed). Security definer because subscriptions and the ledger have no write grants for API roles.';
revoke execute on function commerce.retry_subscription_payment(uuid) from public;
grant execute on function commerce.retry_subscription_payment(uuid) to gw_user;

--------------------------------------------------------------------------------
-- Plan change with proration by the second:
--   credit = floor(rate_old x unused / period), charge = floor(price_new x unused / period),
-- so the period costs (rate_old - credit) + charge: the old plan's used time plus the new plan's rest,
-- each within one minor unit of the exact share and summing exactly to what moved on the ledger.

create function commerce.change_plan(subscription_id uuid, price_id uuid) returns commerce.subscriptions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_s commerce.subscriptions := commerce_private.subscription_for_change(change_plan.subscription_id);
  v_old commerce.prices;
  v_new commerce.prices;
  v_now timestamptz := commerce_private.now();
  v_total numeric;
  v_unused numeric;
  v_credit bigint;
  v_charge bigint;
  v_net bigint;
  v_left bigint;
  v_take bigint;
  v_c commerce.subscription_charges;
  v_tx ledger.transactions;
  v_seq integer;
begin
  select p.* into v_old from commerce.prices p where p.price_id = v_s.price_id;
  select p.* into v_new from commerce.prices p join commerce.products r on r.product_id = p.product_id
   where p.price_id = change_plan.price_id and p.active and r.active;
  if not found or v_new.organization_id <> v_s.organization_id or v_new.recurring_interval is null
     or v_new.currency <> v_s.currency or v_new.recurring_interval <> v_old.recurring_interval then
    raise exception 'Price % is not a plan of this merchant with the same currency and interval.', change_plan.price_id using errcode = 'CMPLN';
  end if;
  if v_new.price_id = v_old.price_id then
    return v_s;
  end if;
  if v_s.status = 'trialing' then
    update commerce.subscriptions s set price_id = v_new.price_id, updated_at = pg_catalog.now()
     where s.subscription_id = v_s.subscription_id returning * into v_s;
    return v_s;
  end if;
  if v_s.status <> 'active' or v_now >= v_s.current_period_end or v_now < v_s.current_period_start then
    raise exception 'Only an active subscription within its period changes plan; % is %.', v_s.subscription_id, v_s.status using errcode = 'CMSUB';
  end if;
  v_total := extract(epoch from v_s.current_period_end - v_s.current_period_start);
  v_unused := extract(epoch from v_s.current_period_end - v_now);
  v_credit := pg_catalog.floor(v_s.period_rate * v_unused / v_total)::bigint;
  v_charge := pg_catalog.floor(v_new.amount * v_unused / v_total)::bigint;
  v_net := v_charge - v_credit;
  v_seq := (select pg_catalog.count(*)::integer from commerce.subscription_charges c
             where c.subscription_id = v_s.subscription_id and c.reason like 'plan_change%') + 1;
  if v_net > 0 then
    perform commerce_private.charge(v_s, v_net, 'plan_change', v_s.period_number,
      'commerce.plan_change:' || v_s.subscription_id::text || ':' || v_seq::text);
  elsif v_net < 0 then
    -- Pay the difference back from the period's charges, newest first, each a mirror of its sale.
    v_left := -v_net;
    for v_c in
      select c.* from commerce.subscription_charges c
       where c.subscription_id = v_s.subscription_id and c.period_number = v_s.period_number and c.amount > c.refunded
       order by c.created_at desc, c.charge_id
         for update
    loop
      exit when v_left = 0;
      v_take := least(v_left, v_c.amount - v_c.refunded);
      v_tx := payments.post_refund(v_c.transaction_id, v_take,
        least(pg_catalog.round(v_c.fee::numeric * v_take / v_c.amount)::bigint, v_c.fee),
        'commerce.plan_change:' || v_s.subscription_id::text || ':' || v_seq::text || ':' || v_c.charge_id::text,
        'Plan change credit', pg_catalog.jsonb_build_object('subscriptionId', v_s.subscription_id), auth.uid());
      update commerce.subscription_charges c set refunded = c.refunded + v_take where c.charge_id = v_c.charge_id;
      insert into commerce.subscription_charges (subscription_id, customer_id, organization_id, period_number, reason, amount, transaction_id)
      values (v_s.subscription_id, v_s.customer_id, v_s.organization_id, v_s.period_number, 'plan_change_credit', -v_take, v_tx.transaction_id);
      v_left := v_left - v_take;
    end loop;
    if v_left > 0 then
      raise exception 'The period''s charges cannot cover a credit of %.', -v_net using errcode = 'CMPLN';
    end if;
  end if;
  -- The period now costs the old plan's used time plus the new plan's rest; a later change credits at the new rate.
  update commerce.subscriptions s
     set price_id = v_new.price_id, period_rate = v_new.amount, promotion_id = null, promotion_periods_left = null,
         updated_at = pg_catalog.now()
   where s.subscription_id = v_s.subscription_id returning * into v_s;
  perform audit.record_activity('subscription.plan_changed', 'subscription', v_s.subscription_id::text,
    pg_catalog.format('Subscription %s moved from price %s to %s: credit %s, charge %s', v_s.subscription_id, v_old.price_id, v_new.price_id, v_credit, v_charge),
    v_s.organization_id, v_s.customer_id,
    pg_catalog.jsonb_build_object('fromPriceId', v_old.price_id, 'toPriceId', v_new.price_id, 'credit', v_credit, 'charge', v_charge));
  return v_s;
end;
$$;
comment on function commerce.change_plan(subscription_id uuid, price_id uuid) is
  E'@resultFieldName subscription\nMoves a subscription to another plan of the same merchant, currency and interval. In a trial only the plan changes. Mid-period it prorates by the second: a credit for the unused time of the current plan (rate x unused / period, rounded down) and a charge for the new plan''s rest of the period (rounded down); the difference is one sale from the wallet or refunds of the period''s charges (newest first). A promotion ends with the change. Errors: LOGIN, NTFND, CMPLN (not a plan of this merchant with the same currency and interval), CMSUB (not active, or outside its period), LFUND. Security definer because subscriptions and the ledger have no write grants for API roles.';
revoke execute on function commerce.change_plan(uuid, uuid) from public;
grant execute on function commerce.change_plan(uuid, uuid) to gw_user;
