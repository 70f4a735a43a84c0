--! Previous: sha1:ffebbf5ce53e6509e17a4f9b525c7bd20058d9f9
--! Hash: sha1:c5984d0bd3e6aa1f124a3c4c5f85e197c2f7e6a3
--! Message: campaigns: ads with a spend ledger that never overspends (issue 22)

--! split: 5600-campaigns-tables.sql
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

--! split: 5610-campaigns-serving.sql
-- Serving and counting. Impressions and clicks arrive in batches (never one
-- ledger transaction each): a batch locks its campaign's row, so batches of
-- one campaign run one at a time and each sees what the previous one spent;
-- it counts as many rows as budget and daily cap still allow at the
-- campaign's rates and refuses the rest (the campaign has stopped being
-- served). Spend accrues on the campaign row and the day's counter in the same
-- statement sequence; money moves later, in settlement batches (5620).
--
-- The batch functions with an explicit time (campaigns_private.record_*)
-- are the ones an ingestion mechanism calls (analytics' batch endpoint, or
-- the public wrappers below, which pass now()).

create type campaigns.batch_result as (
  accepted integer,
  duplicates integer,
  refused integer,
  spent bigint,
  remaining bigint
);
comment on type campaigns.batch_result is
  'What a batch counted: accepted (counted and charged), duplicates (replays of rows already counted, free), refused (over budget or daily cap: not counted, not charged), the campaign''s spent after it, and what its budget still allows.';
comment on column campaigns.batch_result.accepted is 'Rows counted and charged.';
comment on column campaigns.batch_result.duplicates is 'Rows already counted before (or twice in the batch): ignored, not charged.';
comment on column campaigns.batch_result.refused is 'Rows over the budget or the daily cap: not counted, not charged.';
comment on column campaigns.batch_result.spent is 'The campaign''s spend after the batch.';
comment on column campaigns.batch_result.remaining is 'Budget minus spend after the batch.';

-- The campaign a batch may count for at a moment, locked; or a coded refusal.
create function campaigns_private.lock_for_batch(campaign_id uuid, at timestamptz, trusted boolean) returns campaigns.campaigns
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_campaign campaigns.campaigns;
begin
  select c.* into v_campaign from campaigns.campaigns c where c.campaign_id = lock_for_batch.campaign_id for update;
  if not found or (not lock_for_batch.trusted and v_campaign.organization_id is distinct from auth.current_org_id()) then
    raise exception 'No campaign % of your organization.', lock_for_batch.campaign_id using errcode = 'NTFND';
  end if;
  if v_campaign.status <> 'active' or lock_for_batch.at < v_campaign.starts_at or lock_for_batch.at >= v_campaign.ends_at then
    raise exception 'Campaign % is not being served (status %, schedule % to %).', v_campaign.campaign_id, v_campaign.status,
      v_campaign.starts_at, coalesce(v_campaign.ends_at::text, 'open') using errcode = 'CPOFF';
  end if;
  return v_campaign;
end;
$$;
comment on function campaigns_private.lock_for_batch(uuid, timestamptz, boolean) is
  'Locks the campaign for a batch: NTFND unless it exists and (for an untrusted caller) belongs to the organization the request acts in; CPOFF unless active and within its schedule at at.';

-- How many of n rows at rate fit what budget and the day's cap still allow.
create function campaigns_private.affordable(v_campaign campaigns.campaigns, day_spent bigint, n integer, rate bigint) returns integer
  language sql
  immutable
  set search_path = ''
as $$
  select case when affordable.rate = 0 then affordable.n
              else least(affordable.n::bigint,
                         (v_campaign.budget - v_campaign.spent) / affordable.rate,
                         coalesce((v_campaign.daily_cap - affordable.day_spent) / affordable.rate, affordable.n::bigint),
                         affordable.n::bigint)::integer end
$$;
comment on function campaigns_private.affordable(campaigns.campaigns, bigint, integer, bigint) is
  'How many of n rows at rate the campaign''s remaining budget and the day''s remaining cap pay for (all of them when the rate is 0).';

