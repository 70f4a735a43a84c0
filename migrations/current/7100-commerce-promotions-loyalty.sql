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
