-- The payments functions a sale calls, in plpgsql (issue 19/21 measurements).
-- Same signatures and results. A language sql function with `set
-- search_path` is never inlined, and PostgreSQL (before 18) parses and plans
-- its body again on every call: consume_lots alone cost a checkout ~0.9 ms
-- for a wallet without lots. plpgsql keeps its plans for the session, and
-- consume_lots returns after one index probe when the wallet has no live lot.

create or replace function payments.fee_for(organization_id uuid, amount bigint) returns bigint
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
declare
  v_rate numeric;
begin
  select f.fee_rate into v_rate from payments.organization_fees f where f.organization_id = fee_for.organization_id;
  return pg_catalog.round(fee_for.amount * coalesce(v_rate, 0.05))::bigint;
end;
$$;

create or replace function payments_private.user_wallet(user_id uuid, currency text) returns bigint
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  return payments_private.account(user_wallet.user_id, null, 'payments.wallet.' || pg_catalog.lower(user_wallet.currency),
    'Wallet (' || user_wallet.currency || ')', user_wallet.currency, 'liability', false);
end;
$$;

create or replace function payments_private.organization_account(organization_id uuid, purpose text, currency text) returns bigint
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  return payments_private.account(null, organization_account.organization_id,
    'payments.' || organization_account.purpose || '.' || pg_catalog.lower(organization_account.currency),
    case organization_account.purpose when 'wallet' then 'Wallet' else 'Receivable' end || ' (' || organization_account.currency || ')',
    organization_account.currency, 'liability', false);
end;
$$;

create or replace function payments_private.system_account(code text, name text, currency text, kind text, allow_negative boolean) returns bigint
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  return payments_private.account(null, null, system_account.code || '.' || pg_catalog.lower(system_account.currency),
    system_account.name || ' (' || system_account.currency || ')', system_account.currency, system_account.kind,
    system_account.allow_negative);
end;
$$;

create or replace function payments_private.revenue_account(organization_id uuid, currency text) returns bigint
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  return payments_private.system_account('payments.revenue.' || revenue_account.organization_id::text,
    'Platform fee revenue from ' || revenue_account.organization_id::text, revenue_account.currency, 'revenue', false);
end;
$$;

create or replace function payments_private.consume_lots(wallet_id bigint, amount bigint) returns bigint
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_took bigint;
begin
  -- The common case, a wallet without live lots: one probe of credit_lots_live_idx.
  if not exists (
    select 1 from payments.credit_lots l
     where coalesce(l.wallet_id, l.org_wallet_id) = consume_lots.wallet_id and l.remaining > 0
  ) then
    return 0;
  end if;
  with locked as (
    select l.lot_id, l.remaining, l.expires_at, l.created_at
      from payments.credit_lots l
     where coalesce(l.wallet_id, l.org_wallet_id) = consume_lots.wallet_id
       and l.remaining > 0 and (l.expires_at is null or l.expires_at > pg_catalog.now())
     order by l.lot_id
       for update
  ), live as (
    select k.lot_id, k.remaining,
           pg_catalog.sum(k.remaining) over (order by k.expires_at nulls last, k.created_at, k.lot_id) - k.remaining as before
      from locked k
  ), taken as (
    update payments.credit_lots l
       set remaining = l.remaining - least(live.remaining, consume_lots.amount - live.before)
      from live
     where l.lot_id = live.lot_id and live.before < consume_lots.amount
    returning least(live.remaining, consume_lots.amount - live.before) as took
  )
  select coalesce(pg_catalog.sum(took), 0)::bigint into v_took from taken;
  return v_took;
end;
$$;