create function campaigns_private.record_impressions(
  campaign_id uuid, creative_id uuid, impression_ids uuid[], event_ids uuid[], at timestamptz, trusted boolean
) returns campaigns.batch_result
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_campaign campaigns.campaigns := campaigns_private.lock_for_batch(record_impressions.campaign_id, record_impressions.at, record_impressions.trusted);
  v_n integer := coalesce(pg_catalog.cardinality(record_impressions.impression_ids), 0);
  v_day date := (record_impressions.at at time zone 'UTC')::date;
  v_day_spent bigint;
  v_fresh integer;
  v_allowed integer;
  v_cost bigint;
begin
  if v_n > 10000 then
    raise exception 'A batch has at most 10,000 impressions, not %.', v_n using errcode = 'CPBAT';
  end if;
  if record_impressions.event_ids is not null and pg_catalog.cardinality(record_impressions.event_ids) <> v_n then
    raise exception 'eventIds, when given, has one entry per impression.' using errcode = 'BADIN';
  end if;
  if pg_catalog.array_position(record_impressions.impression_ids, null) is not null then
    raise exception 'Every impression has an id.' using errcode = 'BADIN';
  end if;
  if not exists (select 1 from campaigns.ad_creatives k
                  where k.creative_id = record_impressions.creative_id and k.campaign_id = v_campaign.campaign_id
                    and k.approval_status = 'approved') then
    raise exception 'Creative % is not an approved creative of campaign %.', record_impressions.creative_id, v_campaign.campaign_id
      using errcode = 'CPCRE';
  end if;
  if v_n = 0 then
    return row(0, 0, 0, v_campaign.spent, v_campaign.budget - v_campaign.spent)::campaigns.batch_result;
  end if;
  perform analytics_private.ensure_month_partition('campaigns.ad_impressions', v_day);
  select d.spent into v_day_spent from campaigns_private.daily_spend d
   where d.campaign_id = v_campaign.campaign_id and d.day = v_day;
  v_day_spent := coalesce(v_day_spent, 0);

  -- Fresh ids: first occurrence in the batch, not counted in the last day (a
  -- replay window of 24 hours, read from at most two partitions); as many of
  -- them, in batch order, as budget and daily cap pay for.
  with fresh as (
    select distinct on (u.impression_id) u.impression_id, u.event_id, u.ord
      from unnest(record_impressions.impression_ids, coalesce(record_impressions.event_ids,
                  pg_catalog.array_fill(null::uuid, array[v_n]))) with ordinality as u (impression_id, event_id, ord)
     where not exists (select 1 from campaigns.ad_impressions i
                        where i.impression_id = u.impression_id
                          and i.occurred_at > record_impressions.at - interval '1 day'
                          and i.occurred_at <= record_impressions.at)
     order by u.impression_id, u.ord
  ), counted as (
    insert into campaigns.ad_impressions (impression_id, occurred_at, campaign_id, creative_id, event_id, organization_id, cost)
    select f.impression_id, record_impressions.at, v_campaign.campaign_id, record_impressions.creative_id, f.event_id,
           v_campaign.organization_id, v_campaign.impression_rate
      from fresh f
     order by f.ord
     limit (select campaigns_private.affordable(v_campaign, v_day_spent, pg_catalog.count(*)::integer, v_campaign.impression_rate) from fresh)
    returning 1
  )
  select (select pg_catalog.count(*) from fresh)::integer, (select pg_catalog.count(*) from counted)::integer into v_fresh, v_allowed;
  if v_allowed > 0 then
    v_cost := v_allowed::bigint * v_campaign.impression_rate;
    update campaigns.campaigns c
       set spent = c.spent + v_cost, impressions = c.impressions + v_allowed
     where c.campaign_id = v_campaign.campaign_id
    returning * into v_campaign;
    insert into campaigns_private.daily_spend as d (campaign_id, day, spent, impressions)
    values (v_campaign.campaign_id, v_day, v_cost, v_allowed)
    on conflict on constraint daily_spend_pkey do update
      set spent = d.spent + excluded.spent, impressions = d.impressions + excluded.impressions;
  end if;
  return row(v_allowed, v_n - v_fresh, v_fresh - v_allowed, v_campaign.spent, v_campaign.budget - v_campaign.spent)::campaigns.batch_result;
