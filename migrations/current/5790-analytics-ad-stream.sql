-- The campaigns module's ad impressions on analytics' one ingestion mechanism
-- (issue 22): campaigns.ad_impressions becomes a registered monthly table
-- (partitions in analytics_private, made ahead, on demand and dropped past
-- retention by analytics' jobs) and the stream "ad" of
-- analytics.ingest_impressions, whose visible ids and writer are campaigns'
-- (5610: servable creatives of the caller's organization; counting under the
-- budget and daily cap). In analytics' block only because it must run after
-- analytics' schema exists; its content belongs to campaigns.

insert into analytics_private.partitioned_tables (table_name) values ('campaigns.ad_impressions')
on conflict (table_name) do nothing;
select analytics_private.create_partitions();

insert into analytics_private.ingest_streams (stream, table_name, visible_ids, writer) values
  ('ad', 'campaigns.ad_impressions', 'campaigns_private.servable_creatives(uuid[])', 'campaigns_private.write_ad_impressions(jsonb)')
on conflict (stream) do update
  set table_name = excluded.table_name, visible_ids = excluded.visible_ids, writer = excluded.writer;
