-- The reporting views behind the grant (issue 15). A materialized view cannot
-- have row level security, so a role_finance token whose grant in
-- auth.user_roles was withdrawn (or never existed) read both. They move to
-- finance_private (no request role uses it) and finance keeps views of the
-- same names and columns, so the GraphQL API is unchanged: security_barrier
-- views that return rows only while auth.has_role('role_finance') holds, or
-- to a direct connection (the owner, the worker, maintenance), as
-- finance.refresh_views decides.

-- Re-runnable: on a second run the views exist and the materialized views
-- are already in finance_private.
do $$
begin
  -- drop view refuses a materialized view, so look at what is there first.
  if exists (select 1 from pg_catalog.pg_views where schemaname = 'finance' and viewname = 'mv_monthly_revenue') then
    drop view finance.mv_monthly_revenue;
  end if;
  if exists (select 1 from pg_catalog.pg_views where schemaname = 'finance' and viewname = 'mv_customer_value') then
    drop view finance.mv_customer_value;
  end if;
  if exists (select 1 from pg_catalog.pg_matviews where schemaname = 'finance' and matviewname = 'mv_monthly_revenue') then
    alter materialized view finance.mv_monthly_revenue set schema finance_private;
  end if;
  if exists (select 1 from pg_catalog.pg_matviews where schemaname = 'finance' and matviewname = 'mv_customer_value') then
    alter materialized view finance.mv_customer_value set schema finance_private;
  end if;
end;
$$;
revoke all on finance_private.mv_monthly_revenue from role_finance;
revoke all on finance_private.mv_customer_value from role_finance;
comment on materialized view finance_private.mv_monthly_revenue is
  'Sales revenue per UTC month of placed and shipped orders (read through the view finance.mv_monthly_revenue, which checks the grant). Refreshed every 10 minutes and by finance.refresh_views().';
comment on materialized view finance_private.mv_customer_value is
  'Per customer: orders, lifetime value, accounts and balances (read through the view finance.mv_customer_value, which checks the grant). Refreshed every 10 minutes and by finance.refresh_views().';

create view finance.mv_monthly_revenue with (security_barrier = true) as
  select r.month, r.orders_count, r.units_sold, r.revenue, r.avg_unit_price
    from finance_private.mv_monthly_revenue r
   where pg_catalog.current_setting('role', true) is not distinct from 'none'
      or (select auth.has_role('role_finance'));
grant select on finance.mv_monthly_revenue to role_finance;
comment on view finance.mv_monthly_revenue is
  E'@primaryKey month\nSales revenue per UTC month of placed and shipped orders: orders, units, revenue and the average unit price weighted by quantity (finance.weighted_avg). Refreshed every 10 minutes and by refreshViews. Finance staff only: empty unless your role_finance grant is current.';
comment on column finance.mv_monthly_revenue.month is 'First day of the month (UTC) the orders were placed in.';
comment on column finance.mv_monthly_revenue.orders_count is 'Placed and shipped orders.';
comment on column finance.mv_monthly_revenue.units_sold is 'Units sold.';
comment on column finance.mv_monthly_revenue.revenue is 'Sum of quantity × unit price.';
comment on column finance.mv_monthly_revenue.avg_unit_price is 'Average unit price weighted by quantity.';

create view finance.mv_customer_value with (security_barrier = true) as
  select v.customer_id, v.orders_count, v.lifetime_value, v.last_order_at, v.accounts_count, v.total_balance
    from finance_private.mv_customer_value v
   where pg_catalog.current_setting('role', true) is not distinct from 'none'
      or (select auth.has_role('role_finance'));
grant select on finance.mv_customer_value to role_finance;
comment on view finance.mv_customer_value is
  E'@primaryKey customer_id\nPer customer: placed and shipped orders, their lifetime value, the last order, accounts and their total balance. Refreshed every 10 minutes and by refreshViews. Finance staff only: empty unless your role_finance grant is current.';
comment on column finance.mv_customer_value.customer_id is 'The customer.';
comment on column finance.mv_customer_value.orders_count is 'Placed and shipped orders.';
comment on column finance.mv_customer_value.lifetime_value is 'Sum of their totals.';
comment on column finance.mv_customer_value.last_order_at is 'When the last of them was placed.';
comment on column finance.mv_customer_value.accounts_count is 'Accounts held.';
comment on column finance.mv_customer_value.total_balance is 'Sum of the accounts'' balances.';

create or replace function finance.refresh_views() returns boolean
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if not (pg_catalog.current_setting('role', true) is not distinct from 'none'
          or auth.has_role('role_finance') or auth.has_role('gw_admin')) then
    raise exception 'Only finance staff and operators refresh the reporting views.' using errcode = 'DNIED';
  end if;
  -- Concurrently: readers keep the old contents until the new ones are ready.
  refresh materialized view concurrently finance_private.mv_monthly_revenue;
  refresh materialized view concurrently finance_private.mv_customer_value;
  return true;
end;
$$;
comment on function finance.refresh_views() is
  'Refreshes the reporting views (finance_private.mv_monthly_revenue and mv_customer_value, read through finance.mv_monthly_revenue and finance.mv_customer_value) concurrently (readers are not blocked); the worker also does it every 10 minutes. Finance staff and operators (DNIED otherwise). Security definer: only the owner of a materialized view may refresh it.';
