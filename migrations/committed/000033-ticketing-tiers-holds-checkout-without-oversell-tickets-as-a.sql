--! Previous: sha1:ef73e4264a4a32ee4a335002e135ca64f3fb559d
--! Hash: sha1:39905a4c1cfd341da82889dd8358c26f8b2791bf
--! Message: ticketing: tiers, holds, checkout without oversell, tickets as a state machine (issue 19)

--! split: 5300-ticketing-tables.sql
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

--! split: 5310-ticketing-checkout.sql
-- Holds and checkout. Availability = capacity - sold - live holds (active and
-- not yet expired), computed under the tier's row lock: every writer of sold
-- or of an active hold locks the tier first (hold_tickets, checkout, refunds,
-- cancellations), so no two of them can both see the last seat free. The
-- check constraint sold <= capacity is the backstop. Lock order everywhere:
-- the tier, then a hold, then the ledger accounts (in id order, by the
-- ledger), so checkouts cannot deadlock each other.

drop function if exists ticketing.checkout(text, uuid, uuid, integer) cascade;
drop function if exists ticketing.release_hold(uuid) cascade;
drop function if exists ticketing.hold_tickets(uuid, integer, text) cascade;
drop function if exists ticketing.ticket_tiers_available(ticketing.ticket_tiers) cascade;
drop function if exists ticketing_private.lock_tier_for_sale(uuid, integer) cascade;
drop function if exists ticketing_private.live_held(uuid) cascade;
drop function if exists ticketing_private.expire_holds(integer) cascade;

create function ticketing_private.live_held(tier_id uuid) returns integer
  language sql
  stable
  set search_path = ''
as $$
  select coalesce(pg_catalog.sum(h.quantity), 0)::integer
    from ticketing.ticket_holds h
   where h.tier_id = live_held.tier_id and h.status = 'active' and h.expires_at > pg_catalog.now()
$$;
comment on function ticketing_private.live_held(uuid) is 'Seats of the tier reserved by holds that are active and not yet expired: an expired hold stops counting at once.';

create function ticketing.ticket_tiers_available(tier ticketing.ticket_tiers) returns integer
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select greatest(tier.capacity - tier.sold - ticketing_private.live_held(tier.tier_id), 0)
$$;
comment on function ticketing.ticket_tiers_available(tier ticketing.ticket_tiers) is
  'Seats still for sale: capacity - sold - live holds (a snapshot; checkout decides under the tier''s lock). Security definer because holds are visible only to their owners.';
revoke execute on function ticketing.ticket_tiers_available(ticketing.ticket_tiers) from public;
grant execute on function ticketing.ticket_tiers_available(ticketing.ticket_tiers) to gw_anonymous, gw_user;

-- Locks the tier and checks that it is on sale and the quantity allowed.
create function ticketing_private.lock_tier_for_sale(tier_id uuid, quantity integer) returns ticketing.ticket_tiers
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_tier ticketing.ticket_tiers;
  v_event events.events;
begin
  if lock_tier_for_sale.quantity is null or lock_tier_for_sale.quantity < 1 then
    raise exception 'A quantity is a whole number of at least 1, not %.', coalesce(lock_tier_for_sale.quantity::text, 'null')
      using errcode = 'BADIN';
  end if;
  select t.* into v_tier from ticketing.ticket_tiers t where t.tier_id = lock_tier_for_sale.tier_id for update;
  if not found then
    raise exception 'No ticket tier %.', lock_tier_for_sale.tier_id using errcode = 'NTFND';
  end if;
  if lock_tier_for_sale.quantity > v_tier.max_per_order then
    raise exception 'At most % tickets of this tier per order, not %.', v_tier.max_per_order, lock_tier_for_sale.quantity
      using errcode = 'TKLIM';
  end if;
  select e.* into v_event from events.events e where e.event_id = v_tier.event_id;
  if v_event.status <> 'published'
     or pg_catalog.now() < coalesce(v_tier.sales_starts_at, '-infinity')
     or pg_catalog.now() >= coalesce(v_tier.sales_ends_at, v_event.ends_at) then
    raise exception 'Sales of tier % are closed (event %, window % to %).', v_tier.tier_id, v_event.status,
      coalesce(v_tier.sales_starts_at::text, 'publication'), coalesce(v_tier.sales_ends_at, v_event.ends_at)
      using errcode = 'TKWIN';
  end if;
  return v_tier;
