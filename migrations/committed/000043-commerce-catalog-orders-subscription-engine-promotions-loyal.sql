--! Previous: sha1:1dcf2df3ba8bea2a86df4e2edeb87d45060687d7
--! Hash: sha1:e9fe73a71c9ead015695faceedd5c0dbde68bd2a
--! Message: commerce: catalog, orders, subscription engine, promotions, loyalty (issue 21)

--! split: 7000-commerce-catalog.sql
-- commerce: the HFCC seed's commerce core (issue 21). An organization is the
-- merchant, signed-in users are its customers. This file: the schemas, the
-- test clock, the registry types of the module (order and subscription
-- statuses with their moves, product categories, topics, ledger kinds, the
-- points currency), merchant settings, products and prices. Promotions and
-- loyalty rules: 7100; orders: 7200; subscriptions: 7300.
-- Money moves through payments (wallets, sales, refunds, credit lots) on the
-- core ledger; commerce keeps its records and the ledger transaction ids.

drop schema if exists commerce_private cascade;
drop schema if exists commerce cascade;

create schema commerce;
comment on schema commerce is
  'Catalog, orders, subscriptions, promotions and loyalty points of merchants (organizations) and their customers (signed-in users).';
grant usage on schema commerce to gw_anonymous, gw_user;

create schema commerce_private;
comment on schema commerce_private is 'The clock, the renewal engine, points awards and triggers of commerce; never exposed.';
revoke all on schema commerce_private from public;

--------------------------------------------------------------------------------
-- The clock: now(), unless a test set commerce.now in its transaction.

create function commerce_private.now() returns timestamptz
  language sql
  stable
  set search_path = ''
as $$
  select coalesce(nullif(pg_catalog.current_setting('commerce.now', true), '')::timestamptz, pg_catalog.now())
$$;
comment on function commerce_private.now() is
  'The time commerce reasons with: the transaction setting commerce.now when set (tests move the clock with set_config(''commerce.now'', …, true); API roles cannot reach it through a function), otherwise now().';

--------------------------------------------------------------------------------
-- Registry types.

insert into ledger.currencies (code, exponent, name) values ('XLP', 0, 'Loyalty points (private unit)')
on conflict (code) do nothing;

insert into registry.types (namespace, code, label, description, sort_order) values
  ('product_category', 'digital', 'Digital goods', 'Downloads, licences, credits.', 10),
  ('product_category', 'physical', 'Physical goods', 'Shipped items.', 20),
  ('product_category', 'service', 'Services', 'Time and work.', 30),
  ('product_category', 'subscription', 'Subscriptions', 'Plans billed per period.', 40),
  ('commerce_order_status', 'pending', 'Pending', 'Placed, not paid yet.', 10),
  ('commerce_order_status', 'paid', 'Paid', 'Paid from the customer''s wallet.', 20),
  ('commerce_order_status', 'fulfilled', 'Fulfilled', 'Delivered by the merchant.', 30),
  ('commerce_order_status', 'cancelled', 'Cancelled', 'Cancelled before payment.', 40),
  ('commerce_order_status', 'partially_refunded', 'Partially refunded', 'Part of it was paid back.', 50),
  ('commerce_order_status', 'refunded', 'Refunded', 'All of it was paid back.', 60),
  ('subscription_status', 'trialing', 'Trialing', 'In its free trial; the first charge is at the trial''s end.', 10),
  ('subscription_status', 'active', 'Active', 'Paid for the current period.', 20),
  ('subscription_status', 'renewal_pending', 'Renewal pending', 'The period ended; the renewal is being charged.', 30),
  ('subscription_status', 'payment_failed', 'Payment failed', 'The renewal charge failed; retried on the dunning schedule.', 40),
  ('subscription_status', 'paused', 'Paused', 'Paused by the customer; the rest of the period is kept for the resume.', 50),
  ('subscription_status', 'canceled', 'Canceled', 'Ended by the customer, the merchant or dunning.', 60),
  ('subscription_status', 'expired', 'Expired', 'Ran all the periods of its price.', 70)
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description, sort_order = excluded.sort_order;

