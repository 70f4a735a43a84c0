--! Previous: sha1:39905a4c1cfd341da82889dd8358c26f8b2791bf
--! Hash: sha1:1791188f6f7120ce3b5e05bff86eb0a1e820a0dc
--! Message: payments: wallets on the ledger, provider funding, invoices, credit lots, payouts (issue 19)

--! split: 5400-payments-accounts.sql
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

--! split: 5410-payments-funding-payouts.sql
-- Funding from payment providers through the core inbox, and payouts.
-- A provider posts payment.succeeded to POST /webhooks/<provider> (Standard
-- Webhooks signature, verified by the route); the inbox stores it once per
-- message id and the worker runs payments_private.handle_provider_message,
-- which credits the user's wallet from the provider's clearing account with
-- the ledger idempotency key funding:<provider>:<payment id>: a redelivery, or
-- the same payment under another message id, credits nothing more.
-- Register a provider (as the owner, in a migration or a console):
--   insert into inbox.sources (source, handler, description)
--   values ('stripe', 'payments_private.handle_provider_message', 'Stripe payments');

drop function if exists payments.payout(uuid, bigint, text, text) cascade;
drop function if exists payments_private.handle_provider_message(inbox.messages) cascade;

insert into registry.types (namespace, code, label, description) values
  ('outbox_topic', 'wallet.funded', 'Wallet funded',
   'Payload: transactionId, userId, walletId, amount, currency, provider, paymentId.'),
  ('outbox_topic', 'payout.completed', 'Payout to an organization''s wallet',
   'Payload: transactionId, organizationId, amount, currency.')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description;

