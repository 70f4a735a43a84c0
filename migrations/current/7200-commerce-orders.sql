-- Orders: placed (pending) with their items, a promotion's discount and points
-- to spend; paid from the customer's wallet through one ledger transaction
-- (payments.post_sale: wallet -total, merchant receivable +(total - fee),
-- platform revenue +fee), the points through one ledger transaction in XLP;
-- idempotent by the customer's client key; fulfilled or cancelled by moves of
-- the registry state machine; refunded as mirror postings of the sale
-- (payments.post_refund). Points earned are granted by the worker
-- (commerce_award_points) as credit lots in the customer's XLP wallet.

--------------------------------------------------------------------------------
-- commerce.orders

create table commerce.orders (
  order_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null
    constraint orders_organization_id_fkey references auth.organizations (organization_id) on delete restrict,
  customer_id uuid not null
    constraint orders_customer_id_fkey references auth.users (user_id) on delete restrict,
  client_key text not null
    constraint orders_client_key_check check (char_length(client_key) between 1 and 200),
  currency text not null,
  subtotal bigint not null constraint orders_subtotal_check check (subtotal >= 0),
  discount bigint not null default 0,
  points_spent bigint not null default 0 constraint orders_points_spent_check check (points_spent >= 0),
  points_value bigint not null default 0,
  total bigint not null,
  fee bigint not null default 0,
  promotion_id uuid
    constraint orders_promotion_id_fkey references commerce.promotions (promotion_id) on delete restrict,
  refunded_amount bigint not null default 0,
  refunded_fee bigint not null default 0,
  refunds integer not null default 0,
  -- No foreign keys to ledger.transactions (as ticketing): ledger rows are never
  -- deleted, and a referencing key would turn the ledger's own TRUNCATE guard
  -- (LIMMU) into PostgreSQL's 0A000.
  transaction_id bigint,
  points_transaction_id bigint,
  created_at timestamptz not null default now(),
  paid_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint orders_customer_client_key_key unique (customer_id, client_key),
  constraint orders_total_check check (total = subtotal - discount - points_value and total >= 0 and discount >= 0 and points_value >= 0),
  constraint orders_fee_check check (fee between 0 and total),
  constraint orders_refunded_check check (refunded_amount between 0 and total and refunded_fee between 0 and fee)
);
alter table commerce.orders enable row level security;
select registry.add_type_column('commerce.orders', 'status', 'commerce_order_status', true, 'pending');
select registry.add_state_machine('commerce.orders', 'status', 'commerce_order_status');
create index orders_organization_id_idx on commerce.orders (organization_id, created_at);
create index orders_customer_id_idx on commerce.orders (customer_id, created_at);
create index orders_promotion_id_idx on commerce.orders (promotion_id) where promotion_id is not null;
create index orders_transaction_id_idx on commerce.orders (transaction_id) where transaction_id is not null;
create index orders_points_transaction_id_idx on commerce.orders (points_transaction_id) where points_transaction_id is not null;

create policy "customers see their orders; members of a merchant see its orders"
  on commerce.orders for select to gw_user
  using (customer_id = (select auth.uid()) or organization_id = any (array(select auth.current_user_organization_ids())));
grant select on commerce.orders to gw_user;

comment on table commerce.orders is
  E'@behavior -insert -update -delete\nAn order of a customer at a merchant: items at their prices, a promotion''s discount, points spent (pointsValue in money), the total paid from the customer''s wallet in one ledger transaction (transactionId; fee to the platform, the rest to the merchant''s receivable). Status pending -> paid -> fulfilled, pending -> cancelled, paid -> (partially) refunded, enforced by registry.transitions. Customers see theirs; members see their merchant''s.';
