-- sales: products, sales reps, orders and order items; sales.create_order.
-- Re-runnable: 4000-capstone-types.sql drops the sales schemas first.

--------------------------------------------------------------------------------
-- sales.products

create table sales.products (
  product_id uuid primary key default gen_random_uuid(),
  sku text not null
    constraint products_sku_key unique
    constraint products_sku_check check (sku ~ '^[A-Z0-9][A-Z0-9-]{1,31}$'),
  name text not null
    constraint products_name_check check (char_length(btrim(name)) between 1 and 200),
  price finance.money_positive not null,
  active boolean not null default true
);
alter table sales.products enable row level security;

create policy "customers see active products"
  on sales.products for select to gw_user
  using (active and (select finance.current_customer_id()) is not null);
create policy "sales and readonly staff see every product"
  on sales.products for select to role_sales, role_readonly
  using ((select auth.has_role('role_sales')) or (select auth.has_role('role_readonly')));
create policy "sales staff add products"
  on sales.products for insert to role_sales
  with check ((select auth.has_role('role_sales')));
create policy "sales staff edit products"
  on sales.products for update to role_sales
  using ((select auth.has_role('role_sales')))
  with check ((select auth.has_role('role_sales')));

grant select on sales.products to gw_user;
grant insert (sku, name, price, active), update (sku, name, price, active) on sales.products to role_sales;

comment on table sales.products is
  E'@behavior -delete\nA product for sale. Customers see the active ones; sales staff manage them (retire one by setting active to false; orders keep their price).';
comment on column sales.products.product_id is 'The product''s id.';
comment on column sales.products.sku is 'Stock-keeping unit: 2 to 32 capital letters, digits and dashes; unique.';
comment on column sales.products.name is 'Display name.';
comment on column sales.products.price is 'Current unit price.';
comment on column sales.products.active is 'Whether the product can be ordered.';

--------------------------------------------------------------------------------
-- sales.sales_reps

create table sales.sales_reps (
  rep_id uuid primary key default gen_random_uuid(),
  full_name text not null
    constraint sales_reps_full_name_check check (char_length(btrim(full_name)) between 1 and 200),
  email auth.email not null
);
alter table sales.sales_reps enable row level security;

create unique index sales_reps_email_lower_key on sales.sales_reps (lower(email));

create policy "sales and readonly staff see sales reps"
  on sales.sales_reps for select to role_sales, role_readonly
  using ((select auth.has_role('role_sales')) or (select auth.has_role('role_readonly')));
create policy "sales staff add sales reps"
  on sales.sales_reps for insert to role_sales
  with check ((select auth.has_role('role_sales')));
create policy "sales staff edit sales reps"
  on sales.sales_reps for update to role_sales
  using ((select auth.has_role('role_sales')))
  with check ((select auth.has_role('role_sales')));

grant select on sales.sales_reps to role_sales, role_readonly;
grant insert (full_name, email), update (full_name, email) on sales.sales_reps to role_sales;

comment on table sales.sales_reps is
  E'@behavior -delete\nA sales representative. Sales and readonly staff only.';
comment on column sales.sales_reps.rep_id is 'The rep''s id.';
comment on column sales.sales_reps.full_name is 'Full name.';
comment on column sales.sales_reps.email is 'Work e-mail; unique ignoring case.';

--------------------------------------------------------------------------------
-- sales.orders

create table sales.orders (
  order_id uuid primary key default gen_random_uuid(),
  customer_id uuid not null references finance.customers (customer_id) on delete restrict,
  sales_rep_id uuid references sales.sales_reps (rep_id) on delete set null,
  status sales.order_status not null default 'draft',
  placed_at timestamptz,
  total_amount numeric(18, 4) not null default 0,
  constraint orders_placed_at_check check (status = 'draft' or placed_at is not null)
);
alter table sales.orders enable row level security;

create index orders_customer_id_idx on sales.orders (customer_id);
create index orders_sales_rep_id_idx on sales.orders (sales_rep_id);
-- The work list of orders waiting to ship.
create index orders_placed_idx on sales.orders (placed_at) where status = 'placed';

create policy "customers see their own orders"
  on sales.orders for select to gw_user
  using (customer_id = (select finance.current_customer_id()));