end;
$$;
comment on function ticketing_private.lock_tier_for_sale(uuid, integer) is
  'Locks a tier (for update) and checks that its event is published, its sales window open and the quantity within its per-order limit (BADIN, NTFND, TKLIM, TKWIN).';

create function ticketing.hold_tickets(tier_id uuid, quantity integer, session_id text default null)
  returns ticketing.ticket_holds
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_tier ticketing.ticket_tiers;
  v_hold ticketing.ticket_holds;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to hold tickets.' using errcode = 'LOGIN';
  end if;
  if char_length(hold_tickets.session_id) > 200 then
    raise exception 'A session id has at most 200 characters.' using errcode = 'BADIN';
  end if;
  v_tier := ticketing_private.lock_tier_for_sale(hold_tickets.tier_id, hold_tickets.quantity);
  if v_tier.capacity - v_tier.sold - ticketing_private.live_held(v_tier.tier_id) < hold_tickets.quantity then
    raise exception 'Only % tickets of tier % are left.',
      greatest(v_tier.capacity - v_tier.sold - ticketing_private.live_held(v_tier.tier_id), 0), v_tier.tier_id
      using errcode = 'TKSLD';
  end if;
  insert into ticketing.ticket_holds (tier_id, user_id, session_id, quantity, expires_at)
  values (v_tier.tier_id, auth.uid(), hold_tickets.session_id, hold_tickets.quantity, pg_catalog.now() + interval '10 minutes')
  returning * into v_hold;
  return v_hold;
end;
$$;
comment on function ticketing.hold_tickets(tier_id uuid, quantity integer, session_id text) is
  E'@resultFieldName hold\nReserves quantity seats of a tier for you for 10 minutes: check out with the hold (ticketingCheckout holdId) before it expires. Errors: LOGIN, BADIN (quantity below 1), NTFND (no such tier you may see), TKLIM (over the per-order limit), TKWIN (event not published, or outside the sales window), TKSLD (not that many seats left). Security definer because holds have no insert grant and availability counts everyone''s holds.';
revoke execute on function ticketing.hold_tickets(uuid, integer, text) from public;
grant execute on function ticketing.hold_tickets(uuid, integer, text) to gw_anonymous, gw_user;

create function ticketing.release_hold(hold_id uuid) returns ticketing.ticket_holds
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_hold ticketing.ticket_holds;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  update ticketing.ticket_holds h set status = 'released'
   where h.hold_id = release_hold.hold_id and h.user_id = auth.uid() and h.status = 'active'
  returning * into v_hold;
  if not found then
    raise exception 'No active hold % of yours.', release_hold.hold_id using errcode = 'NTFND';
  end if;
  return v_hold;
end;
$$;
comment on function ticketing.release_hold(hold_id uuid) is
  E'@resultFieldName hold\nGives back the seats of your active hold at once. Errors: LOGIN, NTFND. Security definer because holds have no update grant.';
revoke execute on function ticketing.release_hold(uuid) from public;
grant execute on function ticketing.release_hold(uuid) to gw_anonymous, gw_user;

--------------------------------------------------------------------------------
-- Checkout

create function ticketing.checkout(
  client_key text,
  hold_id uuid default null,
  tier_id uuid default null,
  quantity integer default null
) returns ticketing.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_order ticketing.orders;
  v_hold ticketing.ticket_holds;
  v_tier ticketing.ticket_tiers;
  v_tier_id uuid := checkout.tier_id;
  v_quantity integer := checkout.quantity;
  v_item_id uuid := gen_random_uuid();
  v_order_id uuid := gen_random_uuid();
  v_subtotal bigint;
  v_fee bigint;
  v_tx ledger.transactions;
  v_outbox bigint;
