-- payments: the Liventix seed's payments schema on the core ledger (issue 19).
-- The seed's payments.accounts and payments.entries ARE ledger.accounts and
-- ledger.entries: no second ledger. This file: the schema, the accounts this
-- module opens (user and organization wallets, organization receivables,
-- platform revenue, provider clearing, breakage, credit issuance), the fee
-- rate per organization, and the sale and refund postings ticketing (and
-- later commerce) call. Funding from providers: 5410; payouts: 5420;
-- invoices: 5430; credit lots: 5440.

drop schema if exists payments_private cascade;
drop schema if exists payments cascade;

create schema payments;
comment on schema payments is
  'Payments on the core ledger: wallets, receivables, fee rates, provider funding, payouts, invoices and credit lots. Money moves only through ledger transactions.';
grant usage on schema payments to gw_anonymous, gw_user;

create schema payments_private;
comment on schema payments_private is 'Account opening, the provider webhook handler and the breakage job; never exposed.';
revoke all on schema payments_private from public;

-- Transaction kinds of this module: posted only by its functions (trusted).
insert into registry.types (namespace, code, label, description, metadata) values
  ('ledger_transaction_kind', 'payments.funding', 'Wallet funding', 'A payment provider''s payment credited to a wallet from the provider''s clearing account.', '{"written_by": "trusted"}'),
  ('ledger_transaction_kind', 'payments.sale', 'Sale', 'A purchase: buyer wallet to the organization''s receivable and the platform''s fee revenue.', '{"written_by": "trusted"}'),
  ('ledger_transaction_kind', 'payments.refund', 'Refund', 'The mirror of (part of) a sale back to the buyer''s wallet.', '{"written_by": "trusted"}'),
  ('ledger_transaction_kind', 'payments.payout', 'Payout', 'An organization''s receivable moved to its wallet.', '{"written_by": "trusted"}'),
  ('ledger_transaction_kind', 'payments.credit_grant', 'Credits granted', 'Credits granted or bought into a wallet (a credit lot).', '{"written_by": "trusted"}'),
  ('ledger_transaction_kind', 'payments.breakage', 'Breakage', 'The expired remainder of a credit lot moved to breakage revenue.', '{"written_by": "trusted"}')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description, metadata = excluded.metadata;

--------------------------------------------------------------------------------
-- Accounts. One function opens (or finds) every account this module uses; the
-- codes are fixed so that a concurrent first use finds the same row.

-- One static statement per kind of owner, so that each is an index lookup on
-- ledger.accounts (owner_user_id, organization_id, code): "is not distinct
-- from" is not indexable, and a seq scan of every account per checkout is.
create function payments_private.find_account(owner_user_id uuid, organization_id uuid, code text) returns bigint
  language plpgsql
  stable
  set search_path = ''
as $$
#variable_conflict use_column
declare
  v_id bigint;
begin
  if find_account.owner_user_id is not null then
    select a.account_id into v_id from ledger.accounts a
     where a.owner_user_id = find_account.owner_user_id and a.organization_id is null and a.code = find_account.code;
  elsif find_account.organization_id is not null then
    select a.account_id into v_id from ledger.accounts a
     where a.owner_user_id is null and a.organization_id = find_account.organization_id and a.code = find_account.code;
  else
    select a.account_id into v_id from ledger.accounts a
     where a.owner_user_id is null and a.organization_id is null and a.code = find_account.code;
  end if;
  return v_id;
end;
$$;
comment on function payments_private.find_account(uuid, uuid, text) is 'The ledger account of this owner (a user, an organization, or none: the system) and code, if opened.';

create function payments_private.account(
  owner_user_id uuid, organization_id uuid, code text, name text, currency text, kind text, allow_negative boolean
) returns bigint
  language plpgsql
  volatile
  set search_path = ''
as $$
#variable_conflict use_column
declare
  v_id bigint;
begin
  v_id := payments_private.find_account(account.owner_user_id, account.organization_id, account.code);
  if v_id is not null then
    return v_id;
  end if;
  if not exists (select 1 from ledger.currencies c where c.code = account.currency) then
    raise exception 'Unknown currency %.', pg_catalog.left(account.currency, 10) using errcode = 'PYCUR';
  end if;
  insert into ledger.accounts (owner_user_id, organization_id, code, name, currency, kind, allow_negative)
  values (account.owner_user_id, account.organization_id, account.code, account.name, account.currency, account.kind,
          account.allow_negative)
  on conflict (owner_user_id, organization_id, code) do nothing
  returning account_id into v_id;
  if v_id is null then
    v_id := payments_private.find_account(account.owner_user_id, account.organization_id, account.code);
  end if;
  return v_id;