comment on column commerce.orders.order_id is 'The order''s id.';
comment on column commerce.orders.organization_id is 'The merchant.';
comment on column commerce.orders.customer_id is 'The customer.';
comment on column commerce.orders.client_key is 'The customer''s idempotency key: the same key returns this order.';
comment on column commerce.orders.currency is 'The currency of every item.';
comment on column commerce.orders.subtotal is 'Sum of the items, in minor units.';
comment on column commerce.orders.discount is 'The promotion''s discount.';
comment on column commerce.orders.points_spent is 'Loyalty points spent.';
comment on column commerce.orders.points_value is 'What the points were worth (points x the merchant''s point value).';
comment on column commerce.orders.total is 'What the wallet paid: subtotal - discount - pointsValue.';
comment on column commerce.orders.fee is 'The platform''s fee out of the total.';
comment on column commerce.orders.promotion_id is 'The promotion applied, if any.';
comment on column commerce.orders.refunded_amount is 'Refunded so far.';
comment on column commerce.orders.refunded_fee is 'Fee refunded so far.';
comment on column commerce.orders.refunds is 'How many refunds it had.';
comment on column commerce.orders.transaction_id is 'The ledger transaction that paid it.';
comment on column commerce.orders.points_transaction_id is 'The ledger transaction that spent the points.';
comment on column commerce.orders.created_at is 'When it was placed.';
comment on column commerce.orders.paid_at is 'When it was paid.';
comment on column commerce.orders.updated_at is 'When it last changed.';
comment on column commerce.orders.status is 'pending, paid, fulfilled, cancelled, partially_refunded or refunded (registry namespace commerce_order_status).';
comment on constraint orders_organization_id_fkey on commerce.orders is E'@behavior -*\nNo relation field.';
comment on constraint orders_customer_id_fkey on commerce.orders is E'@behavior -*\nNo relation field.';
comment on constraint orders_promotion_id_fkey on commerce.orders is E'@behavior -*\nNo relation field: promotions are visible to members only.';
comment on constraint orders_status_type_fkey on commerce.orders is E'@behavior -*\nNo relation field: status is the code.';
comment on constraint orders_customer_client_key_key on commerce.orders is E'@behavior -single -update -delete\nOne order per client key and customer.';

create table commerce.order_items (
  order_item_id uuid primary key default gen_random_uuid(),
  order_id uuid not null
    constraint order_items_order_id_fkey references commerce.orders (order_id) on delete cascade,
  price_id uuid not null
    constraint order_items_price_id_fkey references commerce.prices (price_id) on delete restrict,
  product_id uuid not null
    constraint order_items_product_id_fkey references commerce.products (product_id) on delete restrict,
  quantity integer not null constraint order_items_quantity_check check (quantity between 1 and 1000),
  unit_amount bigint not null constraint order_items_unit_amount_check check (unit_amount >= 0),
  amount bigint not null,
  constraint order_items_amount_check check (amount = quantity * unit_amount)
);
alter table commerce.order_items enable row level security;
create index order_items_order_id_idx on commerce.order_items (order_id);
create index order_items_price_id_idx on commerce.order_items (price_id);
create index order_items_product_id_idx on commerce.order_items (product_id);

create policy "whoever sees an order sees its items"
  on commerce.order_items for select to gw_user
  using (exists (select 1 from commerce.orders o where o.order_id = order_items.order_id));
grant select on commerce.order_items to gw_user;

comment on table commerce.order_items is E'@behavior -insert -update -delete\nA line of an order: quantity x unitAmount of a price. Visible with its order.';
comment on column commerce.order_items.order_item_id is 'The line''s id.';
comment on column commerce.order_items.order_id is 'The order.';
comment on column commerce.order_items.price_id is 'The price bought.';
comment on column commerce.order_items.product_id is 'Its product.';
comment on column commerce.order_items.quantity is 'How many.';
comment on column commerce.order_items.unit_amount is 'The price of one, in minor units.';
comment on column commerce.order_items.amount is 'quantity x unitAmount.';
comment on constraint order_items_order_id_fkey on commerce.order_items is E'@fieldName order\n@foreignFieldName items';
comment on constraint order_items_price_id_fkey on commerce.order_items is E'@fieldName price\n@foreignFieldName orderItems';
comment on constraint order_items_product_id_fkey on commerce.order_items is E'@fieldName product\n@foreignFieldName orderItems';

