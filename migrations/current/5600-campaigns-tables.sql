-- campaigns: the Liventix seed's advertising schema (issue 22). This file: the
-- schemas, campaign and creative statuses as registry state machines, the
-- tables under row level security, and the monthly partitions of
-- ad_impressions. Serving and counting: 5610; settlement: 5620.
--
-- An organization (the tenant, acting as itself through the org_id claim)
-- sees its campaigns and what they counted and spent; its owners and admins
-- write campaigns and creatives; operators (gw_admin) see everything and
-- approve creatives. Impressions, clicks and spend are written only by the
-- module's functions.

drop schema if exists campaigns_private cascade;
drop schema if exists campaigns cascade;
delete from registry.transitions where namespace in ('campaign_status', 'creative_status');

create schema campaigns;
comment on schema campaigns is
  'Ad campaigns of organizations: budgets and daily caps, creatives, impressions (partitioned by month) and clicks counted in batches, spend settled to the platform through the ledger.';
grant usage on schema campaigns to gw_user;

create schema campaigns_private;
comment on schema campaigns_private is 'Daily spend counters, the recording and settlement functions, the ad stream of analytics'' ingestion; never exposed.';
revoke all on schema campaigns_private from public;

insert into registry.types (namespace, code, label, description, sort_order) values
  ('campaign_status', 'draft', 'Draft', 'Being prepared; not served.', 10),
  ('campaign_status', 'active', 'Active', 'Served within its schedule while budget and daily cap allow.', 20),
  ('campaign_status', 'paused', 'Paused', 'Not served; may be resumed.', 30),
  ('campaign_status', 'ended', 'Ended', 'Finished for good.', 40),
  ('creative_status', 'pending', 'Pending review', 'Waiting for an operator''s review; not served.', 10),
  ('creative_status', 'approved', 'Approved', 'May be served.', 20),
  ('creative_status', 'rejected', 'Rejected', 'Not served; editing it asks for a review again.', 30)
on conflict (namespace, code) do update
  set label = excluded.label, description = excluded.description, sort_order = excluded.sort_order;
insert into registry.transitions (namespace, from_code, to_code, label) values
  ('campaign_status', null, 'draft', 'Create'),
  ('campaign_status', 'draft', 'active', 'Start'),
  ('campaign_status', 'active', 'paused', 'Pause'),
  ('campaign_status', 'paused', 'active', 'Resume'),
  ('campaign_status', 'draft', 'ended', 'End'),
  ('campaign_status', 'active', 'ended', 'End'),
  ('campaign_status', 'paused', 'ended', 'End'),
  ('creative_status', null, 'pending', 'Submit'),
  ('creative_status', 'pending', 'approved', 'Approve'),
  ('creative_status', 'pending', 'rejected', 'Reject'),
  ('creative_status', 'approved', 'pending', 'Edit'),
  ('creative_status', 'rejected', 'pending', 'Edit'),
  ('creative_status', 'approved', 'rejected', 'Withdraw approval')
on conflict on constraint transitions_move_key do nothing;

--------------------------------------------------------------------------------
-- campaigns.campaigns

create table campaigns.campaigns (
  campaign_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null default auth.current_org_id()
    constraint campaigns_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  name text not null
    constraint campaigns_name_check check (char_length(name) between 1 and 200),
  currency text not null default 'USD'
    constraint campaigns_currency_fkey references ledger.currencies (code) on delete restrict,
  budget bigint not null
    constraint campaigns_budget_check check (budget > 0 and budget <= 100000000000),
  daily_cap bigint
    constraint campaigns_daily_cap_check check (daily_cap > 0),
  impression_rate bigint not null default 0
    constraint campaigns_impression_rate_check check (impression_rate >= 0 and impression_rate <= 100000000),
  click_rate bigint not null default 0
    constraint campaigns_click_rate_check check (click_rate >= 0 and click_rate <= 100000000),
  starts_at timestamptz not null default now(),
  ends_at timestamptz,
  spent bigint not null default 0,
  settled bigint not null default 0,
  impressions bigint not null default 0,
  clicks bigint not null default 0,
  settled_impressions bigint not null default 0,
  settled_clicks bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint campaigns_spend_check check (spent >= 0 and spent <= budget and settled >= 0 and settled <= spent),
  constraint campaigns_counts_check check (settled_impressions between 0 and impressions and settled_clicks between 0 and clicks),
  constraint campaigns_schedule_check check (ends_at > starts_at)
);
alter table campaigns.campaigns enable row level security;
select registry.add_type_column('campaigns.campaigns', 'status', 'campaign_status', true, 'draft');
select registry.add_state_machine('campaigns.campaigns', 'status', 'campaign_status');
create index campaigns_organization_id_idx on campaigns.campaigns (organization_id, created_at);
create index campaigns_currency_idx on campaigns.campaigns (currency);
-- What the settlement job scans.
create index campaigns_unsettled_idx on campaigns.campaigns (campaign_id) where spent > settled;