end;
$$;
comment on function payments_private.account(uuid, uuid, text, text, text, text, boolean) is
  'The ledger account of this owner and code, opened on first use (a concurrent first use finds the same row). Unknown currency: PYCUR.';

create function payments_private.user_wallet(user_id uuid, currency text) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select payments_private.account(user_wallet.user_id, null, 'payments.wallet.' || pg_catalog.lower(user_wallet.currency),
    'Wallet (' || user_wallet.currency || ')', user_wallet.currency, 'liability', false)
$$;
comment on function payments_private.user_wallet(uuid, text) is 'A user''s wallet in a currency (a liability of the platform to the user), opened on first use.';

create function payments_private.organization_account(organization_id uuid, purpose text, currency text) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select payments_private.account(null, organization_account.organization_id,
    'payments.' || organization_account.purpose || '.' || pg_catalog.lower(organization_account.currency),
    case organization_account.purpose when 'wallet' then 'Wallet' else 'Receivable' end || ' (' || organization_account.currency || ')',
    organization_account.currency, 'liability', false)
$$;
comment on function payments_private.organization_account(uuid, text, text) is
  'An organization''s wallet (purpose wallet: the seed''s organizations.wallets) or receivable (purpose receivable: sales not yet paid out) in a currency, opened on first use.';

create function payments_private.system_account(code text, name text, currency text, kind text, allow_negative boolean) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select payments_private.account(null, null, system_account.code || '.' || pg_catalog.lower(system_account.currency),
    system_account.name || ' (' || system_account.currency || ')', system_account.currency, system_account.kind, system_account.allow_negative)
$$;
comment on function payments_private.system_account(text, text, text, text, boolean) is
  'A platform account (no owner): revenue, clearing, breakage, credit issuance; opened on first use.';

create function payments_private.revenue_account(organization_id uuid, currency text) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select payments_private.system_account('payments.revenue.' || revenue_account.organization_id::text, 'Platform fee revenue from ' || revenue_account.organization_id::text,
    revenue_account.currency, 'revenue', false)
$$;
comment on function payments_private.revenue_account(uuid, text) is
  'The platform''s fee revenue earned from one organization in a currency: one account per organization, so checkouts of different organizations never queue on one row lock; the platform''s revenue is the sum over the kind revenue (ledger.trial_balance).';

--------------------------------------------------------------------------------
-- payments.wallets: the seed's organizations.wallets (and the users' wallets), as a view of ledger accounts.

create view payments.wallets with (security_invoker = true) as
  select a.account_id as wallet_id, a.owner_user_id, a.organization_id, a.currency, a.balance, a.pending_out,
         a.balance - a.pending_out as available_balance, a.version, a.created_at
    from ledger.accounts a
   where a.code like 'payments.wallet.%';
comment on view payments.wallets is
  E'@primaryKey wallet_id\nWallets: a user''s (ownerUserId) or an organization''s (organizationId, the seed''s organizations.wallets), one per currency; each is a ledger account (walletId = accountId) and its balance is the sum of its ledger entries. You see your own wallets and those of your organizations (the ledger''s row level security).';
comment on column payments.wallets.wallet_id is 'The wallet''s ledger account id.';
comment on column payments.wallets.owner_user_id is 'The user it belongs to (null for an organization''s wallet).';
comment on column payments.wallets.organization_id is 'The organization it belongs to (null for a user''s wallet).';
comment on column payments.wallets.currency is 'Its currency.';
comment on column payments.wallets.balance is 'Its balance in minor units: the sum of its ledger entries.';
comment on column payments.wallets.pending_out is 'Reserved by pending ledger holds.';
comment on column payments.wallets.available_balance is 'What may be spent: balance minus pending_out.';
comment on column payments.wallets.version is 'How many entries the account has.';
comment on column payments.wallets.created_at is 'When it was opened.';
grant select on payments.wallets to gw_user;

create function payments.open_wallet(currency text) returns ledger.accounts
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_id bigint;
  v_account ledger.accounts;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in to open a wallet.' using errcode = 'LOGIN';
  end if;
  v_id := payments_private.user_wallet(auth.uid(), open_wallet.currency);
  select a.* into v_account from ledger.accounts a where a.account_id = v_id;
  return v_account;
end;
$$;
comment on function payments.open_wallet(currency text) is
  E'@resultFieldName account\nYour wallet in a currency (opened if you have none): fund it through a payment provider, spend it on tickets. Errors: LOGIN, PYCUR (unknown currency). Security definer because ledger accounts have no insert grant and wallet codes are reserved.';
revoke execute on function payments.open_wallet(text) from public;
grant execute on function payments.open_wallet(text) to gw_user;

