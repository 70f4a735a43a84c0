--! split: 5795-analytics-ad-stream-keyed-by-row.sql
-- The ad stream's client id is the impression's id, the first column of
-- campaigns.ad_impressions' primary key, and its writer
-- (campaigns_private.record_impressions) already skips ids counted in the
-- last 24 hours (the stream's dedupe window): the row's own key is the dedupe
-- key, so the ingestion keeps no ingest_keys for it (5740). Like 5790, in
-- analytics' block only because it must follow analytics' schema.

update analytics_private.ingest_streams set keyed_by_row = true where stream = 'ad';
delete from analytics_private.ingest_keys where stream = 'ad';

-- The ad stream's writer on the typed items of 5740 (analytics.ingest_item[],
-- analytics' interface type for writers): no jsonb is built for it or parsed
-- by it. Campaigns' function, here because its argument type is analytics'.
drop function if exists campaigns_private.write_ad_impressions(analytics.ingest_item[]);

create function campaigns_private.write_ad_impressions(items analytics.ingest_item[]) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_group record;
  v_result campaigns.batch_result;
  v_total integer := 0;
begin
  if exists (select 1 from pg_catalog.unnest(write_ad_impressions.items) r
              where r."clientId" !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') then
    raise exception 'An ad impression''s clientId is the impression''s UUID (its clicks name it).' using errcode = 'BADIN';
  end if;
  -- One counting batch per campaign and creative, campaigns in id order (their row locks are taken in that order).
  for v_group in
    select k.campaign_id, k.creative_id,
           pg_catalog.array_agg(r."clientId"::uuid order by r.n) as ids,
           pg_catalog.array_agg(e.event_id order by r.n) as event_ids
      from pg_catalog.unnest(write_ad_impressions.items) r
      join campaigns.ad_creatives k on k.creative_id = r.id
      left join events.events e
        on (r.metadata ->> 'eventId') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       and e.event_id = (r.metadata ->> 'eventId')::uuid
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
comment on function campaigns_private.write_ad_impressions(analytics.ingest_item[]) is
  'Writer of the ad stream: the checked, deduplicated items grouped by campaign and creative, each group counted by record_impressions at server time (budget and daily cap enforced: rows over them are refused and reported by the ingestion as not accepted; ids counted in the last 24 hours skipped: the row''s own key is the stream''s dedupe). Returns how many were counted. BADIN for a clientId that is not a UUID.';
revoke execute on function campaigns_private.write_ad_impressions(analytics.ingest_item[]) from public;

update analytics_private.ingest_streams set writer = 'campaigns_private.write_ad_impressions(analytics.ingest_item[])' where stream = 'ad';
drop function if exists campaigns_private.write_ad_impressions(jsonb);
