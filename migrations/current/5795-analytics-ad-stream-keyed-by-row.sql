--! split: 5795-analytics-ad-stream-keyed-by-row.sql
-- The ad stream's client id is the impression's id, the first column of
-- campaigns.ad_impressions' primary key, and its writer
-- (campaigns_private.record_impressions) already skips ids counted in the
-- last 24 hours (the stream's dedupe window): the row's own key is the dedupe
-- key, so the ingestion keeps no ingest_keys for it (5740). Like 5790, in
-- analytics' block only because it must follow analytics' schema.

update analytics_private.ingest_streams set keyed_by_row = true where stream = 'ad';
delete from analytics_private.ingest_keys where stream = 'ad';
