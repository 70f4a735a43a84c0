-- Rate limits without a database write per request (issue 24). Each API
-- process reserves a chunk of a key's budget for the current fixed window
-- (rate_limit_reserve), spends it in memory and reserves again when it runs
-- out. A grant never takes the window's total past the limit, so all
-- processes together never admit more than the limit; what they can lose is
-- quota reserved and not spent (a dead process's, or one the load balancer
-- stops sending that client to), bounded by the chunk sizes
-- (docs/operations.md#rate-limits). Replaces the per-request upsert
-- rate_limit_hit and its hit counters.

drop function if exists ops_private.rate_limit_prune(integer);
drop function if exists ops_private.rate_limit_reserve(text[], integer[], integer[], integer[]);
drop function if exists ops_private.rate_limit_window_start(integer);
drop function if exists ops_private.rate_limit_hit(text[], integer[]);
drop table if exists ops_private.rate_limit_reservations;
drop table if exists ops_private.rate_limits;

-- One row per key (a client IP or user, per class of request): its current
-- fixed window and how much of the window's limit processes have reserved so
-- far. The row is reused when the window rolls over (one row per active
-- client, not per window).
create table ops_private.rate_limit_reservations (
  key text primary key,
  window_start timestamptz not null,
  window_seconds integer not null check (window_seconds > 0),
  limit_per_window integer not null check (limit_per_window >= 0),
  reserved integer not null check (reserved >= 0 and reserved <= limit_per_window)
);
alter table ops_private.rate_limit_reservations enable row level security;
-- No policies: only the security definer functions below (run as the owner) touch it.
comment on table ops_private.rate_limit_reservations is
  'Per key and fixed window, how much of the limit the API processes have reserved to spend in memory; never more than the limit.';

create function ops_private.rate_limit_window_start(window_seconds integer) returns timestamptz
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.to_timestamp(pg_catalog.floor(extract(epoch from pg_catalog.now()) / window_seconds) * window_seconds);
$$;
comment on function ops_private.rate_limit_window_start(integer) is
  'Start of the current fixed window of that length, by the database''s clock: every API process counts in the same windows.';

-- Keys are handled in a stable order, so two processes reserving the same keys never deadlock.
create function ops_private.rate_limit_reserve(keys text[], window_seconds integer[], limits integer[], wanted integer[])
  returns table (key text, granted integer, reserved integer, resets_in_ms integer)
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_key text;
  v_seconds integer;
  v_limit integer;
  v_want integer;
  v_start timestamptz;
  v_before integer;
begin
  for v_key, v_seconds, v_limit, v_want in
    select k.key, k.seconds, greatest(k.lim, 0), greatest(k.want, 0)
      from rows from (pg_catalog.unnest(keys), pg_catalog.unnest(window_seconds), pg_catalog.unnest(limits), pg_catalog.unnest(wanted)) as k(key, seconds, lim, want)
     order by k.key
  loop
    v_start := ops_private.rate_limit_window_start(v_seconds);
    -- Takes the row lock; a new window (or a changed limit) starts from what is reserved in it: nothing.
    insert into ops_private.rate_limit_reservations as r (key, window_start, window_seconds, limit_per_window, reserved)
    values (v_key, v_start, v_seconds, v_limit, 0)
    on conflict on constraint rate_limit_reservations_pkey do update
      set reserved = case when r.window_start = excluded.window_start then least(r.reserved, excluded.limit_per_window) else 0 end,
          window_start = excluded.window_start,
          window_seconds = excluded.window_seconds,
          limit_per_window = excluded.limit_per_window
    returning r.reserved into v_before;
    granted := least(v_want, v_limit - v_before);
    if granted > 0 then
      update ops_private.rate_limit_reservations r set reserved = r.reserved + granted where r.key = v_key;
    end if;
    key := v_key;
    reserved := v_before + granted;
    resets_in_ms := pg_catalog.ceil(extract(epoch from v_start + pg_catalog.make_interval(secs => v_seconds) - pg_catalog.clock_timestamp()) * 1000)::integer;
    return next;
  end loop;
end;
$$;
comment on function ops_private.rate_limit_reserve(text[], integer[], integer[], integer[]) is
  'Reserves up to wanted[i] of keys[i]''s limit in its current window and returns what was granted (0 once the window''s limit is all reserved), the window''s total reserved and the milliseconds until it resets. Security definer because the API login role has no rights on the table itself.';

-- Forgets keys whose window ended long ago (called now and then by an API process).
create function ops_private.rate_limit_prune(older_than_seconds integer) returns integer
  language sql
  volatile
  security definer
  set search_path = ''
as $$
  with gone as (
    delete from ops_private.rate_limit_reservations r
     where r.window_start + pg_catalog.make_interval(secs => r.window_seconds + older_than_seconds) < pg_catalog.now()
    returning 1
  )
  select pg_catalog.count(*)::integer from gone;
$$;
comment on function ops_private.rate_limit_prune(integer) is
  'Deletes reservations whose window ended more than the given seconds ago. Security definer because the API login role has no rights on the table itself.';

revoke execute on function ops_private.rate_limit_window_start(integer) from public;
revoke execute on function ops_private.rate_limit_reserve(text[], integer[], integer[], integer[]) from public;
revoke execute on function ops_private.rate_limit_prune(integer) from public;
grant execute on function ops_private.rate_limit_reserve(text[], integer[], integer[], integer[]) to gw_authenticator;
grant execute on function ops_private.rate_limit_prune(integer) to gw_authenticator;
