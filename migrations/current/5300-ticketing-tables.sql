-- ticketing: the Liventix seed's ticketing schema (issue 19). Tiers of an
-- event with a capacity and a sold counter (checked: sold <= capacity),
-- holds that reserve seats for minutes, orders paid in one ledger
-- transaction (payments.post_sale), tickets with an unguessable code whose
-- status moves only along registry.transitions (issued -> redeemed,
-- transferred, refunded, cancelled). Functions: 5310 (holds, checkout),
-- 5320 (redeem, transfer, refund, cancel).

drop schema if exists ticketing_private cascade;
drop schema if exists ticketing cascade;

create schema ticketing;
comment on schema ticketing is
  'Ticket tiers, holds, orders and tickets of events. Buyers see their orders and tickets; members of the event''s organization acting in it see its orders and tickets.';
grant usage on schema ticketing to gw_anonymous, gw_user;

create schema ticketing_private;
comment on schema ticketing_private is 'Triggers, availability and the hold expiry job; never exposed.';
revoke all on schema ticketing_private from public;

insert into registry.types (namespace, code, label, description, sort_order) values
  ('ticket_status', 'issued', 'Issued', 'Valid: may be scanned, transferred, refunded or cancelled.', 10),
  ('ticket_status', 'redeemed', 'Redeemed', 'Scanned at the door.', 20),
  ('ticket_status', 'transferred', 'Transferred', 'Given to another user, who holds a new ticket (previous_ticket_id points here).', 30),
  ('ticket_status', 'refunded', 'Refunded', 'Paid back to the buyer''s wallet.', 40),
  ('ticket_status', 'cancelled', 'Cancelled', 'Voided by the organization without a refund.', 50),
  ('order_status', 'paid', 'Paid', 'Paid from the buyer''s wallet; tickets issued.', 10),
  ('order_status', 'partially_refunded', 'Partially refunded', 'Some of its tickets were refunded.', 20),
  ('order_status', 'refunded', 'Refunded', 'All of it was refunded.', 30)
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description, sort_order = excluded.sort_order;
insert into registry.transitions (namespace, from_code, to_code, label) values
  ('ticket_status', null, 'issued', 'Issue'),
  ('ticket_status', 'issued', 'redeemed', 'Scan'),
  ('ticket_status', 'issued', 'transferred', 'Transfer'),
  ('ticket_status', 'issued', 'refunded', 'Refund'),
  ('ticket_status', 'issued', 'cancelled', 'Cancel'),
  ('order_status', null, 'paid', 'Pay'),
  ('order_status', 'paid', 'partially_refunded', 'Refund some'),
  ('order_status', 'paid', 'refunded', 'Refund'),
  ('order_status', 'partially_refunded', 'refunded', 'Refund the rest')
on conflict on constraint transitions_move_key do nothing;

insert into registry.types (namespace, code, label, description) values
  ('outbox_topic', 'order.paid', 'Order paid', 'Payload: orderId, eventId, organizationId, userId, total, fee, currency, quantity, transactionId.'),
  ('outbox_topic', 'ticket.issued', 'Ticket issued', 'Payload: ticketId, orderId, eventId, tierId, organizationId, ownerUserId.'),
  ('outbox_topic', 'ticket.redeemed', 'Ticket redeemed', 'Payload: ticketId, eventId, organizationId, ownerUserId, redeemedBy.'),
  ('outbox_topic', 'ticket.transferred', 'Ticket transferred', 'Payload: ticketId (the new one), previousTicketId, eventId, organizationId, fromUserId, toUserId.'),
  ('outbox_topic', 'ticket.refunded', 'Tickets refunded', 'Payload: orderId, ticketIds, eventId, organizationId, userId, amount, fee, currency, transactionId, creditNoteId.')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description;

--------------------------------------------------------------------------------
-- ticketing.ticket_tiers