create function payments_private.handle_provider_message(m inbox.messages) returns void
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
  v_tx := ledger_private.transfer(
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
comment on function payments_private.handle_provider_message(inbox.messages) is
  'Inbox handler of payment providers: payment.succeeded credits data.userId''s wallet in data.currency with data.amount minor units from the provider''s clearing account (payments.clearing.<source>, which may go negative: it mirrors what the provider owes the platform), once per (provider, data.paymentId) through the ledger idempotency key funding:<source>:<paymentId>; publishes wallet.funded and notifies the user. Malformed data: PYMSG (the inbox retries, then dead-letters it). Runs in the worker as the owner.';

--------------------------------------------------------------------------------
-- Payouts

create function payments.payout(organization_id uuid, amount bigint, currency text, idempotency_key text default null)
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
  if not ledger_private.may_debit(null, payout.organization_id, auth.uid()) then
    raise exception 'Only owners and admins of the organization pay out its receivable.' using errcode = 'DNIED';
  end if;
  v_tx := ledger_private.transfer(
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
comment on function payments.payout(organization_id uuid, amount bigint, currency text, idempotency_key text) is
  E'@resultFieldName transaction\nMoves amount from the organization''s receivable (its sales, net of fees) to its wallet, never more than the receivable holds: one ledger transaction (kind payments.payout); an idempotency key makes a retry return the original. Owners and admins of the organization. Errors: LOGIN, BADIN, DNIED, LFUND (more than the receivable holds), PYCUR, LIDEM. Security definer because ledger accounts have no write grants and the payout kind is reserved to this function.';
revoke execute on function payments.payout(uuid, bigint, text, text) from public;
grant execute on function payments.payout(uuid, bigint, text, text) to gw_user;

--! split: 5430-payments-invoices.sql
-- payments.invoices: per organization (the seller), to a user or to nobody in
-- particular; lines and totals; status draft -> issued -> paid / void as a
-- registry state machine. Numbers are assigned when an invoice is issued,
-- from a per-organization counter row updated in the same transaction: a
-- concurrent issuer waits on the row, an aborted issue gives its number back,
-- so the numbers of an organization have no gaps. A refund issues a credit
-- note (kind credit_note), numbered in the same series.

drop function if exists payments.issue_credit_note(uuid, uuid, text, bigint, text, jsonb) cascade;
drop function if exists payments.move_invoice(uuid, text) cascade;
drop function if exists payments.issue_invoice(uuid) cascade;
drop function if exists payments.create_invoice(text, jsonb, uuid) cascade;
drop table if exists payments_private.invoice_counters cascade;
drop table if exists payments.invoice_lines cascade;
drop table if exists payments.invoices cascade;

insert into registry.types (namespace, code, label, description, sort_order) values
  ('invoice_status', 'draft', 'Draft', 'Being prepared; no number yet.', 10),
  ('invoice_status', 'issued', 'Issued', 'Numbered and sent.', 20),
  ('invoice_status', 'paid', 'Paid', 'Settled.', 30),
  ('invoice_status', 'void', 'Void', 'Cancelled after issue; its number stays used.', 40)
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description, sort_order = excluded.sort_order;
insert into registry.transitions (namespace, from_code, to_code, label) values
  ('invoice_status', null, 'draft', 'Create'),
  ('invoice_status', 'draft', 'issued', 'Issue'),
  ('invoice_status', 'issued', 'paid', 'Mark paid'),
  ('invoice_status', 'issued', 'void', 'Void')
on conflict on constraint transitions_move_key do nothing;
insert into registry.types (namespace, code, label, description) values
  ('outbox_topic', 'invoice.issued', 'Invoice issued', 'Payload: invoiceId, organizationId, userId, kind, number, total, currency.')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description;

create table payments.invoices (
  invoice_id uuid primary key default gen_random_uuid(),
  organization_id uuid not null
    constraint invoices_organization_id_fkey references auth.organizations (organization_id) on delete restrict,
  user_id uuid
    constraint invoices_user_id_fkey references auth.users (user_id) on delete restrict,
  kind text not null default 'invoice'
    constraint invoices_kind_check check (kind in ('invoice', 'credit_note')),
  number integer,
  currency text not null
    constraint invoices_currency_fkey references ledger.currencies (code) on delete restrict,
  total bigint not null default 0
    constraint invoices_total_check check (total >= 0),
  metadata jsonb not null default '{}'::jsonb
    constraint invoices_metadata_check check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 16384),
  created_at timestamptz not null default now(),
  issued_at timestamptz,
  closed_at timestamptz,
  constraint invoices_number_key unique (organization_id, number),
  constraint invoices_number_check check ((number is null) = (issued_at is null))
);
alter table payments.invoices enable row level security;
select registry.add_type_column('payments.invoices', 'status', 'invoice_status', true, 'draft');
select registry.add_state_machine('payments.invoices', 'status', 'invoice_status');
create index invoices_user_id_idx on payments.invoices (user_id);
create index invoices_currency_idx on payments.invoices (currency);

create policy "members acting in an organization see its invoices; users see theirs"
  on payments.invoices for select to gw_user
  using (organization_id = (select auth.current_org_id()) or user_id = (select auth.uid()));
grant select on payments.invoices to gw_user;

comment on table payments.invoices is
  E'@behavior -insert -update -delete\nAn invoice (or a credit note, kind credit_note, issued by a refund) of an organization, to a user or to nobody in particular: lines, total, status draft -> issued -> paid or void (registry namespace invoice_status). Numbered 1, 2, 3… per organization without gaps when issued. Members acting in the organization see its invoices; users see those addressed to them.';
comment on column payments.invoices.invoice_id is 'The invoice''s id.';
comment on column payments.invoices.organization_id is 'The issuing organization.';
comment on column payments.invoices.user_id is 'The user it is addressed to, if any.';
comment on column payments.invoices.kind is 'invoice, or credit_note (what a refund issues).';
comment on column payments.invoices.number is 'Its number in the organization''s series, from 1 without gaps; null while a draft.';
comment on column payments.invoices.currency is 'The currency.';
comment on column payments.invoices.total is 'The sum of its lines, in minor units.';
comment on column payments.invoices.metadata is 'References (the order, the ledger transaction), a JSON object.';
comment on column payments.invoices.created_at is 'When it was created.';
comment on column payments.invoices.issued_at is 'When it was issued (numbered).';
comment on column payments.invoices.closed_at is 'When it was paid or voided.';
comment on column payments.invoices.status is 'draft, issued, paid or void (registry namespace invoice_status).';
comment on constraint invoices_organization_id_fkey on payments.invoices is E'@behavior -*\nNo relation field.';
comment on constraint invoices_user_id_fkey on payments.invoices is E'@behavior -*\nNo relation field.';
comment on constraint invoices_currency_fkey on payments.invoices is E'@behavior -*\nNo relation field.';
comment on constraint invoices_status_type_fkey on payments.invoices is E'@behavior -*\nNo relation field.';
comment on constraint invoices_number_key on payments.invoices is E'@behavior -single -update -delete\nOne invoice per number and organization.';

create table payments.invoice_lines (
  invoice_line_id uuid primary key default gen_random_uuid(),
  invoice_id uuid not null
    constraint invoice_lines_invoice_id_fkey references payments.invoices (invoice_id) on delete cascade,
  line integer not null,
  description text not null
    constraint invoice_lines_description_check check (char_length(description) between 1 and 500),
  quantity integer not null
    constraint invoice_lines_quantity_check check (quantity between 1 and 1000000),
  unit_amount bigint not null
    constraint invoice_lines_unit_amount_check check (unit_amount >= 0),
  amount bigint generated always as (quantity * unit_amount) stored,
  constraint invoice_lines_line_key unique (invoice_id, line)
);
alter table payments.invoice_lines enable row level security;
create policy "whoever sees an invoice sees its lines"
  on payments.invoice_lines for select to gw_user
  using (exists (select 1 from payments.invoices i where i.invoice_id = invoice_lines.invoice_id));
grant select on payments.invoice_lines to gw_user;
comment on table payments.invoice_lines is E'@behavior -insert -update -delete\nA line of an invoice: quantity x unit amount. Visible with its invoice.';
comment on column payments.invoice_lines.invoice_line_id is 'The line''s id.';
comment on column payments.invoice_lines.invoice_id is 'The invoice.';
comment on column payments.invoice_lines.line is 'Its position, from 1.';
comment on column payments.invoice_lines.description is 'What it is for, 1 to 500 characters.';
comment on column payments.invoice_lines.quantity is 'How many.';
comment on column payments.invoice_lines.unit_amount is 'The amount of one, in minor units.';
comment on column payments.invoice_lines.amount is 'quantity x unit amount.';
comment on constraint invoice_lines_invoice_id_fkey on payments.invoice_lines is E'@fieldName invoice\n@foreignFieldName lines';
comment on constraint invoice_lines_line_key on payments.invoice_lines is E'@behavior -single -update -delete\nOne row per position.';

create table payments_private.invoice_counters (
  organization_id uuid primary key
    constraint invoice_counters_organization_id_fkey references auth.organizations (organization_id) on delete cascade,
  last_number integer not null
);
alter table payments_private.invoice_counters enable row level security;
comment on table payments_private.invoice_counters is
  'The last invoice number of each organization: updated in the transaction that issues, so numbers are gapless (a rollback gives the number back) and concurrent issuers queue on the row.';

create function payments_private.issue(invoice_id uuid) returns payments.invoices
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_invoice payments.invoices;
  v_number integer;
begin
  select i.* into v_invoice from payments.invoices i where i.invoice_id = issue.invoice_id for update;
  if v_invoice.status <> 'draft' then
    raise exception 'Invoice % is %: only a draft is issued.', v_invoice.invoice_id, v_invoice.status using errcode = 'PYINV';
  end if;
  insert into payments_private.invoice_counters as c (organization_id, last_number)
  values (v_invoice.organization_id, 1)
  on conflict (organization_id) do update set last_number = c.last_number + 1
  returning c.last_number into v_number;
  update payments.invoices i
     set status = 'issued', number = v_number, issued_at = pg_catalog.now(),
         total = (select coalesce(pg_catalog.sum(l.amount), 0) from payments.invoice_lines l where l.invoice_id = i.invoice_id)
   where i.invoice_id = v_invoice.invoice_id
  returning * into v_invoice;
  perform outbox.publish('invoice.issued',
    pg_catalog.jsonb_build_object('invoiceId', v_invoice.invoice_id, 'organizationId', v_invoice.organization_id,
      'userId', v_invoice.user_id, 'kind', v_invoice.kind, 'number', v_invoice.number, 'total', v_invoice.total,
      'currency', v_invoice.currency),
    'invoice', v_invoice.invoice_id::text, v_invoice.organization_id);
  return v_invoice;
end;
$$;
comment on function payments_private.issue(uuid) is
  'Issues a draft: the next number of its organization''s counter row (insert or update in this transaction: gapless), the total from its lines, invoice.issued published. PYINV when not a draft.';

create function payments.create_invoice(currency text, lines jsonb, user_id uuid default null) returns payments.invoices
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_org uuid := events.managed_organization_id();
  v_invoice payments.invoices;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  if v_org is null then
    raise exception 'Owners and admins acting in an organization write its invoices.' using errcode = 'DNIED';
  end if;
  if not exists (select 1 from ledger.currencies c where c.code = create_invoice.currency) then
    raise exception 'Unknown currency %.', pg_catalog.left(create_invoice.currency, 10) using errcode = 'PYCUR';
  end if;
  if pg_catalog.jsonb_typeof(create_invoice.lines) is distinct from 'array'
     or pg_catalog.jsonb_array_length(create_invoice.lines) not between 1 and 500
     or exists (select 1 from pg_catalog.jsonb_array_elements(create_invoice.lines) l (v)
                 where pg_catalog.jsonb_typeof(l.v) <> 'object'
                    or char_length(coalesce(l.v ->> 'description', '')) not between 1 and 500
                    or coalesce(l.v ->> 'quantity', '') !~ '^[0-9]{1,7}$' or (l.v ->> 'quantity')::integer not between 1 and 1000000
                    or coalesce(l.v ->> 'unitAmount', '') !~ '^[0-9]{1,12}$') then
    raise exception 'Lines are 1 to 500 objects {description (1-500 characters), quantity (1-1,000,000), unitAmount (whole minor units, 0 or more)}.'
      using errcode = 'PYLIN';
  end if;
  if create_invoice.user_id is not null and not exists (select 1 from auth.users u where u.user_id = create_invoice.user_id) then
    raise exception 'No user %.', create_invoice.user_id using errcode = 'NTFND';
  end if;
  insert into payments.invoices (organization_id, user_id, currency)
  values (v_org, create_invoice.user_id, create_invoice.currency)
  returning * into v_invoice;
  insert into payments.invoice_lines (invoice_id, line, description, quantity, unit_amount)
  select v_invoice.invoice_id, l.n, l.v ->> 'description', (l.v ->> 'quantity')::integer, (l.v ->> 'unitAmount')::bigint
    from pg_catalog.jsonb_array_elements(create_invoice.lines) with ordinality as l (v, n);
  update payments.invoices i
     set total = (select pg_catalog.sum(l.amount) from payments.invoice_lines l where l.invoice_id = i.invoice_id)
   where i.invoice_id = v_invoice.invoice_id
  returning * into v_invoice;
  return v_invoice;
end;
$$;
comment on function payments.create_invoice(currency text, lines jsonb, user_id uuid) is
  E'@resultFieldName invoice\nA draft invoice of the organization you act in, to userId if given: lines is a JSON array of {description, quantity, unitAmount}. Owners and admins acting in the organization. Errors: LOGIN, DNIED, PYCUR, PYLIN (bad lines), NTFND (no such user). Security definer because invoices have no insert grant.';
revoke execute on function payments.create_invoice(text, jsonb, uuid) from public;
grant execute on function payments.create_invoice(text, jsonb, uuid) to gw_user;

create function payments.move_invoice(invoice_id uuid, status text) returns payments.invoices
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_invoice payments.invoices;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  select i.* into v_invoice from payments.invoices i where i.invoice_id = move_invoice.invoice_id;
  if not found or v_invoice.organization_id is distinct from auth.current_org_id() then
    raise exception 'No invoice % of the organization you act in.', move_invoice.invoice_id using errcode = 'NTFND';
  end if;
  if v_invoice.organization_id is distinct from events.managed_organization_id() then
    raise exception 'Only owners and admins acting in the organization change its invoices.' using errcode = 'DNIED';
  end if;
  if move_invoice.status = 'issued' then
    return payments_private.issue(v_invoice.invoice_id);
  end if;
  update payments.invoices i set status = move_invoice.status, closed_at = pg_catalog.now()
   where i.invoice_id = v_invoice.invoice_id
  returning * into v_invoice;
  return v_invoice;
end;
$$;
comment on function payments.move_invoice(invoice_id uuid, status text) is
  E'@resultFieldName invoice\nMoves an invoice of the organization you act in: issued (numbered), paid or void; the state machine refuses other moves (RGTRN). Owners and admins acting in the organization. Errors: LOGIN, NTFND, DNIED, PYINV (issuing what is not a draft), RTYPE, RGTRN. Security definer because invoices have no update grant.';
revoke execute on function payments.move_invoice(uuid, text) from public;
grant execute on function payments.move_invoice(uuid, text) to gw_user;

create function payments.issue_credit_note(
  organization_id uuid, user_id uuid, currency text, amount bigint, description text, metadata jsonb
) returns uuid
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_id uuid;
begin
  insert into payments.invoices (organization_id, user_id, kind, currency, metadata)
  values (issue_credit_note.organization_id, issue_credit_note.user_id, 'credit_note', issue_credit_note.currency,
          coalesce(issue_credit_note.metadata, '{}'::jsonb))
  returning invoice_id into v_id;
  insert into payments.invoice_lines (invoice_id, line, description, quantity, unit_amount)
  values (v_id, 1, pg_catalog.left(issue_credit_note.description, 500), 1, issue_credit_note.amount);
  perform payments_private.issue(v_id);
  return v_id;
end;
$$;
comment on function payments.issue_credit_note(uuid, uuid, text, bigint, text, jsonb) is
  E'@behavior -queryField -mutationField -typeField\nIssues a credit note (one line of amount) of the organization to the user, numbered in the organization''s series; returns its id. For other modules'' security-definer functions (ticketing refunds); not granted to API roles.';
revoke execute on function payments.issue_credit_note(uuid, uuid, text, bigint, text, jsonb) from public;

--! split: 5440-payments-credit-lots.sql
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