--------------------------------------------------------------------------------
-- Points awarded for paid orders (written by the award job)

create table commerce.point_awards (
  award_id uuid primary key default gen_random_uuid(),
  order_id uuid not null
    constraint point_awards_order_id_fkey references commerce.orders (order_id) on delete cascade,
  rule_id uuid not null
    constraint point_awards_rule_id_fkey references commerce.loyalty_rules (rule_id) on delete cascade,
  customer_id uuid not null
    constraint point_awards_customer_id_fkey references auth.users (user_id) on delete cascade,
  organization_id uuid not null
    constraint point_awards_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  points bigint not null constraint point_awards_points_check check (points > 0),
  lot_id uuid not null
    constraint point_awards_lot_id_fkey references payments.credit_lots (lot_id) on delete restrict,
  created_at timestamptz not null default now(),
  constraint point_awards_order_rule_key unique (order_id, rule_id)
);
alter table commerce.point_awards enable row level security;
create index point_awards_rule_id_idx on commerce.point_awards (rule_id);
create index point_awards_customer_id_idx on commerce.point_awards (customer_id, created_at);
create index point_awards_organization_id_idx on commerce.point_awards (organization_id);
create index point_awards_lot_id_idx on commerce.point_awards (lot_id);

create policy "customers see their point awards; members of a merchant see its awards"
  on commerce.point_awards for select to gw_user
  using (customer_id = (select auth.uid()) or organization_id = any (array(select auth.current_user_organization_ids())));
grant select on commerce.point_awards to gw_user;

comment on table commerce.point_awards is E'@behavior -insert -update -delete\nPoints a customer earned on a paid order by a loyalty rule: a credit lot (lotId) in their XLP wallet, expiring as the rule says. Customers see theirs; members see their merchant''s.';
comment on column commerce.point_awards.award_id is 'The award''s id.';
comment on column commerce.point_awards.order_id is 'The paid order.';
comment on column commerce.point_awards.rule_id is 'The rule that earned it.';
comment on column commerce.point_awards.customer_id is 'The customer.';
comment on column commerce.point_awards.organization_id is 'The merchant.';
comment on column commerce.point_awards.points is 'Points earned.';
comment on column commerce.point_awards.lot_id is 'The credit lot holding them.';
comment on column commerce.point_awards.created_at is 'When they were granted.';
comment on constraint point_awards_order_id_fkey on commerce.point_awards is E'@fieldName order\n@foreignFieldName pointAwards';
comment on constraint point_awards_rule_id_fkey on commerce.point_awards is E'@behavior -*\nNo relation field.';
comment on constraint point_awards_customer_id_fkey on commerce.point_awards is E'@behavior -*\nNo relation field.';
comment on constraint point_awards_organization_id_fkey on commerce.point_awards is E'@behavior -*\nNo relation field.';
comment on constraint point_awards_lot_id_fkey on commerce.point_awards is E'@fieldName lot\n@foreignFieldName commercePointAwards';
comment on constraint point_awards_order_rule_key on commerce.point_awards is E'@behavior -single -update -delete\nOne award per order and rule.';

-- The points history: the ledger entries of the caller's XLP wallet (the ledger's RLS applies).
create view commerce.points_history with (security_invoker = true) as
  select e.transaction_id, e.line, e.account_id as wallet_id, a.owner_user_id as customer_id, e.amount as points,
         e.balance_after, t.kind, t.memo, t.metadata ->> 'orderId' as order_id, t.created_at
    from ledger.entries e
    join ledger.accounts a on a.account_id = e.account_id
    join ledger.transactions t on t.transaction_id = e.transaction_id
   where a.code = 'payments.wallet.xlp' and a.owner_user_id is not null;