create table ticketing.ticket_tiers (
  tier_id uuid primary key default gen_random_uuid(),
  event_id uuid not null
    constraint ticket_tiers_event_id_fkey references events.events (event_id) on delete cascade,
  organization_id uuid not null
    constraint ticket_tiers_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  name text not null
    constraint ticket_tiers_name_check check (char_length(name) between 1 and 200),
  price bigint not null
    constraint ticket_tiers_price_check check (price >= 0 and price <= 100000000000),
  currency text not null
    constraint ticket_tiers_currency_fkey references ledger.currencies (code) on delete restrict,
  capacity integer not null
    constraint ticket_tiers_capacity_check check (capacity between 1 and 1000000),
  sold integer not null default 0,
  sales_starts_at timestamptz,
  sales_ends_at timestamptz,
  max_per_order integer not null default 10
    constraint ticket_tiers_max_per_order_check check (max_per_order between 1 and 100),
  created_at timestamptz not null default now(),
  -- The backstop of "no oversell": whatever writes, a tier never sells more than its capacity.
  constraint ticket_tiers_sold_check check (sold >= 0 and sold <= capacity),
  constraint ticket_tiers_sales_window_check check (sales_ends_at is null or sales_starts_at is null or sales_ends_at > sales_starts_at)
) with (fillfactor = 80);
alter table ticketing.ticket_tiers enable row level security;

create index ticket_tiers_event_id_idx on ticketing.ticket_tiers (event_id);
create index ticket_tiers_organization_id_idx on ticketing.ticket_tiers (organization_id);
create index ticket_tiers_currency_idx on ticketing.ticket_tiers (currency);

create policy "anyone sees the tiers of events they can see"
  on ticketing.ticket_tiers for select to gw_anonymous, gw_user
  using (exists (select 1 from events.events e where e.event_id = ticket_tiers.event_id));
create policy "owners and admins acting in an organization add tiers to its events"
  on ticketing.ticket_tiers for insert to gw_user
  with check (organization_id = (select events.managed_organization_id()));
create policy "owners and admins acting in an organization edit its tiers"
  on ticketing.ticket_tiers for update to gw_user
  using (organization_id = (select events.managed_organization_id()))
  with check (organization_id = (select events.managed_organization_id()));
create policy "owners and admins acting in an organization delete its unsold tiers"
  on ticketing.ticket_tiers for delete to gw_user
  using (organization_id = (select events.managed_organization_id()) and sold = 0);

grant select on ticketing.ticket_tiers to gw_anonymous, gw_user;
grant insert (event_id, name, price, currency, capacity, sales_starts_at, sales_ends_at, max_per_order),
      update (name, price, capacity, sales_starts_at, sales_ends_at, max_per_order),
      delete on ticketing.ticket_tiers to gw_user;

comment on table ticketing.ticket_tiers is
  'A kind of ticket for an event (General, VIP): price in minor units of its currency, capacity, sales window and per-order limit. Visible with its event; owners and admins acting in the event''s organization add and edit tiers. sold counts tickets sold and not refunded or cancelled; available = capacity - sold - live holds (ticketingTierAvailable).';
comment on column ticketing.ticket_tiers.tier_id is 'The tier''s id.';
comment on column ticketing.ticket_tiers.event_id is 'The event.';
comment on column ticketing.ticket_tiers.organization_id is 'The event''s organization (set from the event).';
comment on column ticketing.ticket_tiers.name is 'Its name, 1 to 200 characters.';
comment on column ticketing.ticket_tiers.price is 'The price of one ticket in minor units of currency (whole units only: 1050 USD is $10.50).';
comment on column ticketing.ticket_tiers.currency is 'The currency (ledger.currencies).';
comment on column ticketing.ticket_tiers.capacity is 'How many tickets it may ever sell at once (1 to 1,000,000); never below sold.';
comment on column ticketing.ticket_tiers.sold is 'Tickets sold and not refunded or cancelled.';
comment on column ticketing.ticket_tiers.sales_starts_at is 'When sales open (null: once the event is published).';
comment on column ticketing.ticket_tiers.sales_ends_at is 'When sales close (null: when the event ends).';
comment on column ticketing.ticket_tiers.max_per_order is 'The most tickets of this tier in one order (1 to 100, default 10).';
comment on column ticketing.ticket_tiers.created_at is 'When it was added.';
comment on constraint ticket_tiers_event_id_fkey on ticketing.ticket_tiers is E'@fieldName event\n@foreignFieldName ticketTiers';
comment on constraint ticket_tiers_organization_id_fkey on ticketing.ticket_tiers is E'@behavior -*\nNo relation field: the event names its organizer.';
comment on constraint ticket_tiers_currency_fkey on ticketing.ticket_tiers is E'@behavior -*\nNo relation field: the code is all there is.';