insert into registry.transitions (namespace, from_code, to_code, label) values
  ('commerce_order_status', null, 'pending', 'Place'),
  ('commerce_order_status', 'pending', 'paid', 'Pay'),
  ('commerce_order_status', 'pending', 'cancelled', 'Cancel'),
  ('commerce_order_status', 'paid', 'fulfilled', 'Fulfil'),
  ('commerce_order_status', 'paid', 'refunded', 'Refund'),
  ('commerce_order_status', 'paid', 'partially_refunded', 'Refund some'),
  ('commerce_order_status', 'partially_refunded', 'refunded', 'Refund the rest'),
  ('subscription_status', null, 'trialing', 'Start a trial'),
  ('subscription_status', null, 'active', 'Subscribe'),
  ('subscription_status', 'trialing', 'renewal_pending', 'End the trial'),
  ('subscription_status', 'active', 'renewal_pending', 'End the period'),
  ('subscription_status', 'renewal_pending', 'active', 'Renew'),
  ('subscription_status', 'renewal_pending', 'payment_failed', 'Fail the charge'),
  ('subscription_status', 'renewal_pending', 'canceled', 'Cancel at period end'),
  ('subscription_status', 'renewal_pending', 'expired', 'Run out'),
  ('subscription_status', 'payment_failed', 'active', 'Recover'),
  ('subscription_status', 'payment_failed', 'canceled', 'Give up'),
  ('subscription_status', 'active', 'paused', 'Pause'),
  ('subscription_status', 'paused', 'active', 'Resume'),
  ('subscription_status', 'trialing', 'canceled', 'Cancel'),
  ('subscription_status', 'active', 'canceled', 'Cancel'),
  ('subscription_status', 'paused', 'canceled', 'Cancel')
on conflict on constraint transitions_move_key do nothing;

insert into registry.types (namespace, code, label, description) values
  ('outbox_topic', 'commerce.order.paid', 'Commerce order paid', 'Payload: orderId, organizationId, customerId, total, discount, pointsSpent, currency, transactionId.'),
  ('outbox_topic', 'commerce.order.refunded', 'Commerce order refunded', 'Payload: orderId, organizationId, customerId, amount, currency, transactionId.'),
  ('outbox_topic', 'subscription.changed', 'Subscription changed', 'Payload: subscriptionId, organizationId, customerId, from, to, periodEnd.'),
  ('outbox_topic', 'subscription.renewed', 'Subscription renewed', 'Payload: subscriptionId, organizationId, customerId, amount, currency, periodStart, periodEnd, transactionId.')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description;

insert into registry.types (namespace, code, label, description, metadata) values
  ('ledger_transaction_kind', 'commerce.points_spend', 'Points spent', 'Loyalty points spent at a checkout: the customer''s points wallet to the merchant''s redeemed points.', '{"written_by": "trusted"}')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description, metadata = excluded.metadata;

--------------------------------------------------------------------------------
-- Who manages a merchant: owners and admins acting in it (the org_id claim).

create function commerce.managed_organization_id() returns uuid
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select o from auth.current_org_id() o
   where o = any (array(select auth.current_user_admin_organization_ids()))
$$;
comment on function commerce.managed_organization_id() is
  E'@behavior -queryField -mutationField -typeField\nThe organization the caller acts in (org_id claim) when they are an owner or admin of it, else null. Security definer so policies can use it without recursing into the membership policies.';
revoke execute on function commerce.managed_organization_id() from public;
grant execute on function commerce.managed_organization_id() to gw_anonymous, gw_user;

--------------------------------------------------------------------------------
-- Merchant settings: dunning schedule and the value of a point.

create table commerce.merchant_settings (
  organization_id uuid primary key
    constraint merchant_settings_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  dunning_days integer[] not null default '{1,3,7}'
    constraint merchant_settings_dunning_days_check check (
      cardinality(dunning_days) between 0 and 10 and array_position(dunning_days, null) is null),
  point_value bigint not null default 1
    constraint merchant_settings_point_value_check check (point_value between 1 and 1000000),
  updated_at timestamptz not null default now()
);
alter table commerce.merchant_settings enable row level security;

create policy "members of a merchant read its settings"
  on commerce.merchant_settings for select to gw_user
  using (organization_id = any (array(select auth.current_user_organization_ids())));
create policy "owners and admins acting in a merchant add its settings"
  on commerce.merchant_settings for insert to gw_user
  with check (organization_id = (select commerce.managed_organization_id()));
create policy "owners and admins acting in a merchant change its settings"
  on commerce.merchant_settings for update to gw_user
  using (organization_id = (select commerce.managed_organization_id()))
  with check (organization_id = (select commerce.managed_organization_id()));
grant select, insert (organization_id, dunning_days, point_value), update (dunning_days, point_value) on commerce.merchant_settings to gw_user;