comment on view commerce.points_history is
  E'@primaryKey transaction_id,line\nYour loyalty points history: every movement of your points wallet (earned: payments.credit_grant; spent: commerce.points_spend; expired: payments.breakage) with the balance after it. The balance is your XLP wallet''s (payments wallets).';
comment on column commerce.points_history.transaction_id is 'The ledger transaction.';
comment on column commerce.points_history.line is 'The entry''s line in it.';
comment on column commerce.points_history.wallet_id is 'Your points wallet (ledger account).';
comment on column commerce.points_history.customer_id is 'You.';
comment on column commerce.points_history.points is 'Points in (+) or out (-).';
comment on column commerce.points_history.balance_after is 'Your points balance after it.';
comment on column commerce.points_history.kind is 'The ledger kind: earned, spent or expired.';
comment on column commerce.points_history.memo is 'What it was.';
comment on column commerce.points_history.order_id is 'The order, when there is one.';
comment on column commerce.points_history.created_at is 'When.';
grant select on commerce.points_history to gw_user;

--------------------------------------------------------------------------------
-- Placing an order

create function commerce_private.place(customer_id uuid, client_key text, items jsonb, promotion_code text, points bigint)
  returns commerce.orders
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_order commerce.orders;
  v_order_id uuid := gen_random_uuid();
  v_lines jsonb;
  v_org uuid;
  v_currency text;
  v_subtotal bigint;
  v_n integer;
  v_promotion commerce.promotions;
  v_discount bigint := 0;
  v_points_value bigint := 0;