begin
  if v_user is null then
    raise exception 'You must be signed in to buy tickets.' using errcode = 'LOGIN';
  end if;
  if checkout.client_key is null or char_length(checkout.client_key) not between 1 and 200 then
    raise exception 'A client key of 1 to 200 characters makes a checkout safe to retry.' using errcode = 'BADIN';
  end if;
  if checkout.hold_id is null and (checkout.tier_id is null or checkout.quantity is null) then
    raise exception 'Check out a hold (holdId), or a tier and a quantity.' using errcode = 'BADIN';
  end if;

  -- A replay returns the original order (same hold, or same tier and quantity).
  select o.* into v_order from ticketing.orders o where o.user_id = v_user and o.client_key = checkout.client_key;
  if found then
    return ticketing_private.assert_replay(v_order, checkout.hold_id, checkout.tier_id, checkout.quantity);
  end if;

  if checkout.hold_id is not null then
    select h.* into v_hold from ticketing.ticket_holds h where h.hold_id = checkout.hold_id and h.user_id = v_user;
    if not found then
      raise exception 'No hold % of yours.', checkout.hold_id using errcode = 'NTFND';
    end if;
    if (checkout.tier_id is not null and checkout.tier_id <> v_hold.tier_id)
       or (checkout.quantity is not null and checkout.quantity <> v_hold.quantity) then
      raise exception 'The hold is for % tickets of tier %.', v_hold.quantity, v_hold.tier_id using errcode = 'BADIN';
    end if;
    v_tier_id := v_hold.tier_id;
    v_quantity := v_hold.quantity;
  end if;

  -- The tier's lock serializes everyone selling its seats.
  v_tier := ticketing_private.lock_tier_for_sale(v_tier_id, v_quantity);

  -- A concurrent replay of the same key waited on the tier's lock: it finds the order now.
  select o.* into v_order from ticketing.orders o where o.user_id = v_user and o.client_key = checkout.client_key;
  if found then
    return ticketing_private.assert_replay(v_order, checkout.hold_id, checkout.tier_id, checkout.quantity);
  end if;

  if v_hold.hold_id is not null then
    select h.* into v_hold from ticketing.ticket_holds h where h.hold_id = v_hold.hold_id for update;
    if v_hold.status <> 'active' or v_hold.expires_at <= pg_catalog.now() then
      raise exception 'Hold % is % (it expired at %): hold the tickets again.', v_hold.hold_id,
        case when v_hold.status = 'active' then 'expired' else v_hold.status end, v_hold.expires_at using errcode = 'TKHEX';
    end if;
    update ticketing.ticket_holds h set status = 'converted' where h.hold_id = v_hold.hold_id;
  else
    if v_tier.capacity - v_tier.sold - ticketing_private.live_held(v_tier.tier_id) < v_quantity then
      raise exception 'Only % tickets of tier % are left.',
        greatest(v_tier.capacity - v_tier.sold - ticketing_private.live_held(v_tier.tier_id), 0), v_tier.tier_id
        using errcode = 'TKSLD';
    end if;
    -- The hold of this checkout, converted at once: the record of the reservation.
    insert into ticketing.ticket_holds (tier_id, user_id, quantity, status, expires_at)
    values (v_tier.tier_id, v_user, v_quantity, 'converted', pg_catalog.now());
  end if;

  update ticketing.ticket_tiers t set sold = t.sold + v_quantity where t.tier_id = v_tier.tier_id;

  v_subtotal := v_tier.price * v_quantity;
  v_fee := case when v_subtotal > 0 then payments.fee_for(v_tier.organization_id, v_subtotal) else 0 end;
  insert into ticketing.orders (order_id, event_id, user_id, organization_id, client_key, currency, subtotal, fee, total)
  values (v_order_id, v_tier.event_id, v_user, v_tier.organization_id, checkout.client_key, v_tier.currency, v_subtotal,
          v_fee, v_subtotal);
  insert into ticketing.order_items (order_item_id, order_id, tier_id, quantity, unit_price)
  values (v_item_id, v_order_id, v_tier.tier_id, v_quantity, v_tier.price);
  insert into ticketing.tickets (event_id, tier_id, order_item_id, organization_id, owner_user_id)
  select v_tier.event_id, v_tier.tier_id, v_item_id, v_tier.organization_id, v_user
    from pg_catalog.generate_series(1, v_quantity);

  -- Money last: the ledger's hot rows (receivable, revenue) are locked for the shortest time.
  if v_subtotal > 0 then
    v_tx := payments.post_sale(v_user, v_tier.organization_id, v_subtotal, v_tier.currency,
      'ticketing.checkout:' || v_order_id::text, 'Tickets', pg_catalog.jsonb_build_object('orderId', v_order_id), v_fee);
  end if;
  update ticketing.orders o set transaction_id = v_tx.transaction_id where o.order_id = v_order_id
  returning * into v_order;

  v_outbox := outbox.publish('order.paid',
    pg_catalog.jsonb_build_object('orderId', v_order_id, 'eventId', v_tier.event_id, 'organizationId', v_tier.organization_id,
      'userId', v_user, 'total', v_order.total, 'fee', v_order.fee, 'currency', v_order.currency, 'quantity', v_quantity,
      'transactionId', v_tx.transaction_id),
    'order', v_order_id::text, v_tier.organization_id);
  perform outbox.publish('ticket.issued',
    pg_catalog.jsonb_build_object('ticketId', t.ticket_id, 'orderId', v_order_id, 'eventId', t.event_id, 'tierId', t.tier_id,
      'organizationId', t.organization_id, 'ownerUserId', t.owner_user_id),
    'ticket', t.ticket_id::text, t.organization_id)
    from ticketing.tickets t where t.order_item_id = v_item_id;
  perform outbox.notify_user(v_user, 'order.paid',
    pg_catalog.left('Your ' || v_quantity || ' ticket(s) for ' || coalesce((select e.title from events.events e where e.event_id = v_tier.event_id), 'the event') || ' are ready.', 1000),
    pg_catalog.jsonb_build_object('orderId', v_order_id, 'eventId', v_tier.event_id), v_outbox);
  return v_order;