--------------------------------------------------------------------------------
-- Fee rate per organization (default 5 %).

create table payments.organization_fees (
  organization_id uuid primary key
    constraint organization_fees_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  fee_rate numeric(6, 4) not null default 0.05
    constraint organization_fees_fee_rate_check check (fee_rate >= 0 and fee_rate <= 0.5),
  updated_at timestamptz not null default now()
);
alter table payments.organization_fees enable row level security;

create policy "members of an organization read its fee rate"
  on payments.organization_fees for select to gw_user
  using (organization_id = any (array(select auth.current_user_organization_ids())) or (select auth.has_role('gw_admin')));
create policy "operators set fee rates"
  on payments.organization_fees for insert to gw_admin
  with check ((select auth.has_role('gw_admin')));
create policy "operators change fee rates"
  on payments.organization_fees for update to gw_admin
  using ((select auth.has_role('gw_admin'))) with check ((select auth.has_role('gw_admin')));

grant select on payments.organization_fees to gw_user;
grant insert (organization_id, fee_rate), update (fee_rate) on payments.organization_fees to gw_admin;

comment on table payments.organization_fees is
  'The platform''s fee on an organization''s sales, when it is not the default 5 %. Members read their organization''s; operators (gw_admin) set it.';
comment on column payments.organization_fees.organization_id is 'The organization.';
comment on column payments.organization_fees.fee_rate is 'The fee as a fraction of a sale (0.05 is 5 %), 0 to 0.5.';
comment on column payments.organization_fees.updated_at is 'When it was set.';

create function payments.fee_for(organization_id uuid, amount bigint) returns bigint
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select pg_catalog.round(fee_for.amount * coalesce(
    (select f.fee_rate from payments.organization_fees f where f.organization_id = fee_for.organization_id), 0.05))::bigint
$$;
comment on function payments.fee_for(organization_id uuid, amount bigint) is
  E'@behavior -queryField -mutationField -typeField\nThe platform fee on a sale of amount minor units for the organization: amount times its fee rate (default 5 %), rounded half away from zero to a whole minor unit; the organization receives the rest, so the entries sum to zero. Security definer because fee rates are readable only by members.';
revoke execute on function payments.fee_for(uuid, bigint) from public;

--------------------------------------------------------------------------------
-- The sale and its refunds: the postings other modules call from their own
-- security-definer functions (not granted to API roles).

create function payments.post_sale(
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
  v_tx := ledger_private.post_entries(v_entries, post_sale.idempotency_key, 'payments.sale', post_sale.memo, post_sale.metadata,
    post_sale.buyer_id, false);
  -- Credits in the wallet are spent first, first-expiring-first (5440).
  perform payments_private.consume_lots(v_entries[1].account_id, post_sale.amount);
  return v_tx;
end;
$$;
comment on function payments.post_sale(uuid, uuid, bigint, text, text, text, jsonb, bigint) is
  E'@behavior -queryField -mutationField -typeField\nOne ledger transaction (kind payments.sale) for a purchase: the buyer''s wallet -amount, the organization''s receivable +(amount - fee), the platform''s revenue from that organization +fee (the seed''s example: -10000, +9500, +500); fee defaults to payments.fee_for (the caller may pass what it computed with it). For other modules'' security-definer functions (ticketing checkout, later commerce), which decide that the buyer is the caller; not granted to API roles. Errors: LFUND (the wallet does not hold enough), PYCUR, LIDEM.';
revoke execute on function payments.post_sale(uuid, uuid, bigint, text, text, text, jsonb, bigint) from public;

create function payments.post_refund(
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
  return ledger_private.post_entries(v_entries, post_refund.idempotency_key, 'payments.refund', post_refund.memo,
    coalesce(post_refund.metadata, '{}'::jsonb) || pg_catalog.jsonb_build_object('refunds', post_refund.sale_transaction_id),
    post_refund.actor, false);
end;
$$;
comment on function payments.post_refund(bigint, bigint, bigint, text, text, jsonb, uuid) is
  E'@behavior -queryField -mutationField -typeField\nThe mirror of (part of) a sale, one ledger transaction (kind payments.refund, metadata refunds = the sale): the buyer''s wallet +amount, the receivable -(amount - fee), the platform revenue -fee, on the sale''s own accounts. A full refund is the exact mirror of the sale. For other modules'' security-definer functions, which check who may refund; not granted to API roles. Errors: NTFND (no such sale), LFUND (the organization''s receivable was paid out), LIDEM.';
revoke execute on function payments.post_refund(bigint, bigint, bigint, text, text, jsonb, uuid) from public;
