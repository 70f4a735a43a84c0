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