end;
$$;

create function ticketing_private.assert_replay(original ticketing.orders, hold_id uuid, tier_id uuid, quantity integer)
  returns ticketing.orders
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_item ticketing.order_items;
begin
  select i.* into v_item from ticketing.order_items i where i.order_id = original.order_id;
  if (assert_replay.tier_id is not null and assert_replay.tier_id <> v_item.tier_id)
     or (assert_replay.quantity is not null and assert_replay.quantity <> v_item.quantity)
     or (assert_replay.hold_id is not null and not exists (
          select 1 from ticketing.ticket_holds h
           where h.hold_id = assert_replay.hold_id and h.tier_id = v_item.tier_id and h.quantity = v_item.quantity)) then
    raise exception 'Client key % was already used for order % of other tickets.', original.client_key, original.order_id
      using errcode = 'TKKEY';
  end if;
  return original;
end;
$$;
comment on function ticketing_private.assert_replay(ticketing.orders, uuid, uuid, integer) is
  'Returns the original order of a replayed client key when the request asks for the same tickets; TKKEY otherwise.';

comment on function ticketing.checkout(client_key text, hold_id uuid, tier_id uuid, quantity integer) is
  E'@resultFieldName order\nBuys tickets in one transaction: your hold (holdId), or a tier and a quantity (a hold is taken and converted at once); then the order, one ledger transaction from your wallet in the tier''s currency (your wallet -total, the organization''s receivable +(total - fee), platform revenue +fee; fee rate per organization, default 5 %) and the tickets, issued to you. Idempotent by clientKey: the same key returns the original order. Publishes order.paid and ticket.issued and notifies you. On any error nothing is written. Errors: LOGIN, BADIN (no key; quantity below 1), NTFND (no such tier, or not your hold), TKLIM (over the per-order limit), TKWIN (sales closed), TKSLD (sold out), TKHEX (the hold expired or was used), TKKEY (the key was used for other tickets), LFUND (your wallet does not hold enough). Security definer because orders, tickets and the ledger have no write grants for API roles.';
revoke execute on function ticketing.checkout(text, uuid, uuid, integer) from public;
grant execute on function ticketing.checkout(text, uuid, uuid, integer) to gw_anonymous, gw_user;

--------------------------------------------------------------------------------
-- The hold expiry job (ticketing_expire_holds): expired holds already stop
-- counting; this marks them, and forgets finished holds after a day.