create function ticketing_private.tg_ticket_tiers__validate() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if new.name is null or pg_catalog.btrim(new.name) = '' or char_length(new.name) > 200 then
    raise exception 'A tier name has 1 to 200 characters and is not blank.' using errcode = 'BADIN';
  end if;
  if new.price is null or new.price < 0 or new.price > 100000000000 then
    raise exception 'A price is a whole number of minor units between 0 and 100,000,000,000.' using errcode = 'TKPRC';
  end if;
  if new.capacity is null or new.capacity not between 1 and 1000000 then
    raise exception 'A capacity is between 1 and 1,000,000.' using errcode = 'BADIN';
  end if;
  if new.max_per_order is null or new.max_per_order not between 1 and 100 then
    raise exception 'A per-order limit is between 1 and 100.' using errcode = 'BADIN';
  end if;
  if new.sales_ends_at is not null and new.sales_starts_at is not null and new.sales_ends_at <= new.sales_starts_at then
    raise exception 'Sales close after they open.' using errcode = 'BADIN';
  end if;
  if tg_op = 'INSERT' then
    if not exists (select 1 from ledger.currencies c where c.code = new.currency) then
      raise exception 'Unknown currency %.', pg_catalog.left(new.currency, 10) using errcode = 'TKCUR';
    end if;
    select e.owner_context_id into new.organization_id from events.events e where e.event_id = new.event_id;
    if not found then
      raise exception 'No event %.', new.event_id using errcode = 'NTFND';
    end if;
    new.sold := 0;
  else
    new.event_id := old.event_id;
    new.organization_id := old.organization_id;
    new.currency := old.currency;
    if new.capacity < new.sold then
      raise exception 'Capacity % is below the % tickets sold.', new.capacity, new.sold using errcode = 'TKCAP';
    end if;
  end if;
  return new;
end;
$$;
comment on function ticketing_private.tg_ticket_tiers__validate() is
  'Coded errors for bad tiers (BADIN, TKPRC, TKCUR, TKCAP, NTFND) before the constraints; sets the organization from the event and keeps event, organization and currency fixed. Security definer so that the event is found whatever the writer may read (the insert policy still decides).';
create trigger _100_validate before insert or update on ticketing.ticket_tiers
  for each row execute function ticketing_private.tg_ticket_tiers__validate();

--------------------------------------------------------------------------------
-- ticketing.ticket_holds

create table ticketing.ticket_holds (
  hold_id uuid primary key default gen_random_uuid(),
  tier_id uuid not null
    constraint ticket_holds_tier_id_fkey references ticketing.ticket_tiers (tier_id) on delete cascade,
  user_id uuid not null
    constraint ticket_holds_user_id_fkey references auth.users (user_id) on delete cascade,
  session_id text
    constraint ticket_holds_session_id_check check (char_length(session_id) <= 200),
  quantity integer not null
    constraint ticket_holds_quantity_check check (quantity between 1 and 100),
  status text not null default 'active'
    constraint ticket_holds_status_check check (status in ('active', 'converted', 'released', 'expired')),
  expires_at timestamptz not null,
  created_at timestamptz not null default now()
);
alter table ticketing.ticket_holds enable row level security;

create index ticket_holds_tier_live_idx on ticketing.ticket_holds (tier_id, expires_at) include (quantity) where status = 'active';
create index ticket_holds_tier_id_idx on ticketing.ticket_holds (tier_id);
create index ticket_holds_user_id_idx on ticketing.ticket_holds (user_id);
create index ticket_holds_expires_idx on ticketing.ticket_holds (expires_at) where status = 'active';

create policy "users see their own holds"
  on ticketing.ticket_holds for select to gw_user
  using (user_id = (select auth.uid()));
grant select on ticketing.ticket_holds to gw_user;

