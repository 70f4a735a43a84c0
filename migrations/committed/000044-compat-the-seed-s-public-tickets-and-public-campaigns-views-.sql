--! Previous: sha1:e9fe73a71c9ead015695faceedd5c0dbde68bd2a
--! Hash: sha1:7f35e8e9c3c98dce58db67c314a37a32763af328
--! Message: compat: the seed's public.tickets and public.campaigns views (issues 19, 22)

--! split: 5991-compat-tickets-campaigns.sql
-- The seed's other two compatibility views (liventix-architecture.md, "public
-- (Compatibility Layer)": campaigns → campaigns.campaigns, tickets →
-- ticketing.tickets), now that those modules exist. Like public.events they are
-- security_invoker, so each caller sees exactly what the module's own RLS shows
-- them, and read-only: writes go through the modules' functions (a ticket's
-- state only moves through ticketing's functions; a campaign's spend only
-- through the batches).

drop view if exists public.tickets;
create view public.tickets with (security_invoker = true) as
  select t.ticket_id as id, t.event_id, t.tier_id, t.order_item_id, t.organization_id, t.owner_user_id, t.status,
         t.code, t.previous_ticket_id, t.redeemed_at, t.redeemed_by, t.closed_at, t.created_at
    from ticketing.tickets t;
comment on view public.tickets is
  'The seed''s public.tickets: ticketing.tickets with its id as id, under the caller''s row level security (security_invoker: owners see their tickets, members of the event''s organization its tickets). Read-only: tickets move through the ticketing functions.';
comment on column public.tickets.id is 'The ticket''s id (ticketing.tickets.ticket_id).';
comment on column public.tickets.event_id is 'The event it admits to.';
comment on column public.tickets.tier_id is 'Its tier.';
comment on column public.tickets.order_item_id is 'The order line that issued it.';
comment on column public.tickets.organization_id is 'The event''s organization.';
comment on column public.tickets.owner_user_id is 'Who holds it.';
comment on column public.tickets.status is 'issued, redeemed, transferred, refunded or cancelled.';
comment on column public.tickets.code is 'The unguessable code scanned at the door.';
comment on column public.tickets.previous_ticket_id is 'The ticket it replaced on a transfer.';
comment on column public.tickets.redeemed_at is 'When it was scanned.';
comment on column public.tickets.redeemed_by is 'Who scanned it.';
comment on column public.tickets.closed_at is 'When it left the issued state.';
comment on column public.tickets.created_at is 'When it was issued.';
grant select on public.tickets to gw_user;

drop view if exists public.campaigns;
create view public.campaigns with (security_invoker = true) as
  select c.campaign_id as id, c.organization_id, c.name, c.status, c.currency, c.budget, c.daily_cap, c.impression_rate,
         c.click_rate, c.starts_at, c.ends_at, c.spent, c.settled, c.impressions, c.clicks, c.created_at, c.updated_at
    from campaigns.campaigns c;
comment on view public.campaigns is
  'The seed''s public.campaigns: campaigns.campaigns with its id as id, under the caller''s row level security (security_invoker: members of the advertising organization). Read-only: write through the campaigns module.';
comment on column public.campaigns.id is 'The campaign''s id (campaigns.campaigns.campaign_id).';
comment on column public.campaigns.organization_id is 'The advertising organization.';
comment on column public.campaigns.name is 'Its name.';
comment on column public.campaigns.status is 'draft, active, paused or ended.';
comment on column public.campaigns.currency is 'The currency of its budget and rates.';
comment on column public.campaigns.budget is 'Its whole budget, in minor units.';
comment on column public.campaigns.daily_cap is 'The most it spends in a day, in minor units, if capped.';
comment on column public.campaigns.impression_rate is 'What an impression costs, in minor units.';
comment on column public.campaigns.click_rate is 'What a click costs, in minor units.';
comment on column public.campaigns.starts_at is 'When serving may start.';
comment on column public.campaigns.ends_at is 'When serving stops, if ever.';
comment on column public.campaigns.spent is 'What it has spent (accrued), in minor units.';
comment on column public.campaigns.settled is 'What of that was settled from the wallet.';
comment on column public.campaigns.impressions is 'Impressions counted.';
comment on column public.campaigns.clicks is 'Clicks counted.';
comment on column public.campaigns.created_at is 'When it was created.';
comment on column public.campaigns.updated_at is 'When it last changed.';
grant select on public.campaigns to gw_user;