create function ticketing_private.expire_holds(max_holds integer default 1000) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  with due as (
    select h.hold_id from ticketing.ticket_holds h
     where h.status = 'active' and h.expires_at <= pg_catalog.now()
     order by h.expires_at
     limit expire_holds.max_holds
       for update skip locked
  )
  update ticketing.ticket_holds h set status = 'expired' from due where h.hold_id = due.hold_id;
  get diagnostics v_count = row_count;
  delete from ticketing.ticket_holds h
   where h.hold_id in (select d.hold_id from ticketing.ticket_holds d
                        where d.status <> 'active' and d.created_at < pg_catalog.now() - interval '1 day'
                        limit expire_holds.max_holds);
  return v_count;
end;
$$;
comment on function ticketing_private.expire_holds(integer) is
  'Marks up to max_holds active holds past expires_at as expired (skipping holds a checkout is converting) and deletes up to as many finished holds older than a day; returns how many it expired. Run by the worker task ticketing_expire_holds.';

--! split: 5320-ticketing-tickets.sql
-- What happens to tickets after checkout: redeem (scan at the door, by a
-- member of the event's organization acting in it, once), transfer (by the
-- owner, to another user: the old ticket becomes transferred and the
-- recipient gets a new ticket with a new code pointing back to it), refund
-- (by an owner or admin of the organization: the sale's mirror back to the
-- buyer's wallet through payments.post_refund, tickets refunded, a credit
-- note), cancel (voided without money). The status moves are checked by the
-- registry's state machine; these functions answer TKRED first.

drop function if exists ticketing.redeem_ticket(text) cascade;
drop function if exists ticketing.transfer_ticket(uuid, text) cascade;
drop function if exists ticketing.refund_order(uuid, uuid[], boolean) cascade;
drop function if exists ticketing.cancel_ticket(uuid) cascade;

create function ticketing.redeem_ticket(code text) returns ticketing.tickets
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_org uuid := auth.current_org_id();
  v_ticket ticketing.tickets;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to scan tickets.' using errcode = 'LOGIN';
  end if;
  if redeem_ticket.code is null or redeem_ticket.code !~ '^[0-9a-f]{32}$' then
    raise exception 'No such ticket.' using errcode = 'TKCOD';
  end if;
  select t.* into v_ticket from ticketing.tickets t where t.code = redeem_ticket.code for update;
  if not found then
    raise exception 'No such ticket.' using errcode = 'TKCOD';
  end if;
  if v_org is null or v_ticket.organization_id <> v_org then
    raise exception 'Only members acting in the event''s organization scan its tickets.' using errcode = 'DNIED';
  end if;
  if v_ticket.status <> 'issued' then
    raise exception 'Ticket % is % (since %), not valid for entry.', v_ticket.ticket_id, v_ticket.status,
      coalesce(v_ticket.redeemed_at, v_ticket.closed_at) using errcode = 'TKRED';
  end if;
  update ticketing.tickets t set status = 'redeemed', redeemed_at = pg_catalog.now(), redeemed_by = auth.uid()
   where t.ticket_id = v_ticket.ticket_id
  returning * into v_ticket;
  perform outbox.publish('ticket.redeemed',
    pg_catalog.jsonb_build_object('ticketId', v_ticket.ticket_id, 'eventId', v_ticket.event_id,
      'organizationId', v_ticket.organization_id, 'ownerUserId', v_ticket.owner_user_id, 'redeemedBy', auth.uid()),
    'ticket', v_ticket.ticket_id::text, v_ticket.organization_id);
  return v_ticket;
end;
$$;
comment on function ticketing.redeem_ticket(code text) is
  E'@resultFieldName ticket\nScans a ticket at the door by its code: it becomes redeemed, once. Members (any role) of the event''s organization acting in it. Publishes ticket.redeemed. Errors: LOGIN, TKCOD (no ticket has this code), DNIED (another organization''s ticket, or not acting in an organization), TKRED (already redeemed, transferred, refunded or cancelled). Security definer because tickets have no update grant and the code must be found whoever holds it.';
revoke execute on function ticketing.redeem_ticket(text) from public;
grant execute on function ticketing.redeem_ticket(text) to gw_anonymous, gw_user;

