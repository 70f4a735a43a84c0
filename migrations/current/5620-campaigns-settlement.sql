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