begin
  if place.customer_id is null then
    raise exception 'You must be signed in to order.' using errcode = 'LOGIN';
  end if;
  if place.client_key is null or char_length(place.client_key) not between 1 and 200 then
    raise exception 'A client key of 1 to 200 characters makes an order safe to retry.' using errcode = 'BADIN';
  end if;
  if pg_catalog.jsonb_typeof(place.items) is distinct from 'array' or pg_catalog.jsonb_array_length(place.items) not between 1 and 100
     or exists (select 1 from pg_catalog.jsonb_array_elements(place.items) i
                 where pg_catalog.jsonb_typeof(i) <> 'object' or i ->> 'priceId' is null
                    or (i ->> 'priceId') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                    or pg_catalog.jsonb_typeof(coalesce(i -> 'quantity', '1')) <> 'number'
                    or coalesce((i ->> 'quantity')::numeric, 1) not between 1 and 1000
                    or coalesce((i ->> 'quantity')::numeric, 1) <> pg_catalog.trunc(coalesce((i ->> 'quantity')::numeric, 1))) then
    raise exception 'Items are 1 to 100 objects {priceId, quantity} with a whole quantity of 1 to 1000.' using errcode = 'BADIN';
  end if;
  if place.points is null or place.points < 0 or place.points > 1000000000000 then
    raise exception 'Points to spend are a whole number of at least 0.' using errcode = 'BADIN';
  end if;

  select o.* into v_order from commerce.orders o where o.customer_id = place.customer_id and o.client_key = place.client_key;
  if found then
    return commerce_private.assert_replay(v_order, place.items, place.promotion_code, place.points);
  end if;

  if exists (select 1 from pg_catalog.jsonb_array_elements(place.items) i
              left join commerce.prices p on p.price_id = (i ->> 'priceId')::uuid
              left join commerce.products r on r.product_id = p.product_id
             where p.price_id is null or not p.active or not r.active) then
    raise exception 'A price of the order is unknown or not for sale.' using errcode = 'CMINA';
  end if;
  select pg_catalog.count(distinct p.organization_id) + pg_catalog.count(distinct p.currency) - 1,
         pg_catalog.min(p.organization_id::text)::uuid, pg_catalog.min(p.currency)
    into v_n, v_org, v_currency
    from pg_catalog.jsonb_array_elements(place.items) i
    join commerce.prices p on p.price_id = (i ->> 'priceId')::uuid;
  if v_n <> 1 then
    raise exception 'An order is in one currency at one merchant.' using errcode = 'CMCUX';
  end if;
  if exists (select 1 from pg_catalog.jsonb_array_elements(place.items) i
               join commerce.prices p on p.price_id = (i ->> 'priceId')::uuid
             where p.recurring_interval is not null) then
    raise exception 'A recurring price is subscribed to (commerceSubscribe), not ordered.' using errcode = 'CMINT';
  end if;

  insert into commerce.orders (order_id, organization_id, customer_id, client_key, currency, subtotal, total)
  values (v_order_id, v_org, place.customer_id, place.client_key, v_currency, 0, 0);
  insert into commerce.order_items (order_id, price_id, product_id, quantity, unit_amount, amount)
  select v_order_id, p.price_id, p.product_id, coalesce((i ->> 'quantity')::integer, 1), p.amount,
         coalesce((i ->> 'quantity')::integer, 1) * p.amount
    from pg_catalog.jsonb_array_elements(place.items) i
    join commerce.prices p on p.price_id = (i ->> 'priceId')::uuid;
  select pg_catalog.sum(it.amount)::bigint into v_subtotal from commerce.order_items it where it.order_id = v_order_id;
  select pg_catalog.jsonb_object_agg(x.product_id, x.s) into v_lines
    from (select it.product_id, pg_catalog.sum(it.amount) as s from commerce.order_items it where it.order_id = v_order_id group by it.product_id) x;

  if place.promotion_code is not null then
    v_promotion := commerce_private.find_promotion(v_org, place.promotion_code);
    v_discount := commerce_private.discount_for(v_promotion, v_currency, v_lines);
  end if;
  if place.points > 0 then
    v_points_value := place.points * (commerce_private.settings(v_org)).point_value;
    if v_points_value > v_subtotal - v_discount then
      raise exception 'Points worth % exceed what is left to pay (%).', v_points_value, v_subtotal - v_discount using errcode = 'CMPTS';
    end if;
  end if;
  update commerce.orders o
     set subtotal = v_subtotal, discount = v_discount, promotion_id = v_promotion.promotion_id,
         points_spent = place.points, points_value = v_points_value, total = v_subtotal - v_discount - v_points_value
   where o.order_id = v_order_id
  returning * into v_order;
  return v_order;
end;
$$;
comment on function commerce_private.place(uuid, text, jsonb, text, bigint) is
  'Places a pending order of the items ([{priceId, quantity}]) for the customer, with the promotion''s discount and the points'' value (nothing is redeemed or charged yet). A replayed client key returns the original order (CMKEY when it asked for something else).';

create function commerce_private.assert_replay(original commerce.orders, items jsonb, promotion_code text, points bigint)
  returns commerce.orders
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  if (select pg_catalog.jsonb_agg(x order by x) from (
        select pg_catalog.jsonb_build_array(it.price_id, it.quantity) as x from commerce.order_items it where it.order_id = original.order_id) s)
     is distinct from
     (select pg_catalog.jsonb_agg(x order by x) from (
        select pg_catalog.jsonb_build_array((i ->> 'priceId')::uuid, coalesce((i ->> 'quantity')::integer, 1)) as x
          from pg_catalog.jsonb_array_elements(assert_replay.items) i) s)
     or original.points_spent <> assert_replay.points
     or (original.promotion_id is null) <> (assert_replay.promotion_code is null) then
    raise exception 'Client key % was already used for order % of other items.', original.client_key, original.order_id using errcode = 'CMKEY';
  end if;
  return original;
end;
$$;
comment on function commerce_private.assert_replay(commerce.orders, jsonb, text, bigint) is
  'The original order of a replayed client key when the request asks for the same items, points and promotion; CMKEY otherwise.';

--------------------------------------------------------------------------------
-- Paying an order

