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
