--! Previous: sha1:2bfb9455da1917312487b01087a11c1f2cc36376
--! Hash: sha1:b115c7d6cb70b1a0e6b3a4db5c97334c772da7ec
--! Message: payments: the sale's hot path in plpgsql, the trusted interface, on the ledger's interface (issues 19, 22)

--! split: 5445-payments-plpgsql-hot-path.sql
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

--! split: 5450-payments-trusted-interface.sql
--! split: 5450-payments-trusted-interface.sql
-- Payments' trusted interface: the accounts and credit lots other modules'
-- trusted SQL needs (sponsorship's escrow, campaigns' settlement, commerce's
-- orders), instead of reading payments_private (CONVENTIONS: a module never
-- reads another module's *_private schema). Public functions of the payments
-- schema, execute revoked from every API role (only the owner's
-- security-definer functions and direct owner/worker connections call them),
-- hidden from GraphQL with @behavior -*; thin wrappers of the private
-- implementations.

drop function if exists payments.user_wallet(uuid, text);
drop function if exists payments.organization_account(uuid, text, text);
drop function if exists payments.system_account(text, text, text, text, boolean);
drop function if exists payments.revenue_account(uuid, text);
drop function if exists payments.consume_lots(bigint, bigint);

create function payments.user_wallet(user_id uuid, currency text) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select payments_private.user_wallet(user_wallet.user_id, user_wallet.currency)
$$;
comment on function payments.user_wallet(uuid, text) is
  E'@behavior -*\nTrusted interface, not in GraphQL: the ledger account id of a user''s wallet in a currency, opened on first use. No API role may execute it.';

create function payments.organization_account(organization_id uuid, purpose text, currency text) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select payments_private.organization_account(organization_account.organization_id, organization_account.purpose, organization_account.currency)
$$;
comment on function payments.organization_account(uuid, text, text) is
  E'@behavior -*\nTrusted interface, not in GraphQL: the ledger account id of an organization''s wallet (purpose wallet) or receivable (purpose receivable) in a currency, opened on first use. No API role may execute it.';

create function payments.system_account(code text, name text, currency text, kind text, allow_negative boolean) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select payments_private.system_account(system_account.code, system_account.name, system_account.currency, system_account.kind,
    system_account.allow_negative)
$$;
comment on function payments.system_account(text, text, text, text, boolean) is
  E'@behavior -*\nTrusted interface, not in GraphQL: the ledger account id of a platform account (no owner: revenue, clearing, breakage, credit issuance), opened on first use. No API role may execute it.';

create function payments.revenue_account(organization_id uuid, currency text) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select payments_private.revenue_account(revenue_account.organization_id, revenue_account.currency)
$$;
comment on function payments.revenue_account(uuid, text) is
  E'@behavior -*\nTrusted interface, not in GraphQL: the ledger account id of the platform''s fee revenue from one organization in a currency, opened on first use. No API role may execute it.';

create function payments.consume_lots(wallet_id bigint, amount bigint) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select payments_private.consume_lots(consume_lots.wallet_id, consume_lots.amount)
$$;
comment on function payments.consume_lots(bigint, bigint) is
  E'@behavior -*\nTrusted interface, not in GraphQL: takes amount from the wallet''s live credit lots, first-expiring-first, and returns how much came from lots (the rest is the wallet''s own money); the caller moves the money on the ledger in the same transaction. No API role may execute it.';

revoke execute on function payments.user_wallet(uuid, text), payments.organization_account(uuid, text, text),
  payments.system_account(text, text, text, text, boolean), payments.revenue_account(uuid, text),
  payments.consume_lots(bigint, bigint) from public;

--! split: 5460-payments-on-the-ledger-interface.sql
--! split: 5460-payments-on-the-ledger-interface.sql
-- Payments on the ledger's trusted interface (3900: ledger.trusted_transfer,
-- ledger.trusted_post_entries, ledger.may_debit, ledger.caller) instead of
-- ledger_private (CONVENTIONS: a module never reads another module's
-- *_private schema). Only those calls change.