create function commerce_private.pay(order_id uuid, customer_id uuid) returns commerce.orders
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
    v_points_wallet := payments_private.user_wallet(v_order.customer_id, 'XLP');
    if (select a.balance - a.pending_out from ledger.accounts a where a.account_id = v_points_wallet) < v_order.points_spent then
      raise exception 'You hold fewer than % points.', v_order.points_spent using errcode = 'CMPTS';
    end if;
    v_points_tx := ledger_private.transfer(v_points_wallet,
      payments_private.system_account('commerce.points.redeemed.' || v_order.organization_id::text, 'Points redeemed at ' || v_order.organization_id::text,
        'XLP', 'revenue', false),
      v_order.points_spent, 'XLP', 'commerce.points_spend:' || v_order.order_id::text, 'commerce.points_spend', 'Points spent',
      pg_catalog.jsonb_build_object('orderId', v_order.order_id), null, v_order.customer_id, false);
    perform payments_private.consume_lots(v_points_wallet, v_order.points_spent);
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
comment on function commerce_private.pay(uuid, uuid) is
  'Pays the customer''s pending order: spends its points (one XLP ledger transaction, wallet to the merchant''s redeemed points, first-expiring lots first; CMPTS when short), then one ledger transaction for the money (payments.post_sale; LFUND when the wallet is short), redeems its promotion atomically (CMUSD; last, so the promotion''s row lock is held shortest), marks it paid, publishes commerce.order.paid and queues the points award. A paid order is returned as it is.';

create function commerce.checkout(client_key text, items jsonb, promotion_code text default null, points bigint default 0)
  returns commerce.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order commerce.orders := commerce_private.place(auth.uid(), checkout.client_key, checkout.items, checkout.promotion_code, coalesce(checkout.points, 0));
begin
  return commerce_private.pay(v_order.order_id, auth.uid());
end;
$$;
comment on function commerce.checkout(client_key text, items jsonb, promotion_code text, points bigint) is
  E'@resultFieldName order\nBuys items ([{priceId, quantity}], one-time prices of one merchant in one currency) in one transaction: the order, the promotion code''s discount (redeemed atomically), points spent (worth the merchant''s point value each) and the rest paid from your wallet through one ledger transaction (wallet -total, merchant receivable +(total - fee), platform revenue +fee). Idempotent by clientKey. On any error nothing is written. Errors: LOGIN, BADIN, CMINA (a price not for sale), CMCUX (several merchants or currencies), CMINT (a recurring price), CMCOD (unknown or another merchant''s code), CMEXP (code outside its window), CMMIN (order below the code''s minimum or no eligible product), CMUSD (code used up), CMPTS (more points than held or than the order is worth), CMKEY (key used for other items), LFUND (wallet short). Security definer because orders and the ledger have no write grants for API roles.';
revoke execute on function commerce.checkout(text, jsonb, text, bigint) from public;
grant execute on function commerce.checkout(text, jsonb, text, bigint) to gw_user;

create function commerce.place_order(client_key text, items jsonb, promotion_code text default null, points bigint default 0)
  returns commerce.orders
  language sql
  volatile
  security definer
  set search_path = ''
as $$
  select * from commerce_private.place(auth.uid(), place_order.client_key, place_order.items, place_order.promotion_code, coalesce(place_order.points, 0))
$$;
comment on function commerce.place_order(client_key text, items jsonb, promotion_code text, points bigint) is
  E'@resultFieldName order\nPlaces a pending order to pay later (commercePayOrder) or cancel: items, discount and points are computed now, redeemed and charged at payment. Errors as commerceCheckout, without CMUSD, CMPTS-held and LFUND. Security definer because orders have no insert grant.';
revoke execute on function commerce.place_order(text, jsonb, text, bigint) from public;
grant execute on function commerce.place_order(text, jsonb, text, bigint) to gw_user;

