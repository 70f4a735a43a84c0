-- payments.credit_lots: credits granted or bought into a wallet (the seed's
-- wallet_id for a user's wallet, org_wallet_id for an organization's), each
-- with amount, remaining and expiry. The money is in the wallet (a ledger
-- account); a lot says which part of its balance expires when. Spending
-- through payments.post_sale consumes lots first-expiring-first; the job
-- payments_expire_credit_lots moves an expired remainder to the breakage
-- revenue account through the ledger.

drop function if exists payments_private.expire_credit_lots(integer) cascade;
drop function if exists payments.grant_credits(uuid, uuid, bigint, text, timestamptz, text, text) cascade;
drop function if exists payments_private.consume_lots(bigint, bigint) cascade;
drop table if exists payments.credit_lots cascade;

create table payments.credit_lots (
  lot_id uuid primary key default gen_random_uuid(),
  wallet_id bigint
    constraint credit_lots_wallet_id_fkey references ledger.accounts (account_id) on delete restrict,
  org_wallet_id bigint
    constraint credit_lots_org_wallet_id_fkey references ledger.accounts (account_id) on delete restrict,
  currency text not null,
  amount bigint not null
    constraint credit_lots_amount_check check (amount > 0),
  remaining bigint not null,
  expires_at timestamptz,
  source text not null default 'granted'
    constraint credit_lots_source_check check (source in ('granted', 'bought')),
  -- Ledger transaction ids. No foreign keys: ledger rows are immutable and never deleted, and a key
  -- would make TRUNCATE of the ledger fail on this table before the ledger's own guard (LIMMU) answers.
  grant_transaction_id bigint not null,
  breakage_transaction_id bigint,
  created_at timestamptz not null default now(),
  constraint credit_lots_remaining_check check (remaining between 0 and amount),
  constraint credit_lots_wallet_check check ((wallet_id is null) <> (org_wallet_id is null))
);
alter table payments.credit_lots enable row level security;
create index credit_lots_wallet_id_idx on payments.credit_lots (wallet_id, expires_at) where wallet_id is not null;
create index credit_lots_org_wallet_id_idx on payments.credit_lots (org_wallet_id, expires_at) where org_wallet_id is not null;
create index credit_lots_grant_transaction_id_idx on payments.credit_lots (grant_transaction_id);
create index credit_lots_breakage_transaction_id_idx on payments.credit_lots (breakage_transaction_id) where breakage_transaction_id is not null;
create index credit_lots_live_idx on payments.credit_lots (coalesce(wallet_id, org_wallet_id)) where remaining > 0;
create index credit_lots_expiring_idx on payments.credit_lots (expires_at) where remaining > 0 and expires_at is not null;

create policy "users see the lots of the wallets they see"
  on payments.credit_lots for select to gw_user
  using (coalesce(wallet_id, org_wallet_id) in (select ledger.current_user_account_ids()) or (select auth.has_role('gw_admin')));
grant select on payments.credit_lots to gw_user;

comment on table payments.credit_lots is
  E'@behavior -insert -update -delete\nCredits granted or bought into a wallet (walletId: a user''s; orgWalletId: an organization''s): amount, what is left, and when the rest expires. Spending consumes lots first-expiring-first; at expiry the remainder goes to breakage revenue (payments_expire_credit_lots). You see the lots of wallets you see.';
comment on column payments.credit_lots.lot_id is 'The lot''s id.';
comment on column payments.credit_lots.wallet_id is 'The user''s wallet (ledger account) it was put in.';
comment on column payments.credit_lots.org_wallet_id is 'The organization''s wallet (ledger account) it was put in.';
comment on column payments.credit_lots.currency is 'The wallet''s currency.';
comment on column payments.credit_lots.amount is 'How much was granted, in minor units.';
comment on column payments.credit_lots.remaining is 'How much is not spent or expired yet.';
comment on column payments.credit_lots.expires_at is 'When the remainder expires (null: never).';
comment on column payments.credit_lots.source is 'granted (free) or bought.';
comment on column payments.credit_lots.grant_transaction_id is 'The ledger transaction that put it in the wallet.';
comment on column payments.credit_lots.breakage_transaction_id is 'The ledger transaction that took its expired remainder, if any.';
comment on column payments.credit_lots.created_at is 'When it was granted.';
comment on constraint credit_lots_wallet_id_fkey on payments.credit_lots is E'@fieldName wallet\n@foreignFieldName creditLots';
comment on constraint credit_lots_org_wallet_id_fkey on payments.credit_lots is E'@fieldName orgWallet\n@foreignFieldName orgCreditLots';

create function payments.grant_credits(
  user_id uuid, organization_id uuid, amount bigint, currency text, expires_at timestamptz default null,
  source text default 'granted', idempotency_key text default null
) returns payments.credit_lots
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_caller record := ledger_private.caller();
  v_wallet bigint;
  v_tx ledger.transactions;
  v_lot payments.credit_lots;
