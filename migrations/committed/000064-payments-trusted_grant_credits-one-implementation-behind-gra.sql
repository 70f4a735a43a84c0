--! Previous: sha1:366e8ff6f8239cd282db4159a91093b4920085e7
--! Hash: sha1:6755d643662f9fc87e46700a5a6454e01b3e0a53
--! Message: payments: trusted_grant_credits, one implementation behind grant_credits (issue 21)

--! split: 5470-payments-trusted-grant-credits.sql
-- Credit lots for other modules' trusted code (issue 21): payments.trusted_grant_credits,
-- a trusted interface beside payments.grant_credits, both thin callers of one
-- implementation, payments_private.grant_credits.
--
-- Why: commerce grants the loyalty points an order earns inside the paying
-- transaction (split 7330), so the checkout no longer queues a job whose
-- add_job notifies. payments.grant_credits refuses such a caller: inside a
-- request ledger.caller() is the signed-in customer, not trusted. The trusted
-- interface leaves the trust decision to the calling security-definer
-- function, as ledger.trusted_transfer does, and names the actor and the
-- issuing account: commerce issues each merchant's points from that
-- merchant's own account, because one platform-wide credits account per
-- currency would be one row every checkout with points locks until its
-- commit, the serialization the notify lock was, moved to a row.

drop function if exists payments.trusted_grant_credits(uuid, uuid, bigint, text, timestamptz, text, text, uuid, bigint);
drop function if exists payments_private.grant_credits(uuid, uuid, bigint, text, timestamptz, text, text, uuid, bigint);

create function payments_private.grant_credits(
  user_id uuid, organization_id uuid, amount bigint, currency text, expires_at timestamptz, source text,
  idempotency_key text, actor uuid, issuer_account_id bigint
) returns payments.credit_lots
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_wallet bigint;
  v_tx ledger.transactions;
  v_lot payments.credit_lots;
begin
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
    coalesce(grant_credits.issuer_account_id,
             payments_private.system_account('payments.credits', 'Credits issued', grant_credits.currency, 'expense', true)),
    v_wallet, grant_credits.amount, grant_credits.currency, grant_credits.idempotency_key, 'payments.credit_grant',
    'Credits ' || grant_credits.source, null, null, grant_credits.actor, false);
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
comment on function payments_private.grant_credits(uuid, uuid, bigint, text, timestamptz, text, text, uuid, bigint) is
  'The one implementation of a credit grant, without a caller check: validates (BADIN, PYLOT), moves amount from the issuing account (null: the platform''s payments.credits account of the currency) to the user''s or organization''s wallet in one payments.credit_grant transaction by actor (idempotent by key: a replay returns the first lot), and records the lot. Called by payments.grant_credits (operators) and payments.trusted_grant_credits (other modules'' trusted code).';

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
begin
  if not v_caller.trusted then
    raise exception 'Only operators grant credits.' using errcode = 'DNIED';
  end if;
  return payments_private.grant_credits(grant_credits.user_id, grant_credits.organization_id, grant_credits.amount,
    grant_credits.currency, grant_credits.expires_at, grant_credits.source, grant_credits.idempotency_key, v_caller.actor, null);
end;
$$;

create function payments.trusted_grant_credits(
  user_id uuid, organization_id uuid, amount bigint, currency text, expires_at timestamptz, source text,
  idempotency_key text, actor uuid, issuer_account_id bigint
) returns payments.credit_lots
  language sql
  volatile
  set search_path = ''
as $$
  select payments_private.grant_credits(trusted_grant_credits.user_id, trusted_grant_credits.organization_id,
    trusted_grant_credits.amount, trusted_grant_credits.currency, trusted_grant_credits.expires_at, trusted_grant_credits.source,
    trusted_grant_credits.idempotency_key, trusted_grant_credits.actor, trusted_grant_credits.issuer_account_id)
$$;
comment on function payments.trusted_grant_credits(uuid, uuid, bigint, text, timestamptz, text, text, uuid, bigint) is
  E'@behavior -*\nTrusted interface, not in GraphQL: puts credits into a user''s or an organization''s wallet as a lot, as payments.grant_credits does, for other modules'' trusted SQL (commerce''s loyalty points at checkout). The calling function has made the trust decision; it names the actor and the issuing account (a platform account from payments.system_account, allowed negative, in the currency; null: payments.credits). Errors: BADIN, PYLOT, PYCUR, LIDEM. No API role may execute it.';

revoke execute on function payments.trusted_grant_credits(uuid, uuid, bigint, text, timestamptz, text, text, uuid, bigint) from public;
revoke execute on function payments_private.grant_credits(uuid, uuid, bigint, text, timestamptz, text, text, uuid, bigint) from public;