comment on table ticketing.ticket_holds is
  'Seats reserved for a user for a few minutes (ticketingHoldTickets) while they check out. An active hold counts against availability until expires_at, not a moment longer; checkout converts it; the worker marks expired ones (ticketing_expire_holds). You see your own holds.';
comment on column ticketing.ticket_holds.hold_id is 'The hold''s id.';
comment on column ticketing.ticket_holds.tier_id is 'The tier.';
comment on column ticketing.ticket_holds.user_id is 'Whose it is.';
comment on column ticketing.ticket_holds.session_id is 'The client''s session (the seed''s session_id), if given.';
comment on column ticketing.ticket_holds.quantity is 'How many seats (1 to 100).';
comment on column ticketing.ticket_holds.status is 'active (reserving until expires_at), converted (checked out), released, or expired.';
comment on column ticketing.ticket_holds.expires_at is 'When it stops reserving.';
comment on column ticketing.ticket_holds.created_at is 'When it was taken.';
comment on constraint ticket_holds_tier_id_fkey on ticketing.ticket_holds is E'@fieldName tier\n@foreignFieldName holds';
comment on constraint ticket_holds_user_id_fkey on ticketing.ticket_holds is E'@behavior -*\nNo relation field: it is yours.';

--------------------------------------------------------------------------------
-- ticketing.orders and ticketing.order_items

create table ticketing.orders (
  order_id uuid primary key default gen_random_uuid(),
  event_id uuid not null
    constraint orders_event_id_fkey references events.events (event_id) on delete restrict,
  user_id uuid not null
    constraint orders_user_id_fkey references auth.users (user_id) on delete restrict,
  organization_id uuid not null
    constraint orders_organization_id_fkey references auth.organizations (organization_id) on delete restrict,
  client_key text not null
    constraint orders_client_key_check check (char_length(client_key) between 1 and 200),
  currency text not null,
  subtotal bigint not null constraint orders_subtotal_check check (subtotal >= 0),
  fee bigint not null constraint orders_fee_check check (fee >= 0 and fee <= subtotal),
  total bigint not null constraint orders_total_check check (total = subtotal),
  refunded_amount bigint not null default 0,
  refunded_fee bigint not null default 0,
  -- A ledger transaction id. No foreign key: ledger rows are immutable and never deleted, and a key
  -- would make TRUNCATE of the ledger fail on this table before the ledger's own guard (LIMMU) answers.
  transaction_id bigint,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Checkout is idempotent by the client's key: a replay finds this row.
  constraint orders_user_client_key_key unique (user_id, client_key),
  constraint orders_refunded_check check (refunded_amount between 0 and total and refunded_fee between 0 and fee)
);
alter table ticketing.orders enable row level security;
select registry.add_type_column('ticketing.orders', 'status', 'order_status', true, 'paid');
select registry.add_state_machine('ticketing.orders', 'status', 'order_status');

create index orders_event_id_idx on ticketing.orders (event_id);
create index orders_organization_id_idx on ticketing.orders (organization_id, created_at);
create index orders_transaction_id_idx on ticketing.orders (transaction_id);
create index orders_user_id_idx on ticketing.orders (user_id, created_at);

create policy "buyers see their orders; members acting in the event's organization see its orders"
  on ticketing.orders for select to gw_user
  using (user_id = (select auth.uid()) or organization_id = (select auth.current_org_id()));
grant select on ticketing.orders to gw_user;

comment on table ticketing.orders is
  E'@behavior -insert -update -delete\nA purchase of tickets for one event, paid from the buyer''s wallet in one ledger transaction (transactionId): total = subtotal, of which fee went to the platform and the rest to the organization''s receivable. Made by ticketingCheckout (idempotent by clientKey), refunded by ticketingRefundOrder. Buyers see theirs; members acting in the event''s organization see its orders.';