begin
  if not v_caller.trusted then
    raise exception 'Only operators grant credits.' using errcode = 'DNIED';
  end if;
  if (grant_credits.user_id is null) = (grant_credits.organization_id is null) then
    raise exception 'Grant to a user or to an organization.' using errcode = 'BADIN';
  end if;
  if grant_credits.amount is null or grant_credits.amount <= 0 then
    raise exception 'A grant is a positive amount of minor units.' using errcode = 'BADIN';
  end if;
  if grant_credits.expires_at is not null and grant_credits.expires_at <= pg_catalog.now() then
    raise exception 'Credits expire in the future, not at %.', grant_credits.expires_at using errcode = 'PYLOT';
  end if;
  if coalesce(grant_credits.source, '') not in ('granted', 'bought') then
    raise exception 'A source is granted or bought.' using errcode = 'BADIN';
  end if;
  v_wallet := case when grant_credits.user_id is not null then payments_private.user_wallet(grant_credits.user_id, grant_credits.currency)
                   else payments_private.organization_account(grant_credits.organization_id, 'wallet', grant_credits.currency) end;
  v_tx := ledger_private.transfer(
    payments_private.system_account('payments.credits', 'Credits issued', grant_credits.currency, 'expense', true),
    v_wallet, grant_credits.amount, grant_credits.currency, grant_credits.idempotency_key, 'payments.credit_grant',
    'Credits ' || grant_credits.source, null, null, v_caller.actor, false);
  select l.* into v_lot from payments.credit_lots l where l.grant_transaction_id = v_tx.transaction_id;
  if found then
    return v_lot; -- an idempotent replay
  end if;
  insert into payments.credit_lots (wallet_id, org_wallet_id, currency, amount, remaining, expires_at, source, grant_transaction_id)
  values (case when grant_credits.user_id is not null then v_wallet end, case when grant_credits.organization_id is not null then v_wallet end,
          grant_credits.currency, grant_credits.amount, grant_credits.amount, grant_credits.expires_at, grant_credits.source,
          v_tx.transaction_id)
  returning * into v_lot;
  return v_lot;
end;
$$;
comment on function payments.grant_credits(user_id uuid, organization_id uuid, amount bigint, currency text, expires_at timestamptz, source text, idempotency_key text) is
  E'@resultFieldName lot\nPuts credits into a user''s or an organization''s wallet as a lot: one ledger transaction (kind payments.credit_grant) from the platform''s credits account, amount and expiry recorded. Operators (gw_admin) and trusted code. Errors: LOGIN, DNIED, BADIN, PYLOT (expiry not in the future), PYCUR, LIDEM. Security definer because ledger accounts and lots have no write grants.';
revoke execute on function payments.grant_credits(uuid, uuid, bigint, text, timestamptz, text, text) from public;
grant execute on function payments.grant_credits(uuid, uuid, bigint, text, timestamptz, text, text) to gw_user;

-- Spending from a wallet: consume its live lots first-expiring-first (never-expiring last).
create function payments_private.consume_lots(wallet_id bigint, amount bigint) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  -- The common case, a wallet without live lots, is one probe of credit_lots_live_idx.
  with has_lots as (
    select 1 from payments.credit_lots l
     where coalesce(l.wallet_id, l.org_wallet_id) = consume_lots.wallet_id and l.remaining > 0
     limit 1
  ), locked as (
    select l.lot_id, l.remaining, l.expires_at, l.created_at
      from payments.credit_lots l
     where exists (select 1 from has_lots)
       and coalesce(l.wallet_id, l.org_wallet_id) = consume_lots.wallet_id
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
  select coalesce(pg_catalog.sum(took), 0)::bigint from taken
$$;
comment on function payments_private.consume_lots(bigint, bigint) is
  'Takes amount from the wallet''s live credit lots, first-expiring-first (lots without expiry last); returns how much came from lots (the rest is the wallet''s own money).';

create function payments_private.expire_credit_lots(max_lots integer default 100) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_lot payments.credit_lots;
  v_wallet ledger.accounts;
  v_take bigint;
  v_tx ledger.transactions;
  v_count integer := 0;
begin
  for v_lot in
    select l.* from payments.credit_lots l
     where l.remaining > 0 and l.expires_at <= pg_catalog.now()
     order by l.expires_at
     limit expire_credit_lots.max_lots
       for update skip locked
  loop
    select a.* into v_wallet from ledger.accounts a where a.account_id = coalesce(v_lot.wallet_id, v_lot.org_wallet_id);
    -- Money spent outside payments (a direct ledger transfer) is gone already: take at most what is there.
    v_take := least(v_lot.remaining, greatest(v_wallet.balance - v_wallet.pending_out, 0));
    if v_take > 0 then
      v_tx := ledger_private.transfer(v_wallet.account_id,
        payments_private.system_account('payments.breakage', 'Breakage revenue', v_lot.currency, 'revenue', false),
        v_take, v_lot.currency, 'payments.breakage:' || v_lot.lot_id::text, 'payments.breakage', 'Expired credits', null, null, null, false);
    end if;
    update payments.credit_lots l set remaining = 0, breakage_transaction_id = v_tx.transaction_id where l.lot_id = v_lot.lot_id;
    v_tx := null;
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
comment on function payments_private.expire_credit_lots(integer) is
  'Moves the remainder of up to max_lots expired credit lots from their wallet to the breakage revenue account (one ledger transaction per lot, kind payments.breakage, idempotency key payments.breakage:<lot>) and sets remaining to 0; skips lots being consumed. Run by the worker task payments_expire_credit_lots.';
