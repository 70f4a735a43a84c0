--! Previous: sha1:1791188f6f7120ce3b5e05bff86eb0a1e820a0dc
--! Hash: sha1:ffebbf5ce53e6509e17a4f9b525c7bd20058d9f9
--! Message: sponsorship: escrow, proposals, deliverables, matches (issue 22)

--! split: 5500-sponsorship-tables.sql
-- sponsorship: the Liventix seed's sponsorship schema (issue 22). This file:
-- the schemas, the state machines as registry data (escrow, proposals,
-- deliverables), and the tables with their row level security. Escrow money:
-- 5510; proposals: 5520; deliverables: 5530; topics and notifications: 5540;
-- matches: 5550.
--
-- Parties: an event's organizing organization (events.events.owner_context_id)
-- and a sponsoring organization (sponsorship.sponsors.organization_id). A row
-- of orders, proposals and deliverables is visible to an organization acting
-- as itself (the org_id claim) when it is one of the two parties, and to
-- operators (gw_admin); nobody else.

drop schema if exists sponsorship_private cascade;
drop schema if exists sponsorship cascade;
delete from registry.transitions where namespace in ('escrow_status', 'proposal_status', 'deliverable_status');

create schema sponsorship;
comment on schema sponsorship is
  'Sponsors, the packages events offer, proposals between organizers and sponsors, sponsorship orders with escrow on the ledger, deliverables and suggested matches.';
grant usage on schema sponsorship to gw_user;

create schema sponsorship_private;
comment on schema sponsorship_private is 'Escrow postings, transition helpers, triggers and the jobs; never exposed.';
revoke all on schema sponsorship_private from public;

-- The seed's state machines, exactly: the moves are data (registry module).
insert into registry.types (namespace, code, label, description, sort_order) values
  ('escrow_status', 'pending', 'Pending', 'Agreed; the sponsor has not paid into escrow yet.', 10),
  ('escrow_status', 'funded', 'Funded', 'The sponsor''s money is in the order''s escrow account.', 20),
  ('escrow_status', 'locked', 'Locked', 'The organizer has committed to the deliverables; the money stays in escrow until they are approved.', 30),
  ('escrow_status', 'released', 'Released', 'Paid out: the organizer''s share to its wallet, the platform fee to revenue.', 40),
  ('escrow_status', 'refunded', 'Refunded', 'Called off; whatever was in escrow went back to the sponsor.', 50),
  ('escrow_status', 'disputed', 'Disputed', 'A party disputes the deliverables; an operator resolves it.', 60),
  ('proposal_status', 'draft', 'Draft', 'Being written by the proposing side.', 10),
  ('proposal_status', 'sent', 'Sent', 'Sent to the other side; expires at expires_at unless viewed.', 20),
  ('proposal_status', 'viewed', 'Viewed', 'The other side has opened it.', 30),
  ('proposal_status', 'counter_offer', 'Counter offer', 'The other side answered with other terms or another amount.', 40),
  ('proposal_status', 'accepted', 'Accepted', 'Accepted: a sponsorship order was created.', 50),
  ('proposal_status', 'rejected', 'Rejected', 'Turned down.', 60),
  ('proposal_status', 'expired', 'Expired', 'Not opened before it expired.', 70),
  ('deliverable_status', 'pending', 'Pending', 'Owed by the organizer, not submitted yet.', 10),
  ('deliverable_status', 'submitted', 'Submitted', 'The organizer submitted evidence.', 20),
  ('deliverable_status', 'approved', 'Approved', 'The sponsor approved it.', 30),
  ('deliverable_status', 'rejected', 'Rejected', 'The sponsor rejected the evidence; the organizer may submit again.', 40)
on conflict (namespace, code) do update
  set label = excluded.label, description = excluded.description, sort_order = excluded.sort_order;
insert into registry.transitions (namespace, from_code, to_code, label) values
  ('escrow_status', null, 'pending', 'Create'),
  ('escrow_status', 'pending', 'funded', 'Fund'),
  ('escrow_status', 'funded', 'locked', 'Lock'),
  ('escrow_status', 'locked', 'released', 'Approve'),
  ('escrow_status', 'pending', 'refunded', 'Refund'),
  ('escrow_status', 'funded', 'refunded', 'Refund'),
  ('escrow_status', 'locked', 'disputed', 'Dispute'),
  ('escrow_status', 'disputed', 'released', 'Resolve: release'),
  ('escrow_status', 'disputed', 'refunded', 'Resolve: refund'),
  ('proposal_status', null, 'draft', 'Create'),
  ('proposal_status', 'draft', 'sent', 'Send'),
  ('proposal_status', 'sent', 'viewed', 'View'),
  ('proposal_status', 'sent', 'expired', 'Expire'),
  ('proposal_status', 'viewed', 'counter_offer', 'Counter'),
  ('proposal_status', 'viewed', 'accepted', 'Accept'),
  ('proposal_status', 'counter_offer', 'accepted', 'Accept'),
  ('proposal_status', 'viewed', 'rejected', 'Reject'),
  ('proposal_status', 'counter_offer', 'rejected', 'Reject'),
  ('deliverable_status', null, 'pending', 'Create'),
  ('deliverable_status', 'pending', 'submitted', 'Submit'),
  ('deliverable_status', 'rejected', 'submitted', 'Submit again'),
  ('deliverable_status', 'submitted', 'approved', 'Approve'),
  ('deliverable_status', 'submitted', 'rejected', 'Reject')
on conflict on constraint transitions_move_key do nothing;

--------------------------------------------------------------------------------
-- sponsorship.sponsors: a sponsoring organization (a tenant) and its profile.