create policy "an organization acting as itself sees its campaigns, operators all"
  on campaigns.campaigns for select to gw_user
  using (organization_id = (select auth.current_org_id()) or (select auth.has_role('gw_admin')));
create policy "owners and admins acting in an organization create its campaigns"
  on campaigns.campaigns for insert to gw_user
  with check (organization_id = (select events.managed_organization_id()));
create policy "owners and admins acting in an organization change its campaigns"
  on campaigns.campaigns for update to gw_user
  using (organization_id = (select events.managed_organization_id()))
  with check (organization_id = (select events.managed_organization_id()));

grant select on campaigns.campaigns to gw_user;
grant insert (organization_id, name, currency, budget, daily_cap, impression_rate, click_rate, starts_at, ends_at),
      update (name, budget, daily_cap, impression_rate, click_rate, starts_at, ends_at, status) on campaigns.campaigns to gw_user;

comment on table campaigns.campaigns is
  'An organization''s ad campaign (the seed''s campaigns): budget and daily cap in minor units, rates per impression and per click, schedule, status (draft -> active <-> paused -> ended). spent never exceeds budget, nor a UTC day''s spend the daily cap, whatever the concurrency: recording locks the campaign row. The organization acting as itself sees it; its owners and admins write it.';
comment on column campaigns.campaigns.campaign_id is 'The campaign''s id.';
comment on column campaigns.campaigns.organization_id is 'The advertising organization, whose wallet pays; defaults to the one the request acts in.';
comment on column campaigns.campaigns.name is 'Its name, 1 to 200 characters.';
comment on column campaigns.campaigns.currency is 'The currency of budget, cap, rates and spend (fixed once created).';
comment on column campaigns.campaigns.budget is 'The most it may ever spend, in minor units (not below spent).';
comment on column campaigns.campaigns.daily_cap is 'The most it may spend in one UTC day, if capped.';
comment on column campaigns.campaigns.impression_rate is 'What one impression costs, in minor units (0 to 100,000,000).';
comment on column campaigns.campaigns.click_rate is 'What one click costs, in minor units (0 to 100,000,000).';
comment on column campaigns.campaigns.starts_at is 'When it starts being served.';
comment on column campaigns.campaigns.ends_at is 'When it stops being served, if it ends.';
comment on column campaigns.campaigns.spent is 'What its counted impressions and clicks cost so far (accrued): never above budget.';
comment on column campaigns.campaigns.settled is 'How much of spent was settled through the ledger (campaigns.ad_spend_ledger).';
comment on column campaigns.campaigns.impressions is 'Impressions counted (charged).';
comment on column campaigns.campaigns.clicks is 'Clicks counted (charged).';
comment on column campaigns.campaigns.settled_impressions is 'Impressions covered by settlements.';
comment on column campaigns.campaigns.settled_clicks is 'Clicks covered by settlements.';
comment on column campaigns.campaigns.created_at is 'When it was created.';
comment on column campaigns.campaigns.updated_at is 'When it last changed.';
comment on column campaigns.campaigns.status is 'draft, active, paused or ended (registry namespace campaign_status).';
comment on constraint campaigns_organization_id_fkey on campaigns.campaigns is E'@behavior -*\nNo relation field.';
comment on constraint campaigns_currency_fkey on campaigns.campaigns is E'@behavior -*\nNo relation field.';
comment on constraint campaigns_status_type_fkey on campaigns.campaigns is E'@behavior -*\nNo relation field: status is the code.';