end;
$$;
comment on function campaigns_private.record_impressions(uuid, uuid, uuid[], uuid[], timestamptz, boolean) is
  'Counts a batch of impressions of one campaign and creative at time at (the partition key): locks the campaign, drops ids already counted in the last 24 hours or repeated in the batch, counts as many as budget and daily cap allow at the impression rate (the rest refused), accrues the spend. trusted skips the organization check (an ingestion mechanism that has authenticated its caller). Errors: NTFND, CPOFF, CPCRE, CPBAT, BADIN.';

create function campaigns_private.record_clicks(campaign_id uuid, impression_ids uuid[], at timestamptz, trusted boolean)
  returns campaigns.batch_result
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_campaign campaigns.campaigns := campaigns_private.lock_for_batch(record_clicks.campaign_id, record_clicks.at, record_clicks.trusted);
  v_n integer := coalesce(pg_catalog.cardinality(record_clicks.impression_ids), 0);
  v_day date := (record_clicks.at at time zone 'UTC')::date;
  v_day_spent bigint;
  v_fresh integer;
  v_allowed integer;
  v_cost bigint;
begin
  if v_n > 10000 then
    raise exception 'A batch has at most 10,000 clicks, not %.', v_n using errcode = 'CPBAT';
  end if;
  if pg_catalog.array_position(record_clicks.impression_ids, null) is not null then
    raise exception 'Every click names its impression.' using errcode = 'BADIN';
  end if;
  if v_n = 0 then
    return row(0, 0, 0, v_campaign.spent, v_campaign.budget - v_campaign.spent)::campaigns.batch_result;
  end if;
  -- Every click names an impression of this campaign from the last 30 days.
  if exists (select 1 from unnest(record_clicks.impression_ids) x (impression_id)
              where not exists (select 1 from campaigns.ad_impressions i
                                 where i.impression_id = x.impression_id and i.campaign_id = v_campaign.campaign_id
                                   and i.occurred_at > record_clicks.at - interval '30 days' and i.occurred_at <= record_clicks.at)) then
    raise exception 'A click without an impression of campaign % in the last 30 days: the batch is refused.', v_campaign.campaign_id
      using errcode = 'CPIMP';
  end if;
  select d.spent into v_day_spent from campaigns_private.daily_spend d where d.campaign_id = v_campaign.campaign_id and d.day = v_day;
  with fresh as (
    select distinct on (u.impression_id) u.impression_id, i.occurred_at, u.ord
      from unnest(record_clicks.impression_ids) with ordinality as u (impression_id, ord)
      join campaigns.ad_impressions i
        on i.impression_id = u.impression_id and i.campaign_id = v_campaign.campaign_id
       and i.occurred_at > record_clicks.at - interval '30 days' and i.occurred_at <= record_clicks.at
     where not exists (select 1 from campaigns.ad_clicks k where k.impression_id = u.impression_id)
     order by u.impression_id, u.ord
  ), counted as (
    insert into campaigns.ad_clicks (impression_id, impression_occurred_at, campaign_id, organization_id, occurred_at, cost)
    select f.impression_id, f.occurred_at, v_campaign.campaign_id, v_campaign.organization_id, record_clicks.at, v_campaign.click_rate
      from fresh f
     order by f.ord
     limit (select campaigns_private.affordable(v_campaign, coalesce(v_day_spent, 0), pg_catalog.count(*)::integer, v_campaign.click_rate) from fresh)
    returning 1
  )
  select (select pg_catalog.count(*) from fresh)::integer, (select pg_catalog.count(*) from counted)::integer into v_fresh, v_allowed;
  if v_allowed > 0 then
    v_cost := v_allowed::bigint * v_campaign.click_rate;
    update campaigns.campaigns c
       set spent = c.spent + v_cost, clicks = c.clicks + v_allowed
     where c.campaign_id = v_campaign.campaign_id
    returning * into v_campaign;
    insert into campaigns_private.daily_spend as d (campaign_id, day, spent, clicks)
    values (v_campaign.campaign_id, v_day, v_cost, v_allowed)
    on conflict on constraint daily_spend_pkey do update set spent = d.spent + excluded.spent, clicks = d.clicks + excluded.clicks;
  end if;
  return row(v_allowed, v_n - v_fresh, v_fresh - v_allowed, v_campaign.spent, v_campaign.budget - v_campaign.spent)::campaigns.batch_result;