create function commerce.pay_order(order_id uuid) returns commerce.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order commerce.orders;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  v_order := commerce_private.pay(pay_order.order_id, auth.uid());
  if v_order.status = 'cancelled' then
    raise exception 'Order % was cancelled.', pay_order.order_id using errcode = 'CMSTA';
  end if;
  return v_order;
end;
$$;
comment on function commerce.pay_order(order_id uuid) is
  E'@resultFieldName order\nPays your pending order as commerceCheckout does (a paid order is returned as it is). Errors: LOGIN, NTFND, CMSTA (cancelled), CMUSD, CMPTS, LFUND, CMEXP is not re-checked (the code was valid when placed). Security definer because orders and the ledger have no write grants for API roles.';
revoke execute on function commerce.pay_order(uuid) from public;
grant execute on function commerce.pay_order(uuid) to gw_user;

create function commerce.cancel_order(order_id uuid) returns commerce.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order commerce.orders;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  select o.* into v_order from commerce.orders o
   where o.order_id = cancel_order.order_id
     and (o.customer_id = auth.uid() or o.organization_id = commerce.managed_organization_id())
     for update;
  if not found then
    raise exception 'No order % you may cancel.', cancel_order.order_id using errcode = 'NTFND';
  end if;
  if v_order.status <> 'pending' then
    raise exception 'Order % is %: only a pending order is cancelled.', v_order.order_id, v_order.status using errcode = 'CMSTA';
  end if;
  update commerce.orders o set status = 'cancelled', updated_at = pg_catalog.now() where o.order_id = v_order.order_id
  returning * into v_order;
  return v_order;
end;
$$;
comment on function commerce.cancel_order(order_id uuid) is
  E'@resultFieldName order\nCancels a pending order (its customer, or an owner or admin acting in the merchant). Errors: LOGIN, NTFND, CMSTA (not pending). Security definer because orders have no update grant.';
revoke execute on function commerce.cancel_order(uuid) from public;
grant execute on function commerce.cancel_order(uuid) to gw_user;

create function commerce.fulfill_order(order_id uuid) returns commerce.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order commerce.orders;
begin
  select o.* into v_order from commerce.orders o
   where o.order_id = fulfill_order.order_id and o.organization_id = commerce.managed_organization_id() for update;
  if not found then
    raise exception 'No order % of a merchant you manage.', fulfill_order.order_id using errcode = 'NTFND';
  end if;
  if v_order.status <> 'paid' then
    raise exception 'Order % is %: only a paid order is fulfilled.', v_order.order_id, v_order.status using errcode = 'CMSTA';
  end if;
  update commerce.orders o set status = 'fulfilled', updated_at = pg_catalog.now() where o.order_id = v_order.order_id
  returning * into v_order;
  return v_order;
end;
$$;
comment on function commerce.fulfill_order(order_id uuid) is
  E'@resultFieldName order\nMarks a paid order fulfilled (owners and admins acting in the merchant). Errors: NTFND, CMSTA (not paid). Security definer because orders have no update grant.';
revoke execute on function commerce.fulfill_order(uuid) from public;
grant execute on function commerce.fulfill_order(uuid) to gw_user;

--------------------------------------------------------------------------------
-- Refunds: mirror postings of the sale (payments.post_refund), the fee share pro rata.