-- payments.grant_credits: as in 000034, on the interfaces
create or replace function payments.grant_credits(
  user_id uuid, organization_id uuid, amount bigint, currency text, expires_at timestamptz default null,
  source text default 'granted', idempotency_key text default null
) returns payments.credit_lots
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_caller record := ledger.caller();
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
  v_tx := ledger.trusted_transfer(
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

-- payments.payout: as in 000034, on the interfaces
create or replace function payments.payout(organization_id uuid, amount bigint, currency text, idempotency_key text default null)
  returns ledger.transactions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_tx ledger.transactions;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to pay out.' using errcode = 'LOGIN';
  end if;
  if payout.amount is null or payout.amount <= 0 or payout.currency is null or payout.organization_id is null then
    raise exception 'A payout is a positive amount of minor units in a currency, for an organization.' using errcode = 'BADIN';
  end if;
  if not ledger.may_debit(null, payout.organization_id, auth.uid()) then
    raise exception 'Only owners and admins of the organization pay out its receivable.' using errcode = 'DNIED';
  end if;
  v_tx := ledger.trusted_transfer(
    payments_private.organization_account(payout.organization_id, 'receivable', payout.currency),
    payments_private.organization_account(payout.organization_id, 'wallet', payout.currency),
    payout.amount, payout.currency, payout.idempotency_key, 'payments.payout', 'Payout', null, null, auth.uid(), false);
  perform outbox.publish('payout.completed',
    pg_catalog.jsonb_build_object('transactionId', v_tx.transaction_id, 'organizationId', payout.organization_id,
      'amount', payout.amount, 'currency', payout.currency),
    'organization', payout.organization_id::text, payout.organization_id);
  return v_tx;
end;
$$;

-- payments.post_refund: as in 000034, on the interfaces
create or replace function payments.post_refund(
  sale_transaction_id bigint, amount bigint, fee bigint, idempotency_key text, memo text, metadata jsonb, actor uuid
) returns ledger.transactions
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_buyer bigint;
  v_receivable bigint;
  v_revenue bigint;
  v_currency text;
  v_entries ledger.entry_input[];
begin
  if post_refund.amount is null or post_refund.amount <= 0 or post_refund.fee is null or post_refund.fee < 0
     or post_refund.fee > post_refund.amount then
    raise exception 'A refund is a positive amount with a fee share between 0 and the amount.' using errcode = 'BADIN';
  end if;
  -- The sale's own accounts, by its lines: 1 buyer wallet, 2 receivable, 3 revenue.
  select max(e.account_id) filter (where e.line = 1), max(e.account_id) filter (where e.line = 2),
         max(e.account_id) filter (where e.line = 3), max(e.currency)
    into v_buyer, v_receivable, v_revenue, v_currency
    from ledger.entries e join ledger.transactions t on t.transaction_id = e.transaction_id
   where e.transaction_id = post_refund.sale_transaction_id and t.kind = 'payments.sale';
  if v_buyer is null then
    raise exception 'No sale %.', post_refund.sale_transaction_id using errcode = 'NTFND';
  end if;
  v_entries := array[row(v_buyer, post_refund.amount, v_currency)::ledger.entry_input];
  if post_refund.amount - post_refund.fee > 0 then
    v_entries := v_entries || row(v_receivable, -(post_refund.amount - post_refund.fee), v_currency)::ledger.entry_input;
  end if;
  if post_refund.fee > 0 then
    v_entries := v_entries || row(v_revenue, -post_refund.fee, v_currency)::ledger.entry_input;
  end if;
  return ledger.trusted_post_entries(v_entries, post_refund.idempotency_key, 'payments.refund', post_refund.memo,
    coalesce(post_refund.metadata, '{}'::jsonb) || pg_catalog.jsonb_build_object('refunds', post_refund.sale_transaction_id),
    post_refund.actor, false);
end;
$$;

-- payments.post_sale: as in 000034, on the interfaces
create or replace function payments.post_sale(
  buyer_id uuid, organization_id uuid, amount bigint, currency text, idempotency_key text, memo text, metadata jsonb,
  fee bigint default null
) returns ledger.transactions
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_fee bigint := coalesce(post_sale.fee, payments.fee_for(post_sale.organization_id, post_sale.amount));
  v_entries ledger.entry_input[];
  v_tx ledger.transactions;
begin
  if post_sale.amount is null or post_sale.amount <= 0 or v_fee < 0 or v_fee > post_sale.amount then
    raise exception 'A sale is a positive amount of minor units, its fee between 0 and the amount.' using errcode = 'BADIN';
  end if;
  v_entries := array[
    row(payments_private.user_wallet(post_sale.buyer_id, post_sale.currency), -post_sale.amount, post_sale.currency)::ledger.entry_input,
    row(payments_private.organization_account(post_sale.organization_id, 'receivable', post_sale.currency), post_sale.amount - v_fee, post_sale.currency)::ledger.entry_input];
  if v_fee > 0 then
    v_entries := v_entries || row(payments_private.revenue_account(post_sale.organization_id, post_sale.currency), v_fee, post_sale.currency)::ledger.entry_input;
  end if;
  v_tx := ledger.trusted_post_entries(v_entries, post_sale.idempotency_key, 'payments.sale', post_sale.memo, post_sale.metadata,
    post_sale.buyer_id, false);
  -- Credits in the wallet are spent first, first-expiring-first (5440).
  perform payments_private.consume_lots(v_entries[1].account_id, post_sale.amount);
  return v_tx;
end;
$$;

-- payments_private.expire_credit_lots: as in 000034, on the interfaces
create or replace function payments_private.expire_credit_lots(max_lots integer default 100) returns integer
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
      v_tx := ledger.trusted_transfer(v_wallet.account_id,
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

-- payments_private.handle_provider_message: as in 000034, on the interfaces
create or replace function payments_private.handle_provider_message(m inbox.messages) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_data jsonb := m.payload -> 'data';
  v_payment_id text;
  v_user_id uuid;
  v_amount bigint;
  v_currency text;
  v_key text;
  v_wallet bigint;
  v_tx ledger.transactions;
begin
  if m.topic is distinct from 'payment.succeeded' then
    return; -- other provider events are stored, not acted on
  end if;
  if pg_catalog.jsonb_typeof(v_data) is distinct from 'object'
     or pg_catalog.jsonb_typeof(v_data -> 'amount') is distinct from 'number'
     or (v_data ->> 'amount') !~ '^[0-9]{1,15}$'
     or (v_data ->> 'userId') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
     or char_length(coalesce(v_data ->> 'paymentId', '')) not between 1 and 200
     or (v_data ->> 'currency') !~ '^[A-Z]{3}$' then
    raise exception 'A payment.succeeded message has data.paymentId (1-200 characters), data.userId (a UUID), data.amount (a positive whole number of minor units) and data.currency (ISO 4217).'
      using errcode = 'PYMSG';
  end if;
  v_payment_id := v_data ->> 'paymentId';
  v_user_id := (v_data ->> 'userId')::uuid;
  v_amount := (v_data ->> 'amount')::bigint;
  v_currency := v_data ->> 'currency';
  if v_amount <= 0 then
    raise exception 'A payment is a positive amount, not %.', v_amount using errcode = 'PYMSG';
  end if;
  if not exists (select 1 from auth.users u where u.user_id = v_user_id) then
    raise exception 'No user % to credit.', v_user_id using errcode = 'PYMSG';
  end if;
  v_key := 'funding:' || m.source || ':' || v_payment_id;
  if exists (select 1 from ledger.transactions t
              where t.idempotency_scope = '00000000-0000-0000-0000-000000000000'::uuid and t.idempotency_key = v_key) then
    return; -- this payment was credited already (another message id for it)
  end if;
  v_wallet := payments_private.user_wallet(v_user_id, v_currency);
  v_tx := ledger.trusted_transfer(
    payments_private.system_account('payments.clearing.' || pg_catalog.lower(m.source), 'Clearing: ' || m.source, v_currency, 'asset', true),
    v_wallet, v_amount, v_currency, v_key, 'payments.funding', 'Payment ' || pg_catalog.left(v_payment_id, 200),
    pg_catalog.jsonb_build_object('provider', m.source, 'paymentId', v_payment_id), null, null, false);
  perform outbox.publish('wallet.funded',
    pg_catalog.jsonb_build_object('transactionId', v_tx.transaction_id, 'userId', v_user_id, 'walletId', v_wallet,
      'amount', v_amount, 'currency', v_currency, 'provider', m.source, 'paymentId', v_payment_id),
    'wallet', v_wallet::text, null);
  perform outbox.notify_user(v_user_id, 'wallet.funded',
    'Your wallet was credited with ' || v_amount || ' ' || v_currency || ' (minor units).',
    pg_catalog.jsonb_build_object('walletId', v_wallet, 'amount', v_amount, 'currency', v_currency));
end;
$$;