create function commerce_private.tg_merchant_settings__validate() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if exists (select 1 from pg_catalog.unnest(new.dunning_days) with ordinality d(n, i)
              where d.n < 1 or d.n > 90 or d.n <= coalesce(new.dunning_days[d.i - 1], 0)) then
    raise exception 'Dunning days are increasing whole days between 1 and 90 after the failed renewal, not %.', new.dunning_days
      using errcode = 'CMDUN';
  end if;
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
comment on function commerce_private.tg_merchant_settings__validate() is 'Refuses a dunning schedule that is not increasing days of 1 to 90 (CMDUN).';
create trigger _100_validate before insert or update on commerce.merchant_settings
  for each row execute function commerce_private.tg_merchant_settings__validate();

comment on table commerce.merchant_settings is
  'A merchant''s commerce settings (defaults when it has no row): the dunning schedule of failed renewals and the value of a loyalty point. Members read them; owners and admins acting in the organization write them.';
comment on column commerce.merchant_settings.organization_id is 'The merchant.';
comment on column commerce.merchant_settings.dunning_days is 'Days after a failed renewal at which the charge is retried (default 1, 3, 7); after the last failed retry the subscription is canceled.';
comment on column commerce.merchant_settings.point_value is 'Minor units of the order''s currency one loyalty point is worth at checkout (default 1).';
comment on column commerce.merchant_settings.updated_at is 'When it last changed.';
comment on constraint merchant_settings_organization_id_fkey on commerce.merchant_settings is E'@behavior -*\nNo relation field.';

create function commerce_private.settings(organization_id uuid) returns commerce.merchant_settings
  language sql
  stable
  set search_path = ''
as $$
  select coalesce(
    (select s from commerce.merchant_settings s where s.organization_id = settings.organization_id),
    row(settings.organization_id, '{1,3,7}'::integer[], 1::bigint, pg_catalog.now())::commerce.merchant_settings)
$$;
comment on function commerce_private.settings(uuid) is 'The merchant''s settings, or the defaults.';

--------------------------------------------------------------------------------
-- Products

create table commerce.products (
  product_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null default auth.current_org_id()
    constraint products_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  name text not null
    constraint products_name_check check (char_length(btrim(name)) between 1 and 200),
  description text
    constraint products_description_check check (char_length(description) <= 5000),
  active boolean not null default true,
  created_at timestamptz not null default now()
);
alter table commerce.products enable row level security;
select registry.add_type_column('commerce.products', 'category', 'product_category', false, null);
create index products_organization_id_idx on commerce.products (organization_id, created_at);

create policy "anyone sees active products; members of a merchant see all of its products"
  on commerce.products for select to gw_anonymous, gw_user
  using (active or organization_id = any (array(select auth.current_user_organization_ids())));
create policy "owners and admins acting in a merchant add its products"
  on commerce.products for insert to gw_user
  with check (organization_id = (select commerce.managed_organization_id()));
create policy "owners and admins acting in a merchant edit its products"
  on commerce.products for update to gw_user
  using (organization_id = (select commerce.managed_organization_id()))
  with check (organization_id = (select commerce.managed_organization_id()));
grant select on commerce.products to gw_anonymous, gw_user;
grant insert (organization_id, name, description, category, active), update (name, description, category, active) on commerce.products to gw_user;

comment on table commerce.products is
  E'@behavior -delete\nA product of a merchant (organization). Everyone sees active products; members see all of their merchant''s; owners and admins acting in the merchant add and edit them (deactivate instead of deleting: orders point here).';
comment on column commerce.products.product_id is 'The product''s id.';
comment on column commerce.products.organization_id is 'The merchant (defaults to the organization you act in).';
comment on column commerce.products.name is 'Its name, 1 to 200 characters.';
comment on column commerce.products.description is 'Its description, at most 5000 characters.';
comment on column commerce.products.active is 'Whether it is for sale.';
comment on column commerce.products.created_at is 'When it was added.';
comment on column commerce.products.category is 'Its category (registry namespace product_category), optional.';
comment on constraint products_organization_id_fkey on commerce.products is E'@behavior -*\nNo relation field.';
comment on constraint products_category_type_fkey on commerce.products is E'@behavior -*\nNo relation field: category is the code.';

--------------------------------------------------------------------------------
-- Prices: written only through create_price (amounts arrive as numeric, so a
-- fraction of a minor unit is refused with a code instead of being rounded).

create table commerce.prices (
  price_id uuid primary key default gen_random_uuid(),
  product_id uuid not null
    constraint prices_product_id_fkey references commerce.products (product_id) on delete cascade,
  organization_id uuid not null
    constraint prices_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  currency text not null
    constraint prices_currency_fkey references ledger.currencies (code) on delete restrict,
  amount bigint not null
    constraint prices_amount_check check (amount between 0 and 100000000000),
  recurring_interval interval
    constraint prices_interval_check check (recurring_interval in ('1 day', '7 days', '1 mon', '3 mons', '1 year')),
  interval_count integer
    constraint prices_interval_count_check check (interval_count between 1 and 1000),
  trial_days integer not null default 0
    constraint prices_trial_days_check check (trial_days between 0 and 365),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  constraint prices_recurring_check check (recurring_interval is not null or (interval_count is null and trial_days = 0))
);
alter table commerce.prices enable row level security;
create index prices_product_id_idx on commerce.prices (product_id);
create index prices_organization_id_idx on commerce.prices (organization_id);
create index prices_currency_idx on commerce.prices (currency);

