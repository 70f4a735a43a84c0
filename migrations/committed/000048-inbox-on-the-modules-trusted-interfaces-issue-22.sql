--! Previous: sha1:c8175100199315a8d00df7d18dfa7d6e98a22ab5
--! Hash: sha1:227259d5872957b532710cadba0cc8123319314b
--! Message: inbox: on the modules' trusted interfaces (issue 22)

--! split: 2420-inbox-on-module-interfaces.sql
--! split: 2420-inbox-on-module-interfaces.sql
-- inbox.replay_messages on auth's trusted interface (auth.assert_operator,
-- 1910) instead of auth_private (CONVENTIONS: a module never reads another
-- module's *_private schema). Only the one call changes.

-- inbox.replay_messages: as in 000002, on the interfaces
create or replace function inbox.replay_messages(message_ids bigint[] default null) returns integer
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_ids bigint[];
  v_id bigint;
begin
  perform auth.assert_operator();
  if message_ids is not null then
    if exists (select 1 from pg_catalog.unnest(message_ids) i(id)
                where not exists (select 1 from inbox.messages m where m.message_id = i.id)) then
      raise exception 'No inbox message among %.', message_ids using errcode = 'NTFND';
    end if;
    if exists (select 1 from inbox.messages m where m.message_id = any (message_ids) and m.status <> 'dead') then
      raise exception 'Only dead messages can be replayed.' using errcode = 'BADST';
    end if;
  end if;
  with replayed as (
    update inbox.messages m
       set status = 'received', attempts = 0, next_attempt_at = pg_catalog.now(), dead_at = null, last_error = null
     where m.status = 'dead' and (message_ids is null or m.message_id = any (message_ids))
    returning m.message_id
  )
  select coalesce(pg_catalog.array_agg(r.message_id), '{}') into v_ids from replayed r;
  foreach v_id in array v_ids loop
    perform inbox_private.enqueue(v_id);
  end loop;
  return cardinality(v_ids);
end;
$$;