create function ticketing.transfer_ticket(ticket_id uuid, recipient text) returns ticketing.tickets
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_ticket ticketing.tickets;
  v_new ticketing.tickets;
  v_to uuid;
  v_outbox bigint;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to transfer a ticket.' using errcode = 'LOGIN';
  end if;
  if transfer_ticket.recipient is null or char_length(transfer_ticket.recipient) not between 1 and 320 then
    raise exception 'Name the recipient by username or e-mail address.' using errcode = 'BADIN';
  end if;
  select u.user_id into v_to from auth.users u
   where pg_catalog.lower(u.username) = pg_catalog.lower(transfer_ticket.recipient)
      or pg_catalog.lower(u.email::text) = pg_catalog.lower(transfer_ticket.recipient)
   limit 1;
  if v_to is null then
    raise exception 'No user %.', pg_catalog.left(transfer_ticket.recipient, 320) using errcode = 'TKUSR';
  end if;
  select t.* into v_ticket from ticketing.tickets t
   where t.ticket_id = transfer_ticket.ticket_id and t.owner_user_id = auth.uid()
     for update;
  if not found then
    raise exception 'No ticket % of yours.', transfer_ticket.ticket_id using errcode = 'NTFND';
  end if;
  if v_to = auth.uid() then
    raise exception 'The ticket is already yours.' using errcode = 'BADIN';
  end if;
  if v_ticket.status <> 'issued' then
    raise exception 'Ticket % is %: only an issued ticket is transferred.', v_ticket.ticket_id, v_ticket.status using errcode = 'TKRED';
  end if;
  update ticketing.tickets t set status = 'transferred', closed_at = pg_catalog.now() where t.ticket_id = v_ticket.ticket_id;
  insert into ticketing.tickets (event_id, tier_id, order_item_id, organization_id, owner_user_id, previous_ticket_id)
  values (v_ticket.event_id, v_ticket.tier_id, v_ticket.order_item_id, v_ticket.organization_id, v_to, v_ticket.ticket_id)
  returning * into v_new;
  v_outbox := outbox.publish('ticket.transferred',
    pg_catalog.jsonb_build_object('ticketId', v_new.ticket_id, 'previousTicketId', v_ticket.ticket_id, 'eventId', v_new.event_id,
      'organizationId', v_new.organization_id, 'fromUserId', auth.uid(), 'toUserId', v_to),
    'ticket', v_new.ticket_id::text, v_new.organization_id);
  perform outbox.notify_user(v_to, 'ticket.transferred',
    pg_catalog.left('You received a ticket for ' || coalesce((select e.title from events.events e where e.event_id = v_new.event_id), 'an event') || '.', 1000),
    pg_catalog.jsonb_build_object('ticketId', v_new.ticket_id, 'eventId', v_new.event_id), v_outbox);
  return v_new;
end;
$$;
comment on function ticketing.transfer_ticket(ticket_id uuid, recipient text) is
  E'@resultFieldName ticket\nGives your issued ticket to another user (by username or e-mail address, case-insensitive): yours becomes transferred and the recipient gets a new ticket with a new code whose previousTicket is yours (the chain of owners). Publishes ticket.transferred and notifies the recipient. Errors: LOGIN, BADIN (no recipient, or yourself), TKUSR (no such user), NTFND (not your ticket), TKRED (not issued). Security definer because tickets have no write grants and the recipient is looked up among all users.';
revoke execute on function ticketing.transfer_ticket(uuid, text) from public;
grant execute on function ticketing.transfer_ticket(uuid, text) to gw_anonymous, gw_user;