create policy "anyone sees active prices of active products; members of a merchant see all of its prices"
  on commerce.prices for select to gw_anonymous, gw_user
  using ((active and exists (select 1 from commerce.products p where p.product_id = prices.product_id and p.active))
         or organization_id = any (array(select auth.current_user_organization_ids())));
create policy "owners and admins acting in a merchant switch its prices on and off"
  on commerce.prices for update to gw_user
  using (organization_id = (select commerce.managed_organization_id()))
  with check (organization_id = (select commerce.managed_organization_id()));
grant select on commerce.prices to gw_anonymous, gw_user;
grant update (active) on commerce.prices to gw_user;

comment on table commerce.prices is
  E'@behavior -insert -delete\nA price of a product: an amount in minor units of a currency, one-time (no interval) or recurring every interval (1 day, 7 days, 1 month, 3 months, 1 year) for intervalCount periods (null: until canceled), with trial days. Prices never change (a new price is a new row; deactivate the old one), so orders and subscriptions keep what was agreed. Made by commerceCreatePrice.';
comment on column commerce.prices.price_id is 'The price''s id.';
comment on column commerce.prices.product_id is 'The product.';
comment on column commerce.prices.organization_id is 'The merchant (the product''s).';
comment on column commerce.prices.currency is 'The currency (ledger.currencies).';
comment on column commerce.prices.amount is 'The amount in minor units (per period when recurring).';
comment on column commerce.prices.recurring_interval is 'The billing period, or null for a one-time price.';
comment on column commerce.prices.interval_count is 'How many periods a subscription runs before it expires (null: until canceled).';
comment on column commerce.prices.trial_days is 'Free days before the first charge of a subscription.';
comment on column commerce.prices.active is 'Whether it may be bought or subscribed to.';
comment on column commerce.prices.created_at is 'When it was made.';
comment on constraint prices_product_id_fkey on commerce.prices is E'@fieldName product\n@foreignFieldName prices';
comment on constraint prices_organization_id_fkey on commerce.prices is E'@behavior -*\nNo relation field.';
comment on constraint prices_currency_fkey on commerce.prices is E'@behavior -*\nNo relation field.';

create function commerce.create_price(
  product_id uuid, currency text, amount numeric, recurring_interval interval default null,
  interval_count integer default null, trial_days integer default 0
) returns commerce.prices
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_product commerce.products;
  v_price commerce.prices;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  select p.* into v_product from commerce.products p
   where p.product_id = create_price.product_id and p.organization_id = commerce.managed_organization_id();
  if not found then
    raise exception 'No product % of a merchant you manage (act in it as an owner or admin).', create_price.product_id using errcode = 'NTFND';
  end if;
  if create_price.amount is null or create_price.amount < 0 or create_price.amount > 100000000000
     or create_price.amount <> pg_catalog.trunc(create_price.amount) then
    raise exception 'A price is a whole number of minor units from 0 to 100,000,000,000, not %.', create_price.amount using errcode = 'CMPRC';
  end if;
  if not exists (select 1 from ledger.currencies c where c.code = create_price.currency) or create_price.currency = 'XLP' then
    raise exception 'Unknown currency %.', pg_catalog.left(create_price.currency, 10) using errcode = 'CMCUR';
  end if;
  if (create_price.recurring_interval is not null
      and create_price.recurring_interval not in ('1 day', '7 days', '1 mon', '3 mons', '1 year'))
     or (create_price.recurring_interval is null and (create_price.interval_count is not null or coalesce(create_price.trial_days, 0) <> 0))
     or create_price.interval_count not between 1 and 1000 or coalesce(create_price.trial_days, 0) not between 0 and 365 then
    raise exception 'A recurring price bills every 1 day, 7 days, 1 month, 3 months or 1 year, for 1 to 1000 periods or until canceled, with 0 to 365 trial days; a one-time price has none of these.'
      using errcode = 'CMINT';
  end if;
  insert into commerce.prices (product_id, organization_id, currency, amount, recurring_interval, interval_count, trial_days)
  values (v_product.product_id, v_product.organization_id, create_price.currency, create_price.amount::bigint,
          create_price.recurring_interval, create_price.interval_count, coalesce(create_price.trial_days, 0))
  returning * into v_price;
  return v_price;