create function campaigns_private.tg_campaigns__validate() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  if new.name is null or pg_catalog.btrim(new.name) = '' or char_length(new.name) > 200 then
    raise exception 'A campaign name has 1 to 200 characters.' using errcode = 'BADIN';
  end if;
  if new.impression_rate is null or new.click_rate is null or new.impression_rate < 0 or new.click_rate < 0
     or new.impression_rate > 100000000 or new.click_rate > 100000000 then
    raise exception 'Rates are whole numbers of minor units from 0 to 100,000,000.' using errcode = 'CPRAT';
  end if;
  if new.budget is null or new.budget <= 0 or new.budget > 100000000000 or new.budget < new.spent
     or new.daily_cap is not null and new.daily_cap <= 0 then
    raise exception 'A budget is positive (at most 100,000,000,000) and not below what was spent (%); a daily cap is positive.', new.spent
      using errcode = 'CPBUD';
  end if;
  if new.starts_at is null or new.ends_at <= new.starts_at then
    raise exception 'A campaign ends after it starts.' using errcode = 'CPDAT';
  end if;
  if tg_op = 'INSERT' and not exists (select 1 from ledger.currencies c where c.code = new.currency) then
    raise exception 'Unknown currency %.', pg_catalog.left(new.currency, 10) using errcode = 'CPCUR';
  end if;
  if tg_op = 'UPDATE' then
    new.updated_at := pg_catalog.now();
  end if;
  return new;
end;
$$;
comment on function campaigns_private.tg_campaigns__validate() is 'Coded errors for bad campaigns (BADIN, CPRAT, CPBUD, CPDAT, CPCUR); keeps updated_at.';
create trigger _100_validate before insert or update on campaigns.campaigns
  for each row execute function campaigns_private.tg_campaigns__validate();

--------------------------------------------------------------------------------
-- campaigns.ad_creatives