create function ticketing.refund_order(order_id uuid, ticket_ids uuid[] default null, after_start boolean default false)
  returns ticketing.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order ticketing.orders;
  v_event events.events;
  v_ids uuid[];
  v_amount bigint;
  v_fee bigint;
  v_tx ledger.transactions;
  v_note uuid;
  v_tier record;
  v_outbox bigint;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to refund.' using errcode = 'LOGIN';
  end if;
  select o.* into v_order from ticketing.orders o where o.order_id = refund_order.order_id;
  if not found or v_order.organization_id is distinct from auth.current_org_id() then
    raise exception 'No order % of the organization you act in.', refund_order.order_id using errcode = 'NTFND';
  end if;
  if v_order.organization_id is distinct from events.managed_organization_id() then
    raise exception 'Only owners and admins acting in the organization refund its orders.' using errcode = 'DNIED';
  end if;
  select e.* into v_event from events.events e where e.event_id = v_order.event_id;
  if v_event.starts_at <= pg_catalog.now() and not coalesce(refund_order.after_start, false) then
    raise exception 'The event started at %: refunding now needs afterStart true.', v_event.starts_at using errcode = 'TKSTA';
  end if;
  -- Tiers first (the lock order of checkout), then the order, then its tickets.
  perform 1 from ticketing.ticket_tiers t
   where t.tier_id in (select i.tier_id from ticketing.order_items i where i.order_id = v_order.order_id)
   order by t.tier_id for update;
  select o.* into v_order from ticketing.orders o where o.order_id = v_order.order_id for update;
  if refund_order.ticket_ids is not null then
    if pg_catalog.cardinality(refund_order.ticket_ids) = 0 or pg_catalog.cardinality(refund_order.ticket_ids) > 1000 then
      raise exception 'Name 1 to 1000 tickets, or none for the whole order.' using errcode = 'BADIN';
    end if;
    if exists (select 1 from pg_catalog.unnest(refund_order.ticket_ids) x (id)
                where not exists (select 1 from ticketing.tickets t join ticketing.order_items i on i.order_item_id = t.order_item_id
                                   where t.ticket_id = x.id and i.order_id = v_order.order_id)) then
      raise exception 'A ticket named is not of order %.', v_order.order_id using errcode = 'NTFND';
    end if;
  end if;
  select pg_catalog.array_agg(t.ticket_id order by t.ticket_id) into v_ids
    from ticketing.tickets t join ticketing.order_items i on i.order_item_id = t.order_item_id
   where i.order_id = v_order.order_id
     and (refund_order.ticket_ids is null or t.ticket_id = any (refund_order.ticket_ids));
  perform 1 from ticketing.tickets t where t.ticket_id = any (v_ids) order by t.ticket_id for update;
  if refund_order.ticket_ids is null then
    select pg_catalog.array_agg(t.ticket_id order by t.ticket_id) into v_ids
      from ticketing.tickets t where t.ticket_id = any (v_ids) and t.status = 'issued';
  elsif exists (select 1 from ticketing.tickets t where t.ticket_id = any (v_ids) and t.status <> 'issued') then
    raise exception 'Only issued tickets are refunded.' using errcode = 'TKRED';
  end if;
  if v_ids is null then
    raise exception 'Order % has no issued ticket left to refund.', v_order.order_id using errcode = 'TKRED';
  end if;

  select coalesce(pg_catalog.sum(i.unit_price), 0) into v_amount
    from ticketing.tickets t join ticketing.order_items i on i.order_item_id = t.order_item_id
   where t.ticket_id = any (v_ids);
  -- The fee share is cumulative, so refunding every ticket gives back exactly the fee charged.
  v_fee := case when v_order.total = 0 then 0
                else pg_catalog.round(v_order.fee::numeric * (v_order.refunded_amount + v_amount) / v_order.total)::bigint - v_order.refunded_fee end;
  if v_amount > 0 then
    v_tx := payments.post_refund(v_order.transaction_id, v_amount, v_fee, null, 'Ticket refund',
      pg_catalog.jsonb_build_object('orderId', v_order.order_id), auth.uid());
    v_note := payments.issue_credit_note(v_order.organization_id, v_order.user_id, v_order.currency, v_amount,
      'Refund of ' || pg_catalog.cardinality(v_ids) || ' ticket(s) of order ' || v_order.order_id::text,
      pg_catalog.jsonb_build_object('orderId', v_order.order_id, 'transactionId', v_tx.transaction_id));
  end if;

  update ticketing.tickets t set status = 'refunded', closed_at = pg_catalog.now() where t.ticket_id = any (v_ids);
  for v_tier in
    select t.tier_id, pg_catalog.count(*)::integer as n from ticketing.tickets t where t.ticket_id = any (v_ids)
     group by t.tier_id order by t.tier_id
  loop
    update ticketing.ticket_tiers t set sold = t.sold - v_tier.n where t.tier_id = v_tier.tier_id;
  end loop;
  update ticketing.orders o
     set refunded_amount = o.refunded_amount + v_amount, refunded_fee = o.refunded_fee + v_fee, updated_at = pg_catalog.now(),
         status = case when not exists (select 1 from ticketing.tickets t join ticketing.order_items i on i.order_item_id = t.order_item_id
                                         where i.order_id = o.order_id and t.status = 'issued')
                       then 'refunded' else 'partially_refunded' end
   where o.order_id = v_order.order_id
  returning * into v_order;

  v_outbox := outbox.publish('ticket.refunded',
    pg_catalog.jsonb_build_object('orderId', v_order.order_id, 'ticketIds', pg_catalog.to_jsonb(v_ids), 'eventId', v_order.event_id,
      'organizationId', v_order.organization_id, 'userId', v_order.user_id, 'amount', v_amount, 'fee', v_fee,
      'currency', v_order.currency, 'transactionId', v_tx.transaction_id, 'creditNoteId', v_note),
    'order', v_order.order_id::text, v_order.organization_id);
  perform outbox.notify_user(v_order.user_id, 'ticket.refunded',
    pg_catalog.left(pg_catalog.cardinality(v_ids) || ' ticket(s) for ' || coalesce(v_event.title, 'an event') || ' were refunded to your wallet.', 1000),
    pg_catalog.jsonb_build_object('orderId', v_order.order_id, 'amount', v_amount, 'currency', v_order.currency), v_outbox);
  return v_order;