end;
$$;
comment on function commerce.create_price(product_id uuid, currency text, amount numeric, recurring_interval interval, interval_count integer, trial_days integer) is
  E'@resultFieldName price\nAdds a price to a product of the merchant you act in as owner or admin. Errors: LOGIN, NTFND (no such product you manage), CMPRC (not a whole number of minor units from 0 to 100,000,000,000), CMCUR (unknown currency), CMINT (bad interval, count or trial). Security definer because prices have no insert grant (the amount must be checked for fractions before it is stored).';
revoke execute on function commerce.create_price(uuid, text, numeric, interval, integer, integer) from public;
grant execute on function commerce.create_price(uuid, text, numeric, interval, integer, integer) to gw_user;

--! split: 7100-commerce-promotions-loyalty.sql
-- Promotions (codes with a percent or per-currency fixed discount, a validity
-- window, total and per-customer limits, minimum order, applicable products,
-- a duration in subscription periods) and their redemptions; loyalty rules
-- (points earned per 100 minor units paid). Redemption is atomic: one
-- conditional update of the promotion's counter (redeemed < max) under its
-- row lock, so concurrent checkouts can never redeem more than the limit.

--------------------------------------------------------------------------------
-- commerce.promotions

create table commerce.promotions (
  promotion_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null default auth.current_org_id()
    constraint promotions_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  code text not null
    constraint promotions_code_check check (code ~ '^[A-Za-z0-9_-]{3,40}$'),
  percent_off numeric(5, 2)
    constraint promotions_percent_off_check check (percent_off > 0 and percent_off <= 100),
  amounts_off jsonb
    constraint promotions_amounts_off_check check (jsonb_typeof(amounts_off) = 'object'),
  starts_at timestamptz,
  ends_at timestamptz,
  max_redemptions integer
    constraint promotions_max_redemptions_check check (max_redemptions >= 1),
  max_per_customer integer
    constraint promotions_max_per_customer_check check (max_per_customer >= 1),
  min_order jsonb not null default '{}'
    constraint promotions_min_order_check check (jsonb_typeof(min_order) = 'object'),
  product_ids uuid[],
  duration_periods integer
    constraint promotions_duration_periods_check check (duration_periods between 1 and 1000),
  redeemed integer not null default 0,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  constraint promotions_kind_check check ((percent_off is null) <> (amounts_off is null)),
  constraint promotions_window_check check (ends_at > starts_at),
  constraint promotions_redeemed_check check (redeemed >= 0 and (max_redemptions is null or redeemed <= max_redemptions))
);
alter table commerce.promotions enable row level security;
create unique index promotions_organization_code_key on commerce.promotions (organization_id, lower(code));

create policy "members of a merchant see its promotions"
  on commerce.promotions for select to gw_user
  using (organization_id = any (array(select auth.current_user_organization_ids())));
create policy "owners and admins acting in a merchant add its promotions"
  on commerce.promotions for insert to gw_user
  with check (organization_id = (select commerce.managed_organization_id()));
create policy "owners and admins acting in a merchant edit its promotions"
  on commerce.promotions for update to gw_user
  using (organization_id = (select commerce.managed_organization_id()))
  with check (organization_id = (select commerce.managed_organization_id()));
grant select on commerce.promotions to gw_user;
grant insert (organization_id, code, percent_off, amounts_off, starts_at, ends_at, max_redemptions, max_per_customer, min_order,
              product_ids, duration_periods, active),
      update (ends_at, max_redemptions, max_per_customer, active) on commerce.promotions to gw_user;

create function commerce_private.tg_promotions__validate() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if new.percent_off is not null and (new.percent_off <= 0 or new.percent_off > 100) then
    raise exception 'A percent off is more than 0 and at most 100, not %.', new.percent_off using errcode = 'CMPCT';
  end if;
  if (new.percent_off is null) = (new.amounts_off is null) then
    raise exception 'A promotion is a percent off or fixed amounts off per currency, one of the two.' using errcode = 'CMPCT';
  end if;
  if new.amounts_off is not null and (pg_catalog.jsonb_typeof(new.amounts_off) <> 'object' or new.amounts_off = '{}'::jsonb or exists (
       select 1 from pg_catalog.jsonb_each(new.amounts_off) a
        where pg_catalog.jsonb_typeof(a.value) <> 'number' or a.value::numeric <= 0 or a.value::numeric <> pg_catalog.trunc(a.value::numeric)
           or not exists (select 1 from ledger.currencies c where c.code = a.key))) then
    raise exception 'Amounts off are an object of currency: whole positive minor units, e.g. {"USD": 500}.' using errcode = 'CMPCT';
  end if;
  if pg_catalog.jsonb_typeof(new.min_order) <> 'object' or exists (
       select 1 from pg_catalog.jsonb_each(new.min_order) a
        where pg_catalog.jsonb_typeof(a.value) <> 'number' or a.value::numeric < 0 or a.value::numeric <> pg_catalog.trunc(a.value::numeric)) then
    raise exception 'A minimum order is an object of currency: whole minor units.' using errcode = 'CMPCT';
  end if;
  if new.ends_at <= new.starts_at then
    raise exception 'A promotion ends after it starts.' using errcode = 'BADIN';
  end if;
  if tg_op = 'INSERT' then
    new.redeemed := 0;
  end if;
  return new;
