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