create table campaigns.ad_creatives (
  creative_id uuid primary key default gen_random_uuid(),
  campaign_id uuid not null
    constraint ad_creatives_campaign_id_fkey references campaigns.campaigns (campaign_id) on delete cascade,
  organization_id uuid not null
    constraint ad_creatives_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  format text not null
    constraint ad_creatives_format_check check (format in ('banner', 'video', 'native', 'text')),
  content jsonb not null
    constraint ad_creatives_content_check check (jsonb_typeof(content) = 'object' and pg_column_size(content) <= 65536),
  review_note text
    constraint ad_creatives_review_note_check check (char_length(review_note) <= 2000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table campaigns.ad_creatives enable row level security;
select registry.add_type_column('campaigns.ad_creatives', 'approval_status', 'creative_status', true, 'pending');
select registry.add_state_machine('campaigns.ad_creatives', 'approval_status', 'creative_status');
create index ad_creatives_campaign_id_idx on campaigns.ad_creatives (campaign_id);
create index ad_creatives_organization_id_idx on campaigns.ad_creatives (organization_id);

create policy "an organization acting as itself sees its creatives, operators all"
  on campaigns.ad_creatives for select to gw_user
  using (organization_id = (select auth.current_org_id()) or (select auth.has_role('gw_admin')));
create policy "owners and admins acting in an organization add creatives to its campaigns"
  on campaigns.ad_creatives for insert to gw_user
  with check (organization_id = (select events.managed_organization_id()));
create policy "owners and admins acting in an organization edit its creatives"
  on campaigns.ad_creatives for update to gw_user
  using (organization_id = (select events.managed_organization_id()))
  with check (organization_id = (select events.managed_organization_id()));

grant select on campaigns.ad_creatives to gw_user;
grant insert (campaign_id, format, content), update (format, content) on campaigns.ad_creatives to gw_user;

comment on table campaigns.ad_creatives is
  'What a campaign shows (the seed''s ad_creatives): format and content, served only once an operator approved it (campaignsReviewCreative); editing it asks for a review again. The organization acting as itself sees them; its owners and admins write them.';
comment on column campaigns.ad_creatives.creative_id is 'The creative''s id.';
comment on column campaigns.ad_creatives.campaign_id is 'Its campaign.';
comment on column campaigns.ad_creatives.organization_id is 'The campaign''s organization (set from the campaign).';
comment on column campaigns.ad_creatives.format is 'banner, video, native or text.';
comment on column campaigns.ad_creatives.content is 'What to show: a JSON object (headline, image URL, target URL...), at most 64 kB; clients must escape it.';
comment on column campaigns.ad_creatives.review_note is 'The operator''s note on the review.';
comment on column campaigns.ad_creatives.created_at is 'When it was added.';
comment on column campaigns.ad_creatives.updated_at is 'When it last changed.';
comment on column campaigns.ad_creatives.approval_status is 'pending, approved or rejected (registry namespace creative_status).';
comment on constraint ad_creatives_campaign_id_fkey on campaigns.ad_creatives is E'@fieldName campaign\n@foreignFieldName creatives';
comment on constraint ad_creatives_organization_id_fkey on campaigns.ad_creatives is E'@behavior -*\nNo relation field.';
comment on constraint ad_creatives_approval_status_type_fkey on campaigns.ad_creatives is E'@behavior -*\nNo relation field: the status is the code.';

create function campaigns_private.tg_ad_creatives__prepare() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    select c.organization_id into new.organization_id from campaigns.campaigns c where c.campaign_id = new.campaign_id;
    if new.organization_id is null then
      raise exception 'No campaign %.', new.campaign_id using errcode = 'NTFND';
    end if;
  elsif new.content is distinct from old.content or new.format is distinct from old.format then
    -- An edited creative is reviewed again.
    new.approval_status := 'pending';
    new.updated_at := pg_catalog.now();
  end if;
  if new.format is null or new.format not in ('banner', 'video', 'native', 'text') then
    raise exception 'A format is banner, video, native or text.' using errcode = 'BADIN';
  end if;
  if new.content is null or pg_catalog.jsonb_typeof(new.content) <> 'object' or pg_catalog.pg_column_size(new.content) > 65536 then
    raise exception 'Content is a JSON object of at most 64 kB.' using errcode = 'BADIN';
  end if;
  return new;
end;
$$;
comment on function campaigns_private.tg_ad_creatives__prepare() is
  'Takes the organization from the campaign (the insert policy then checks it is the caller''s), sends an edited creative back to review, coded errors (NTFND, BADIN). Security definer because it reads the campaign whatever the writer may see, so that a campaign of another organization fails the policy rather than looking absent.';
create trigger _050_prepare before insert or update on campaigns.ad_creatives
  for each row execute function campaigns_private.tg_ad_creatives__prepare();

--------------------------------------------------------------------------------
-- campaigns.ad_impressions: partitioned by month (UTC) on occurred_at.

create table campaigns.ad_impressions (
  impression_id uuid not null,
  occurred_at timestamptz not null,
  campaign_id uuid not null
    constraint ad_impressions_campaign_id_fkey references campaigns.campaigns (campaign_id) on delete cascade,
  creative_id uuid not null
    constraint ad_impressions_creative_id_fkey references campaigns.ad_creatives (creative_id) on delete cascade,
  event_id uuid
    constraint ad_impressions_event_id_fkey references events.events (event_id) on delete set null,
  organization_id uuid not null,
  cost bigint not null
    constraint ad_impressions_cost_check check (cost >= 0),
  constraint ad_impressions_pkey primary key (impression_id, occurred_at)
) partition by range (occurred_at);
alter table campaigns.ad_impressions enable row level security;
create index ad_impressions_campaign_id_idx on campaigns.ad_impressions (campaign_id, occurred_at);
create index ad_impressions_creative_id_idx on campaigns.ad_impressions (creative_id);
create index ad_impressions_event_id_idx on campaigns.ad_impressions (event_id);

create policy "an organization acting as itself sees its impressions, operators all"
  on campaigns.ad_impressions for select to gw_user
  using (organization_id = (select auth.current_org_id()) or (select auth.has_role('gw_admin')));
grant select on campaigns.ad_impressions to gw_user;

comment on table campaigns.ad_impressions is
  E'@behavior -insert -update -delete\nEach counted (charged) impression of a campaign (the seed''s ad_impressions), partitioned by UTC month of occurred_at (partitions in analytics_private, made ahead and dropped past retention by analytics'' partition jobs, on demand by the writers); recorded by campaignsRecordImpressions or analyticsIngestImpressions (stream ad). Filter by occurredAt so that queries read only the months they need. The organization acting as itself sees its own.';
comment on column campaigns.ad_impressions.impression_id is 'The client''s id of the impression (a replay of the same id within a day is counted once).';
comment on column campaigns.ad_impressions.occurred_at is 'When it was recorded (server time): the partition key.';
comment on column campaigns.ad_impressions.campaign_id is 'The campaign.';
comment on column campaigns.ad_impressions.creative_id is 'The creative shown.';
comment on column campaigns.ad_impressions.event_id is 'The event page it was shown on, if any.';
comment on column campaigns.ad_impressions.organization_id is 'The campaign''s organization (for isolation without a join).';
comment on column campaigns.ad_impressions.cost is 'What it cost: the campaign''s impression rate when it was counted.';
comment on constraint ad_impressions_campaign_id_fkey on campaigns.ad_impressions is E'@fieldName campaign\n@foreignFieldName adImpressions';
comment on constraint ad_impressions_creative_id_fkey on campaigns.ad_impressions is E'@fieldName creative\n@foreignFieldName impressions';
comment on constraint ad_impressions_event_id_fkey on campaigns.ad_impressions is E'@fieldName event\n@foreignFieldName adImpressions';

-- The month partitions are analytics' (one mechanism for every monthly table):
-- 5790-analytics-ad-stream.sql registers this table in
-- analytics_private.partitioned_tables (made ahead by analytics_create_partitions,
-- on demand by the writers, dropped past retention by analytics_drop_partitions).

--------------------------------------------------------------------------------
-- campaigns.ad_clicks: one per impression.

create table campaigns.ad_clicks (
  click_id uuid primary key default gen_random_uuid(),
  impression_id uuid not null
    constraint ad_clicks_impression_id_key unique,
  impression_occurred_at timestamptz not null,
  campaign_id uuid not null
    constraint ad_clicks_campaign_id_fkey references campaigns.campaigns (campaign_id) on delete cascade,
  organization_id uuid not null,
  occurred_at timestamptz not null,
  cost bigint not null
    constraint ad_clicks_cost_check check (cost >= 0)
);
alter table campaigns.ad_clicks enable row level security;
create index ad_clicks_campaign_id_idx on campaigns.ad_clicks (campaign_id, occurred_at);

create policy "an organization acting as itself sees its clicks, operators all"
  on campaigns.ad_clicks for select to gw_user
  using (organization_id = (select auth.current_org_id()) or (select auth.has_role('gw_admin')));
grant select on campaigns.ad_clicks to gw_user;

comment on table campaigns.ad_clicks is
  E'@behavior -insert -update -delete\nEach counted (charged) click (the seed''s ad_clicks): at most one per impression, never without one; recorded only by campaignsRecordClicks. The organization acting as itself sees its own.';
comment on column campaigns.ad_clicks.click_id is 'The click''s id.';
comment on column campaigns.ad_clicks.impression_id is 'The impression clicked (unique: one click per impression).';
comment on column campaigns.ad_clicks.impression_occurred_at is 'When that impression occurred (its partition key). No foreign key: retention drops impression months whole (analytics_drop_partitions), and record_clicks checks the impression exists.';
comment on column campaigns.ad_clicks.campaign_id is 'The campaign.';
comment on column campaigns.ad_clicks.organization_id is 'The campaign''s organization.';
comment on column campaigns.ad_clicks.occurred_at is 'When it was recorded.';
comment on column campaigns.ad_clicks.cost is 'What it cost: the campaign''s click rate when it was counted.';
comment on constraint ad_clicks_campaign_id_fkey on campaigns.ad_clicks is E'@fieldName campaign\n@foreignFieldName adClicks';

--------------------------------------------------------------------------------
-- campaigns.ad_spend_ledger: the seed's spend record, one row per settlement.

create table campaigns.ad_spend_ledger (
  spend_id bigint generated always as identity primary key,
  campaign_id uuid not null
    constraint ad_spend_ledger_campaign_id_fkey references campaigns.campaigns (campaign_id) on delete restrict,
  organization_id uuid not null
    constraint ad_spend_ledger_organization_id_fkey references auth.organizations (organization_id) on delete restrict,
  wallet_id bigint not null
    constraint ad_spend_ledger_wallet_id_fkey references ledger.accounts (account_id) on delete restrict,
  amount bigint not null
    constraint ad_spend_ledger_amount_check check (amount > 0),
  currency text not null,
  impressions bigint not null
    constraint ad_spend_ledger_impressions_check check (impressions >= 0),
  clicks bigint not null
    constraint ad_spend_ledger_clicks_check check (clicks >= 0),
  period_start timestamptz not null,
  period_end timestamptz not null,
  -- A ledger transaction id. No foreign key: ledger rows are immutable and never deleted, and a key
  -- would make TRUNCATE of the ledger fail on this table before the ledger's own guard (LIMMU) answers.
  transaction_id bigint not null
    constraint ad_spend_ledger_transaction_id_key unique,
  created_at timestamptz not null default now(),
  constraint ad_spend_ledger_period_check check (period_end > period_start)
);
alter table campaigns.ad_spend_ledger enable row level security;
create index ad_spend_ledger_campaign_id_idx on campaigns.ad_spend_ledger (campaign_id, period_end);
create index ad_spend_ledger_organization_id_idx on campaigns.ad_spend_ledger (organization_id, period_end);
create index ad_spend_ledger_wallet_id_idx on campaigns.ad_spend_ledger (wallet_id);

create policy "an organization acting as itself sees its spend, operators all"
  on campaigns.ad_spend_ledger for select to gw_user
  using (organization_id = (select auth.current_org_id()) or (select auth.has_role('gw_admin')));
grant select on campaigns.ad_spend_ledger to gw_user;

comment on table campaigns.ad_spend_ledger is
  'Spend settled through the ledger (the seed''s ad_spend_ledger: campaign, wallet, amount, period): one row per settlement by the campaigns_settle_spend job, each the ledger transaction that moved amount from the organization''s wallet to platform revenue, and the impressions and clicks it paid for. Per campaign, the amounts sum to settled, and with what is not settled yet to the costs of its counted impressions and clicks.';
comment on column campaigns.ad_spend_ledger.spend_id is 'The settlement''s id.';
comment on column campaigns.ad_spend_ledger.campaign_id is 'The campaign.';
comment on column campaigns.ad_spend_ledger.organization_id is 'The campaign''s organization.';
comment on column campaigns.ad_spend_ledger.wallet_id is 'The organization''s wallet it was paid from (a ledger account).';
comment on column campaigns.ad_spend_ledger.amount is 'What was paid, in minor units.';
comment on column campaigns.ad_spend_ledger.currency is 'The campaign''s currency.';
comment on column campaigns.ad_spend_ledger.impressions is 'Impressions it paid for.';
comment on column campaigns.ad_spend_ledger.clicks is 'Clicks it paid for.';
comment on column campaigns.ad_spend_ledger.period_start is 'Spend counted after this moment (the previous settlement)...';
comment on column campaigns.ad_spend_ledger.period_end is '...up to this one.';
comment on column campaigns.ad_spend_ledger.transaction_id is 'The ledger transaction (kind campaigns.spend).';
comment on column campaigns.ad_spend_ledger.created_at is 'When it was settled.';
comment on constraint ad_spend_ledger_campaign_id_fkey on campaigns.ad_spend_ledger is E'@fieldName campaign\n@foreignFieldName spendLedger';
comment on constraint ad_spend_ledger_organization_id_fkey on campaigns.ad_spend_ledger is E'@behavior -*\nNo relation field.';
comment on constraint ad_spend_ledger_wallet_id_fkey on campaigns.ad_spend_ledger is E'@behavior -*\nNo relation field: the wallet is payments.wallets.walletId.';

--------------------------------------------------------------------------------
-- A day's spend per campaign: what the daily cap is checked against.

create table campaigns_private.daily_spend (
  campaign_id uuid not null
    constraint daily_spend_campaign_id_fkey references campaigns.campaigns (campaign_id) on delete cascade,
  day date not null,
  spent bigint not null default 0,
  impressions bigint not null default 0,
  clicks bigint not null default 0,
  constraint daily_spend_pkey primary key (campaign_id, day)
);
alter table campaigns_private.daily_spend enable row level security;
comment on table campaigns_private.daily_spend is
  'Spend, impressions and clicks of a campaign per UTC day, kept by the recording functions under the campaign row lock: the daily cap is checked against it.';