comment on column ticketing.orders.order_id is 'The order''s id.';
comment on column ticketing.orders.event_id is 'The event.';
comment on column ticketing.orders.user_id is 'The buyer.';
comment on column ticketing.orders.organization_id is 'The event''s organization (the seller).';
comment on column ticketing.orders.client_key is 'The client''s idempotency key: the same key returns this order instead of buying again.';
comment on column ticketing.orders.currency is 'The currency.';
comment on column ticketing.orders.subtotal is 'Sum of the items (quantity x unit price), in minor units.';
comment on column ticketing.orders.fee is 'The platform''s fee out of the total (the organization''s fee rate, default 5 %, rounded to a minor unit).';
comment on column ticketing.orders.total is 'What the buyer paid (the fee is included, not added).';
comment on column ticketing.orders.refunded_amount is 'How much was refunded so far.';
comment on column ticketing.orders.refunded_fee is 'How much of the fee was refunded so far.';
comment on column ticketing.orders.transaction_id is 'The ledger transaction that paid it (ledger.transactions; null for free tickets).';
comment on column ticketing.orders.created_at is 'When it was paid.';
comment on column ticketing.orders.updated_at is 'When it last changed.';
comment on column ticketing.orders.status is 'paid, partially_refunded or refunded (registry namespace order_status; moves in registry.transitions).';
comment on constraint orders_event_id_fkey on ticketing.orders is E'@fieldName event\n@foreignFieldName ticketOrders';
comment on constraint orders_user_id_fkey on ticketing.orders is E'@behavior -*\nNo relation field.';
comment on constraint orders_organization_id_fkey on ticketing.orders is E'@behavior -*\nNo relation field.';
comment on constraint orders_status_type_fkey on ticketing.orders is E'@behavior -*\nNo relation field: status is the code.';
comment on constraint orders_user_client_key_key on ticketing.orders is E'@behavior -single -update -delete\nOne order per client key and buyer.';

create table ticketing.order_items (
  order_item_id uuid primary key default gen_random_uuid(),
  order_id uuid not null
    constraint order_items_order_id_fkey references ticketing.orders (order_id) on delete cascade,
  tier_id uuid not null
    constraint order_items_tier_id_fkey references ticketing.ticket_tiers (tier_id) on delete restrict,
  quantity integer not null
    constraint order_items_quantity_check check (quantity between 1 and 100),
  unit_price bigint not null
    constraint order_items_unit_price_check check (unit_price >= 0)
);
alter table ticketing.order_items enable row level security;
create index order_items_order_id_idx on ticketing.order_items (order_id);
create index order_items_tier_id_idx on ticketing.order_items (tier_id);

create policy "whoever sees an order sees its items"
  on ticketing.order_items for select to gw_user
  using (exists (select 1 from ticketing.orders o where o.order_id = order_items.order_id));
grant select on ticketing.order_items to gw_user;

comment on table ticketing.order_items is
  E'@behavior -insert -update -delete\nA line of an order: quantity tickets of a tier at unit price. Visible with its order.';
comment on column ticketing.order_items.order_item_id is 'The item''s id.';
comment on column ticketing.order_items.order_id is 'The order.';
comment on column ticketing.order_items.tier_id is 'The tier.';
comment on column ticketing.order_items.quantity is 'How many tickets.';
comment on column ticketing.order_items.unit_price is 'The price of one, in minor units, at the time of purchase.';
comment on constraint order_items_order_id_fkey on ticketing.order_items is E'@fieldName order\n@foreignFieldName items';
comment on constraint order_items_tier_id_fkey on ticketing.order_items is E'@fieldName tier\n@foreignFieldName orderItems';

--------------------------------------------------------------------------------
-- ticketing.tickets

create table ticketing.tickets (
  ticket_id uuid primary key default gen_random_uuid(),
  event_id uuid not null
    constraint tickets_event_id_fkey references events.events (event_id) on delete restrict,
  tier_id uuid not null
    constraint tickets_tier_id_fkey references ticketing.ticket_tiers (tier_id) on delete restrict,
  order_item_id uuid not null
    constraint tickets_order_item_id_fkey references ticketing.order_items (order_item_id) on delete restrict,
  organization_id uuid not null
    constraint tickets_organization_id_fkey references auth.organizations (organization_id) on delete restrict,
  owner_user_id uuid not null
    constraint tickets_owner_user_id_fkey references auth.users (user_id) on delete restrict,
  -- 128 random bits: what the door scans; unguessable, never derived from an id.
  code text not null default pg_catalog.encode(public.gen_random_bytes(16), 'hex')
    constraint tickets_code_key unique,
  previous_ticket_id uuid
    constraint tickets_previous_ticket_id_fkey references ticketing.tickets (ticket_id) on delete restrict,
  redeemed_at timestamptz,
  redeemed_by uuid
    constraint tickets_redeemed_by_fkey references auth.users (user_id) on delete set null,
  closed_at timestamptz,
  created_at timestamptz not null default now()
);
alter table ticketing.tickets enable row level security;
select registry.add_type_column('ticketing.tickets', 'status', 'ticket_status', true, 'issued');
select registry.add_state_machine('ticketing.tickets', 'status', 'ticket_status');

