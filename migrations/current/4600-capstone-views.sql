-- Reporting: materialized views over sales and finance, refreshed concurrently
-- by the finance_refresh_views task (crontab) and by finance.refresh_views().
-- Re-runnable: 4000-capstone-types.sql drops the finance schema first.

create materialized view finance.mv_monthly_revenue as
  select (pg_catalog.date_trunc('month', o.placed_at at time zone 'UTC'))::date as month,
         count(distinct o.order_id)::integer as orders_count,
         sum(i.quantity)::bigint as units_sold,
         sum(i.quantity * i.unit_price)::numeric(18, 4) as revenue,
         finance.weighted_avg(i.unit_price, i.quantity)::numeric(18, 4) as avg_unit_price
    from sales.orders o
    join sales.order_items i on i.order_id = o.order_id
   where o.status in ('placed', 'shipped')
   group by 1;
create unique index mv_monthly_revenue_month_key on finance.mv_monthly_revenue (month);
grant select on finance.mv_monthly_revenue to role_finance;

comment on materialized view finance.mv_monthly_revenue is
  E'@primaryKey month\nSales revenue per UTC month of placed and shipped orders: orders, units, revenue and the average unit price weighted by quantity (finance.weighted_avg). Refreshed every 10 minutes and by refreshViews. Finance staff only.';
comment on column finance.mv_monthly_revenue.month is 'First day of the month (UTC) the orders were placed in.';
comment on column finance.mv_monthly_revenue.orders_count is 'Placed and shipped orders.';
comment on column finance.mv_monthly_revenue.units_sold is 'Units sold.';
comment on column finance.mv_monthly_revenue.revenue is 'Sum of quantity × unit price.';
comment on column finance.mv_monthly_revenue.avg_unit_price is 'Average unit price weighted by quantity.';

create materialized view finance.mv_customer_value as
  select c.customer_id,
         coalesce(o.orders_count, 0)::integer as orders_count,
         coalesce(o.lifetime_value, 0)::numeric(18, 4) as lifetime_value,
         o.last_order_at,
         coalesce(a.accounts_count, 0)::integer as accounts_count,
         coalesce(a.total_balance, 0)::numeric(18, 4) as total_balance
    from finance.customers c
    left join (
      select customer_id, count(*) as orders_count, sum(total_amount) as lifetime_value, max(placed_at) as last_order_at
        from sales.orders
       where status in ('placed', 'shipped')
       group by customer_id
    ) o on o.customer_id = c.customer_id
    left join (
      select customer_id, count(*) as accounts_count, sum(balance) as total_balance
        from finance.accounts
       group by customer_id
    ) a on a.customer_id = c.customer_id;
create unique index mv_customer_value_customer_id_key on finance.mv_customer_value (customer_id);
grant select on finance.mv_customer_value to role_finance;

comment on materialized view finance.mv_customer_value is
  E'@primaryKey customer_id\nPer customer: placed and shipped orders, their lifetime value, the last order, accounts and their total balance. Refreshed every 10 minutes and by refreshViews. Finance staff only.';
comment on column finance.mv_customer_value.customer_id is 'The customer.';
comment on column finance.mv_customer_value.orders_count is 'Placed and shipped orders.';
comment on column finance.mv_customer_value.lifetime_value is 'Sum of their totals.';
comment on column finance.mv_customer_value.last_order_at is 'When the last of them was placed.';
comment on column finance.mv_customer_value.accounts_count is 'Accounts held.';
comment on column finance.mv_customer_value.total_balance is 'Sum of the accounts'' balances.';

create function finance.refresh_views() returns boolean
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
  refresh materialized view concurrently finance.mv_monthly_revenue;
  refresh materialized view concurrently finance.mv_customer_value;
  return true;
end;
$$;
comment on function finance.refresh_views() is
  'Refreshes finance.mv_monthly_revenue and finance.mv_customer_value concurrently (readers are not blocked); the worker also does it every 10 minutes. Finance staff and operators (DNIED otherwise). Security definer: only the owner of a materialized view may refresh it.';
grant execute on function finance.refresh_views() to role_finance, gw_admin;