create policy "sales and readonly staff see every order"
  on sales.orders for select to role_sales, role_readonly
  using ((select auth.has_role('role_sales')) or (select auth.has_role('role_readonly')));
create policy "sales staff update orders"
  on sales.orders for update to role_sales
  using ((select auth.has_role('role_sales')))
  with check ((select auth.has_role('role_sales')));

grant select on sales.orders to gw_user;
grant update (status, sales_rep_id) on sales.orders to role_sales;

comment on table sales.orders is
  E'@behavior -insert -delete\nAn order of a finance customer, created by sales.create_order. Customers see their own; sales staff see all and move them along (status, rep); readonly staff read them.';
comment on column sales.orders.order_id is 'The order''s id.';
comment on column sales.orders.customer_id is 'The customer who ordered.';
comment on column sales.orders.sales_rep_id is 'The rep in charge, if any.';
comment on column sales.orders.status is 'draft, placed, shipped or cancelled.';
comment on column sales.orders.placed_at is 'When the order was placed (set when it leaves draft).';
comment on column sales.orders.total_amount is 'Sum of quantity × unit price over the order''s items, computed by sales.create_order.';

create function sales_private.tg_orders__validate_status() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if new.status is distinct from old.status then
    if old.status in ('shipped', 'cancelled')
       or (old.status = 'placed' and new.status = 'draft') then
      raise exception 'An order cannot go from % to %.', old.status, new.status using errcode = 'BADST';
    end if;
    if new.status <> 'draft' and new.placed_at is null then
      new.placed_at := pg_catalog.now();
    end if;
  end if;
  return new;
end;
$$;
comment on function sales_private.tg_orders__validate_status() is
  'Orders move forward only: draft → placed → shipped, or to cancelled before shipping (BADST otherwise); placed_at is set when an order leaves draft.';

create trigger _100_validate_status
  before update on sales.orders
  for each row execute function sales_private.tg_orders__validate_status();

--------------------------------------------------------------------------------
-- sales.order_items

create table sales.order_items (
  order_item_id uuid primary key default gen_random_uuid(),
  order_id uuid not null references sales.orders (order_id) on delete cascade,
  product_id uuid not null references sales.products (product_id) on delete restrict,
  quantity integer not null
    constraint order_items_quantity_check check (quantity between 1 and 10000),
  unit_price finance.money_positive not null,
  constraint order_items_order_id_product_id_key unique (order_id, product_id)
);
alter table sales.order_items enable row level security;

create index order_items_product_id_idx on sales.order_items (product_id);

create policy "customers see the items of their own orders"
  on sales.order_items for select to gw_user
  using (order_id in (select o.order_id from sales.orders o where o.customer_id = (select finance.current_customer_id())));
create policy "sales and readonly staff see every order item"
  on sales.order_items for select to role_sales, role_readonly
  using ((select auth.has_role('role_sales')) or (select auth.has_role('role_readonly')));

grant select on sales.order_items to gw_user;

comment on table sales.order_items is
  E'@behavior -insert -update -delete\nA line of an order: product, quantity and the unit price at the time of sale. Written by sales.create_order.';
comment on column sales.order_items.order_item_id is 'The line''s id.';
comment on column sales.order_items.order_id is 'The order.';
comment on column sales.order_items.product_id is 'The product ordered.';
comment on column sales.order_items.quantity is 'How many, 1 to 10000.';
comment on column sales.order_items.unit_price is 'The product''s price when the order was created.';

--------------------------------------------------------------------------------
-- The customer columns an order needs, for sales staff (who do not see finance.customers).

create view sales.order_customers
  with (security_barrier = true)
as
  select c.customer_id, c.full_name
    from finance.customers c
   where (select auth.has_role('role_sales'));
grant select on sales.order_customers to role_sales;
comment on view sales.order_customers is
  E'@primaryKey customer_id\n@behavior -insert -update -delete\nName of every customer, for sales staff (finance.customers itself is finance''s). Empty for everyone else.';
comment on column sales.order_customers.customer_id is 'The customer''s id.';
comment on column sales.order_customers.full_name is 'The customer''s full name.';

--------------------------------------------------------------------------------
-- sales.create_order