end;
$$;
comment on function ticketing.refund_order(order_id uuid, ticket_ids uuid[], after_start boolean) is
  E'@resultFieldName order\nRefunds an order''s issued tickets (ticketIds, or all of them) to the buyer''s wallet: one ledger transaction that mirrors the sale''s share of those tickets (the fee share is cumulative, so a full refund gives back exactly what was charged), the tickets refunded and their seats for sale again, a credit note issued, ticket.refunded published and the buyer notified. After the event started it needs afterStart true. Owners and admins acting in the event''s organization. Errors: LOGIN, NTFND (no such order of your organization, or a ticket not of it), DNIED (a member who is not owner or admin), TKSTA (the event started), TKRED (a ticket not issued; nothing left to refund), BADIN, LFUND (the receivable was paid out). Security definer because orders, tickets and the ledger have no write grants for API roles.';
revoke execute on function ticketing.refund_order(uuid, uuid[], boolean) from public;
grant execute on function ticketing.refund_order(uuid, uuid[], boolean) to gw_anonymous, gw_user;

create function ticketing.cancel_ticket(ticket_id uuid) returns ticketing.tickets
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_ticket ticketing.tickets;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  select t.* into v_ticket from ticketing.tickets t where t.ticket_id = cancel_ticket.ticket_id;
  if not found or v_ticket.organization_id is distinct from auth.current_org_id() then
    raise exception 'No ticket % of the organization you act in.', cancel_ticket.ticket_id using errcode = 'NTFND';
  end if;
  if v_ticket.organization_id is distinct from events.managed_organization_id() then
    raise exception 'Only owners and admins acting in the organization cancel its tickets.' using errcode = 'DNIED';
  end if;
  perform 1 from ticketing.ticket_tiers t where t.tier_id = v_ticket.tier_id for update;
  select t.* into v_ticket from ticketing.tickets t where t.ticket_id = cancel_ticket.ticket_id for update;
  if v_ticket.status <> 'issued' then
    raise exception 'Ticket % is %: only an issued ticket is cancelled.', v_ticket.ticket_id, v_ticket.status using errcode = 'TKRED';
  end if;
  update ticketing.tickets t set status = 'cancelled', closed_at = pg_catalog.now() where t.ticket_id = v_ticket.ticket_id
  returning * into v_ticket;
  update ticketing.ticket_tiers t set sold = t.sold - 1 where t.tier_id = v_ticket.tier_id;
  return v_ticket;
end;
$$;
comment on function ticketing.cancel_ticket(ticket_id uuid) is
  E'@resultFieldName ticket\nVoids an issued ticket without moving money (a complimentary ticket, a duplicate): it becomes cancelled and its seat is for sale again. Refund with ticketingRefundOrder instead when it was paid. Owners and admins acting in the event''s organization. Errors: LOGIN, NTFND, DNIED, TKRED. Security definer because tickets have no update grant.';
revoke execute on function ticketing.cancel_ticket(uuid) from public;
grant execute on function ticketing.cancel_ticket(uuid) to gw_anonymous, gw_user;