end;
$$;
comment on function commerce_private.tg_promotions__validate() is
  'Coded errors for a bad promotion before the constraints: CMPCT (percent not in (0, 100], bad amounts or minimum), BADIN (window).';
create trigger _100_validate before insert or update on commerce.promotions
  for each row execute function commerce_private.tg_promotions__validate();

comment on table commerce.promotions is
  E'@behavior -delete\nA promotion code of a merchant: percentOff or amountsOff (per currency, minor units), valid between startsAt and endsAt, at most maxRedemptions in all and maxPerCustomer per customer, for orders of at least minOrder (per currency), on productIds only (null: any), for durationPeriods periods of a subscription (null: every period). Codes are secret: members see their merchant''s; customers apply one at checkout by its code.';
comment on column commerce.promotions.promotion_id is 'The promotion''s id.';
comment on column commerce.promotions.organization_id is 'The merchant.';
comment on column commerce.promotions.code is 'The code customers type (3 to 40 letters, digits, _ or -), unique per merchant ignoring case.';
comment on column commerce.promotions.percent_off is 'Percent off (0 to 100], or null.';
comment on column commerce.promotions.amounts_off is 'Fixed amounts off per currency, {"USD": 500}, or null.';
comment on column commerce.promotions.starts_at is 'Valid from (null: now).';
comment on column commerce.promotions.ends_at is 'Valid until (null: forever).';
comment on column commerce.promotions.max_redemptions is 'Redemptions allowed in all (null: unlimited).';
comment on column commerce.promotions.max_per_customer is 'Redemptions allowed per customer (null: unlimited).';
comment on column commerce.promotions.min_order is 'The smallest order (before discount) per currency, {"USD": 2000}.';
comment on column commerce.promotions.product_ids is 'The products it applies to (null: all the merchant''s).';
comment on column commerce.promotions.duration_periods is 'On a subscription: how many periods it discounts (null: all).';
comment on column commerce.promotions.redeemed is 'How many times it was redeemed.';
comment on column commerce.promotions.active is 'Whether it may be redeemed.';
comment on column commerce.promotions.created_at is 'When it was made.';
comment on constraint promotions_organization_id_fkey on commerce.promotions is E'@behavior -*\nNo relation field.';

--------------------------------------------------------------------------------
-- commerce.promotion_redemptions (rows written by checkout and subscribe)

create table commerce.promotion_redemptions (
  redemption_id uuid primary key default gen_random_uuid(),
  promotion_id uuid not null
    constraint promotion_redemptions_promotion_id_fkey references commerce.promotions (promotion_id) on delete cascade,
  organization_id uuid not null
    constraint promotion_redemptions_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  customer_id uuid not null
    constraint promotion_redemptions_customer_id_fkey references auth.users (user_id) on delete cascade,
  currency text not null,
  discount bigint not null constraint promotion_redemptions_discount_check check (discount >= 0),
  created_at timestamptz not null default now()
);
alter table commerce.promotion_redemptions enable row level security;
create index promotion_redemptions_promotion_id_idx on commerce.promotion_redemptions (promotion_id, customer_id);
create index promotion_redemptions_organization_id_idx on commerce.promotion_redemptions (organization_id);
create index promotion_redemptions_customer_id_idx on commerce.promotion_redemptions (customer_id);

create policy "customers see their redemptions; members of a merchant see its redemptions"
  on commerce.promotion_redemptions for select to gw_user
  using (customer_id = (select auth.uid()) or organization_id = any (array(select auth.current_user_organization_ids())));
grant select on commerce.promotion_redemptions to gw_user;

comment on table commerce.promotion_redemptions is
  E'@behavior -insert -update -delete\nOne use of a promotion by a customer (at a checkout or a subscription). Customers see theirs; members see their merchant''s.';
