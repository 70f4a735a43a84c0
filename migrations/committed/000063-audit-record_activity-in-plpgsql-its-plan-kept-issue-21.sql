--! Previous: sha1:267ab74b200ed4b9ba2633313fcf676f21769a30
--! Hash: sha1:366e8ff6f8239cd282db4159a91093b4920085e7
--! Message: audit: record_activity in plpgsql, its plan kept (issue 21)

--! split: 2160-audit-record-activity-plpgsql.sql
-- audit.record_activity in plpgsql (issue 21), as outbox.publish and
-- outbox.notify_user were made in 2365: a `language sql` function that is
-- security definer (or has `set search_path`) is never inlined, and
-- PostgreSQL before 18 parses and plans its body again on every call, while
-- plpgsql keeps its plan for the session. A renewal records two activities
-- (its two status moves); measured there: 0.137 ms a call before. Same
-- signature, same row, same grants. Re-runnable.

create or replace function audit.record_activity(
  verb text,
  object_type text,
  object_id text,
  summary text,
  organization_id uuid default null,
  subject_id uuid default null,
  context jsonb default '{}'::jsonb
) returns bigint
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_activity_id bigint;
begin
  insert into audit.activity (actor_id, verb, object_type, object_id, subject_id, organization_id, summary, context)
  values (auth.uid(), record_activity.verb, record_activity.object_type, record_activity.object_id,
          record_activity.subject_id, record_activity.organization_id, record_activity.summary,
          coalesce(record_activity.context, '{}'::jsonb))
  returning activity_id into v_activity_id;
  return v_activity_id;
end;
$$;