create index tickets_event_id_idx on ticketing.tickets (event_id);
create index tickets_tier_id_idx on ticketing.tickets (tier_id);
create index tickets_order_item_id_idx on ticketing.tickets (order_item_id);
create index tickets_organization_id_idx on ticketing.tickets (organization_id);
create index tickets_owner_user_id_idx on ticketing.tickets (owner_user_id);
create unique index tickets_previous_ticket_id_idx on ticketing.tickets (previous_ticket_id);
create index tickets_redeemed_by_idx on ticketing.tickets (redeemed_by);

-- The seed's own_tickets, and the organization's view.
create policy own_tickets
  on ticketing.tickets for select to gw_user
  using (owner_user_id = (select auth.uid()));
create policy "members acting in the event's organization see its tickets"
  on ticketing.tickets for select to gw_user
  using (organization_id = (select auth.current_org_id()));
grant select on ticketing.tickets to gw_user;

comment on table ticketing.tickets is
  E'@behavior -insert -update -delete\nA ticket: issued by checkout to the buyer, then redeemed (scanned by the organization), transferred (its owner gives it to another user, who gets a new ticket whose previousTicketId points here: the chain of owners), refunded or cancelled (registry namespace ticket_status; RGTRN for any other move). Owners see their tickets (the seed''s own_tickets); members acting in the event''s organization see its tickets.';
comment on column ticketing.tickets.ticket_id is 'The ticket''s id.';
comment on column ticketing.tickets.event_id is 'The event.';
comment on column ticketing.tickets.tier_id is 'The tier.';
comment on column ticketing.tickets.order_item_id is 'The order item it was bought with.';
comment on column ticketing.tickets.organization_id is 'The event''s organization.';
comment on column ticketing.tickets.owner_user_id is 'Who holds it.';
comment on column ticketing.tickets.code is 'What the door scans: 32 hex characters from 128 random bits. A transfer issues a new code.';
comment on column ticketing.tickets.previous_ticket_id is 'The ticket it was transferred from (the previous owner''s), if any.';
comment on column ticketing.tickets.redeemed_at is 'When it was scanned.';
comment on column ticketing.tickets.redeemed_by is 'Who scanned it.';
comment on column ticketing.tickets.closed_at is 'When it was transferred, refunded or cancelled.';
comment on column ticketing.tickets.created_at is 'When it was issued.';
comment on column ticketing.tickets.status is 'issued, redeemed, transferred, refunded or cancelled (registry namespace ticket_status).';
comment on constraint tickets_event_id_fkey on ticketing.tickets is E'@fieldName event\n@foreignFieldName tickets';
comment on constraint tickets_tier_id_fkey on ticketing.tickets is E'@fieldName tier\n@foreignFieldName tickets';
comment on constraint tickets_order_item_id_fkey on ticketing.tickets is E'@fieldName orderItem\n@foreignFieldName tickets';
comment on constraint tickets_organization_id_fkey on ticketing.tickets is E'@behavior -*\nNo relation field.';
comment on constraint tickets_owner_user_id_fkey on ticketing.tickets is E'@behavior -*\nNo relation field.';
comment on constraint tickets_previous_ticket_id_fkey on ticketing.tickets is E'@fieldName previousTicket\n@foreignFieldName nextTickets';
comment on constraint tickets_redeemed_by_fkey on ticketing.tickets is E'@behavior -*\nNo relation field.';
comment on constraint tickets_status_type_fkey on ticketing.tickets is E'@behavior -*\nNo relation field: status is the code.';