comment on column commerce.promotion_redemptions.redemption_id is 'The redemption''s id.';
comment on column commerce.promotion_redemptions.promotion_id is 'The promotion.';
comment on column commerce.promotion_redemptions.organization_id is 'The merchant.';
comment on column commerce.promotion_redemptions.customer_id is 'The customer.';
comment on column commerce.promotion_redemptions.currency is 'The currency of the discount.';
comment on column commerce.promotion_redemptions.discount is 'The discount given (the first period''s, on a subscription).';
comment on column commerce.promotion_redemptions.created_at is 'When it was redeemed.';
comment on constraint promotion_redemptions_promotion_id_fkey on commerce.promotion_redemptions is E'@behavior -*\nNo relation field: promotions are visible to members only.';
comment on constraint promotion_redemptions_organization_id_fkey on commerce.promotion_redemptions is E'@behavior -*\nNo relation field.';
comment on constraint promotion_redemptions_customer_id_fkey on commerce.promotion_redemptions is E'@behavior -*\nNo relation field.';

-- The promotion for a code of a merchant, checked for the order; locks nothing.
create function commerce_private.find_promotion(organization_id uuid, code text) returns commerce.promotions
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_promotion commerce.promotions;
begin
  select p.* into v_promotion from commerce.promotions p
   where p.organization_id = find_promotion.organization_id and pg_catalog.lower(p.code) = pg_catalog.lower(find_promotion.code);
  if not found or not v_promotion.active then
    raise exception 'No promotion code % at this merchant.', pg_catalog.left(find_promotion.code, 40) using errcode = 'CMCOD';
  end if;
  if commerce_private.now() < coalesce(v_promotion.starts_at, '-infinity') or commerce_private.now() >= coalesce(v_promotion.ends_at, 'infinity') then
    raise exception 'Promotion code % is valid from % to %.', v_promotion.code, coalesce(v_promotion.starts_at::text, '-'),
      coalesce(v_promotion.ends_at::text, '-') using errcode = 'CMEXP';
  end if;
  return v_promotion;
end;
$$;
comment on function commerce_private.find_promotion(uuid, text) is
  'The active promotion of the merchant with this code, valid now (CMCOD: unknown, inactive or another merchant''s; CMEXP: outside its window).';

-- The discount of a promotion on an amount: lines is {product_id: amount} of the order.
create function commerce_private.discount_for(promotion commerce.promotions, currency text, lines jsonb) returns bigint
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_subtotal bigint;
  v_eligible bigint;
begin
  select coalesce(pg_catalog.sum(l.value::bigint), 0) into v_subtotal from pg_catalog.jsonb_each_text(discount_for.lines) l;
  select coalesce(pg_catalog.sum(l.value::bigint), 0) into v_eligible from pg_catalog.jsonb_each_text(discount_for.lines) l
   where promotion.product_ids is null or l.key::uuid = any (promotion.product_ids);
  if v_eligible = 0 then
    raise exception 'Promotion code % does not apply to these products.', promotion.code using errcode = 'CMMIN';
  end if;
  if v_subtotal < coalesce((promotion.min_order ->> discount_for.currency)::bigint, 0) then
    raise exception 'Promotion code % needs an order of at least % %.', promotion.code, promotion.min_order ->> discount_for.currency,
      discount_for.currency using errcode = 'CMMIN';
  end if;
  if promotion.percent_off is not null then
    return pg_catalog.floor(v_eligible * promotion.percent_off / 100)::bigint;
  end if;
  if not (promotion.amounts_off ? discount_for.currency) then
    raise exception 'Promotion code % has no amount off in %.', promotion.code, discount_for.currency using errcode = 'CMMIN';
  end if;
  return least(v_eligible, (promotion.amounts_off ->> discount_for.currency)::bigint);
end;
$$;
comment on function commerce_private.discount_for(commerce.promotions, text, jsonb) is
  'The discount of a promotion on an order whose lines are {productId: amount}: percent of the eligible lines rounded down, or the fixed amount in the currency capped at the eligible amount. CMMIN: no eligible line, below the minimum order, or no amount in the currency.';

