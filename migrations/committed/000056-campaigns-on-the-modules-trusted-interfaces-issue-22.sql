--! Previous: sha1:a88521e8697562e5d20b9905be56f4fd0a9fd0b1
--! Hash: sha1:eb36bb3c2432e315ed31a889d2c4ac5b59d41c50
--! Message: campaigns: on the modules' trusted interfaces (issue 22)

--! split: 5640-campaigns-on-module-interfaces.sql
--! split: 5640-campaigns-on-module-interfaces.sql
-- Campaigns on the other modules' trusted interfaces: analytics' on-demand
-- partition (5750: analytics.ensure_month_partition), the ledger's transfer
-- and payments' accounts for settlement (3900, 5450), auth's operator check
-- (1910), instead of their *_private schemas (CONVENTIONS). Only those calls
-- change.

-- campaigns.reconcile: as in 000036, on the interfaces
create or replace function campaigns.reconcile(of_campaign uuid default null)
  returns table (campaign_id uuid, spent bigint, settled bigint, spend_ledger bigint, ledger bigint, counted_cost bigint,
                 impressions bigint, counted_impressions bigint, clicks bigint, counted_clicks bigint, consistent boolean)
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
#variable_conflict use_column
begin
  perform auth.assert_operator();
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

-- campaigns.review_creative: as in 000036, on the interfaces
create or replace function campaigns.review_creative(creative_id uuid, approve boolean, note text default null) returns campaigns.ad_creatives
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_creative campaigns.ad_creatives;
begin
  perform auth.assert_operator();
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

-- campaigns_private.record_impressions: as in 000036, on the interfaces
create or replace function campaigns_private.record_impressions(
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
  perform analytics.ensure_month_partition('campaigns.ad_impressions', v_day);
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

-- campaigns_private.settle_campaign: as in 000036, on the interfaces
create or replace function campaigns_private.settle_campaign(campaign_id uuid, at timestamptz) returns campaigns.ad_spend_ledger
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
  v_wallet := payments.organization_account(v_campaign.organization_id, 'wallet', v_campaign.currency);
  begin
    v_tx := ledger.trusted_transfer(v_wallet, payments.revenue_account(v_campaign.organization_id, v_campaign.currency),
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