end;
$$;
comment on function campaigns_private.record_clicks(uuid, uuid[], timestamptz, boolean) is
  'Counts a batch of clicks of one campaign at time at: every id must be an impression of the campaign from the last 30 days (CPIMP refuses the whole batch otherwise: click fraud basics); an impression already clicked is a duplicate (one click per impression); as many as budget and daily cap allow at the click rate are counted, the rest refused. Errors: NTFND, CPOFF, CPIMP, CPBAT, BADIN.';

--------------------------------------------------------------------------------
-- The API.

create function campaigns.record_impressions(campaign_id uuid, creative_id uuid, impression_ids uuid[], event_ids uuid[] default null)
  returns campaigns.batch_result
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  return campaigns_private.record_impressions(record_impressions.campaign_id, record_impressions.creative_id,
    record_impressions.impression_ids, record_impressions.event_ids, pg_catalog.now(), false);
end;
$$;
comment on function campaigns.record_impressions(uuid, uuid, uuid[], uuid[]) is
  E'@resultFieldName result\nRecords a batch of up to 10,000 impressions of an active campaign of the organization the request acts in, shown with one approved creative (impressionIds: the client''s ids, so a retried batch is counted once; eventIds: the event page of each, optional). Counts only what budget and daily cap still pay for. Errors: LOGIN, NTFND (not your organization''s campaign), CPOFF (not active or outside its schedule), CPCRE, CPBAT, BADIN. Security definer because impressions and spend have no write grants for API roles.';

create function campaigns.record_clicks(campaign_id uuid, impression_ids uuid[]) returns campaigns.batch_result
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  return campaigns_private.record_clicks(record_clicks.campaign_id, record_clicks.impression_ids, pg_catalog.now(), false);
end;
$$;
comment on function campaigns.record_clicks(uuid, uuid[]) is
  E'@resultFieldName result\nRecords a batch of up to 10,000 clicks of an active campaign of the organization the request acts in, each naming its impression: at most one click per impression, none without one (CPIMP refuses the batch). Errors: LOGIN, NTFND, CPOFF, CPIMP, CPBAT, BADIN. Security definer because clicks and spend have no write grants for API roles.';

create function campaigns.review_creative(creative_id uuid, approve boolean, note text default null) returns campaigns.ad_creatives
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_creative campaigns.ad_creatives;
begin
  perform auth_private.assert_operator();
  if review_creative.approve is null or char_length(review_creative.note) > 2000 then
    raise exception 'A review approves or rejects, with a note of at most 2,000 characters.' using errcode = 'BADIN';
  end if;
  update campaigns.ad_creatives k
     set approval_status = case when review_creative.approve then 'approved' else 'rejected' end, review_note = review_creative.note
   where k.creative_id = review_creative.creative_id
  returning * into v_creative;
  if not found then
    raise exception 'No creative %.', review_creative.creative_id using errcode = 'NTFND';
  end if;
  return v_creative;
end;
$$;
comment on function campaigns.review_creative(uuid, boolean, text) is
  E'@resultFieldName creative\nAn operator approves or rejects a creative (pending -> approved or rejected; approved -> rejected withdraws it). Operators (gw_admin) only. Errors: DNIED, BADIN, NTFND, RGTRN. Security definer because approval_status has no update grant.';

create function campaigns.campaigns_servable(campaign campaigns.campaigns) returns boolean
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select campaign.status = 'active' and pg_catalog.now() >= campaign.starts_at
     and (campaign.ends_at is null or pg_catalog.now() < campaign.ends_at)
     and (campaign.impression_rate = 0 or campaign.spent + campaign.impression_rate <= campaign.budget)
     and (campaign.daily_cap is null or campaign.impression_rate = 0
          or coalesce((select d.spent from campaigns_private.daily_spend d
                        where d.campaign_id = campaign.campaign_id
                          and d.day = (pg_catalog.now() at time zone 'UTC')::date), 0) + campaign.impression_rate <= campaign.daily_cap)
     and exists (select 1 from campaigns.ad_creatives k where k.campaign_id = campaign.campaign_id and k.approval_status = 'approved')
