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
