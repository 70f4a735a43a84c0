--! split: 2360-outbox-on-module-interfaces.sql
-- outbox.replay_dead_letters on auth's trusted interface (auth.assert_operator,
-- 1910) instead of auth_private (CONVENTIONS: a module never reads another
-- module's *_private schema). Only the one call changes.

-- outbox.replay_dead_letters: as in 000002, on the interfaces
create or replace function outbox.replay_dead_letters(dispatch_ids bigint[] default null) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_streams text[];
  v_count integer;
begin
  perform auth.assert_operator();
  with replayed as (
    update outbox.dispatches d
       set status = 'pending', attempts = 0, next_attempt_at = pg_catalog.now(), dead_at = null,
           replayed_at = pg_catalog.now()
     where d.status = 'dead'
       and (dispatch_ids is null or d.dispatch_id = any (dispatch_ids))
       -- A deactivated subscription gets nothing, replayed or not.
       and exists (select 1 from outbox.webhook_subscriptions s where s.subscription_id = d.subscription_id and s.is_active)
    returning d.stream
  )
  select pg_catalog.array_agg(distinct stream), pg_catalog.count(*) into v_streams, v_count from replayed;
  if v_streams is not null then
    perform outbox_private.enqueue_streams(v_streams);
  end if;
  return v_count;
end;
$$;
