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