$$;
comment on function campaigns.campaigns_servable(campaigns.campaigns) is
  'Whether the campaign is served now: active, within its schedule, with an approved creative, and budget and today''s cap still paying for one more impression. Exhausted campaigns stop being served. Security definer because the day''s spend is private bookkeeping.';

--------------------------------------------------------------------------------
-- The ad stream of analytics' ingestion (analytics.ingest_impressions, POST
-- /analytics/impressions): one batch endpoint, rate limit, client-id dedupe
-- and partition routing for every impression stream. 5790 (in analytics'
-- block, because it must follow analytics' schema) registers the stream with
-- these two functions. An item is {stream: "ad", clientId: the impression's
-- UUID, id: the creative, occurredAt, metadata: {eventId}}.

create function campaigns_private.servable_creatives(ids uuid[]) returns setof uuid
  language sql
  stable
  set search_path = ''
as $$
  select k.creative_id
    from campaigns.ad_creatives k
    join campaigns.campaigns c on c.campaign_id = k.campaign_id
   where k.creative_id = any (servable_creatives.ids)
     and k.approval_status = 'approved' and c.status = 'active'
     and c.organization_id = auth.current_org_id()
$$;
comment on function campaigns_private.servable_creatives(uuid[]) is
  'Visible ids of the ad stream: the approved creatives among ids of active campaigns of the organization the caller acts in (evaluated with the caller''s claims). Another organization''s creative, or one of a paused campaign, is refused by the ingestion (ANENT).';

create function campaigns_private.write_ad_impressions(rows jsonb) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_group record;
  v_result campaigns.batch_result;
  v_total integer := 0;
begin
  if exists (select 1 from pg_catalog.jsonb_array_elements(write_ad_impressions.rows) r
              where (r ->> 'clientId') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') then
    raise exception 'An ad impression''s clientId is the impression''s UUID (its clicks name it).' using errcode = 'BADIN';
  end if;
  -- One counting batch per campaign and creative, campaigns in id order (their row locks are taken in that order).
  for v_group in
    select k.campaign_id, k.creative_id,
           pg_catalog.array_agg((r ->> 'clientId')::uuid order by (r ->> 'n')::integer) as ids,
           pg_catalog.array_agg(e.event_id order by (r ->> 'n')::integer) as event_ids
      from pg_catalog.jsonb_array_elements(write_ad_impressions.rows) r
      join campaigns.ad_creatives k on k.creative_id = (r ->> 'id')::uuid
      left join events.events e
        on (r -> 'metadata' ->> 'eventId') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       and e.event_id = (r -> 'metadata' ->> 'eventId')::uuid
     group by k.campaign_id, k.creative_id
     order by k.campaign_id, k.creative_id
  loop
    v_result := campaigns_private.record_impressions(v_group.campaign_id, v_group.creative_id, v_group.ids, v_group.event_ids,
      pg_catalog.now(), true);
    v_total := v_total + v_result.accepted;
  end loop;
  return v_total;
end;
$$;
comment on function campaigns_private.write_ad_impressions(jsonb) is
  'Writer of the ad stream: the checked, deduplicated items grouped by campaign and creative, each group counted by record_impressions at server time (budget and daily cap enforced: rows over them are refused and reported by the ingestion as not accepted). Returns how many were counted. BADIN for a clientId that is not a UUID.';

revoke execute on all functions in schema campaigns_private from public;
revoke execute on function campaigns.record_impressions(uuid, uuid, uuid[], uuid[]), campaigns.record_clicks(uuid, uuid[]),
  campaigns.review_creative(uuid, boolean, text), campaigns.campaigns_servable(campaigns.campaigns) from public;
grant execute on function campaigns.record_impressions(uuid, uuid, uuid[], uuid[]), campaigns.record_clicks(uuid, uuid[]),
  campaigns.review_creative(uuid, boolean, text), campaigns.campaigns_servable(campaigns.campaigns) to gw_user;

--! split: 5620-campaigns-settlement.sql
-- Settlement: the campaigns_settle_spend job (every five minutes) moves each
-- campaign's accrued, unsettled spend from its organization's wallet to the
-- platform's revenue from that organization, one ledger transaction per
-- campaign per run, and records it in campaigns.ad_spend_ledger with the
-- impressions and clicks it paid for. Each campaign settles under its row
-- lock (the one recording takes), so nothing is counted between what the
-- settlement reads and what it writes. A wallet that cannot pay leaves the
-- spend unsettled, pauses the campaign and publishes campaign.settlement_failed;
-- the next run tries again.

insert into registry.types (namespace, code, label, description, metadata) values
  ('ledger_transaction_kind', 'campaigns.spend', 'Ad spend', 'A campaign''s counted impressions and clicks, paid from its organization''s wallet to platform revenue.', '{"written_by": "trusted"}')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description, metadata = excluded.metadata;
insert into registry.types (namespace, code, label, description) values
  ('outbox_topic', 'campaign.spend_settled', 'Ad spend settled', 'Payload: campaignId, organizationId, spendId, amount, currency, impressions, clicks, transactionId.'),
  ('outbox_topic', 'campaign.settlement_failed', 'Ad spend could not be settled', 'The organization''s wallet does not hold the spend; the campaign was paused. Payload: campaignId, organizationId, amount, currency.')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description;

create function campaigns_private.settle_campaign(campaign_id uuid, at timestamptz) returns campaigns.ad_spend_ledger
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_campaign campaigns.campaigns;
  v_wallet bigint;
  v_amount bigint;
  v_tx ledger.transactions;
  v_start timestamptz;
  v_row campaigns.ad_spend_ledger;
begin
  select c.* into v_campaign from campaigns.campaigns c where c.campaign_id = settle_campaign.campaign_id for update;
  v_amount := v_campaign.spent - v_campaign.settled;
  if not found or v_amount <= 0 then
    return null;
  end if;
  v_wallet := payments_private.organization_account(v_campaign.organization_id, 'wallet', v_campaign.currency);
  begin
    v_tx := ledger_private.transfer(v_wallet, payments_private.revenue_account(v_campaign.organization_id, v_campaign.currency),
      v_amount, v_campaign.currency, 'campaigns.spend:' || v_campaign.campaign_id::text || ':' || v_campaign.spent::text,
      'campaigns.spend', 'Ad spend of campaign ' || v_campaign.campaign_id::text,
      pg_catalog.jsonb_build_object('campaignId', v_campaign.campaign_id), null, null, false);
  exception when sqlstate 'LFUND' then
    if v_campaign.status = 'active' then
      update campaigns.campaigns c set status = 'paused' where c.campaign_id = v_campaign.campaign_id;
    end if;
    perform outbox.publish('campaign.settlement_failed',
      pg_catalog.jsonb_build_object('campaignId', v_campaign.campaign_id, 'organizationId', v_campaign.organization_id,
        'amount', v_amount::text, 'currency', v_campaign.currency),
      'campaign', v_campaign.campaign_id::text, v_campaign.organization_id);
    return null;
  end;
  select coalesce(max(s.period_end), v_campaign.created_at) into v_start
    from campaigns.ad_spend_ledger s where s.campaign_id = v_campaign.campaign_id;
  insert into campaigns.ad_spend_ledger (campaign_id, organization_id, wallet_id, amount, currency, impressions, clicks,
                                         period_start, period_end, transaction_id)
  values (v_campaign.campaign_id, v_campaign.organization_id, v_wallet, v_amount, v_campaign.currency,
          v_campaign.impressions - v_campaign.settled_impressions, v_campaign.clicks - v_campaign.settled_clicks,
          v_start, greatest(settle_campaign.at, v_start + interval '1 microsecond'), v_tx.transaction_id)
  returning * into v_row;
  update campaigns.campaigns c
     set settled = c.spent, settled_impressions = c.impressions, settled_clicks = c.clicks
   where c.campaign_id = v_campaign.campaign_id;
  perform outbox.publish('campaign.spend_settled',
    pg_catalog.jsonb_build_object('campaignId', v_campaign.campaign_id, 'organizationId', v_campaign.organization_id,
      'spendId', v_row.spend_id, 'amount', v_amount::text, 'currency', v_campaign.currency, 'impressions', v_row.impressions,
      'clicks', v_row.clicks, 'transactionId', v_tx.transaction_id),
    'campaign', v_campaign.campaign_id::text, v_campaign.organization_id);
  return v_row;
end;
$$;
comment on function campaigns_private.settle_campaign(uuid, timestamptz) is
  'Settles one campaign''s unsettled spend at time at: one ledger transaction (kind campaigns.spend, idempotent by campaign and spend total) from the organization''s wallet to platform revenue, one ad_spend_ledger row, settled brought up to spent. Without funds: pauses the campaign and publishes campaign.settlement_failed. Returns the row, or null when there was nothing to settle or no money.';

create function campaigns_private.settle_spend(at timestamptz default now(), max_campaigns integer default 500) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_id uuid;
  v_count integer := 0;
begin
  for v_id in
    select c.campaign_id from campaigns.campaigns c where c.spent > c.settled order by c.campaign_id limit settle_spend.max_campaigns
  loop
    if campaigns_private.settle_campaign(v_id, settle_spend.at) is not null then
      v_count := v_count + 1;
    end if;
  end loop;
  return v_count;
end;
$$;
comment on function campaigns_private.settle_spend(timestamptz, integer) is
  'Settles up to max_campaigns campaigns with unsettled spend (campaigns_settle_spend, every five minutes); returns how many were settled.';

-- Reconciliation, for operators and tests: per campaign, the spend record, the
-- ledger and the counted rows must agree exactly.
create function campaigns.reconcile(of_campaign uuid default null)
  returns table (campaign_id uuid, spent bigint, settled bigint, spend_ledger bigint, ledger bigint, counted_cost bigint,
                 impressions bigint, counted_impressions bigint, clicks bigint, counted_clicks bigint, consistent boolean)
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
#variable_conflict use_column
begin
  perform auth_private.assert_operator();
  return query
  select c.campaign_id, c.spent, c.settled, s.amount, l.amount, i.cost + k.cost, c.impressions, i.n, c.clicks, k.n,
         c.settled = s.amount and s.amount = l.amount and c.spent = i.cost + k.cost and c.impressions = i.n and c.clicks = k.n
         and c.settled_impressions = s.impressions and c.settled_clicks = s.clicks
    from campaigns.campaigns c
   cross join lateral (select coalesce(sum(x.amount), 0)::bigint as amount, coalesce(sum(x.impressions), 0)::bigint as impressions,
                              coalesce(sum(x.clicks), 0)::bigint as clicks
                         from campaigns.ad_spend_ledger x where x.campaign_id = c.campaign_id) s
   cross join lateral (select coalesce(sum(e.amount), 0)::bigint as amount
                         from campaigns.ad_spend_ledger x join ledger.entries e on e.transaction_id = x.transaction_id
                        where x.campaign_id = c.campaign_id and e.amount > 0) l
   cross join lateral (select count(*) as n, coalesce(sum(m.cost), 0)::bigint as cost
                         from campaigns.ad_impressions m where m.campaign_id = c.campaign_id) i
   cross join lateral (select count(*) as n, coalesce(sum(m.cost), 0)::bigint as cost
                         from campaigns.ad_clicks m where m.campaign_id = c.campaign_id) k
   where (reconcile.of_campaign is null or c.campaign_id = reconcile.of_campaign);
end;
$$;
comment on function campaigns.reconcile(uuid) is
  E'@behavior -queryField -mutationField -typeField\nPer campaign (or one): spent and settled on the campaign, the sum of its ad_spend_ledger amounts, what its ledger transactions credited, the cost and number of its counted impressions and clicks, and whether all of them agree (settled = spend ledger = ledger; spent = counted cost; counts equal). For operators and tests (auth_private.assert_operator). Security definer because it reads the ledger and every organization''s rows.';
revoke execute on function campaigns.reconcile(uuid) from public;

revoke execute on all functions in schema campaigns_private from public;
