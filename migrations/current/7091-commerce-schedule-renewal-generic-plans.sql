-- Scheduling a renewal job with graphile-worker's generic plans (issue 21
-- measurements). graphile_worker.add_jobs (called by add_job) runs five
-- statements over unnest(specs); with a one-element array the planner's
-- custom plans always look cheaper than the generic ones (which assume ten
-- rows), so PostgreSQL keeps planning all five again on every call: ~1.2 ms
-- of a renewal's ~5 ms, against ~0.25 ms with the generic plans, which are the
-- same shapes (index lookups on the job key, the task and the queue). The
-- setting holds only while this function runs; the library's SQL is untouched.

create or replace function commerce_private.schedule_renewal(subscription_id uuid, run_at timestamptz) returns void
  language plpgsql
  volatile
  set search_path = ''
  set plan_cache_mode = force_generic_plan
as $$
begin
  perform graphile_worker.add_job('commerce_renew_subscription', pg_catalog.json_build_object('id', schedule_renewal.subscription_id),
    run_at => schedule_renewal.run_at, max_attempts => 5, job_key => 'commerce_renew:' || schedule_renewal.subscription_id::text,
    job_key_mode => 'replace');
end;
$$;
comment on function commerce_private.schedule_renewal(uuid, timestamptz) is
  'Schedules (or moves) the one renewal job of a subscription to run at run_at (job key commerce_renew:<id>). plan_cache_mode = force_generic_plan: graphile-worker''s add_jobs would otherwise be planned again on every call.';
