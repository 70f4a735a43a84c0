-- ticketing_private.live_held in plpgsql (issue 19 measurements): a language
-- sql function with `set search_path` is never inlined and, before
-- PostgreSQL 18, planned again on every call; plpgsql keeps the plan.

create or replace function ticketing_private.live_held(tier_id uuid) returns integer
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_held integer;
begin
  select coalesce(pg_catalog.sum(h.quantity), 0)::integer into v_held
    from ticketing.ticket_holds h
   where h.tier_id = live_held.tier_id and h.status = 'active' and h.expires_at > pg_catalog.now();
  return v_held;
end;
$$;