create type sales.order_line as (
  product_id uuid,
  quantity integer
);
comment on type sales.order_line is 'One line of a new order: a product and a quantity.';

create function sales.create_order(
  customer_id uuid,
  product_list sales.order_line[],
  sales_rep_id uuid default null
) returns sales.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_trusted boolean := pg_catalog.current_setting('role', true) is not distinct from 'none';
  v_is_sales boolean := auth.has_role('role_sales');
  v_order sales.orders;
  v_missing uuid;
  v_inactive text;
begin
  if create_order.customer_id is null or create_order.product_list is null
     or pg_catalog.cardinality(create_order.product_list) = 0 then
    raise exception 'A customer and at least one product are required.' using errcode = 'BADIN';
  end if;
  if pg_catalog.cardinality(create_order.product_list) > 100 then
    raise exception 'An order has at most 100 lines.' using errcode = 'BADIN';
  end if;
  if exists (select 1 from pg_catalog.unnest(create_order.product_list) l
              where l.product_id is null or l.quantity is null or l.quantity not between 1 and 10000) then
    raise exception 'Every line needs a product and a quantity from 1 to 10000.' using errcode = 'BADIN';
  end if;
  -- Sales staff order for any customer; a signed-in customer only for themselves.
  if not (v_trusted or v_is_sales) and create_order.customer_id is distinct from finance.current_customer_id() then
    raise exception 'No customer % that you may order for.', create_order.customer_id using errcode = 'NTFND';
  end if;
  if not exists (select 1 from finance.customers c where c.customer_id = create_order.customer_id) then
    raise exception 'No customer %.', create_order.customer_id using errcode = 'NTFND';
  end if;
  if create_order.sales_rep_id is not null then
    if not (v_trusted or v_is_sales) then
      raise exception 'Only sales staff assign a sales rep.' using errcode = 'DNIED';
    end if;
    if not exists (select 1 from sales.sales_reps r where r.rep_id = create_order.sales_rep_id) then
      raise exception 'No sales rep %.', create_order.sales_rep_id using errcode = 'NTFND';
    end if;
  end if;

  select l.product_id into v_missing
    from pg_catalog.unnest(create_order.product_list) l
   where not exists (select 1 from sales.products p where p.product_id = l.product_id)
   limit 1;
  if v_missing is not null then
    raise exception 'No product %.', v_missing using errcode = 'NTFND';
  end if;
  -- Share lock: a product retired concurrently is either seen inactive or retired after this order.
  select p.sku into v_inactive
    from sales.products p
   where p.product_id in (select l.product_id from pg_catalog.unnest(create_order.product_list) l)
     and not p.active
   for share
   limit 1;
  if v_inactive is not null then
    raise exception 'Product % is not for sale any more.', v_inactive using errcode = 'PINAC';
  end if;

  insert into sales.orders (customer_id, sales_rep_id, status, placed_at)
  values (create_order.customer_id, create_order.sales_rep_id, 'placed', pg_catalog.now())
  returning * into v_order;

  -- The same product on two lines is one item with the quantities added.
  insert into sales.order_items (order_id, product_id, quantity, unit_price)
  select v_order.order_id, l.product_id, sum(l.quantity)::integer, p.price
    from pg_catalog.unnest(create_order.product_list) l
    join sales.products p on p.product_id = l.product_id
   group by l.product_id, p.price;

  update sales.orders o
     set total_amount = (select coalesce(sum(i.quantity * i.unit_price), 0) from sales.order_items i where i.order_id = v_order.order_id)
   where o.order_id = v_order.order_id
  returning * into v_order;
  return v_order;
end;
$$;
comment on function sales.create_order(uuid, sales.order_line[], uuid) is
  'Creates a placed order for a customer from a list of products and quantities, at today''s prices, and returns it with its total. Sales staff order for any customer (and may assign a rep); a signed-in customer orders for themselves. Errors: BADIN (no lines, a line without product or with a quantity outside 1-10000, over 100 lines), NTFND (unknown customer, product or rep, or a customer not yours), PINAC (a product is inactive), DNIED (a customer assigning a rep). Security definer: orders and items have no insert grant; the checks above are the permission.';
grant execute on function sales.create_order(uuid, sales.order_line[], uuid) to gw_user;