create function commerce.refund_order(order_id uuid, amount bigint default null) returns commerce.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order commerce.orders;
  v_amount bigint;
  v_fee bigint;
  v_tx ledger.transactions;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  select o.* into v_order from commerce.orders o
   where o.order_id = refund_order.order_id and o.organization_id = commerce.managed_organization_id() for update;
  if not found then
    raise exception 'No order % of a merchant you manage.', refund_order.order_id using errcode = 'NTFND';
  end if;
  if v_order.status not in ('paid', 'partially_refunded') or v_order.transaction_id is null then
    raise exception 'Order % is %: only a paid order with money paid is refunded.', v_order.order_id, v_order.status using errcode = 'CMREF';
  end if;
  v_amount := coalesce(refund_order.amount, v_order.total - v_order.refunded_amount);
  if v_amount <= 0 or v_amount > v_order.total - v_order.refunded_amount then
    raise exception 'A refund of order % is 1 to % minor units, not %.', v_order.order_id, v_order.total - v_order.refunded_amount, v_amount
      using errcode = 'CMREF';
  end if;
  -- The fee share: pro rata, and exactly the rest of the fee on the last refund.
  v_fee := case when v_amount = v_order.total - v_order.refunded_amount then v_order.fee - v_order.refunded_fee
                else least(pg_catalog.round(v_order.fee::numeric * v_amount / v_order.total)::bigint, v_order.fee - v_order.refunded_fee) end;
  v_tx := payments.post_refund(v_order.transaction_id, v_amount, v_fee,
    'commerce.refund:' || v_order.order_id::text || ':' || (v_order.refunds + 1)::text, 'Order refund',
    pg_catalog.jsonb_build_object('orderId', v_order.order_id), auth.uid());
  update commerce.orders o
     set refunded_amount = o.refunded_amount + v_amount, refunded_fee = o.refunded_fee + v_fee, refunds = o.refunds + 1,
         status = case when o.refunded_amount + v_amount = o.total then 'refunded' else 'partially_refunded' end,
         updated_at = pg_catalog.now()
   where o.order_id = v_order.order_id
  returning * into v_order;
  perform outbox.publish('commerce.order.refunded',
    pg_catalog.jsonb_build_object('orderId', v_order.order_id, 'organizationId', v_order.organization_id, 'customerId', v_order.customer_id,
      'amount', v_amount, 'currency', v_order.currency, 'transactionId', v_tx.transaction_id),
    'commerce_order', v_order.order_id::text, v_order.organization_id);
  return v_order;
end;
$$;
comment on function commerce.refund_order(order_id uuid, amount bigint) is
  E'@resultFieldName order\nPays (part of) a paid order back to the customer''s wallet (owners and admins acting in the merchant): one ledger transaction mirroring the sale (payments.post_refund: wallet +amount, receivable -(amount - fee share), platform revenue -fee share; the fee share pro rata, the rest of the fee on the last refund). Without amount: all that is left. Points spent are not given back and points earned are kept (see the module page). Errors: LOGIN, NTFND, CMREF (not paid, or more than is left), LFUND (the receivable was paid out). Security definer because orders and the ledger have no write grants for API roles.';
revoke execute on function commerce.refund_order(uuid, bigint) from public;
grant execute on function commerce.refund_order(uuid, bigint) to gw_user;

--------------------------------------------------------------------------------
-- Points earned: the award job's SQL (trusted: payments.grant_credits refuses request callers).

create function commerce_private.award_points(order_id uuid) returns bigint
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
    v_lot := payments.grant_credits(v_order.customer_id, null, v_points, 'XLP',
      case when v_rule.expires_days is not null then pg_catalog.now() + pg_catalog.make_interval(days => v_rule.expires_days) end,
      'granted', 'commerce.points_earn:' || v_order.order_id::text || ':' || v_rule.rule_id::text);
    insert into commerce.point_awards (order_id, rule_id, customer_id, organization_id, points, lot_id)
    values (v_order.order_id, v_rule.rule_id, v_order.customer_id, v_order.organization_id, v_points, v_lot.lot_id);
    v_total := v_total + v_points;
  end loop;
  return v_total;
end;
$$;
comment on function commerce_private.award_points(uuid) is
  'Grants the points a paid order earned by each active loyalty rule of its merchant and currency not yet applied to it (points = paid amount, or the rule''s product lines, x pointsPer100 / 100, rounded down; orders below the rule''s minimum earn none): one credit lot each in the customer''s XLP wallet through payments.grant_credits (idempotency key per order and rule), expiring after the rule''s days. Returns the points granted now. Run by the worker task commerce_award_points.';