create table sponsorship.sponsors (
  sponsor_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null default auth.current_org_id()
    constraint sponsors_organization_id_key unique
    constraint sponsors_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  name text not null
    constraint sponsors_name_check check (char_length(name) between 1 and 200),
  industry_code text
    constraint sponsors_industry_code_fkey references ref.industries (code) on delete restrict,
  country_code text
    constraint sponsors_country_code_fkey references ref.countries (code) on delete restrict,
  interests text[] not null default '{}'
    constraint sponsors_interests_check check (cardinality(interests) <= 50),
  budget bigint
    constraint sponsors_budget_check check (budget > 0),
  website text
    constraint sponsors_website_check check (char_length(website) <= 500),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table sponsorship.sponsors enable row level security;
create index sponsors_industry_code_idx on sponsorship.sponsors (industry_code);
create index sponsors_country_code_idx on sponsorship.sponsors (country_code);

create policy "signed-in users see every sponsor"
  on sponsorship.sponsors for select to gw_user
  using (true);
create policy "owners and admins acting in an organization register it as a sponsor"
  on sponsorship.sponsors for insert to gw_user
  with check (organization_id = (select events.managed_organization_id()));
create policy "owners and admins acting in an organization edit its sponsor profile"
  on sponsorship.sponsors for update to gw_user
  using (organization_id = (select events.managed_organization_id()))
  with check (organization_id = (select events.managed_organization_id()));

grant select on sponsorship.sponsors to gw_user;
grant insert (organization_id, name, industry_code, country_code, interests, budget, website),
      update (name, industry_code, country_code, interests, budget, website) on sponsorship.sponsors to gw_user;

comment on table sponsorship.sponsors is
  'A sponsoring organization (the seed''s sponsors: a tenant) and what it looks for. Every signed-in user sees the directory (organizers pick sponsors to propose to); owners and admins acting in the organization register and edit it.';
comment on column sponsorship.sponsors.sponsor_id is 'The sponsor''s id.';
comment on column sponsorship.sponsors.organization_id is 'The sponsoring organization (one sponsor profile per organization); defaults to the one the request acts in.';
comment on column sponsorship.sponsors.name is 'Its public name, 1 to 200 characters.';
comment on column sponsorship.sponsors.industry_code is 'Its industry (ref.industries).';
comment on column sponsorship.sponsors.country_code is 'Where it sponsors (ref.countries), if one country.';
comment on column sponsorship.sponsors.interests is 'Event category codes it wants to sponsor (ref.event_categories), at most 50: what the matching job scores.';
comment on column sponsorship.sponsors.budget is 'A typical sponsorship amount in minor units, if it says.';
comment on column sponsorship.sponsors.website is 'Its website, at most 500 characters (plain text: clients must escape it).';
comment on column sponsorship.sponsors.created_at is 'When it registered.';
comment on column sponsorship.sponsors.updated_at is 'When its profile last changed.';
comment on constraint sponsors_organization_id_fkey on sponsorship.sponsors is E'@behavior -*\nNo relation field: organizations are visible to their members only.';
comment on constraint sponsors_industry_code_fkey on sponsorship.sponsors is E'@fieldName industry\n@foreignFieldName sponsors';
comment on constraint sponsors_country_code_fkey on sponsorship.sponsors is E'@fieldName country\n@foreignFieldName sponsors';

--------------------------------------------------------------------------------
-- sponsorship.packages: an event's offerings, isolated by the seed's
-- tenant_isolation policy (for all: the organizing organization acting as
-- itself). Writes are further restricted to its owners and admins.

create table sponsorship.packages (
  package_id uuid primary key default gen_random_uuid(),
  event_id uuid not null
    constraint packages_event_id_fkey references events.events (event_id) on delete cascade,
  organization_id uuid not null default auth.current_org_id()
    constraint packages_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  title text not null
    constraint packages_title_check check (char_length(title) between 1 and 200),
  price bigint not null
    constraint packages_price_check check (price > 0 and price <= 100000000000),
  currency text not null default 'USD'
    constraint packages_currency_fkey references ledger.currencies (code) on delete restrict,
  slots integer not null default 1
    constraint packages_slots_check check (slots between 1 and 10000),
  sold integer not null default 0,
  benefits jsonb not null default '[]'::jsonb
    constraint packages_benefits_check check (jsonb_typeof(benefits) = 'array' and pg_column_size(benefits) <= 65536),
  created_at timestamptz not null default now(),
  constraint packages_sold_check check (sold between 0 and slots)
);
alter table sponsorship.packages enable row level security;
create index packages_event_id_idx on sponsorship.packages (event_id);
create index packages_organization_id_idx on sponsorship.packages (organization_id);
create index packages_currency_idx on sponsorship.packages (currency);

-- The seed's policy, as written there.
create policy tenant_isolation
  on sponsorship.packages for all to gw_user
  using (organization_id = (select auth.current_org_id()));
create policy "only owners and admins of the organization write its packages"
  on sponsorship.packages as restrictive for insert to gw_user
  with check (organization_id = (select events.managed_organization_id()));
create policy "only owners and admins of the organization change its packages"
  on sponsorship.packages as restrictive for update to gw_user
  using (organization_id = (select events.managed_organization_id()))
  with check (organization_id = (select events.managed_organization_id()));
create policy "only owners and admins of the organization delete its packages"
  on sponsorship.packages as restrictive for delete to gw_user
  using (organization_id = (select events.managed_organization_id()) and sold = 0);

grant select on sponsorship.packages to gw_user;
grant insert (event_id, organization_id, title, price, currency, slots, benefits),
      update (title, price, slots, benefits), delete on sponsorship.packages to gw_user;

comment on table sponsorship.packages is
  'What an event offers sponsors (the seed''s packages): price, slots, benefits. Under the seed''s tenant_isolation policy: only the organizing organization acting as itself sees them; its owners and admins write them (a package with sales is not deleted). Sponsors learn of a package through the proposal that names it.';
comment on column sponsorship.packages.package_id is 'The package''s id.';
comment on column sponsorship.packages.event_id is 'The event it sponsors (the organization''s own).';
comment on column sponsorship.packages.organization_id is 'The organizing organization; defaults to the one the request acts in.';
comment on column sponsorship.packages.title is 'Its name, 1 to 200 characters.';
comment on column sponsorship.packages.price is 'Its price in minor units of currency (positive).';
comment on column sponsorship.packages.currency is 'Its currency (ledger.currencies).';
comment on column sponsorship.packages.slots is 'How many sponsors it takes, 1 to 10,000.';
comment on column sponsorship.packages.sold is 'How many accepted proposals took a slot (kept by accept).';
comment on column sponsorship.packages.benefits is 'What a sponsor gets: a JSON array, at most 64 kB.';
comment on column sponsorship.packages.created_at is 'When it was created.';
comment on constraint packages_event_id_fkey on sponsorship.packages is E'@fieldName event\n@foreignFieldName sponsorshipPackages';
comment on constraint packages_organization_id_fkey on sponsorship.packages is E'@behavior -*\nNo relation field.';
comment on constraint packages_currency_fkey on sponsorship.packages is E'@behavior -*\nNo relation field: the code is all there is.';

create function sponsorship_private.tg_packages__validate() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if new.title is null or pg_catalog.btrim(new.title) = '' or char_length(new.title) > 200 then
    raise exception 'A package title has 1 to 200 characters.' using errcode = 'BADIN';
  end if;
  if new.price is null or new.price <= 0 or new.price > 100000000000 then
    raise exception 'A package price is a positive whole number of minor units (at most 100,000,000,000).' using errcode = 'SPAMT';
  end if;
  if new.slots is null or new.slots not between 1 and 10000 or new.slots < new.sold then
    raise exception 'A package has 1 to 10,000 slots and no fewer than it sold (%).', new.sold using errcode = 'SPSLT';
  end if;
  if tg_op = 'INSERT' and not exists (select 1 from events.events e
                                       where e.event_id = new.event_id and e.owner_context_id = new.organization_id) then
    raise exception 'No event % of your organization.', new.event_id using errcode = 'NTFND';
  end if;
  return new;
end;
$$;
comment on function sponsorship_private.tg_packages__validate() is 'Coded errors for bad packages (BADIN, SPAMT, SPSLT, NTFND: an event of another organization).';
create trigger _100_validate before insert or update on sponsorship.packages
  for each row execute function sponsorship_private.tg_packages__validate();

--------------------------------------------------------------------------------
-- sponsorship.proposals: between an event's organizer and a sponsor.

create table sponsorship.proposals (
  proposal_id uuid primary key default gen_random_uuid(),
  event_id uuid not null
    constraint proposals_event_id_fkey references events.events (event_id) on delete cascade,
  sponsor_id uuid not null
    constraint proposals_sponsor_id_fkey references sponsorship.sponsors (sponsor_id) on delete cascade,
  package_id uuid
    constraint proposals_package_id_fkey references sponsorship.packages (package_id) on delete set null,
  organizer_organization_id uuid not null
    constraint proposals_organizer_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  sponsor_organization_id uuid not null
    constraint proposals_sponsor_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  proposed_by text not null
    constraint proposals_proposed_by_check check (proposed_by in ('organizer', 'sponsor')),
  terms text not null
    constraint proposals_terms_check check (char_length(terms) between 1 and 20000),
  amount bigint not null
    constraint proposals_amount_check check (amount > 0 and amount <= 100000000000),
  currency text not null
    constraint proposals_currency_fkey references ledger.currencies (code) on delete restrict,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  sent_at timestamptz,
  viewed_at timestamptz,
  countered_at timestamptz,
  decided_at timestamptz,
  constraint proposals_parties_check check (organizer_organization_id <> sponsor_organization_id)
);
alter table sponsorship.proposals enable row level security;
select registry.add_type_column('sponsorship.proposals', 'status', 'proposal_status', true, 'draft');
select registry.add_state_machine('sponsorship.proposals', 'status', 'proposal_status');
create index proposals_event_id_idx on sponsorship.proposals (event_id);
create index proposals_sponsor_id_idx on sponsorship.proposals (sponsor_id);
create index proposals_package_id_idx on sponsorship.proposals (package_id);
create index proposals_organizer_organization_id_idx on sponsorship.proposals (organizer_organization_id, created_at);
create index proposals_sponsor_organization_id_idx on sponsorship.proposals (sponsor_organization_id, created_at);
create index proposals_currency_idx on sponsorship.proposals (currency);
-- What the expiry job scans.
create index proposals_sent_expires_at_idx on sponsorship.proposals (expires_at) where status = 'sent';

create policy "each party acting as itself sees its proposals, operators all"
  on sponsorship.proposals for select to gw_user
  using (organizer_organization_id = (select auth.current_org_id())
         or sponsor_organization_id = (select auth.current_org_id())
         or (select auth.has_role('gw_admin')));
grant select on sponsorship.proposals to gw_user;

comment on table sponsorship.proposals is
  'A sponsorship proposal between an event''s organizer and a sponsor (the seed''s proposals). Each party sees its own, acting as itself; operators see all. Written only through sponsorshipCreateProposal, sponsorshipSendProposal, sponsorshipViewProposal, sponsorshipCounterProposal, sponsorshipAcceptProposal, sponsorshipRejectProposal; a sent proposal not viewed by expires_at is expired by a job.';
comment on column sponsorship.proposals.proposal_id is 'The proposal''s id.';
comment on column sponsorship.proposals.event_id is 'The event to sponsor.';
comment on column sponsorship.proposals.sponsor_id is 'The sponsor.';
comment on column sponsorship.proposals.package_id is 'The package it takes a slot of, if any (the organizer''s).';
comment on column sponsorship.proposals.organizer_organization_id is 'The event''s organizing organization.';
comment on column sponsorship.proposals.sponsor_organization_id is 'The sponsoring organization.';
comment on column sponsorship.proposals.proposed_by is 'Which side wrote it: organizer or sponsor. The other side views, counters, accepts or rejects it; after a counter offer the proposing side accepts or rejects.';
comment on column sponsorship.proposals.terms is 'What is agreed, 1 to 20,000 characters (plain text: clients must escape it).';
comment on column sponsorship.proposals.amount is 'The amount in minor units of currency.';
comment on column sponsorship.proposals.currency is 'Its currency.';
comment on column sponsorship.proposals.expires_at is 'When a sent proposal that was not viewed expires.';
comment on column sponsorship.proposals.created_at is 'When it was drafted.';
comment on column sponsorship.proposals.sent_at is 'When it was sent.';
comment on column sponsorship.proposals.viewed_at is 'When the other side opened it.';
comment on column sponsorship.proposals.countered_at is 'When the other side made a counter offer.';
comment on column sponsorship.proposals.decided_at is 'When it was accepted, rejected or expired.';
comment on column sponsorship.proposals.status is 'draft, sent, viewed, counter_offer, accepted, rejected or expired (registry namespace proposal_status; the seed''s moves in registry.transitions).';
comment on constraint proposals_event_id_fkey on sponsorship.proposals is E'@fieldName event\n@foreignFieldName sponsorshipProposals';
comment on constraint proposals_sponsor_id_fkey on sponsorship.proposals is E'@fieldName sponsor\n@foreignFieldName proposals';
comment on constraint proposals_package_id_fkey on sponsorship.proposals is E'@fieldName package\n@foreignFieldName proposals';
comment on constraint proposals_organizer_organization_id_fkey on sponsorship.proposals is E'@behavior -*\nNo relation field.';
comment on constraint proposals_sponsor_organization_id_fkey on sponsorship.proposals is E'@behavior -*\nNo relation field.';
comment on constraint proposals_currency_fkey on sponsorship.proposals is E'@behavior -*\nNo relation field.';
comment on constraint proposals_status_type_fkey on sponsorship.proposals is E'@behavior -*\nNo relation field: status is the code.';

--------------------------------------------------------------------------------
-- sponsorship.orders: an accepted proposal, with its escrow.

create table sponsorship.orders (
  order_id uuid primary key default gen_random_uuid(),
  proposal_id uuid not null
    constraint orders_proposal_id_key unique
    constraint orders_proposal_id_fkey references sponsorship.proposals (proposal_id) on delete restrict,
  package_id uuid
    constraint orders_package_id_fkey references sponsorship.packages (package_id) on delete set null,
  event_id uuid not null
    constraint orders_event_id_fkey references events.events (event_id) on delete restrict,
  sponsor_id uuid not null
    constraint orders_sponsor_id_fkey references sponsorship.sponsors (sponsor_id) on delete restrict,
  organizer_organization_id uuid not null
    constraint orders_organizer_organization_id_fkey references auth.organizations (organization_id) on delete restrict,
  sponsor_organization_id uuid not null
    constraint orders_sponsor_organization_id_fkey references auth.organizations (organization_id) on delete restrict,
  amount bigint not null
    constraint orders_amount_check check (amount > 0),
  currency text not null
    constraint orders_currency_fkey references ledger.currencies (code) on delete restrict,
  escrow_account_id bigint
    constraint orders_escrow_account_id_fkey references ledger.accounts (account_id) on delete restrict,
  -- Ledger transaction ids. No foreign keys: ledger rows are immutable and never deleted, and a key
  -- would make TRUNCATE of the ledger fail on this table before the ledger's own guard (LIMMU) answers.
  fund_transaction_id bigint,
  release_transaction_id bigint,
  refund_transaction_id bigint,
  fee bigint
    constraint orders_fee_check check (fee >= 0),
  dispute_reason text
    constraint orders_dispute_reason_check check (char_length(dispute_reason) <= 5000),
  resolution text
    constraint orders_resolution_check check (char_length(resolution) <= 5000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  funded_at timestamptz,
  locked_at timestamptz,
  disputed_at timestamptz,
  closed_at timestamptz
);
alter table sponsorship.orders enable row level security;
select registry.add_type_column('sponsorship.orders', 'status', 'escrow_status', true, 'pending');
select registry.add_state_machine('sponsorship.orders', 'status', 'escrow_status');
-- Money columns are tied to the state: funded or further has its funding,
-- released its release and fee, refunded after funding its refund. A step
-- moves the state first (so the registry trigger refuses an illegal move
-- before any money moves) and then records its ledger transaction, so the rule
-- is checked at commit, on the row as it is then.
create function sponsorship_private.tg_orders__assert_money() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_order sponsorship.orders;
begin
  select o.* into v_order from sponsorship.orders o where o.order_id = new.order_id;
  if found and not (
    (v_order.status = 'pending' and v_order.fund_transaction_id is null and v_order.release_transaction_id is null and v_order.refund_transaction_id is null)
    or (v_order.status in ('funded', 'locked', 'disputed') and v_order.fund_transaction_id is not null and v_order.escrow_account_id is not null
        and v_order.release_transaction_id is null and v_order.refund_transaction_id is null)
    or (v_order.status = 'released' and v_order.fund_transaction_id is not null and v_order.release_transaction_id is not null
        and v_order.refund_transaction_id is null and v_order.fee is not null)
    or (v_order.status = 'refunded' and v_order.release_transaction_id is null
        and (v_order.fund_transaction_id is null) = (v_order.refund_transaction_id is null))) then
    raise exception 'Order % is % but its ledger transactions say otherwise.', v_order.order_id, v_order.status using errcode = 'SPMNY';
  end if;
  return null;
end;
$$;
comment on function sponsorship_private.tg_orders__assert_money() is
  'At commit: an order''s ledger transactions agree with its escrow state (SPMNY otherwise), whoever wrote it. Volatile so that it reads the row as it is at commit, not as the statement began.';
create constraint trigger _900_assert_money after insert or update on sponsorship.orders
  deferrable initially deferred
  for each row execute function sponsorship_private.tg_orders__assert_money();
create index orders_package_id_idx on sponsorship.orders (package_id);
create index orders_event_id_idx on sponsorship.orders (event_id);
create index orders_sponsor_id_idx on sponsorship.orders (sponsor_id);
create index orders_organizer_organization_id_idx on sponsorship.orders (organizer_organization_id, created_at);
create index orders_sponsor_organization_id_idx on sponsorship.orders (sponsor_organization_id, created_at);
create index orders_currency_idx on sponsorship.orders (currency);
create index orders_escrow_account_id_idx on sponsorship.orders (escrow_account_id);

create policy "each party acting as itself sees its orders, operators all"
  on sponsorship.orders for select to gw_user
  using (organizer_organization_id = (select auth.current_org_id())
         or sponsor_organization_id = (select auth.current_org_id())
         or (select auth.has_role('gw_admin')));
grant select on sponsorship.orders to gw_user;

comment on table sponsorship.orders is
  'A sponsorship order (the seed''s orders: package, sponsor, with escrow), created when a proposal is accepted. Its status is the seed''s escrow state machine: pending -> funded -> locked -> released, pending/funded -> refunded, locked -> disputed -> released/refunded; each move that moves money is one balanced ledger transaction (fund, release, refund). Each party sees its orders acting as itself; operators see all. Written only through the sponsorship functions.';
comment on column sponsorship.orders.order_id is 'The order''s id.';
comment on column sponsorship.orders.proposal_id is 'The accepted proposal it came from.';
comment on column sponsorship.orders.package_id is 'The package whose slot it took, if any.';
comment on column sponsorship.orders.event_id is 'The sponsored event.';
comment on column sponsorship.orders.sponsor_id is 'The sponsor.';
comment on column sponsorship.orders.organizer_organization_id is 'The organizing organization, paid on release.';
comment on column sponsorship.orders.sponsor_organization_id is 'The sponsoring organization, whose wallet funds the escrow.';
comment on column sponsorship.orders.amount is 'The amount in minor units of currency.';
comment on column sponsorship.orders.currency is 'Its currency.';
comment on column sponsorship.orders.escrow_account_id is 'The order''s own escrow account on the ledger (a platform liability, opened when it is funded; empty again once released or refunded).';
comment on column sponsorship.orders.fund_transaction_id is 'The ledger transaction that moved the sponsor''s money into escrow (the seed''s txn_1).';
comment on column sponsorship.orders.release_transaction_id is 'The ledger transaction that paid escrow out to the organizer and the platform (the seed''s txn_2).';
comment on column sponsorship.orders.refund_transaction_id is 'The ledger transaction that returned escrow to the sponsor.';
comment on column sponsorship.orders.fee is 'The platform''s fee taken on release (the organizer''s fee rate, default 5 %).';
comment on column sponsorship.orders.dispute_reason is 'Why a party disputed it.';
comment on column sponsorship.orders.resolution is 'How an operator resolved the dispute.';
comment on column sponsorship.orders.created_at is 'When it was created (the proposal accepted).';
comment on column sponsorship.orders.updated_at is 'When it last changed.';
comment on column sponsorship.orders.funded_at is 'When it was funded.';
comment on column sponsorship.orders.locked_at is 'When it was locked.';
comment on column sponsorship.orders.disputed_at is 'When it was disputed.';
comment on column sponsorship.orders.closed_at is 'When it was released or refunded.';
comment on column sponsorship.orders.status is 'The escrow state: pending, funded, locked, released, refunded or disputed (registry namespace escrow_status).';
comment on constraint orders_proposal_id_fkey on sponsorship.orders is E'@fieldName proposal\n@foreignFieldName order';
comment on constraint orders_package_id_fkey on sponsorship.orders is E'@fieldName package\n@foreignFieldName orders';
comment on constraint orders_event_id_fkey on sponsorship.orders is E'@fieldName event\n@foreignFieldName sponsorshipOrders';
comment on constraint orders_sponsor_id_fkey on sponsorship.orders is E'@fieldName sponsor\n@foreignFieldName orders';
comment on constraint orders_organizer_organization_id_fkey on sponsorship.orders is E'@behavior -*\nNo relation field.';
comment on constraint orders_sponsor_organization_id_fkey on sponsorship.orders is E'@behavior -*\nNo relation field.';
comment on constraint orders_currency_fkey on sponsorship.orders is E'@behavior -*\nNo relation field.';
comment on constraint orders_escrow_account_id_fkey on sponsorship.orders is E'@behavior -*\nNo relation field: the escrow account is the platform''s (operators read it in the ledger).';
comment on constraint orders_status_type_fkey on sponsorship.orders is E'@behavior -*\nNo relation field: status is the code.';

--------------------------------------------------------------------------------
-- sponsorship.deliverables: what the organizer owes the sponsor on an order.

create table sponsorship.deliverables (
  deliverable_id uuid primary key default gen_random_uuid(),
  order_id uuid not null
    constraint deliverables_order_id_fkey references sponsorship.orders (order_id) on delete cascade,
  sponsor_id uuid not null
    constraint deliverables_sponsor_id_fkey references sponsorship.sponsors (sponsor_id) on delete cascade,
  organizer_organization_id uuid not null
    constraint deliverables_organizer_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  sponsor_organization_id uuid not null
    constraint deliverables_sponsor_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  title text not null
    constraint deliverables_title_check check (char_length(title) between 1 and 200),
  description text
    constraint deliverables_description_check check (char_length(description) <= 5000),
  due_at timestamptz not null,
  evidence jsonb
    constraint deliverables_evidence_check check (jsonb_typeof(evidence) = 'object' and pg_column_size(evidence) <= 65536),
  review_note text
    constraint deliverables_review_note_check check (char_length(review_note) <= 5000),
  created_at timestamptz not null default now(),
  submitted_at timestamptz,
  reviewed_at timestamptz
);
alter table sponsorship.deliverables enable row level security;
select registry.add_type_column('sponsorship.deliverables', 'status', 'deliverable_status', true, 'pending');
select registry.add_state_machine('sponsorship.deliverables', 'status', 'deliverable_status');
create index deliverables_order_id_idx on sponsorship.deliverables (order_id, status);
create index deliverables_sponsor_id_idx on sponsorship.deliverables (sponsor_id);
create index deliverables_organizer_organization_id_idx on sponsorship.deliverables (organizer_organization_id, due_at);
create index deliverables_sponsor_organization_id_idx on sponsorship.deliverables (sponsor_organization_id, due_at);

create policy "each party acting as itself sees its deliverables, operators all"
  on sponsorship.deliverables for select to gw_user
  using (organizer_organization_id = (select auth.current_org_id())
         or sponsor_organization_id = (select auth.current_org_id())
         or (select auth.has_role('gw_admin')));
grant select on sponsorship.deliverables to gw_user;

comment on table sponsorship.deliverables is
  'What the organizer owes the sponsor on an order (the seed''s deliverables): pending -> submitted (with evidence) -> approved or rejected (and submitted again). When every deliverable of a locked order is approved, the escrow is released. Each party sees them acting as itself; written only through the sponsorship functions.';
comment on column sponsorship.deliverables.deliverable_id is 'The deliverable''s id.';
comment on column sponsorship.deliverables.order_id is 'The order.';
comment on column sponsorship.deliverables.sponsor_id is 'The sponsor it is owed to.';
comment on column sponsorship.deliverables.organizer_organization_id is 'The organizing organization that owes it.';
comment on column sponsorship.deliverables.sponsor_organization_id is 'The sponsoring organization that approves it.';
comment on column sponsorship.deliverables.title is 'What is owed, 1 to 200 characters.';
comment on column sponsorship.deliverables.description is 'Details, at most 5,000 characters.';
comment on column sponsorship.deliverables.due_at is 'When it is due.';
comment on column sponsorship.deliverables.evidence is 'What the organizer submitted (a JSON object: links, counts), at most 64 kB.';
comment on column sponsorship.deliverables.review_note is 'The sponsor''s note on approval or rejection.';
comment on column sponsorship.deliverables.created_at is 'When it was added.';
comment on column sponsorship.deliverables.submitted_at is 'When it was last submitted.';
comment on column sponsorship.deliverables.reviewed_at is 'When it was last approved or rejected.';
comment on column sponsorship.deliverables.status is 'pending, submitted, approved or rejected (registry namespace deliverable_status).';
comment on constraint deliverables_order_id_fkey on sponsorship.deliverables is E'@fieldName order\n@foreignFieldName deliverables';
comment on constraint deliverables_sponsor_id_fkey on sponsorship.deliverables is E'@fieldName sponsor\n@foreignFieldName deliverables';
comment on constraint deliverables_organizer_organization_id_fkey on sponsorship.deliverables is E'@behavior -*\nNo relation field.';
comment on constraint deliverables_sponsor_organization_id_fkey on sponsorship.deliverables is E'@behavior -*\nNo relation field.';
comment on constraint deliverables_status_type_fkey on sponsorship.deliverables is E'@behavior -*\nNo relation field: status is the code.';

--------------------------------------------------------------------------------
-- sponsorship.matches: suggestions computed by a job.

create table sponsorship.matches (
  event_id uuid not null
    constraint matches_event_id_fkey references events.events (event_id) on delete cascade,
  sponsor_id uuid not null
    constraint matches_sponsor_id_fkey references sponsorship.sponsors (sponsor_id) on delete cascade,
  organizer_organization_id uuid not null
    constraint matches_organizer_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  sponsor_organization_id uuid not null
    constraint matches_sponsor_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  score numeric(5, 4) not null
    constraint matches_score_check check (score > 0 and score <= 1),
  reason text not null
    constraint matches_reason_check check (char_length(reason) between 1 and 1000),
  computed_at timestamptz not null default now(),
  constraint matches_pkey primary key (event_id, sponsor_id)
);
alter table sponsorship.matches enable row level security;
create index matches_sponsor_id_idx on sponsorship.matches (sponsor_id, score desc);
create index matches_organizer_organization_id_idx on sponsorship.matches (organizer_organization_id, score desc);
create index matches_sponsor_organization_id_idx on sponsorship.matches (sponsor_organization_id, score desc);

create policy "each party acting as itself sees its matches, operators all"
  on sponsorship.matches for select to gw_user
  using (organizer_organization_id = (select auth.current_org_id())
         or sponsor_organization_id = (select auth.current_org_id())
         or (select auth.has_role('gw_admin')));
grant select on sponsorship.matches to gw_user;

comment on table sponsorship.matches is
  'Suggested sponsors for upcoming published events (the seed''s matches), recomputed by the sponsorship_compute_matches job: score 0-1 and the reason. The event''s organizer and the sponsor see them acting as themselves.';
comment on column sponsorship.matches.event_id is 'The event.';
comment on column sponsorship.matches.sponsor_id is 'The suggested sponsor.';
comment on column sponsorship.matches.organizer_organization_id is 'The event''s organizing organization.';
comment on column sponsorship.matches.sponsor_organization_id is 'The sponsoring organization.';
comment on column sponsorship.matches.score is 'How good a match, above 0 up to 1.';
comment on column sponsorship.matches.reason is 'Why, in words.';
comment on column sponsorship.matches.computed_at is 'When the job computed it.';
comment on constraint matches_event_id_fkey on sponsorship.matches is E'@fieldName event\n@foreignFieldName sponsorshipMatches';
comment on constraint matches_sponsor_id_fkey on sponsorship.matches is E'@fieldName sponsor\n@foreignFieldName matches';
comment on constraint matches_organizer_organization_id_fkey on sponsorship.matches is E'@behavior -*\nNo relation field.';
comment on constraint matches_sponsor_organization_id_fkey on sponsorship.matches is E'@behavior -*\nNo relation field.';

--! split: 5510-sponsorship-escrow.sql
-- Escrow: the seed's escrow state machine on sponsorship.orders, each money
-- move one balanced ledger transaction through ledger_private.post_entries.
--   fund    (pending -> funded):   sponsor wallet -amount, escrow +amount (txn_1)
--   release (locked|disputed -> released): escrow -amount, organizer wallet
--           +(amount - fee), platform revenue +fee (txn_2; fee = payments.fee_for,
--           the organizer's rate, default 5 %)
--   refund  (funded|disputed -> refunded): escrow -amount, sponsor wallet +amount;
--           pending -> refunded moves no money.
-- Each order has its own escrow account (a platform liability without owner,
-- so no organization may move its money through the ledger's own functions);
-- after release or refund it is empty again. The state moves first (the
-- registry trigger refuses an illegal one with RGTRN), then the money.
--
-- Who may take each step (the module page's matrix): sponsor admins fund,
-- approve and refund; organizer admins lock and refund; either side disputes;
-- operators (gw_admin) lock, approve, refund and resolve.

insert into registry.types (namespace, code, label, description, metadata) values
  ('ledger_transaction_kind', 'sponsorship.escrow_fund', 'Escrow funded', 'A sponsor''s wallet into a sponsorship order''s escrow account.', '{"written_by": "trusted"}'),
  ('ledger_transaction_kind', 'sponsorship.escrow_release', 'Escrow released', 'A sponsorship order''s escrow to the organizer''s wallet and the platform''s fee revenue.', '{"written_by": "trusted"}'),
  ('ledger_transaction_kind', 'sponsorship.escrow_refund', 'Escrow refunded', 'A sponsorship order''s escrow back to the sponsor''s wallet.', '{"written_by": "trusted"}')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description, metadata = excluded.metadata;

--------------------------------------------------------------------------------
-- Who is asking: the side of the caller on an order's parties.

create function sponsorship_private.side(organizer_organization_id uuid, sponsor_organization_id uuid, allowed text[])
  returns text
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_org uuid := auth.current_org_id();
  v_managed uuid := events.managed_organization_id();
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  if 'operator' = any (side.allowed) and auth.has_role('gw_admin') then
    return 'operator';
  end if;
  if v_org is null or v_org not in (side.organizer_organization_id, side.sponsor_organization_id) then
    if auth.has_role('gw_admin') then
      raise exception 'Operators may not take this step.' using errcode = 'DNIED';
    end if;
    -- Not a party: the row is not theirs to know of.
    raise exception 'No such object that you may act on.' using errcode = 'NTFND';
  end if;
  if v_managed is distinct from v_org then
    raise exception 'Only owners and admins of the organization take this step.' using errcode = 'DNIED';
  end if;
  if v_org = side.organizer_organization_id and 'organizer' = any (side.allowed) then
    return 'organizer';
  end if;
  if v_org = side.sponsor_organization_id and 'sponsor' = any (side.allowed) then
    return 'sponsor';
  end if;
  raise exception 'This step is the other party''s (allowed: %).', pg_catalog.array_to_string(side.allowed, ', ') using errcode = 'DNIED';
end;
$$;
comment on function sponsorship_private.side(uuid, uuid, text[]) is
  'Which allowed side the caller takes on a pair of parties: operator (a current gw_admin grant), organizer or sponsor (an owner or admin acting in that organization). LOGIN signed out; NTFND for a non-party (the object is not theirs to know of); DNIED for a member who is not an admin, or the wrong side.';

create function sponsorship_private.lock_order(order_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_order sponsorship.orders;
begin
  select o.* into v_order from sponsorship.orders o where o.order_id = lock_order.order_id for update;
  if not found then
    raise exception 'No such order.' using errcode = 'NTFND';
  end if;
  return v_order;
end;
$$;
comment on function sponsorship_private.lock_order(uuid) is 'The order row, locked for the step (NTFND if there is none): steps on one order run one at a time.';

create function sponsorship_private.post(kind text, entries ledger.entry_input[], order_id uuid) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select (ledger_private.post_entries(post.entries, null, post.kind, 'Sponsorship order ' || post.order_id::text,
            pg_catalog.jsonb_build_object('orderId', post.order_id), auth.uid(), false)).transaction_id
$$;
comment on function sponsorship_private.post(text, ledger.entry_input[], uuid) is
  'One balanced ledger transaction of a sponsorship kind for an order (trusted: the calling function decided who may take the step).';

-- Release: the state was moved by the caller; this posts txn_2.
create function sponsorship_private.release(v_order sponsorship.orders, from_status text) returns sponsorship.orders
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_fee bigint := payments.fee_for(v_order.organizer_organization_id, v_order.amount);
  v_entries ledger.entry_input[];
  v_tx bigint;
  v_result sponsorship.orders;
begin
  v_entries := array[
    row(v_order.escrow_account_id, -v_order.amount, v_order.currency)::ledger.entry_input,
    row(payments_private.organization_account(v_order.organizer_organization_id, 'wallet', v_order.currency),
        v_order.amount - v_fee, v_order.currency)::ledger.entry_input];
  if v_fee > 0 then
    v_entries := v_entries || row(payments_private.revenue_account(v_order.organizer_organization_id, v_order.currency),
      v_fee, v_order.currency)::ledger.entry_input;
  end if;
  v_tx := sponsorship_private.post('sponsorship.escrow_release', v_entries, v_order.order_id);
  update sponsorship.orders o
     set release_transaction_id = v_tx, fee = v_fee, closed_at = pg_catalog.now(), updated_at = pg_catalog.now()
   where o.order_id = v_order.order_id
  returning * into v_result;
  perform sponsorship_private.announce_order(v_result, from_status);
  return v_result;
end;
$$;
comment on function sponsorship_private.release(sponsorship.orders, text) is
  'Posts the release of an order already moved to released: escrow -amount, organizer wallet +(amount - fee), platform revenue from the organizer +fee, in one ledger transaction; records it on the order.';

create function sponsorship_private.refund(v_order sponsorship.orders, from_status text) returns sponsorship.orders
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_tx bigint;
  v_result sponsorship.orders;
begin
  if v_order.fund_transaction_id is not null then
    v_tx := sponsorship_private.post('sponsorship.escrow_refund', array[
      row(v_order.escrow_account_id, -v_order.amount, v_order.currency)::ledger.entry_input,
      row(payments_private.organization_account(v_order.sponsor_organization_id, 'wallet', v_order.currency),
          v_order.amount, v_order.currency)::ledger.entry_input], v_order.order_id);
  end if;
  update sponsorship.orders o
     set refund_transaction_id = v_tx, closed_at = pg_catalog.now(), updated_at = pg_catalog.now()
   where o.order_id = v_order.order_id
  returning * into v_result;
  perform sponsorship_private.announce_order(v_result, from_status);
  return v_result;
end;
$$;
comment on function sponsorship_private.refund(sponsorship.orders, text) is
  'Posts the refund of an order already moved to refunded: escrow back to the sponsor''s wallet in one ledger transaction (nothing to move if it was never funded).';

create function sponsorship_private.move(v_order sponsorship.orders, from_states text[], status text) returns sponsorship.orders
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_result sponsorship.orders;
begin
  -- The step's own source states: the registry allows disputed -> released for a
  -- resolution, not for an approval, and lets a row "move" to the state it is in.
  if not (v_order.status = any (move.from_states)) then
    raise exception 'Order % is %; this step applies to an order that is %.', v_order.order_id, v_order.status,
      pg_catalog.array_to_string(move.from_states, ' or ') using errcode = 'SPSTA';
  end if;
  update sponsorship.orders o set status = move.status, updated_at = pg_catalog.now()
   where o.order_id = v_order.order_id
  returning * into v_result;
  return v_result;
end;
$$;
comment on function sponsorship_private.move(sponsorship.orders, text[], text) is
  'Moves an order''s escrow state for a step that applies to from_states (SPSTA otherwise); the registry trigger checks the move itself (RGTRN) for every writer.';

--------------------------------------------------------------------------------
-- The steps.

create function sponsorship.fund_order(order_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(fund_order.order_id);
  v_escrow bigint;
  v_tx bigint;
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['sponsor']);
  perform sponsorship_private.move(v_order, array['pending'], 'funded');
  v_escrow := payments_private.system_account('sponsorship.escrow.' || v_order.order_id::text,
    'Escrow of sponsorship order ' || v_order.order_id::text, v_order.currency, 'liability', false);
  v_tx := sponsorship_private.post('sponsorship.escrow_fund', array[
    row(payments_private.organization_account(v_order.sponsor_organization_id, 'wallet', v_order.currency),
        -v_order.amount, v_order.currency)::ledger.entry_input,
    row(v_escrow, v_order.amount, v_order.currency)::ledger.entry_input], v_order.order_id);
  update sponsorship.orders o
     set escrow_account_id = v_escrow, fund_transaction_id = v_tx, funded_at = pg_catalog.now()
   where o.order_id = v_order.order_id
  returning * into v_order;
  perform sponsorship_private.announce_order(v_order, 'pending');
  return v_order;
end;
$$;
comment on function sponsorship.fund_order(order_id uuid) is
  E'@resultFieldName order\nPays a pending order into escrow (pending -> funded): the sponsoring organization''s wallet -amount, the order''s escrow account +amount, one ledger transaction (the seed''s txn_1). Sponsor owners and admins acting in the sponsoring organization. Errors: SPSTA (not pending), LFUND (the wallet does not hold the amount), DNIED, NTFND, LOGIN. Security definer because orders and ledger postings have no write grants for API roles.';

create function sponsorship.lock_order(order_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(lock_order.order_id);
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['organizer', 'operator']);
  perform sponsorship_private.move(v_order, array['funded'], 'locked');
  update sponsorship.orders o set locked_at = pg_catalog.now() where o.order_id = v_order.order_id returning * into v_order;
  perform sponsorship_private.announce_order(v_order, 'funded');
  return v_order;
end;
$$;
comment on function sponsorship.lock_order(order_id uuid) is
  E'@resultFieldName order\nLocks a funded order (funded -> locked): the organizer commits to the deliverables, and the money stays in escrow until they are approved or a dispute is resolved; the sponsor can no longer take it back alone. Organizer owners and admins, or operators. Errors: SPSTA, DNIED, NTFND, LOGIN. Security definer because orders have no write grants for API roles.';

create function sponsorship.approve_order(order_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(approve_order.order_id);
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['sponsor', 'operator']);
  if exists (select 1 from sponsorship.deliverables d where d.order_id = v_order.order_id and d.status <> 'approved') then
    raise exception 'Order % has deliverables that are not approved.', v_order.order_id using errcode = 'SPDLV';
  end if;
  v_order := sponsorship_private.move(v_order, array['locked'], 'released');
  return sponsorship_private.release(v_order, 'locked');
end;
$$;
comment on function sponsorship.approve_order(order_id uuid) is
  E'@resultFieldName order\nApproves a locked order and releases its escrow (locked -> released): escrow -amount, the organizer''s wallet +95 %, platform revenue +5 % (the organizer''s fee rate), one ledger transaction (the seed''s txn_2). Every deliverable must be approved (SPDLV); approving the last deliverable releases by itself. Sponsor owners and admins, or operators. Errors: SPSTA (not locked: released already, or disputed), SPDLV, DNIED, NTFND, LOGIN. Security definer because orders and ledger postings have no write grants for API roles.';

create function sponsorship.refund_order(order_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(refund_order.order_id);
  v_from text;
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['sponsor', 'organizer', 'operator']);
  v_from := v_order.status;
  v_order := sponsorship_private.move(v_order, array['pending', 'funded'], 'refunded');
  return sponsorship_private.refund(v_order, v_from);
end;
$$;
comment on function sponsorship.refund_order(order_id uuid) is
  E'@resultFieldName order\nCalls off a pending or funded order (-> refunded); a funded one''s escrow goes back to the sponsor''s wallet in one ledger transaction. Either party''s owners and admins, or operators; a locked order is disputed instead. Errors: SPSTA (locked or disputed: dispute it, an operator resolves it), DNIED, NTFND, LOGIN. Security definer because orders and ledger postings have no write grants for API roles.';

create function sponsorship.dispute_order(order_id uuid, reason text) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(dispute_order.order_id);
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['sponsor', 'organizer']);
  if dispute_order.reason is null or pg_catalog.btrim(dispute_order.reason) = '' or char_length(dispute_order.reason) > 5000 then
    raise exception 'A dispute gives a reason of 1 to 5,000 characters.' using errcode = 'BADIN';
  end if;
  perform sponsorship_private.move(v_order, array['locked'], 'disputed');
  update sponsorship.orders o set dispute_reason = dispute_order.reason, disputed_at = pg_catalog.now()
   where o.order_id = v_order.order_id returning * into v_order;
  perform sponsorship_private.announce_order(v_order, 'locked');
  return v_order;
end;
$$;
comment on function sponsorship.dispute_order(order_id uuid, reason text) is
  E'@resultFieldName order\nDisputes a locked order (locked -> disputed): the escrow stays until an operator resolves it. Either party''s owners and admins. Errors: SPSTA, BADIN (no reason), DNIED, NTFND, LOGIN. Security definer because orders have no write grants for API roles.';

create function sponsorship.resolve_dispute(order_id uuid, outcome text, resolution text) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(resolve_dispute.order_id);
begin
  perform auth_private.assert_operator();
  if resolve_dispute.outcome is null or resolve_dispute.outcome not in ('released', 'refunded') then
    raise exception 'The outcome is released or refunded.' using errcode = 'BADIN';
  end if;
  if resolve_dispute.resolution is null or pg_catalog.btrim(resolve_dispute.resolution) = '' or char_length(resolve_dispute.resolution) > 5000 then
    raise exception 'A resolution says why, in 1 to 5,000 characters.' using errcode = 'BADIN';
  end if;
  v_order := sponsorship_private.move(v_order, array['disputed'], resolve_dispute.outcome);
  update sponsorship.orders o set resolution = resolve_dispute.resolution where o.order_id = v_order.order_id returning * into v_order;
  if resolve_dispute.outcome = 'released' then
    return sponsorship_private.release(v_order, 'disputed');
  end if;
  return sponsorship_private.refund(v_order, 'disputed');
end;
$$;
comment on function sponsorship.resolve_dispute(order_id uuid, outcome text, resolution text) is
  E'@resultFieldName order\nAn operator resolves a disputed order: outcome released (escrow to the organizer and the platform fee, as on approval) or refunded (escrow back to the sponsor), one ledger transaction either way. Operators (gw_admin) only. Errors: DNIED, BADIN, SPSTA (not disputed), NTFND. Security definer because orders and ledger postings have no write grants for API roles.';

revoke execute on all functions in schema sponsorship_private from public;
revoke execute on function sponsorship.fund_order(uuid), sponsorship.lock_order(uuid), sponsorship.approve_order(uuid),
  sponsorship.refund_order(uuid), sponsorship.dispute_order(uuid, text), sponsorship.resolve_dispute(uuid, text, text) from public;
grant execute on function sponsorship.fund_order(uuid), sponsorship.lock_order(uuid), sponsorship.approve_order(uuid),
  sponsorship.refund_order(uuid), sponsorship.dispute_order(uuid, text), sponsorship.resolve_dispute(uuid, text, text) to gw_user;

--! split: 5520-sponsorship-proposals.sql
-- Proposals: the seed's proposal state machine. One side (the event's
-- organizer, or a sponsor) drafts and sends; the other side views, counters,
-- accepts or rejects; after a counter offer the proposing side accepts or
-- rejects. A sent proposal not viewed by expires_at is expired by the job
-- sponsorship_expire_proposals (and refused as expired before the job runs).
-- Accepting creates the sponsorship order (status pending) and takes a slot
-- of the package it names. Deliverables (what the organizer owes on an order)
-- are at the end of this file.

create function sponsorship_private.lock_proposal(proposal_id uuid) returns sponsorship.proposals
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals;
begin
  select p.* into v_proposal from sponsorship.proposals p where p.proposal_id = lock_proposal.proposal_id for update;
  if not found then
    raise exception 'No such proposal.' using errcode = 'NTFND';
  end if;
  return v_proposal;
end;
$$;
comment on function sponsorship_private.lock_proposal(uuid) is 'The proposal row, locked for the step (NTFND if there is none).';

-- The side that answers a proposal in its current state: the receiving side, or after a counter offer the proposing side.
create function sponsorship_private.answering_side(proposal sponsorship.proposals) returns text
  language sql
  immutable
  set search_path = ''
as $$
  select case when (proposal.status = 'counter_offer') = (proposal.proposed_by = 'organizer') then 'organizer' else 'sponsor' end
$$;
comment on function sponsorship_private.answering_side(sponsorship.proposals) is
  'Who answers the proposal now: the side that did not propose it, except after a counter offer, when the proposing side does.';

create function sponsorship_private.receiving_side(proposal sponsorship.proposals) returns text
  language sql
  immutable
  set search_path = ''
as $$
  select case proposal.proposed_by when 'organizer' then 'sponsor' else 'organizer' end
$$;
comment on function sponsorship_private.receiving_side(sponsorship.proposals) is 'The side a proposal was sent to.';

create function sponsorship_private.assert_not_expired(proposal sponsorship.proposals, at timestamptz) returns void
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  if proposal.status in ('draft', 'sent') and proposal.expires_at <= assert_not_expired.at then
    raise exception 'Proposal % expired at %.', proposal.proposal_id, proposal.expires_at using errcode = 'SPEXP';
  end if;
end;
$$;
comment on function sponsorship_private.assert_not_expired(sponsorship.proposals, timestamptz) is
  'SPEXP for a draft or sent proposal past its expiry (the job may not have marked it yet).';

create function sponsorship_private.assert_status(proposal sponsorship.proposals, from_states text[]) returns void
  language plpgsql
  immutable
  set search_path = ''
as $$
begin
  if not (proposal.status = any (assert_status.from_states)) then
    raise exception 'Proposal % is %; this step applies to a proposal that is %.', proposal.proposal_id, proposal.status,
      pg_catalog.array_to_string(assert_status.from_states, ' or ') using errcode = 'SPSTA';
  end if;
end;
$$;
comment on function sponsorship_private.assert_status(sponsorship.proposals, text[]) is
  'SPSTA unless the proposal is in one of the step''s source states (the registry trigger checks the move itself, RGTRN, for every writer, but lets a row stay where it is).';

create function sponsorship.create_proposal(
  event_id uuid,
  sponsor_id uuid,
  amount bigint,
  terms text,
  currency text default null,
  package_id uuid default null,
  expires_at timestamptz default null
) returns sponsorship.proposals
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_event events.events;
  v_sponsor sponsorship.sponsors;
  v_package sponsorship.packages;
  v_side text;
  v_proposal sponsorship.proposals;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  select e.* into v_event from events.events e where e.event_id = create_proposal.event_id;
  select s.* into v_sponsor from sponsorship.sponsors s where s.sponsor_id = create_proposal.sponsor_id;
  if v_sponsor.sponsor_id is null then
    raise exception 'No sponsor %.', create_proposal.sponsor_id using errcode = 'NTFND';
  end if;
  -- The organizer may propose on any of its events; a sponsor only on published public events.
  if v_event.event_id is null or (v_event.owner_context_id is distinct from auth.current_org_id()
     and (v_event.published_at is null or v_event.visibility <> 'public')) then
    raise exception 'No event %.', create_proposal.event_id using errcode = 'NTFND';
  end if;
  v_side := sponsorship_private.side(v_event.owner_context_id, v_sponsor.organization_id, array['organizer', 'sponsor']);
  if create_proposal.package_id is not null then
    select k.* into v_package from sponsorship.packages k where k.package_id = create_proposal.package_id;
    if v_package.package_id is null or v_package.event_id <> v_event.event_id then
      raise exception 'Package % is not one of event %.', create_proposal.package_id, v_event.event_id using errcode = 'SPPKG';
    end if;
  end if;
  if create_proposal.amount is null or create_proposal.amount <= 0 or create_proposal.amount > 100000000000 then
    raise exception 'An amount is a positive whole number of minor units (at most 100,000,000,000).' using errcode = 'SPAMT';
  end if;
  if create_proposal.terms is null or pg_catalog.btrim(create_proposal.terms) = '' or char_length(create_proposal.terms) > 20000 then
    raise exception 'Terms have 1 to 20,000 characters.' using errcode = 'BADIN';
  end if;
  if not exists (select 1 from ledger.currencies c
                  where c.code = coalesce(create_proposal.currency, v_package.currency, 'USD')) then
    raise exception 'Unknown currency %.', pg_catalog.left(create_proposal.currency, 10) using errcode = 'SPCUR';
  end if;
  if v_package.package_id is not null and coalesce(create_proposal.currency, v_package.currency) <> v_package.currency then
    raise exception 'The package is priced in %.', v_package.currency using errcode = 'SPCUR';
  end if;
  if create_proposal.expires_at is not null and create_proposal.expires_at <= pg_catalog.now() then
    raise exception 'A proposal expires in the future.' using errcode = 'SPEXP';
  end if;
  insert into sponsorship.proposals (event_id, sponsor_id, package_id, organizer_organization_id, sponsor_organization_id,
                                     proposed_by, terms, amount, currency, expires_at)
  values (v_event.event_id, v_sponsor.sponsor_id, v_package.package_id, v_event.owner_context_id, v_sponsor.organization_id,
          v_side, create_proposal.terms, create_proposal.amount, coalesce(create_proposal.currency, v_package.currency, 'USD'),
          coalesce(create_proposal.expires_at, pg_catalog.now() + interval '14 days'))
  returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function sponsorship.create_proposal(uuid, uuid, bigint, text, text, uuid, timestamptz) is
  E'@resultFieldName proposal\nDrafts a proposal: the event''s organizer to a sponsor, or a sponsor on a published public event. Owners and admins acting in either organization; the caller''s side is proposedBy. Currency defaults to the package''s, else USD; expiry to 14 days. Errors: LOGIN, NTFND, DNIED, SPPKG, SPAMT, SPCUR, SPEXP, BADIN. Security definer because proposals have no insert grant (both parties and the state are set here).';

create function sponsorship.send_proposal(proposal_id uuid) returns sponsorship.proposals
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals := sponsorship_private.lock_proposal(send_proposal.proposal_id);
begin
  perform sponsorship_private.side(v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id, array[v_proposal.proposed_by]);
  perform sponsorship_private.assert_status(v_proposal, array['draft']);
  perform sponsorship_private.assert_not_expired(v_proposal, pg_catalog.now());
  update sponsorship.proposals p set status = 'sent', sent_at = pg_catalog.now()
   where p.proposal_id = v_proposal.proposal_id returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function sponsorship.send_proposal(proposal_id uuid) is
  E'@resultFieldName proposal\nSends a draft (draft -> sent). The proposing side''s owners and admins. Errors: SPSTA (not a draft), SPEXP, DNIED, NTFND, LOGIN. Security definer because proposals have no update grant.';

create function sponsorship.view_proposal(proposal_id uuid) returns sponsorship.proposals
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals := sponsorship_private.lock_proposal(view_proposal.proposal_id);
begin
  perform sponsorship_private.side(v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id,
    array[sponsorship_private.receiving_side(v_proposal)]);
  if v_proposal.status in ('viewed', 'counter_offer', 'accepted', 'rejected') then
    return v_proposal;  -- opened before: nothing moves
  end if;
  perform sponsorship_private.assert_status(v_proposal, array['sent']);
  perform sponsorship_private.assert_not_expired(v_proposal, pg_catalog.now());
  update sponsorship.proposals p set status = 'viewed', viewed_at = pg_catalog.now()
   where p.proposal_id = v_proposal.proposal_id returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function sponsorship.view_proposal(proposal_id uuid) is
  E'@resultFieldName proposal\nOpens a sent proposal (sent -> viewed); opening it again changes nothing. The receiving side''s owners and admins. Errors: SPSTA (a draft or expired one), SPEXP (past its expiry), DNIED, NTFND, LOGIN. Security definer because proposals have no update grant.';

create function sponsorship.counter_proposal(proposal_id uuid, amount bigint, terms text default null) returns sponsorship.proposals
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals := sponsorship_private.lock_proposal(counter_proposal.proposal_id);
begin
  perform sponsorship_private.side(v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id,
    array[sponsorship_private.receiving_side(v_proposal)]);
  perform sponsorship_private.assert_status(v_proposal, array['viewed']);
  if counter_proposal.amount is null or counter_proposal.amount <= 0 or counter_proposal.amount > 100000000000 then
    raise exception 'An amount is a positive whole number of minor units (at most 100,000,000,000).' using errcode = 'SPAMT';
  end if;
  if counter_proposal.terms is not null and (pg_catalog.btrim(counter_proposal.terms) = '' or char_length(counter_proposal.terms) > 20000) then
    raise exception 'Terms have 1 to 20,000 characters.' using errcode = 'BADIN';
  end if;
  update sponsorship.proposals p
     set status = 'counter_offer', amount = counter_proposal.amount, terms = coalesce(counter_proposal.terms, p.terms),
         countered_at = pg_catalog.now()
   where p.proposal_id = v_proposal.proposal_id returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function sponsorship.counter_proposal(proposal_id uuid, amount bigint, terms text) is
  E'@resultFieldName proposal\nAnswers a viewed proposal with another amount (and terms) (viewed -> counter_offer); the proposing side then accepts or rejects. The receiving side''s owners and admins. Errors: SPSTA (not viewed: a draft, sent, expired or decided one), SPAMT, BADIN, DNIED, NTFND, LOGIN. Security definer because proposals have no update grant.';

create function sponsorship.accept_proposal(proposal_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals := sponsorship_private.lock_proposal(accept_proposal.proposal_id);
  v_order sponsorship.orders;
begin
  perform sponsorship_private.side(v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id,
    array[sponsorship_private.answering_side(v_proposal)]);
  perform sponsorship_private.assert_status(v_proposal, array['viewed', 'counter_offer']);
  update sponsorship.proposals p set status = 'accepted', decided_at = pg_catalog.now()
   where p.proposal_id = v_proposal.proposal_id returning * into v_proposal;
  if v_proposal.package_id is not null then
    -- One statement: the row lock serialises concurrent acceptances of the last slot.
    update sponsorship.packages k set sold = k.sold + 1 where k.package_id = v_proposal.package_id and k.sold < k.slots;
    if not found then
      raise exception 'Package % has no slot left.', v_proposal.package_id using errcode = 'SPSLT';
    end if;
  end if;
  insert into sponsorship.orders (proposal_id, package_id, event_id, sponsor_id, organizer_organization_id,
                                  sponsor_organization_id, amount, currency)
  values (v_proposal.proposal_id, v_proposal.package_id, v_proposal.event_id, v_proposal.sponsor_id,
          v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id, v_proposal.amount, v_proposal.currency)
  returning * into v_order;
  perform sponsorship_private.announce_order(v_order, null);
  return v_order;
end;
$$;
comment on function sponsorship.accept_proposal(proposal_id uuid) is
  E'@resultFieldName order\nAccepts a viewed proposal (by the receiving side) or a counter offer (by the proposing side): -> accepted, and creates the sponsorship order (escrow pending) for its amount, taking a slot of its package. Owners and admins of the answering side. Errors: SPSTA, SPSLT (no slot left), DNIED, NTFND, LOGIN. Security definer because proposals, packages and orders have no write grants for API roles.';

create function sponsorship.reject_proposal(proposal_id uuid) returns sponsorship.proposals
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals := sponsorship_private.lock_proposal(reject_proposal.proposal_id);
begin
  perform sponsorship_private.side(v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id,
    array[sponsorship_private.answering_side(v_proposal)]);
  perform sponsorship_private.assert_status(v_proposal, array['viewed', 'counter_offer']);
  update sponsorship.proposals p set status = 'rejected', decided_at = pg_catalog.now()
   where p.proposal_id = v_proposal.proposal_id returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function sponsorship.reject_proposal(proposal_id uuid) is
  E'@resultFieldName proposal\nTurns down a viewed proposal (the receiving side) or a counter offer (the proposing side): -> rejected. Errors: SPSTA, DNIED, NTFND, LOGIN. Security definer because proposals have no update grant.';

create function sponsorship_private.expire_proposals(at timestamptz default now(), max_proposals integer default 1000) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  with due as (
    select p.proposal_id from sponsorship.proposals p
     where p.status = 'sent' and p.expires_at <= expire_proposals.at
     order by p.expires_at
     limit expire_proposals.max_proposals
       for update skip locked
  )
  update sponsorship.proposals p set status = 'expired', decided_at = expire_proposals.at
    from due where p.proposal_id = due.proposal_id;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function sponsorship_private.expire_proposals(timestamptz, integer) is
  'Expires up to max_proposals sent proposals whose expires_at is at or before at (sent -> expired); returns how many. The sponsorship_expire_proposals job runs it every minute; tests pass at.';

--------------------------------------------------------------------------------
-- Deliverables.

create function sponsorship_private.lock_deliverable(deliverable_id uuid) returns sponsorship.deliverables
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_deliverable sponsorship.deliverables;
begin
  select d.* into v_deliverable from sponsorship.deliverables d where d.deliverable_id = lock_deliverable.deliverable_id for update;
  if not found then
    raise exception 'No such deliverable.' using errcode = 'NTFND';
  end if;
  return v_deliverable;
end;
$$;
comment on function sponsorship_private.lock_deliverable(uuid) is 'The deliverable row, locked for the step (NTFND if there is none).';

create function sponsorship.add_deliverable(order_id uuid, title text, due_at timestamptz, description text default null)
  returns sponsorship.deliverables
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(add_deliverable.order_id);
  v_deliverable sponsorship.deliverables;
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['organizer', 'sponsor']);
  if v_order.status not in ('pending', 'funded') then
    raise exception 'Deliverables are agreed before the order is locked (order % is %).', v_order.order_id, v_order.status using errcode = 'SPSTA';
  end if;
  if add_deliverable.title is null or pg_catalog.btrim(add_deliverable.title) = '' or char_length(add_deliverable.title) > 200
     or char_length(add_deliverable.description) > 5000 or add_deliverable.due_at is null then
    raise exception 'A deliverable has a title of 1 to 200 characters, a due date and at most 5,000 characters of description.' using errcode = 'BADIN';
  end if;
  insert into sponsorship.deliverables (order_id, sponsor_id, organizer_organization_id, sponsor_organization_id, title, description, due_at)
  values (v_order.order_id, v_order.sponsor_id, v_order.organizer_organization_id, v_order.sponsor_organization_id,
          add_deliverable.title, add_deliverable.description, add_deliverable.due_at)
  returning * into v_deliverable;
  return v_deliverable;
end;
$$;
comment on function sponsorship.add_deliverable(uuid, text, timestamptz, text) is
  E'@resultFieldName deliverable\nAdds what the organizer owes on an order, while it is pending or funded (SPSTA once locked: the list the release waits for is fixed). Either party''s owners and admins. Errors: BADIN, SPSTA, DNIED, NTFND, LOGIN. Security definer because deliverables have no insert grant.';

create function sponsorship.submit_deliverable(deliverable_id uuid, evidence jsonb) returns sponsorship.deliverables
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_deliverable sponsorship.deliverables := sponsorship_private.lock_deliverable(submit_deliverable.deliverable_id);
  v_order sponsorship.orders;
begin
  perform sponsorship_private.side(v_deliverable.organizer_organization_id, v_deliverable.sponsor_organization_id, array['organizer']);
  select o.* into v_order from sponsorship.orders o where o.order_id = v_deliverable.order_id;
  if v_order.status <> 'locked' then
    raise exception 'Deliverables are submitted while the order is locked (order % is %).', v_order.order_id, v_order.status using errcode = 'SPSTA';
  end if;
  if v_deliverable.status not in ('pending', 'rejected') then
    raise exception 'Deliverable % is %: only a pending or rejected one is submitted.', v_deliverable.deliverable_id, v_deliverable.status using errcode = 'SPSTA';
  end if;
  if submit_deliverable.evidence is null or pg_catalog.jsonb_typeof(submit_deliverable.evidence) <> 'object'
     or pg_catalog.pg_column_size(submit_deliverable.evidence) > 65536 then
    raise exception 'Evidence is a JSON object of at most 64 kB.' using errcode = 'BADIN';
  end if;
  update sponsorship.deliverables d set status = 'submitted', evidence = submit_deliverable.evidence, submitted_at = pg_catalog.now()
   where d.deliverable_id = v_deliverable.deliverable_id returning * into v_deliverable;
  return v_deliverable;
end;
$$;
comment on function sponsorship.submit_deliverable(uuid, jsonb) is
  E'@resultFieldName deliverable\nSubmits evidence for a deliverable of a locked order (pending or rejected -> submitted). The organizer''s owners and admins. Errors: SPSTA, BADIN, DNIED, NTFND, LOGIN. Security definer because deliverables have no update grant.';

create function sponsorship.review_deliverable(deliverable_id uuid, approve boolean, note text default null)
  returns sponsorship.deliverables
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_deliverable sponsorship.deliverables := sponsorship_private.lock_deliverable(review_deliverable.deliverable_id);
  v_order sponsorship.orders;
begin
  perform sponsorship_private.side(v_deliverable.organizer_organization_id, v_deliverable.sponsor_organization_id, array['sponsor']);
  -- The order first: every approval of its deliverables queues here, so exactly one of them sees the last one approved.
  v_order := sponsorship_private.lock_order(v_deliverable.order_id);
  if v_order.status <> 'locked' then
    raise exception 'Deliverables are reviewed while the order is locked (order % is %).', v_order.order_id, v_order.status using errcode = 'SPSTA';
  end if;
  if v_deliverable.status <> 'submitted' then
    raise exception 'Deliverable % is %: only a submitted one is reviewed.', v_deliverable.deliverable_id, v_deliverable.status using errcode = 'SPSTA';
  end if;
  if review_deliverable.approve is null or char_length(review_deliverable.note) > 5000 then
    raise exception 'A review approves or rejects, with a note of at most 5,000 characters.' using errcode = 'BADIN';
  end if;
  update sponsorship.deliverables d
     set status = case when review_deliverable.approve then 'approved' else 'rejected' end,
         review_note = review_deliverable.note, reviewed_at = pg_catalog.now()
   where d.deliverable_id = v_deliverable.deliverable_id returning * into v_deliverable;
  if review_deliverable.approve
     and not exists (select 1 from sponsorship.deliverables d where d.order_id = v_order.order_id and d.status <> 'approved') then
    v_order := sponsorship_private.move(v_order, array['locked'], 'released');
    perform sponsorship_private.release(v_order, 'locked');
  end if;
  return v_deliverable;
end;
$$;
comment on function sponsorship.review_deliverable(uuid, boolean, text) is
  E'@resultFieldName deliverable\nApproves or rejects a submitted deliverable (submitted -> approved or rejected). Approving the last one of a locked order releases its escrow in the same transaction (as sponsorshipApproveOrder). The sponsor''s owners and admins. Errors: SPSTA, BADIN, DNIED, NTFND, LOGIN. Security definer because deliverables, orders and ledger postings have no write grants for API roles.';

revoke execute on all functions in schema sponsorship_private from public;
revoke execute on function sponsorship.create_proposal(uuid, uuid, bigint, text, text, uuid, timestamptz),
  sponsorship.send_proposal(uuid), sponsorship.view_proposal(uuid), sponsorship.counter_proposal(uuid, bigint, text),
  sponsorship.accept_proposal(uuid), sponsorship.reject_proposal(uuid),
  sponsorship.add_deliverable(uuid, text, timestamptz, text), sponsorship.submit_deliverable(uuid, jsonb),
  sponsorship.review_deliverable(uuid, boolean, text) from public;
grant execute on function sponsorship.create_proposal(uuid, uuid, bigint, text, text, uuid, timestamptz),
  sponsorship.send_proposal(uuid), sponsorship.view_proposal(uuid), sponsorship.counter_proposal(uuid, bigint, text),
  sponsorship.accept_proposal(uuid), sponsorship.reject_proposal(uuid),
  sponsorship.add_deliverable(uuid, text, timestamptz, text), sponsorship.submit_deliverable(uuid, jsonb),
  sponsorship.review_deliverable(uuid, boolean, text) to gw_user;

--! split: 5540-sponsorship-topics.sql
-- Every escrow and proposal transition leaves through the outbox in its own
-- transaction: one outbox event per party organization (so each party's
-- webhooks receive it) and an in-app notification to each owner and admin of
-- both organizations (a handful of people: bounded, so done here rather than
-- in a worker fan-out).

insert into registry.types (namespace, code, label, description) values
  ('outbox_topic', 'sponsorship.order.created', 'Sponsorship order created', 'A proposal was accepted. Payload: orderId, proposalId, eventId, sponsorId, organizerOrganizationId, sponsorOrganizationId, amount, currency, status.'),
  ('outbox_topic', 'sponsorship.order.funded', 'Sponsorship escrow funded', 'Payload as sponsorship.order.created, plus fromStatus and transactionId.'),
  ('outbox_topic', 'sponsorship.order.locked', 'Sponsorship escrow locked', 'Payload as sponsorship.order.created, plus fromStatus.'),
  ('outbox_topic', 'sponsorship.order.released', 'Sponsorship escrow released', 'Payload as sponsorship.order.created, plus fromStatus, transactionId and fee.'),
  ('outbox_topic', 'sponsorship.order.refunded', 'Sponsorship escrow refunded', 'Payload as sponsorship.order.created, plus fromStatus and transactionId (null if it was never funded).'),
  ('outbox_topic', 'sponsorship.order.disputed', 'Sponsorship order disputed', 'Payload as sponsorship.order.created, plus fromStatus and reason.'),
  ('outbox_topic', 'sponsorship.proposal.sent', 'Sponsorship proposal sent', 'Payload: proposalId, eventId, sponsorId, organizerOrganizationId, sponsorOrganizationId, proposedBy, amount, currency, status, fromStatus.'),
  ('outbox_topic', 'sponsorship.proposal.viewed', 'Sponsorship proposal viewed', 'Payload as sponsorship.proposal.sent.'),
  ('outbox_topic', 'sponsorship.proposal.counter_offer', 'Sponsorship counter offer', 'Payload as sponsorship.proposal.sent (amount is the counter offer''s).'),
  ('outbox_topic', 'sponsorship.proposal.accepted', 'Sponsorship proposal accepted', 'Payload as sponsorship.proposal.sent.'),
  ('outbox_topic', 'sponsorship.proposal.rejected', 'Sponsorship proposal rejected', 'Payload as sponsorship.proposal.sent.'),
  ('outbox_topic', 'sponsorship.proposal.expired', 'Sponsorship proposal expired', 'Payload as sponsorship.proposal.sent.')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description;

create function sponsorship_private.announce(
  topic text, payload jsonb, aggregate_type text, aggregate_id uuid, organizer_organization_id uuid,
  sponsor_organization_id uuid, message text
) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_event bigint;
  v_user uuid;
begin
  perform outbox.publish(announce.topic, announce.payload, announce.aggregate_type, announce.aggregate_id::text,
    announce.organizer_organization_id);
  v_event := outbox.publish(announce.topic, announce.payload, announce.aggregate_type, announce.aggregate_id::text,
    announce.sponsor_organization_id);
  for v_user in
    select distinct m.user_id from auth.memberships m
     where m.organization_id in (announce.organizer_organization_id, announce.sponsor_organization_id)
       and m.role in ('owner', 'admin')
  loop
    perform outbox.notify_user(v_user, announce.topic, pg_catalog.left(announce.message, 1000), announce.payload, v_event);
  end loop;
end;
$$;
comment on function sponsorship_private.announce(text, jsonb, text, uuid, uuid, uuid, text) is
  'Publishes a sponsorship topic once for each party organization and notifies the owners and admins of both.';

create function sponsorship_private.announce_order(v_order sponsorship.orders, from_status text) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_payload jsonb := pg_catalog.jsonb_build_object('orderId', v_order.order_id, 'proposalId', v_order.proposal_id,
    'eventId', v_order.event_id, 'sponsorId', v_order.sponsor_id, 'organizerOrganizationId', v_order.organizer_organization_id,
    'sponsorOrganizationId', v_order.sponsor_organization_id, 'amount', v_order.amount::text, 'currency', v_order.currency,
    'status', v_order.status);
begin
  if announce_order.from_status is not null then
    v_payload := v_payload || pg_catalog.jsonb_build_object('fromStatus', announce_order.from_status, 'transactionId',
      case v_order.status when 'funded' then v_order.fund_transaction_id when 'released' then v_order.release_transaction_id
                          when 'refunded' then v_order.refund_transaction_id end);
    if v_order.status = 'released' then
      v_payload := v_payload || pg_catalog.jsonb_build_object('fee', v_order.fee::text);
    elsif v_order.status = 'disputed' then
      v_payload := v_payload || pg_catalog.jsonb_build_object('reason', v_order.dispute_reason);
    end if;
  end if;
  perform sponsorship_private.announce(
    'sponsorship.order.' || case when announce_order.from_status is null then 'created' else v_order.status end,
    v_payload, 'sponsorship_order', v_order.order_id, v_order.organizer_organization_id, v_order.sponsor_organization_id,
    'Sponsorship order of ' || v_order.amount::text || ' ' || v_order.currency || ': '
      || case when announce_order.from_status is null then 'created' else v_order.status end);
end;
$$;
comment on function sponsorship_private.announce_order(sponsorship.orders, text) is
  'Publishes sponsorship.order.<created|status> to both parties with a notification to their owners and admins; each escrow step calls it last, once the order row holds its ledger transaction.';

create function sponsorship_private.tg_proposals__announce() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  perform sponsorship_private.announce('sponsorship.proposal.' || new.status,
    pg_catalog.jsonb_build_object('proposalId', new.proposal_id, 'eventId', new.event_id, 'sponsorId', new.sponsor_id,
      'organizerOrganizationId', new.organizer_organization_id, 'sponsorOrganizationId', new.sponsor_organization_id,
      'proposedBy', new.proposed_by, 'amount', new.amount::text, 'currency', new.currency, 'status', new.status,
      'fromStatus', old.status),
    'sponsorship_proposal', new.proposal_id, new.organizer_organization_id, new.sponsor_organization_id,
    'Sponsorship proposal of ' || new.amount::text || ' ' || new.currency || ': ' || pg_catalog.replace(new.status, '_', ' '));
  return null;
end;
$$;
comment on function sponsorship_private.tg_proposals__announce() is
  'Publishes sponsorship.proposal.<status> to both parties with a notification to their owners and admins. Security definer because outbox.publish and outbox.notify_user are not granted to API roles.';
create trigger _500_announce_status after update of status on sponsorship.proposals
  for each row when (old.status is distinct from new.status)
  execute function sponsorship_private.tg_proposals__announce();

revoke execute on all functions in schema sponsorship_private from public;

--! split: 5550-sponsorship-matches.sql
-- Matches: suggested sponsors for upcoming published public events, recomputed
-- by the sponsorship_compute_matches job (hourly). The score adds up what the
-- sponsor said it wants: the event's category (0.6; its parent category 0.4),
-- the event's country (0.3), and an earlier sponsorship of the same organizer
-- (0.1); pairs scoring 0 are not suggested. One statement replaces the set.

create function sponsorship_private.compute_matches(at timestamptz default now()) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  delete from sponsorship.matches m
   where not exists (select 1 from events.events e
                      where e.event_id = m.event_id and e.status = 'published' and e.visibility = 'public'
                        and e.starts_at > compute_matches.at);
  with scored as (
    select e.event_id, s.sponsor_id, e.owner_context_id, s.organization_id,
           (case when e.category_code = any (s.interests) then 0.6
                 when c.parent_code = any (s.interests) then 0.4 else 0 end)
           + (case when s.country_code is not null and s.country_code = e.country_code then 0.3 else 0 end)
           + (case when exists (select 1 from sponsorship.orders o
                                 where o.sponsor_id = s.sponsor_id and o.organizer_organization_id = e.owner_context_id
                                   and o.status = 'released') then 0.1 else 0 end) as score,
           pg_catalog.concat_ws('; ',
             case when e.category_code = any (s.interests) then 'sponsors ' || e.category_code
                  when c.parent_code = any (s.interests) then 'sponsors ' || c.parent_code end,
             case when s.country_code is not null and s.country_code = e.country_code then 'active in ' || e.country_code end,
             case when exists (select 1 from sponsorship.orders o
                                where o.sponsor_id = s.sponsor_id and o.organizer_organization_id = e.owner_context_id
                                  and o.status = 'released') then 'sponsored this organizer before' end) as reason
      from events.events e
      left join ref.event_categories c on c.code = e.category_code
      cross join sponsorship.sponsors s
     where e.status = 'published' and e.visibility = 'public' and e.starts_at > compute_matches.at
       and s.organization_id <> e.owner_context_id
  ), gone as (
    delete from sponsorship.matches m
     using scored x
     where m.event_id = x.event_id and m.sponsor_id = x.sponsor_id and x.score = 0
  )
  insert into sponsorship.matches (event_id, sponsor_id, organizer_organization_id, sponsor_organization_id, score, reason, computed_at)
  select x.event_id, x.sponsor_id, x.owner_context_id, x.organization_id, x.score, x.reason, compute_matches.at
    from scored x
   where x.score > 0
  on conflict on constraint matches_pkey do update
    set score = excluded.score, reason = excluded.reason, computed_at = excluded.computed_at;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function sponsorship_private.compute_matches(timestamptz) is
  'Recomputes sponsorship.matches for published public events starting after at: category (0.6, parent 0.4), country (0.3), an earlier released sponsorship of the organizer (0.1); returns how many matches it wrote. Run hourly by sponsorship_compute_matches.';
revoke execute on function sponsorship_private.compute_matches(timestamptz) from public;