-- Atomic redemption: the counter moves only while below the limit (the row lock orders concurrent redeemers).
create function commerce_private.redeem(promotion_id uuid, customer_id uuid, currency text, discount bigint) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_promotion commerce.promotions;
begin
  update commerce.promotions p set redeemed = p.redeemed + 1
   where p.promotion_id = redeem.promotion_id and (p.max_redemptions is null or p.redeemed < p.max_redemptions)
  returning * into v_promotion;
  if not found then
    raise exception 'Promotion % is used up.', redeem.promotion_id using errcode = 'CMUSD';
  end if;
  if v_promotion.max_per_customer is not null and (
       select pg_catalog.count(*) from commerce.promotion_redemptions r
        where r.promotion_id = redeem.promotion_id and r.customer_id = redeem.customer_id) >= v_promotion.max_per_customer then
    raise exception 'You have used promotion code % % time(s) already.', v_promotion.code, v_promotion.max_per_customer using errcode = 'CMUSD';
  end if;
  insert into commerce.promotion_redemptions (promotion_id, organization_id, customer_id, currency, discount)
  values (redeem.promotion_id, v_promotion.organization_id, redeem.customer_id, redeem.currency, redeem.discount);
end;
$$;
comment on function commerce_private.redeem(uuid, uuid, text, bigint) is
  'Counts one redemption of a promotion atomically (CMUSD when its total or the customer''s limit is reached; the promotion''s row lock, taken by the conditional update, serializes the per-customer count).';

--------------------------------------------------------------------------------
-- commerce.loyalty_rules

create table commerce.loyalty_rules (
  rule_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null default auth.current_org_id()
    constraint loyalty_rules_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  currency text not null
    constraint loyalty_rules_currency_fkey references ledger.currencies (code) on delete restrict,
  points_per_100 integer not null
    constraint loyalty_rules_points_per_100_check check (points_per_100 between 1 and 100000),
  min_order bigint not null default 0
    constraint loyalty_rules_min_order_check check (min_order >= 0),
  product_id uuid
    constraint loyalty_rules_product_id_fkey references commerce.products (product_id) on delete cascade,
  expires_days integer default 365
    constraint loyalty_rules_expires_days_check check (expires_days between 1 and 3650),
  active boolean not null default true,
  created_at timestamptz not null default now()
);
alter table commerce.loyalty_rules enable row level security;
create index loyalty_rules_organization_id_idx on commerce.loyalty_rules (organization_id, currency);
create index loyalty_rules_currency_idx on commerce.loyalty_rules (currency);
create index loyalty_rules_product_id_idx on commerce.loyalty_rules (product_id) where product_id is not null;

create policy "anyone signed in sees active loyalty rules; members of a merchant see all of its rules"
  on commerce.loyalty_rules for select to gw_user
  using (active or organization_id = any (array(select auth.current_user_organization_ids())));
create policy "owners and admins acting in a merchant add its loyalty rules"
  on commerce.loyalty_rules for insert to gw_user
  with check (organization_id = (select commerce.managed_organization_id()));
create policy "owners and admins acting in a merchant edit its loyalty rules"
  on commerce.loyalty_rules for update to gw_user
  using (organization_id = (select commerce.managed_organization_id()))
  with check (organization_id = (select commerce.managed_organization_id()));
grant select on commerce.loyalty_rules to gw_user;
grant insert (organization_id, currency, points_per_100, min_order, product_id, expires_days, active),
      update (points_per_100, min_order, expires_days, active) on commerce.loyalty_rules to gw_user;

comment on table commerce.loyalty_rules is
  E'@behavior -delete\nA merchant''s rule for earning loyalty points on paid orders in a currency: pointsPer100 points for every 100 minor units paid (of productId''s lines only, when set), on orders of at least minOrder, expiring after expiresDays (null: never). The points of all matching rules add up.';
comment on column commerce.loyalty_rules.rule_id is 'The rule''s id.';
comment on column commerce.loyalty_rules.organization_id is 'The merchant.';
comment on column commerce.loyalty_rules.currency is 'The currency of the orders it rewards.';
comment on column commerce.loyalty_rules.points_per_100 is 'Points per 100 minor units paid (rounded down).';
comment on column commerce.loyalty_rules.min_order is 'The smallest paid amount that earns points.';
comment on column commerce.loyalty_rules.product_id is 'Only lines of this product count (null: the whole order).';
comment on column commerce.loyalty_rules.expires_days is 'Days until the points expire (null: never).';
comment on column commerce.loyalty_rules.active is 'Whether it earns points.';
comment on column commerce.loyalty_rules.created_at is 'When it was made.';
comment on constraint loyalty_rules_organization_id_fkey on commerce.loyalty_rules is E'@behavior -*\nNo relation field.';
comment on constraint loyalty_rules_currency_fkey on commerce.loyalty_rules is E'@behavior -*\nNo relation field.';
comment on constraint loyalty_rules_product_id_fkey on commerce.loyalty_rules is E'@fieldName product\n@foreignFieldName loyaltyRules';

--! split: 7200-commerce-orders.sql
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

--! split: 7300-commerce-subscriptions.sql
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
