--! Previous: sha1:a8fe10c75bf3ea10c27882e9a39942a454599698
--! Hash: sha1:5ac4e29d1308bf224a5a9d6b868a6b6e4e61d2fd
--! Message: double-entry ledger: accounts, transactions, entries, holds, reversals, periods, commit-time balance check, posting functions

--! split: 3000-ledger-model.sql
-- Double-entry ledger: the model and the invariants the database enforces
-- whoever writes. Sign convention: an entry's amount is positive when money
-- arrives in the account (a debit) and negative when it leaves (a credit);
-- an account's balance is the sum of its entries. Writes go through the
-- functions of 3100-3400 only; API roles have no insert, update or delete.
-- Re-runnable: dropping the two schemas drops everything the later ledger
-- files create.

drop schema if exists ledger_private cascade;
drop schema if exists ledger cascade;

create schema ledger;
comment on schema ledger is
  'Double-entry ledger: accounts, immutable transactions and entries, holds (two-phase transfers), periods. Read under row level security; written only through its functions.';
grant usage on schema ledger to gw_anonymous, gw_user;

create schema ledger_private;
comment on schema ledger_private is 'Trigger functions and trusted-code helpers of the ledger; never exposed.';
revoke all on schema ledger_private from public;

--------------------------------------------------------------------------------
-- Registry types: account kinds (their normal side in metadata) and
-- transaction kinds. Account kinds are a registry column (foreign key plus
-- active check). Transaction kinds are checked once per ledger transaction by
-- the commit-time trigger below instead of a registry column: the column would
-- add a stored namespace and an index entry to every transfer.

insert into registry.types (namespace, code, label, description, metadata, sort_order) values
  ('ledger_account_kind', 'asset', 'Asset', 'What the business owns or is owed (cash, receivables). Normally a debit (positive) balance.', '{"normal_side": "debit"}', 10),
  ('ledger_account_kind', 'liability', 'Liability', 'What the business owes (user wallets, escrow, payables). Normally a credit (negative) balance.', '{"normal_side": "credit"}', 20),
  ('ledger_account_kind', 'equity', 'Equity', 'Owners'' stake and opening balances. Normally a credit balance.', '{"normal_side": "credit"}', 30),
  ('ledger_account_kind', 'revenue', 'Revenue', 'Income such as platform fees. Normally a credit balance.', '{"normal_side": "credit"}', 40),
  ('ledger_account_kind', 'expense', 'Expense', 'Costs such as provider fees and promotions. Normally a debit balance.', '{"normal_side": "debit"}', 50),
  ('ledger_transaction_kind', 'transfer', 'Transfer', 'Money moved between accounts (the default).', '{}', 10),
  ('ledger_transaction_kind', 'hold_post', 'Hold posted', 'The posting of a hold (two-phase transfer), fully or partially.', '{}', 20),
  ('ledger_transaction_kind', 'reversal', 'Reversal', 'The mirror of an earlier transaction, written by ledger.reverse.', '{}', 30),
  ('ledger_transaction_kind', 'conversion', 'Currency conversion', 'An exchange between currencies through per-currency liquidity accounts.', '{}', 40),
  ('ledger_transaction_kind', 'adjustment', 'Adjustment', 'A manual correction by an operator.', '{}', 50)
on conflict (namespace, code) do nothing;

--------------------------------------------------------------------------------
-- ledger.currencies

create table ledger.currencies (
  code text primary key
    constraint currencies_code_check check (code ~ '^[A-Z]{3}$'),
  exponent smallint not null
    constraint currencies_exponent_check check (exponent between 0 and 6),
  name text not null
    constraint currencies_name_check check (char_length(name) between 1 and 100)
);
alter table ledger.currencies enable row level security;

create policy "everyone reads currencies"
  on ledger.currencies for select to gw_anonymous, gw_user
  using (true);
create policy "operators add currencies"
  on ledger.currencies for insert to gw_admin
  with check ((select auth.has_role('gw_admin')));

grant select on ledger.currencies to gw_anonymous, gw_user;
grant insert (code, exponent, name) on ledger.currencies to gw_admin;

comment on table ledger.currencies is
  E'@behavior -update -delete\nCurrencies (ISO 4217 codes; private units such as credits use X-prefixed codes) and their minor-unit exponent: amounts are integers in minor units, so 1050 USD (exponent 2) is $10.50. Operators add currencies.';
comment on column ledger.currencies.code is 'Three uppercase letters, e.g. USD.';
comment on column ledger.currencies.exponent is 'Digits after the decimal point of one major unit: 2 for USD, 0 for JPY, 3 for KWD.';
comment on column ledger.currencies.name is 'Display name.';

insert into ledger.currencies (code, exponent, name) values
  ('USD', 2, 'US dollar'), ('EUR', 2, 'Euro'), ('GBP', 2, 'Pound sterling'), ('CHF', 2, 'Swiss franc'),
  ('CAD', 2, 'Canadian dollar'), ('AUD', 2, 'Australian dollar'), ('NGN', 2, 'Naira'), ('JPY', 0, 'Yen'),
  ('KWD', 3, 'Kuwaiti dinar'), ('XCR', 0, 'Platform credits (private unit)');

--------------------------------------------------------------------------------
-- ledger.accounts

create table ledger.accounts (
  account_id bigint generated always as identity primary key,
  balance bigint not null default 0,
  pending_out bigint not null default 0
    constraint accounts_pending_out_check check (pending_out >= 0),
  pending_in bigint not null default 0
    constraint accounts_pending_in_check check (pending_in >= 0),
  version bigint not null default 0
    constraint accounts_version_check check (version >= 0),
  owner_user_id uuid references auth.users (user_id) on delete restrict,
  organization_id uuid references auth.organizations (organization_id) on delete restrict,
  allow_negative boolean not null default false,
  allow_positive boolean not null default true,
  currency text not null references ledger.currencies (code) on delete restrict,
  code text not null
    constraint accounts_code_check check (code ~ '^[a-z0-9][a-z0-9_.:-]{0,99}$'),
  name text not null
    constraint accounts_name_check check (char_length(name) between 1 and 200),
  created_at timestamptz not null default now(),
  constraint accounts_owner_check check (owner_user_id is null or organization_id is null),
  -- TigerBeetle's debits_must_not_exceed_credits and its mirror, with pending
  -- holds counted against the side they reserve. Backstop: the functions raise
  -- LFUND before an update would trip this.
  constraint accounts_flags_check check (
    (allow_negative or balance - pending_out >= 0) and (allow_positive or balance + pending_in <= 0)
  ),
  -- Entries and holds reference (account_id, currency): an entry in another
  -- currency than its account's cannot exist.
  constraint accounts_account_id_currency_key unique (account_id, currency)
) with (fillfactor = 70); -- balance updates stay HOT (no indexed column changes)
alter table ledger.accounts enable row level security;
select registry.add_type_column('ledger.accounts', 'kind', 'ledger_account_kind', true, 'liability');

create unique index accounts_owner_code_key on ledger.accounts (owner_user_id, organization_id, code) nulls not distinct;
create index accounts_organization_id_idx on ledger.accounts (organization_id) where organization_id is not null;
create index accounts_currency_idx on ledger.accounts (currency);

--------------------------------------------------------------------------------
-- Who may see what. Security definer so entry and transaction policies can
-- use it without recursing through the accounts policy for every row.

create function ledger.current_user_account_ids() returns setof bigint
  language plpgsql
  stable
  rows 20
  security definer
  set search_path = ''
as $$
declare
  v_user_id uuid := auth.uid();
begin
  if v_user_id is null then
    return;
  end if;
  return query
    select a.account_id
      from ledger.accounts a
     where a.owner_user_id = v_user_id
        or a.organization_id in (select m.organization_id from auth.memberships m where m.user_id = v_user_id);
end;
$$;
comment on function ledger.current_user_account_ids() is
  E'@behavior -queryField -mutationField -typeField\nThe accounts the signed-in user owns or whose organization they belong to. Security definer so that the entry, transaction and hold policies can use it without recursing into their own policies.';
grant execute on function ledger.current_user_account_ids() to gw_user;

create policy "owners and members of the owning organization see accounts"
  on ledger.accounts for select to gw_user
  using (
    owner_user_id = (select auth.uid())
    or organization_id = any (array(select auth.current_user_organization_ids()))
    or (select auth.has_role('gw_admin'))
  );

grant select on ledger.accounts to gw_user;

comment on table ledger.accounts is
  E'@behavior -insert -update -delete\nA ledger account in one currency, owned by a user, an organization, or the system (neither). balance is the sum of its entries (positive: debit, money in; negative: credit, money out); version counts its entries. Created with createAccount; changed only by postings.';
comment on column ledger.accounts.account_id is 'The account''s id.';
comment on column ledger.accounts.balance is 'Posted balance in minor units: the sum of the account''s entries.';
comment on column ledger.accounts.pending_out is 'Minor units reserved to leave the account by pending holds; counted against the available balance.';
comment on column ledger.accounts.pending_in is 'Minor units reserved to arrive by pending holds.';
comment on column ledger.accounts.version is 'Number of entries posted to the account; the account_version of its latest entry.';
comment on column ledger.accounts.owner_user_id is 'The user who owns the account, or null.';
comment on column ledger.accounts.organization_id is 'The organization that owns the account, or null (both null: a system account).';
comment on column ledger.accounts.allow_negative is 'May the balance go below zero (money out beyond what came in)? False for wallets: no overdraft. Pending holds count.';
comment on column ledger.accounts.allow_positive is 'May the balance go above zero? False for accounts that may only be credited (e.g. a funding source that must never receive more than it sent).';
comment on column ledger.accounts.currency is 'The account''s currency; every entry has it.';
comment on column ledger.accounts.code is 'A name unique per owner, e.g. wallet or escrow:order-42 (lowercase, digits, _ . : -).';
comment on column ledger.accounts.name is 'Display name.';
comment on column ledger.accounts.created_at is 'When the account was opened.';
comment on column ledger.accounts.kind is 'Accounting kind: asset, liability, equity, revenue or expense (registry namespace ledger_account_kind; the type''s metadata names its normal side).';

--------------------------------------------------------------------------------
-- ledger.periods

create table ledger.periods (
  period_id bigint generated always as identity primary key,
  name text not null
    constraint periods_name_check check (char_length(name) between 1 and 100),
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  closed_at timestamptz,
  closed_by uuid references auth.users (user_id) on delete set null,
  created_at timestamptz not null default now(),
  constraint periods_range_check check (starts_at < ends_at),
  constraint periods_no_overlap exclude using gist (tstzrange(starts_at, ends_at) with &&)
);
alter table ledger.periods enable row level security;
create index periods_closed_by_idx on ledger.periods (closed_by);

create policy "signed-in users read periods"
  on ledger.periods for select to gw_user
  using (true);

grant select on ledger.periods to gw_user;

comment on table ledger.periods is
  E'@behavior -insert -update -delete\nAccounting periods [startsAt, endsAt), never overlapping. A posting whose effectiveAt falls in a closed period fails (LPCLS). Operators create, close and reopen periods.';
comment on column ledger.periods.period_id is 'The period''s id.';
comment on column ledger.periods.name is 'Display name, e.g. 2026-10.';
comment on column ledger.periods.starts_at is 'First instant of the period.';
comment on column ledger.periods.ends_at is 'First instant after the period.';
comment on column ledger.periods.closed_at is 'When the period was closed; null while open.';
comment on column ledger.periods.closed_by is 'The operator who closed it.';
comment on column ledger.periods.created_at is 'When the period was created.';

--------------------------------------------------------------------------------
-- ledger.holds (two-phase transfers)

create table ledger.holds (
  hold_id bigint generated always as identity primary key,
  from_account_id bigint not null,
  to_account_id bigint not null,
  amount bigint not null
    constraint holds_amount_check check (amount > 0),
  posted_amount bigint,
  transaction_id bigint,
  expires_at timestamptz,
  resolved_at timestamptz,
  created_by uuid,
  idempotency_scope uuid,
  created_at timestamptz not null default now(),
  currency text not null,
  status text not null default 'pending'
    constraint holds_status_check check (status in ('pending', 'posted', 'voided', 'expired')),
  idempotency_key text
    constraint holds_idempotency_key_check check (char_length(idempotency_key) between 1 and 200),
  memo text
    constraint holds_memo_check check (char_length(memo) <= 1000),
  constraint holds_accounts_check check (from_account_id <> to_account_id),
  constraint holds_posted_check check (
    (status = 'posted') = (posted_amount is not null and transaction_id is not null)
    and (posted_amount is null or posted_amount between 1 and amount)
  ),
  constraint holds_resolved_check check ((status = 'pending') = (resolved_at is null)),
  constraint holds_idempotency_check check ((idempotency_key is null) = (idempotency_scope is null)),
  constraint holds_from_account_fkey foreign key (from_account_id, currency)
    references ledger.accounts (account_id, currency) on delete restrict,
  constraint holds_to_account_fkey foreign key (to_account_id, currency)
    references ledger.accounts (account_id, currency) on delete restrict
);
alter table ledger.holds enable row level security;

create index holds_from_account_id_idx on ledger.holds (from_account_id, currency);
create index holds_to_account_id_idx on ledger.holds (to_account_id, currency);
create index holds_pending_expires_at_idx on ledger.holds (expires_at) where status = 'pending' and expires_at is not null;
create unique index holds_idempotency_key on ledger.holds (idempotency_scope, idempotency_key) where idempotency_key is not null;

create policy "owners of either account see holds"
  on ledger.holds for select to gw_user
  using (
    from_account_id = any (array(select ledger.current_user_account_ids()))
    or to_account_id = any (array(select ledger.current_user_account_ids()))
    or (select auth.has_role('gw_admin'))
  );

grant select on ledger.holds to gw_user;

comment on table ledger.holds is
  E'@behavior -insert -update -delete\nA pending transfer (two-phase, escrow): it reserves amount on both accounts (pendingOut of the payer, pendingIn of the payee) until it is posted (fully or partially: a transaction of kind hold_post), voided, or it expires. The owners of either account see it.';
comment on column ledger.holds.hold_id is 'The hold''s id.';
comment on column ledger.holds.from_account_id is 'The account the money will leave.';
comment on column ledger.holds.to_account_id is 'The account the money will reach.';
comment on column ledger.holds.amount is 'Reserved minor units.';
comment on column ledger.holds.posted_amount is 'What was posted (at most amount); the rest was released.';
comment on column ledger.holds.transaction_id is 'The hold_post transaction, once posted.';
comment on column ledger.holds.expires_at is 'After this instant the hold can no longer be posted, and the expiry job voids it (status expired).';
comment on column ledger.holds.resolved_at is 'When it was posted, voided or expired.';
comment on column ledger.holds.created_by is 'The signed-in user who created it (null: trusted server code).';
comment on column ledger.holds.idempotency_scope is 'Whose idempotency key this is (the creator, or the nil UUID for trusted code).';
comment on column ledger.holds.created_at is 'When it was created.';
comment on column ledger.holds.currency is 'Currency of both accounts.';
comment on column ledger.holds.status is 'pending, posted, voided or expired.';
comment on column ledger.holds.idempotency_key is 'The caller''s key: creating a hold again with the same key returns this one.';
comment on column ledger.holds.memo is 'Free text.';

--------------------------------------------------------------------------------
-- ledger.transactions and ledger.entries: the immutable log

create table ledger.transactions (
  transaction_id bigint generated by default as identity primary key,
  effective_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  reverses_id bigint references ledger.transactions (transaction_id) on delete restrict,
  hold_id bigint references ledger.holds (hold_id) on delete restrict,
  posted_by uuid,
  idempotency_scope uuid,
  kind text not null default 'transfer',
  idempotency_key text
    constraint transactions_idempotency_key_check check (char_length(idempotency_key) between 1 and 200),
  memo text
    constraint transactions_memo_check check (char_length(memo) <= 1000),
  metadata jsonb
    constraint transactions_metadata_check check (jsonb_typeof(metadata) = 'object'),
  -- The trust boundary of the commit-time check (below): true only on rows that
  -- ledger.post_transfer and ledger.post_batch write together with their
  -- entries in one statement, after checking kind and period themselves.
  checked_by_function boolean not null default false,
  constraint transactions_idempotency_check check ((idempotency_key is null) = (idempotency_scope is null)),
  constraint transactions_reverses_check check (reverses_id is null or kind = 'reversal')
);
alter table ledger.transactions enable row level security;

-- Reversed at most once; a hold is posted at most once. Both also serve their foreign keys.
create unique index transactions_reverses_id_key on ledger.transactions (reverses_id) where reverses_id is not null;
create unique index transactions_hold_id_key on ledger.transactions (hold_id) where hold_id is not null;
create unique index transactions_idempotency_key on ledger.transactions (idempotency_scope, idempotency_key) where idempotency_key is not null;

alter table ledger.holds add constraint holds_transaction_id_fkey
  foreign key (transaction_id) references ledger.transactions (transaction_id) on delete restrict;
create index holds_transaction_id_idx on ledger.holds (transaction_id) where transaction_id is not null;

create table ledger.entries (
  transaction_id bigint not null references ledger.transactions (transaction_id) on delete restrict,
  account_id bigint not null,
  amount bigint not null
    constraint entries_amount_check check (amount <> 0),
  balance_after bigint not null,
  account_version bigint not null
    constraint entries_account_version_check check (account_version > 0),
  line smallint not null
    constraint entries_line_check check (line between 1 and 1000),
  currency text not null,
  constraint entries_pkey primary key (transaction_id, line),
  constraint entries_account_fkey foreign key (account_id, currency)
    references ledger.accounts (account_id, currency) on delete restrict,
  -- The statement order and cursor; also refuses two entries claiming the
  -- same version of an account (a lost update cannot be recorded).
  constraint entries_account_version_key unique (account_id, account_version)
);
alter table ledger.entries enable row level security;

create policy "owners see their accounts' entries"
  on ledger.entries for select to gw_user
  using (
    account_id = any (array(select ledger.current_user_account_ids()))
    or (select auth.has_role('gw_admin'))
  );
create policy "owners see transactions that touch their accounts"
  on ledger.transactions for select to gw_user
  using (
    exists (
      select 1 from ledger.entries e
       where e.transaction_id = transactions.transaction_id
         and e.account_id = any (array(select ledger.current_user_account_ids()))
    )
    or (select auth.has_role('gw_admin'))
  );

grant select on ledger.transactions, ledger.entries to gw_user;

comment on table ledger.transactions is
  E'@behavior -insert -update -delete\nA ledger transaction: its entries sum to zero in every currency (checked at commit), it has at least two, and it is never changed or deleted (corrections are reversals). Visible to the owners of any account it touches.';
comment on column ledger.transactions.transaction_id is 'The transaction''s id (ascending in posting order within one account''s entries).';
comment on column ledger.transactions.effective_at is 'When the movement happened in business terms (decides its period); defaults to the posting time.';
comment on column ledger.transactions.created_at is 'When it was posted.';
comment on column ledger.transactions.reverses_id is 'For a reversal: the transaction it mirrors.';
comment on column ledger.transactions.hold_id is 'For a hold_post: the hold it posts.';
comment on column ledger.transactions.posted_by is 'The signed-in user who posted it (null: trusted server code or an operator console session).';
comment on column ledger.transactions.idempotency_scope is 'Whose idempotency key this is: the poster, or the nil UUID for trusted code.';
comment on column ledger.transactions.kind is 'What kind of movement (registry namespace ledger_transaction_kind): transfer, hold_post, reversal, conversion, adjustment, or a registered one.';
comment on column ledger.transactions.idempotency_key is 'The caller''s key: posting again with the same key and content returns this transaction; with other content it fails (LIDEM).';
comment on column ledger.transactions.memo is 'Free text.';
comment on column ledger.transactions.metadata is 'Free-form JSON object (order ids, provider references).';
comment on column ledger.transactions.checked_by_function is
  E'@behavior -select -filterBy -orderBy\nTrue when ledger.post_transfer or ledger.post_batch wrote the row: their entries balance by construction (two entries, -amount and +amount, in the accounts'' shared currency, written in the same statement) and they checked the kind and the period before writing, so the commit-time check skips the row. Only trusted code can write ledger tables (API roles have no write grants, the functions are the only writers), so this column is the trust boundary: any other insert leaves it false and is checked at commit, and ledger.verify() re-checks every transaction regardless.';

comment on table ledger.entries is
  E'@behavior -insert -update -delete\nOne line of a transaction: a signed amount on one account (positive: money in, a debit; negative: money out, a credit), with the account''s balance and version right after it. Ordered by accountVersion, an account''s entries are its statement with a running balance.';
comment on column ledger.entries.transaction_id is 'The transaction.';
comment on column ledger.entries.account_id is 'The account.';
comment on column ledger.entries.amount is 'Signed minor units, never zero.';
comment on column ledger.entries.balance_after is 'The account''s posted balance after this entry (the running balance).';
comment on column ledger.entries.account_version is 'The account''s version after this entry: 1, 2, 3… per account, the statement cursor.';
comment on column ledger.entries.line is 'Position within the transaction.';
comment on column ledger.entries.currency is 'The account''s currency.';

--------------------------------------------------------------------------------
-- The log is append-only for everyone, owner included.

create function ledger_private.tg__immutable() returns trigger
  language plpgsql
  volatile
  set search_path = ''
as $$
begin
  raise exception 'The ledger is append-only: % on %.% is not allowed; post a reversal instead.', tg_op, tg_table_schema, tg_table_name
    using errcode = 'LIMMU';
end;
$$;
comment on function ledger_private.tg__immutable() is
  'Refuses UPDATE, DELETE and TRUNCATE of ledger transactions and entries, whoever asks.';

create trigger _010_immutable before update or delete on ledger.transactions
  for each row execute function ledger_private.tg__immutable();
create trigger _011_no_truncate before truncate on ledger.transactions
  for each statement execute function ledger_private.tg__immutable();
create trigger _010_immutable before update or delete on ledger.entries
  for each row execute function ledger_private.tg__immutable();
create trigger _011_no_truncate before truncate on ledger.entries
  for each statement execute function ledger_private.tg__immutable();

--------------------------------------------------------------------------------
-- Checked at commit, once per ledger transaction (the trigger is on the
-- transaction row, not on each entry): entries balance per currency, there
-- are at least two, the kind is registered, the period is open.

create function ledger_private.tg_transactions__assert_valid() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_line record;
  v_entries integer := 0;
begin
  for v_line in
    select e.currency, pg_catalog.sum(e.amount) as total, pg_catalog.count(*)::integer as n
      from ledger.entries e
     where e.transaction_id = new.transaction_id
     group by e.currency
  loop
    if v_line.total <> 0 then
      raise exception 'Transaction % does not balance in %: its entries sum to %.', new.transaction_id, v_line.currency, v_line.total
        using errcode = 'LUNBL';
    end if;
    v_entries := v_entries + v_line.n;
  end loop;
  if v_entries < 2 then
    raise exception 'Transaction % has % entries; a transaction needs at least two.', new.transaction_id, v_entries
      using errcode = 'LUNBL';
  end if;
  if new.kind <> 'transfer' and not exists (
    select 1 from registry.types t
     where t.namespace = 'ledger_transaction_kind' and t.code = new.kind and t.is_active
  ) then
    raise exception '% is not an active ledger_transaction_kind type.', new.kind using errcode = 'RTYPE';
  end if;
  if exists (
    select 1 from ledger.periods p
     where pg_catalog.tstzrange(p.starts_at, p.ends_at) @> new.effective_at
       and p.closed_at is not null
  ) then
    raise exception 'The period containing % is closed.', new.effective_at using errcode = 'LPCLS';
  end if;
  return null;
end;
$$;
comment on function ledger_private.tg_transactions__assert_valid() is
  'Commit-time check of one ledger transaction: zero sum per currency and at least two entries (LUNBL), an active kind (RTYPE), an open period (LPCLS). Security definer: it fires at COMMIT under the request''s role, whose row level security would hide the other side''s entries.';

-- Rows written by post_transfer / post_batch (checked_by_function) are balanced
-- by construction and had kind and period checked before they were written;
-- every other insert, the owner's included, is checked here.
create constraint trigger _900_assert_valid
  after insert on ledger.transactions
  deferrable initially deferred
  for each row when (not new.checked_by_function) execute function ledger_private.tg_transactions__assert_valid();

--! split: 3100-ledger-posting.sql
-- Posting: accounts are opened, and money moves, only through these functions.
-- The public ledger.* functions decide who the caller is and whether they are
-- trusted, then call the ledger_private core, which other modules' trusted SQL
-- may also call directly. Accounts are always locked with one
-- select … order by account_id for update (deadlock-free, no lost update at
-- READ COMMITTED).

drop function if exists ledger.post_batch(ledger.transfer_input[], text, jsonb, timestamptz) cascade;
drop function if exists ledger_private.post_batch_keyed(ledger.transfer_input[], text, jsonb, timestamptz, uuid, boolean) cascade;
drop function if exists ledger.post_transaction(ledger.entry_input[], text, text, text, jsonb, timestamptz) cascade;
drop function if exists ledger.post_transfer(bigint, bigint, bigint, text, text, text, text, jsonb, timestamptz) cascade;
drop function if exists ledger_private.transfer(bigint, bigint, bigint, text, text, text, text, jsonb, timestamptz, uuid, boolean) cascade;
drop function if exists ledger_private.assert_same(ledger.transactions, text, text, jsonb, bigint[], bigint[]) cascade;
drop function if exists ledger_private.may_debit(uuid, uuid, uuid) cascade;
drop function if exists ledger_private.caller() cascade;
drop function if exists ledger.create_account(text, text, text, text, uuid, uuid, boolean, boolean) cascade;
drop type if exists ledger.transfer_input cascade;
drop type if exists ledger.entry_input cascade;

create type ledger.entry_input as (
  account_id bigint,
  amount bigint,
  currency text
);
comment on type ledger.entry_input is 'One line of a transaction to post: a signed amount (positive: money in) on an account, in the account''s currency.';

create type ledger.transfer_input as (
  from_account_id bigint,
  to_account_id bigint,
  amount bigint,
  currency text,
  idempotency_key text,
  memo text
);
comment on type ledger.transfer_input is 'One transfer of a batch: amount (> 0) minor units from one account to another.';

--------------------------------------------------------------------------------
-- Who is calling

create function ledger_private.caller(out actor uuid, out trusted boolean)
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  -- A direct connection (owner, worker, superuser) has no SET ROLE: trusted code.
  if pg_catalog.current_setting('role', true) = 'none' then
    actor := null;
    trusted := true;
    return;
  end if;
  actor := auth.uid();
  if actor is null then
    raise exception 'You must be signed in to use the ledger.' using errcode = 'LOGIN';
  end if;
  trusted := auth.has_role('gw_admin');
end;
$$;
comment on function ledger_private.caller() is
  'The signed-in user (null for direct connections) and whether the caller is trusted: a direct owner/worker connection, or a request whose gw_admin grant is current. Raises LOGIN for a signed-out request.';

create function ledger_private.may_debit(owner_user_id uuid, organization_id uuid, actor uuid) returns boolean
  language sql
  stable
  set search_path = ''
as $$
  select coalesce(actor is not null and (
    owner_user_id = actor
    or (organization_id is not null and exists (
      select 1 from auth.memberships m
       where m.organization_id = may_debit.organization_id and m.user_id = actor and m.role in ('owner', 'admin')
    ))
  ), false)
$$;
comment on function ledger_private.may_debit(uuid, uuid, uuid) is
  'May this user take money out of an account with this owner? Yes for the owning user and for owners and admins of the owning organization; never for system accounts (trusted code only).';

-- Replaying an idempotency key: same content returns the original, other content fails.
create function ledger_private.assert_same(
  original ledger.transactions, kind text, memo text, metadata jsonb, account_ids bigint[], amounts bigint[]
) returns ledger.transactions
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  if original.kind is distinct from assert_same.kind
     or original.memo is distinct from assert_same.memo
     or original.metadata is distinct from assert_same.metadata
     or array(select e.account_id from ledger.entries e where e.transaction_id = original.transaction_id order by e.line)
        is distinct from assert_same.account_ids
     or array(select e.amount from ledger.entries e where e.transaction_id = original.transaction_id order by e.line)
        is distinct from assert_same.amounts then
    raise exception 'Idempotency key % was already used for transaction % with other content.', original.idempotency_key, original.transaction_id
      using errcode = 'LIDEM';
  end if;
  return original;
end;
$$;
comment on function ledger_private.assert_same(ledger.transactions, text, text, jsonb, bigint[], bigint[]) is
  'Returns the original transaction of a replayed idempotency key when kind, memo, metadata and entries match; raises LIDEM otherwise.';

--------------------------------------------------------------------------------
-- Opening accounts

create function ledger.create_account(
  code text,
  name text,
  currency text,
  kind text default 'liability',
  owner_user_id uuid default null,
  organization_id uuid default null,
  allow_negative boolean default false,
  allow_positive boolean default true
) returns ledger.accounts
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_caller record := ledger_private.caller();
  v_account ledger.accounts;
  v_owner uuid := create_account.owner_user_id;
begin
  if not v_caller.trusted then
    -- Users open their own accounts, or their organization's as owner/admin.
    if v_owner is null and create_account.organization_id is null then
      v_owner := v_caller.actor;
    end if;
    if v_owner is not null and v_owner <> v_caller.actor then
      raise exception 'You may only open accounts for yourself.' using errcode = 'DNIED';
    end if;
    if create_account.organization_id is not null
       and not ledger_private.may_debit(null, create_account.organization_id, v_caller.actor) then
      raise exception 'Only owners and admins of organization % may open its accounts.', create_account.organization_id
        using errcode = 'DNIED';
    end if;
    -- An account that may go negative creates money from nothing: trusted code only.
    if create_account.allow_negative then
      raise exception 'Only trusted code may open an account that allows a negative balance.' using errcode = 'DNIED';
    end if;
  end if;
  if not exists (select 1 from ledger.currencies c where c.code = create_account.currency) then
    raise exception 'Unknown currency %.', create_account.currency using errcode = 'LCURR';
  end if;
  insert into ledger.accounts (code, name, currency, kind, owner_user_id, organization_id, allow_negative, allow_positive)
  values (create_account.code, create_account.name, create_account.currency, coalesce(create_account.kind, 'liability'),
          v_owner, create_account.organization_id,
          coalesce(create_account.allow_negative, false), coalesce(create_account.allow_positive, true))
  returning * into v_account;
  return v_account;
end;
$$;
comment on function ledger.create_account(text, text, text, text, uuid, uuid, boolean, boolean) is
  E'@resultFieldName account\nOpens an account. Users open their own (ownerUserId defaults to you) or, as owner/admin, their organization''s; system accounts (no owner) and accounts that allow a negative balance are for trusted code and operators. Errors: LOGIN, DNIED, LCURR (unknown currency), RTYPE (unknown kind), 23505 (code taken for that owner), 23514 (bad code or name). Security definer because accounts have no insert grant.';

--------------------------------------------------------------------------------
-- The core of a single transfer (trusted callers; the public function checks first)

create function ledger_private.transfer(
  from_account_id bigint,
  to_account_id bigint,
  amount bigint,
  currency text,
  idempotency_key text,
  kind text,
  memo text,
  metadata jsonb,
  effective_at timestamptz,
  actor uuid,
  check_owner boolean
) returns ledger.transactions
  language plpgsql
  volatile
  set search_path = ''
as $$
#variable_conflict use_column
declare
  v_tx ledger.transactions;
  v_row record;
  v_from record;
  v_to record;
  v_from_balance bigint;
  v_to_balance bigint;
  v_found integer := 0;
begin
  if transfer.amount is null or transfer.amount <= 0 then
    raise exception 'A transfer amount is a positive number of minor units, not %.', transfer.amount using errcode = 'BADIN';
  end if;
  if transfer.from_account_id is not distinct from transfer.to_account_id then
    raise exception 'A transfer needs two different accounts.' using errcode = 'BADIN';
  end if;

  if transfer.idempotency_key is null then
    insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by)
    values (coalesce(transfer.kind, 'transfer'), transfer.memo, transfer.metadata, coalesce(transfer.effective_at, now()), transfer.actor)
    returning * into v_tx;
  else
    insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by, idempotency_scope, idempotency_key)
    values (coalesce(transfer.kind, 'transfer'), transfer.memo, transfer.metadata, coalesce(transfer.effective_at, now()), transfer.actor,
            coalesce(transfer.actor, '00000000-0000-0000-0000-000000000000'::uuid), transfer.idempotency_key)
    on conflict (idempotency_scope, idempotency_key) where idempotency_key is not null do nothing
    returning * into v_tx;
    if not found then
      select * into v_tx from ledger.transactions t
       where t.idempotency_scope = coalesce(transfer.actor, '00000000-0000-0000-0000-000000000000'::uuid)
         and t.idempotency_key = transfer.idempotency_key;
      return ledger_private.assert_same(v_tx, coalesce(transfer.kind, 'transfer'), transfer.memo, transfer.metadata,
        array[transfer.from_account_id, transfer.to_account_id], array[-transfer.amount, transfer.amount]);
    end if;
  end if;

  for v_row in
    select a.account_id, a.currency, a.balance, a.pending_out, a.pending_in, a.version,
           a.allow_negative, a.allow_positive, a.owner_user_id, a.organization_id
      from ledger.accounts a
     where a.account_id in (transfer.from_account_id, transfer.to_account_id)
     order by a.account_id
       for update
  loop
    v_found := v_found + 1;
    if v_row.account_id = transfer.from_account_id then
      v_from := v_row;
    else
      v_to := v_row;
    end if;
  end loop;

  if v_found < 2 then
    raise exception 'No such account: %.',
      case when v_found = 1 and v_row.account_id = transfer.from_account_id then transfer.to_account_id else transfer.from_account_id end
      using errcode = 'NTFND';
  end if;
  if check_owner and not ledger_private.may_debit(v_from.owner_user_id, v_from.organization_id, transfer.actor) then
    raise exception 'You may not move money out of account %.', transfer.from_account_id using errcode = 'DNIED';
  end if;
  if v_from.currency <> transfer.currency or v_to.currency <> transfer.currency then
    raise exception 'Currency mismatch: the transfer is in %, account % is in % and account % in %.',
      transfer.currency, v_from.account_id, v_from.currency, v_to.account_id, v_to.currency using errcode = 'LCURR';
  end if;

  v_from_balance := v_from.balance - transfer.amount;
  v_to_balance := v_to.balance + transfer.amount;
  if not v_from.allow_negative and v_from_balance - v_from.pending_out < 0 then
    raise exception 'Insufficient funds in account %: available %, needed %.', v_from.account_id,
      v_from.balance - v_from.pending_out, transfer.amount using errcode = 'LFUND';
  end if;
  if not v_to.allow_positive and v_to_balance + v_to.pending_in > 0 then
    raise exception 'Account % may not go above zero.', v_to.account_id using errcode = 'LFUND';
  end if;

  update ledger.accounts a
     set balance = case when a.account_id = transfer.from_account_id then v_from_balance else v_to_balance end,
         version = a.version + 1
   where a.account_id in (transfer.from_account_id, transfer.to_account_id);

  insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version)
  values (v_tx.transaction_id, 1, transfer.from_account_id, transfer.currency, -transfer.amount, v_from_balance, v_from.version + 1),
         (v_tx.transaction_id, 2, transfer.to_account_id, transfer.currency, transfer.amount, v_to_balance, v_to.version + 1);

  return v_tx;
end;
$$;
comment on function ledger_private.transfer(bigint, bigint, bigint, text, text, text, text, jsonb, timestamptz, uuid, boolean) is
  'Posts one transfer: the transaction row (or the idempotent replay), both accounts locked in id order by one statement, one update of both balances, one insert of both entries. For trusted SQL; check_owner makes it refuse to debit an account actor may not debit.';

create function ledger.post_transfer(
  from_account_id bigint,
  to_account_id bigint,
  amount bigint,
  currency text,
  idempotency_key text default null,
  kind text default 'transfer',
  memo text default null,
  metadata jsonb default null,
  effective_at timestamptz default null
) returns ledger.transactions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
#variable_conflict use_column
declare
  v_actor uuid;
  v_check boolean := false;
  v_tx ledger.transactions;
  v_found integer;
  v_from_currency text;
  v_to_currency text;
  v_from_balance bigint;
  v_to_balance bigint;
  v_from_version bigint;
  v_to_version bigint;
  v_from_pending bigint;
  v_to_pending bigint;
  v_from_negative boolean;
  v_to_positive boolean;
  v_from_owner uuid;
  v_from_organization uuid;
begin
  -- ledger_private.caller() and ledger_private.transfer() inlined: this is the
  -- hot path (one plpgsql call, three statements: the transaction row, lock-and-read, then balances and entries).
  if pg_catalog.current_setting('role', true) <> 'none' then
    v_actor := auth.uid();
    if v_actor is null then
      raise exception 'You must be signed in to use the ledger.' using errcode = 'LOGIN';
    end if;
    v_check := not auth.has_role('gw_admin');
  end if;
  -- A keyed transfer (replay detection) takes the general path.
  if post_transfer.idempotency_key is not null then
    return ledger_private.transfer(post_transfer.from_account_id, post_transfer.to_account_id, post_transfer.amount,
      post_transfer.currency, post_transfer.idempotency_key, post_transfer.kind, post_transfer.memo, post_transfer.metadata,
      post_transfer.effective_at, v_actor, v_check);
  end if;
  if post_transfer.amount is null or post_transfer.amount <= 0 then
    raise exception 'A transfer amount is a positive number of minor units, not %.', post_transfer.amount using errcode = 'BADIN';
  end if;
  if post_transfer.from_account_id is not distinct from post_transfer.to_account_id then
    raise exception 'A transfer needs two different accounts.' using errcode = 'BADIN';
  end if;

  if coalesce(post_transfer.kind, 'transfer') <> 'transfer' and not exists (
    select 1 from registry.types t
     where t.namespace = 'ledger_transaction_kind' and t.code = post_transfer.kind and t.is_active
  ) then
    raise exception '% is not an active ledger_transaction_kind type.', post_transfer.kind using errcode = 'RTYPE';
  end if;
  -- The transaction row first, outside the account locks (shorter critical
  -- section on hot accounts).
  insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by, checked_by_function)
  values (coalesce(post_transfer.kind, 'transfer'), post_transfer.memo, post_transfer.metadata,
          coalesce(post_transfer.effective_at, pg_catalog.now()), v_actor, true)
  returning * into v_tx;
  -- What the commit-time check does for other writers (this row skips it).
  -- After the insert on purpose: it holds ledger.transactions in row exclusive
  -- mode, so a concurrent close_period (share lock) either committed before
  -- this probe reads ledger.periods, or waits for this transaction to end.
  if exists (
    select 1 from ledger.periods p
     where p.closed_at is not null and pg_catalog.tstzrange(p.starts_at, p.ends_at) @> v_tx.effective_at
  ) then
    raise exception 'The period containing % is closed.', v_tx.effective_at using errcode = 'LPCLS';
  end if;

  -- Both accounts locked in id order by one statement, read into scalars.
  select pg_catalog.count(*)::integer,
         pg_catalog.max(l.currency) filter (where l.account_id = post_transfer.from_account_id),
         pg_catalog.max(l.currency) filter (where l.account_id = post_transfer.to_account_id),
         pg_catalog.max(l.balance) filter (where l.account_id = post_transfer.from_account_id),
         pg_catalog.max(l.balance) filter (where l.account_id = post_transfer.to_account_id),
         pg_catalog.max(l.version) filter (where l.account_id = post_transfer.from_account_id),
         pg_catalog.max(l.version) filter (where l.account_id = post_transfer.to_account_id),
         pg_catalog.max(l.pending_out) filter (where l.account_id = post_transfer.from_account_id),
         pg_catalog.max(l.pending_in) filter (where l.account_id = post_transfer.to_account_id),
         pg_catalog.bool_or(l.allow_negative) filter (where l.account_id = post_transfer.from_account_id),
         pg_catalog.bool_or(l.allow_positive) filter (where l.account_id = post_transfer.to_account_id),
         (pg_catalog.array_agg(l.owner_user_id) filter (where l.account_id = post_transfer.from_account_id))[1],
         (pg_catalog.array_agg(l.organization_id) filter (where l.account_id = post_transfer.from_account_id))[1]
    into v_found, v_from_currency, v_to_currency, v_from_balance, v_to_balance, v_from_version, v_to_version,
         v_from_pending, v_to_pending, v_from_negative, v_to_positive, v_from_owner, v_from_organization
    from (select a.account_id, a.currency, a.balance, a.pending_out, a.pending_in, a.version,
                 a.allow_negative, a.allow_positive, a.owner_user_id, a.organization_id
            from ledger.accounts a
           where a.account_id in (post_transfer.from_account_id, post_transfer.to_account_id)
           order by a.account_id
             for update) l;
  if v_found < 2 then
    raise exception 'No such account: %.',
      case when v_from_currency is null then post_transfer.from_account_id else post_transfer.to_account_id end
      using errcode = 'NTFND';
  end if;
  if v_check and not ledger_private.may_debit(v_from_owner, v_from_organization, v_actor) then
    raise exception 'You may not move money out of account %.', post_transfer.from_account_id using errcode = 'DNIED';
  end if;
  if v_from_currency <> post_transfer.currency or v_to_currency <> post_transfer.currency then
    raise exception 'Currency mismatch: the transfer is in %, account % is in % and account % in %.',
      post_transfer.currency, post_transfer.from_account_id, v_from_currency, post_transfer.to_account_id, v_to_currency using errcode = 'LCURR';
  end if;
  v_from_balance := v_from_balance - post_transfer.amount;
  v_to_balance := v_to_balance + post_transfer.amount;
  if not v_from_negative and v_from_balance - v_from_pending < 0 then
    raise exception 'Insufficient funds in account %: available %, needed %.', post_transfer.from_account_id,
      v_from_balance + post_transfer.amount - v_from_pending, post_transfer.amount using errcode = 'LFUND';
  end if;
  if not v_to_positive and v_to_balance + v_to_pending > 0 then
    raise exception 'Account % may not go above zero.', post_transfer.to_account_id using errcode = 'LFUND';
  end if;

  -- Both balances and both entries: one statement.
  with moved as (
    update ledger.accounts a
       set balance = case when a.account_id = post_transfer.from_account_id then v_from_balance else v_to_balance end,
           version = a.version + 1
     where a.account_id in (post_transfer.from_account_id, post_transfer.to_account_id)
  )
  insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version)
  values (v_tx.transaction_id, 1, post_transfer.from_account_id, post_transfer.currency, -post_transfer.amount, v_from_balance, v_from_version + 1),
         (v_tx.transaction_id, 2, post_transfer.to_account_id, post_transfer.currency, post_transfer.amount, v_to_balance, v_to_version + 1);
  return v_tx;
end;
$$;
comment on function ledger.post_transfer(bigint, bigint, bigint, text, text, text, text, jsonb, timestamptz) is
  E'@resultFieldName transaction\nMoves amount minor units from one account to another as one transaction of two entries. You may move money out of accounts you own or whose organization you own/administer; system accounts only as an operator or trusted code. The same idempotencyKey with the same content returns the original transaction. Errors: LOGIN, BADIN (amount not positive, same account), NTFND (no such account), DNIED (not yours to debit), LCURR (currency mismatch), LFUND (balance flags: insufficient funds), LIDEM (key reused with other content), LPCLS (effectiveAt in a closed period), RTYPE (unknown kind). Security definer because the ledger tables have no write grants.';

--------------------------------------------------------------------------------
-- Any number of entries in any currencies

create function ledger.post_transaction(
  entries ledger.entry_input[],
  idempotency_key text default null,
  kind text default 'transfer',
  memo text default null,
  metadata jsonb default null,
  effective_at timestamptz default null
) returns ledger.transactions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
#variable_conflict use_column
declare
  v_caller record := ledger_private.caller();
  v_scope uuid := coalesce(v_caller.actor, '00000000-0000-0000-0000-000000000000'::uuid);
  v_n integer := coalesce(pg_catalog.array_length(post_transaction.entries, 1), 0);
  v_ids bigint[];
  v_amounts bigint[];
  v_tx ledger.transactions;
  v_row record;
  v_i integer;
  v_balances bigint[];
  v_versions bigint[];
begin
  if v_n < 2 then
    raise exception 'A transaction needs at least two entries, not %.', v_n using errcode = 'LUNBL';
  end if;
  if v_n > 1000 then
    raise exception 'A transaction has at most 1000 entries.' using errcode = 'BADIN';
  end if;
  if exists (select 1 from pg_catalog.unnest(post_transaction.entries) e
              where e.account_id is null or e.amount is null or e.amount = 0 or e.currency is null) then
    raise exception 'Every entry needs an account, a non-zero amount and a currency.' using errcode = 'BADIN';
  end if;
  if (select pg_catalog.count(distinct e.account_id) from pg_catalog.unnest(post_transaction.entries) e) <> v_n then
    raise exception 'An account appears at most once in a transaction.' using errcode = 'BADIN';
  end if;
  select e.currency into v_row from pg_catalog.unnest(post_transaction.entries) e
   group by e.currency having pg_catalog.sum(e.amount) <> 0 limit 1;
  if found then
    raise exception 'The entries do not balance in %.', v_row.currency using errcode = 'LUNBL';
  end if;

  v_ids := array(select e.account_id from pg_catalog.unnest(post_transaction.entries) e);
  v_amounts := array(select e.amount from pg_catalog.unnest(post_transaction.entries) e);

  if post_transaction.idempotency_key is null then
    insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by)
    values (coalesce(post_transaction.kind, 'transfer'), post_transaction.memo, post_transaction.metadata,
            coalesce(post_transaction.effective_at, now()), v_caller.actor)
    returning * into v_tx;
  else
    insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by, idempotency_scope, idempotency_key)
    values (coalesce(post_transaction.kind, 'transfer'), post_transaction.memo, post_transaction.metadata,
            coalesce(post_transaction.effective_at, now()), v_caller.actor, v_scope, post_transaction.idempotency_key)
    on conflict (idempotency_scope, idempotency_key) where idempotency_key is not null do nothing
    returning * into v_tx;
    if not found then
      select * into v_tx from ledger.transactions t
       where t.idempotency_scope = v_scope and t.idempotency_key = post_transaction.idempotency_key;
      return ledger_private.assert_same(v_tx, coalesce(post_transaction.kind, 'transfer'), post_transaction.memo,
        post_transaction.metadata, v_ids, v_amounts);
    end if;
  end if;

  v_balances := pg_catalog.array_fill(null::bigint, array[v_n]);
  v_versions := pg_catalog.array_fill(null::bigint, array[v_n]);
  for v_row in
    select a.account_id, a.currency, a.balance, a.pending_out, a.pending_in, a.version,
           a.allow_negative, a.allow_positive, a.owner_user_id, a.organization_id
      from ledger.accounts a
     where a.account_id = any (v_ids)
     order by a.account_id
       for update
  loop
    v_i := pg_catalog.array_position(v_ids, v_row.account_id);
    if v_row.currency <> post_transaction.entries[v_i].currency then
      raise exception 'Currency mismatch: account % is in %, its entry in %.', v_row.account_id, v_row.currency,
        post_transaction.entries[v_i].currency using errcode = 'LCURR';
    end if;
    if v_amounts[v_i] < 0 and not v_caller.trusted
       and not ledger_private.may_debit(v_row.owner_user_id, v_row.organization_id, v_caller.actor) then
      raise exception 'You may not move money out of account %.', v_row.account_id using errcode = 'DNIED';
    end if;
    v_balances[v_i] := v_row.balance + v_amounts[v_i];
    v_versions[v_i] := v_row.version + 1;
    if not v_row.allow_negative and v_balances[v_i] - v_row.pending_out < 0 then
      raise exception 'Insufficient funds in account %: available %, needed %.', v_row.account_id,
        v_row.balance - v_row.pending_out, -v_amounts[v_i] using errcode = 'LFUND';
    end if;
    if not v_row.allow_positive and v_balances[v_i] + v_row.pending_in > 0 then
      raise exception 'Account % may not go above zero.', v_row.account_id using errcode = 'LFUND';
    end if;
  end loop;
  if pg_catalog.array_position(v_versions, null) is not null then
    raise exception 'No such account: %.', v_ids[pg_catalog.array_position(v_versions, null)] using errcode = 'NTFND';
  end if;

  update ledger.accounts a
     set balance = u.balance, version = u.version
    from unnest(v_ids, v_balances, v_versions) as u (account_id, balance, version)
   where a.account_id = u.account_id;

  insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version)
  select v_tx.transaction_id, u.line, u.account_id, post_transaction.entries[u.line].currency, u.amount, u.balance, u.version
    from unnest(v_ids, v_amounts, v_balances, v_versions) with ordinality as u (account_id, amount, balance, version, line);

  return v_tx;
end;
$$;
comment on function ledger.post_transaction(ledger.entry_input[], text, text, text, jsonb, timestamptz) is
  E'@resultFieldName transaction\nPosts one transaction of 2 to 1000 entries (each account at most once) that sums to zero in every currency: splits, fees, and currency conversions through per-currency liquidity accounts. Every account with a negative entry must be yours to debit (or the caller trusted). Errors: LOGIN, BADIN, LUNBL (fewer than two entries, or not zero per currency), NTFND, DNIED, LCURR, LFUND, LIDEM, LPCLS, RTYPE. Security definer because the ledger tables have no write grants.';

--------------------------------------------------------------------------------
-- Many transfers in one call: one lock statement, one insert of all
-- transactions, one insert of all entries, one update of all balances.

create function ledger_private.post_batch_keyed(
  transfers ledger.transfer_input[],
  kind text,
  metadata jsonb,
  effective_at timestamptz,
  actor uuid,
  trusted boolean
) returns setof ledger.transactions
  language plpgsql
  volatile
  set search_path = ''
as $$
#variable_conflict use_column
declare
  v_scope uuid := coalesce(post_batch_keyed.actor, '00000000-0000-0000-0000-000000000000'::uuid);
  v_kind text := coalesce(post_batch_keyed.kind, 'transfer');
  v_effective_at timestamptz := coalesce(post_batch_keyed.effective_at, now());
  v_n integer := coalesce(pg_catalog.array_length(post_batch_keyed.transfers, 1), 0);
  -- the transfers, unpacked once into plain arrays (element access stays O(1))
  v_from bigint[];
  v_to bigint[];
  v_amount bigint[];
  v_currency text[];
  v_key text[];
  v_memo text[];
  v_row record;
  v_existing ledger.transactions;
  v_replayed bigint[] := '{}';
  v_keep integer[] := '{}';
  -- account state, indexed like v_ids
  v_ids bigint[];
  v_cur text[];
  v_bal bigint[];
  v_ver bigint[];
  v_pout bigint[];
  v_pin bigint[];
  v_neg boolean[];
  v_pos boolean[];
  v_debit boolean[];
  -- rows to write
  v_tx_ids bigint[];
  v_new integer := 0;
  v_e_tx bigint[];
  v_e_line smallint[];
  v_e_account bigint[];
  v_e_cur text[];
  v_e_amount bigint[];
  v_e_balance bigint[];
  v_e_version bigint[];
  v_i integer;
  v_f integer;
  v_d integer;
  v_inserted integer;
begin
  if v_n = 0 then
    return;
  end if;
  if v_n > 10000 then
    raise exception 'A batch has at most 10000 transfers.' using errcode = 'BADIN';
  end if;
  select pg_catalog.array_agg(t.from_account_id order by t.o), pg_catalog.array_agg(t.to_account_id order by t.o),
         pg_catalog.array_agg(t.amount order by t.o), pg_catalog.array_agg(t.currency order by t.o),
         pg_catalog.array_agg(t.idempotency_key order by t.o), pg_catalog.array_agg(t.memo order by t.o)
    into v_from, v_to, v_amount, v_currency, v_key, v_memo
    from unnest(post_batch_keyed.transfers) with ordinality as t (from_account_id, to_account_id, amount, currency, idempotency_key, memo, o);

  -- Replays of keys already posted (same content: returned as they are).
  for v_i in 1 .. v_n loop
    if v_amount[v_i] is null or v_amount[v_i] <= 0 then
      raise exception 'Transfer % of the batch: the amount is a positive number of minor units, not %.', v_i, v_amount[v_i] using errcode = 'BADIN';
    end if;
    if v_from[v_i] is null or v_to[v_i] is null or v_from[v_i] = v_to[v_i] then
      raise exception 'Transfer % of the batch needs two different accounts.', v_i using errcode = 'BADIN';
    end if;
    if v_key[v_i] is not null then
      select * into v_existing from ledger.transactions t
       where t.idempotency_scope = v_scope and t.idempotency_key = v_key[v_i];
      if found then
        perform ledger_private.assert_same(v_existing, v_kind, v_memo[v_i], post_batch_keyed.metadata,
          array[v_from[v_i], v_to[v_i]], array[-v_amount[v_i], v_amount[v_i]]);
        v_replayed := v_replayed || v_existing.transaction_id;
        continue;
      end if;
    end if;
    v_keep := v_keep || v_i;
  end loop;

  -- Lock every account once, in id order.
  select pg_catalog.array_agg(x.id order by x.id) into v_ids
    from (select v_from[k] as id from pg_catalog.unnest(v_keep) k union select v_to[k] from pg_catalog.unnest(v_keep) k) x;
  v_cur := pg_catalog.array_fill(null::text, array[coalesce(pg_catalog.array_length(v_ids, 1), 0)]);
  v_i := 0;
  for v_row in
    select a.account_id, a.currency, a.balance, a.pending_out, a.pending_in, a.version,
           a.allow_negative, a.allow_positive, a.owner_user_id, a.organization_id
      from ledger.accounts a
     where a.account_id = any (v_ids)
     order by a.account_id
       for update
  loop
    -- Rows arrive in v_ids order; skip the ids that matched no account.
    v_i := v_i + 1;
    while v_ids[v_i] <> v_row.account_id loop
      v_i := v_i + 1;
    end loop;
    v_cur[v_i] := v_row.currency;
    v_bal[v_i] := v_row.balance;
    v_ver[v_i] := v_row.version;
    v_pout[v_i] := v_row.pending_out;
    v_pin[v_i] := v_row.pending_in;
    v_neg[v_i] := v_row.allow_negative;
    v_pos[v_i] := v_row.allow_positive;
    v_debit[v_i] := post_batch_keyed.trusted or ledger_private.may_debit(v_row.owner_user_id, v_row.organization_id, post_batch_keyed.actor);
  end loop;
  if pg_catalog.array_position(v_cur, null) is not null then
    raise exception 'No such account: %.', v_ids[pg_catalog.array_position(v_cur, null)] using errcode = 'NTFND';
  end if;

  v_tx_ids := array(select pg_catalog.nextval('ledger.transactions_transaction_id_seq')
                      from pg_catalog.generate_series(1, coalesce(pg_catalog.array_length(v_keep, 1), 0)));

  foreach v_i in array v_keep loop
    v_f := pg_catalog.array_position(v_ids, v_from[v_i]);
    v_d := pg_catalog.array_position(v_ids, v_to[v_i]);
    if v_cur[v_f] <> v_currency[v_i] or v_cur[v_d] <> v_currency[v_i] then
      raise exception 'Transfer % of the batch: currency mismatch (% from a % account to a % account).', v_i,
        v_currency[v_i], v_cur[v_f], v_cur[v_d] using errcode = 'LCURR';
    end if;
    if not v_debit[v_f] then
      raise exception 'You may not move money out of account %.', v_from[v_i] using errcode = 'DNIED';
    end if;
    v_bal[v_f] := v_bal[v_f] - v_amount[v_i];
    v_bal[v_d] := v_bal[v_d] + v_amount[v_i];
    v_ver[v_f] := v_ver[v_f] + 1;
    v_ver[v_d] := v_ver[v_d] + 1;
    if not v_neg[v_f] and v_bal[v_f] - v_pout[v_f] < 0 then
      raise exception 'Transfer % of the batch: insufficient funds in account %.', v_i, v_from[v_i] using errcode = 'LFUND';
    end if;
    if not v_pos[v_d] and v_bal[v_d] + v_pin[v_d] > 0 then
      raise exception 'Transfer % of the batch: account % may not go above zero.', v_i, v_to[v_i] using errcode = 'LFUND';
    end if;
    v_new := v_new + 1;
    v_e_tx[2 * v_new - 1] := v_tx_ids[v_new];
    v_e_tx[2 * v_new] := v_tx_ids[v_new];
    v_e_line[2 * v_new - 1] := 1;
    v_e_line[2 * v_new] := 2;
    v_e_account[2 * v_new - 1] := v_from[v_i];
    v_e_account[2 * v_new] := v_to[v_i];
    v_e_cur[2 * v_new - 1] := v_currency[v_i];
    v_e_cur[2 * v_new] := v_currency[v_i];
    v_e_amount[2 * v_new - 1] := -v_amount[v_i];
    v_e_amount[2 * v_new] := v_amount[v_i];
    v_e_balance[2 * v_new - 1] := v_bal[v_f];
    v_e_balance[2 * v_new] := v_bal[v_d];
    v_e_version[2 * v_new - 1] := v_ver[v_f];
    v_e_version[2 * v_new] := v_ver[v_d];
  end loop;

  if v_new > 0 then
    insert into ledger.transactions (transaction_id, kind, memo, metadata, effective_at, posted_by, idempotency_scope, idempotency_key)
    select u.id, v_kind, v_memo[u.k], post_batch_keyed.metadata, v_effective_at, post_batch_keyed.actor,
           case when v_key[u.k] is not null then v_scope end, v_key[u.k]
      from unnest(v_tx_ids, v_keep) as u (id, k)
    on conflict (idempotency_scope, idempotency_key) where idempotency_key is not null do nothing;
    get diagnostics v_inserted = row_count;
    if v_inserted <> v_new then
      -- Another session posted one of these keys since the check above: retrying returns the originals.
      raise exception 'A concurrent posting used one of the batch''s idempotency keys; retry the batch.' using errcode = '40001';
    end if;

    update ledger.accounts a
       set balance = u.balance, version = u.version
      from unnest(v_ids, v_bal, v_ver) as u (account_id, balance, version)
     where a.account_id = u.account_id;

    insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version)
    select * from unnest(v_e_tx, v_e_line, v_e_account, v_e_cur, v_e_amount, v_e_balance, v_e_version);
  end if;

  return query
    select t.* from ledger.transactions t
     where t.transaction_id = any (v_tx_ids || v_replayed)
     order by t.transaction_id;
end;
$$;
comment on function ledger_private.post_batch_keyed(ledger.transfer_input[], text, jsonb, timestamptz, uuid, boolean) is
  'The path of ledger.post_batch for a batch with idempotency keys: replays are looked up and checked one by one, then the rest is posted like the set-based path. Not security definer: only ledger.post_batch (security definer) calls it.';

create function ledger.post_batch(
  transfers ledger.transfer_input[],
  kind text default 'transfer',
  metadata jsonb default null,
  effective_at timestamptz default null
) returns setof ledger.transactions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
#variable_conflict use_column
declare
  v_caller record := ledger_private.caller();
  v_kind text := coalesce(post_batch.kind, 'transfer');
  v_effective_at timestamptz := coalesce(post_batch.effective_at, pg_catalog.now());
  v_n integer := coalesce(pg_catalog.array_length(post_batch.transfers, 1), 0);
  v_bad integer;
  -- the transfers, unpacked once into plain arrays: a composite-array
  -- parameter is flattened again by every statement that reads it
  v_from bigint[];
  v_to bigint[];
  v_amount bigint[];
  v_currency text[];
  v_keyed boolean;
  v_ids bigint[];
  v_locked integer;
  v_bad_currency integer;
  v_bad_debit integer;
  v_bad_negative integer;
  v_bad_positive integer;
  v_tx_ids bigint[];
  v_memo text[];
  v_e_tx bigint[];
  v_e_line smallint[];
  v_e_account bigint[];
  v_e_currency text[];
  v_e_amount bigint[];
  v_e_balance bigint[];
  v_e_version bigint[];
  v_a_ids bigint[];
  v_a_balance bigint[];
  v_a_version bigint[];
begin
  if v_n = 0 then
    return;
  end if;
  if v_n > 10000 then
    raise exception 'A batch has at most 10000 transfers.' using errcode = 'BADIN';
  end if;
  select pg_catalog.array_agg(t.from_account_id order by t.o), pg_catalog.array_agg(t.to_account_id order by t.o),
         pg_catalog.array_agg(t.amount order by t.o), pg_catalog.array_agg(t.currency order by t.o),
         pg_catalog.array_agg(t.memo order by t.o), pg_catalog.bool_or(t.idempotency_key is not null)
    into v_from, v_to, v_amount, v_currency, v_memo, v_keyed
    from pg_catalog.unnest(post_batch.transfers) with ordinality as t (from_account_id, to_account_id, amount, currency, idempotency_key, memo, o);
  if v_keyed then
    -- Keys need a replay lookup per transfer: the general path.
    return query select * from ledger_private.post_batch_keyed(post_batch.transfers, post_batch.kind, post_batch.metadata,
      post_batch.effective_at, v_caller.actor, v_caller.trusted);
    return;
  end if;

  -- Set-based from here: every step is one statement over the whole batch.
  select pg_catalog.min(t.o) into v_bad
    from unnest(v_from, v_to, v_amount, v_currency) with ordinality as t (from_account_id, to_account_id, amount, currency, o)
   where t.amount is null or t.amount <= 0 or t.from_account_id is null or t.to_account_id is null
      or t.from_account_id = t.to_account_id or t.currency is null;
  if v_bad is not null then
    if v_amount[v_bad] is null or v_amount[v_bad] <= 0 then
      raise exception 'Transfer % of the batch: the amount is a positive number of minor units, not %.', v_bad,
        v_amount[v_bad] using errcode = 'BADIN';
    end if;
    raise exception 'Transfer % of the batch needs two different accounts and a currency.', v_bad using errcode = 'BADIN';
  end if;

  if v_kind <> 'transfer' and not exists (
    select 1 from registry.types t
     where t.namespace = 'ledger_transaction_kind' and t.code = v_kind and t.is_active
  ) then
    raise exception '% is not an active ledger_transaction_kind type.', v_kind using errcode = 'RTYPE';
  end if;
  -- Lock every account once, in id order.
  v_ids := array(select x.id from (select pg_catalog.unnest(v_from) as id union select pg_catalog.unnest(v_to)) x order by x.id);
  select pg_catalog.count(*)::integer into v_locked
    from (select a.account_id from ledger.accounts a where a.account_id = any (v_ids) order by a.account_id for update) l;
  if v_locked <> pg_catalog.cardinality(v_ids) then
    raise exception 'No such account: %.',
      (select i.id from pg_catalog.unnest(v_ids) i (id) where not exists (select 1 from ledger.accounts a where a.account_id = i.id) limit 1)
      using errcode = 'NTFND';
  end if;

  -- Balances after every entry: running sums per account in batch order.
  -- Flags are checked at every intermediate balance; the first failing
  -- transfer (by position) is reported.
  v_tx_ids := array(select pg_catalog.nextval('ledger.transactions_transaction_id_seq') from pg_catalog.generate_series(1, v_n));
  with t as (
    select t.o::integer as o, t.from_account_id, t.to_account_id, t.amount, t.currency
      from unnest(v_from, v_to, v_amount, v_currency) with ordinality as t (from_account_id, to_account_id, amount, currency, o)
  ), legs as (
    select t.o, 1::smallint as line, t.from_account_id as account_id, -t.amount as amount, t.currency from t
    union all
    select t.o, 2::smallint, t.to_account_id, t.amount, t.currency from t
  ), run as (
    select l.o, l.line, l.account_id, l.amount, l.currency,
           a.currency as account_currency, a.allow_negative, a.allow_positive, a.pending_out, a.pending_in,
           a.owner_user_id, a.organization_id,
           a.balance + pg_catalog.sum(l.amount) over w as balance_after,
           a.version + pg_catalog.row_number() over w as account_version
      from legs l
      join ledger.accounts a on a.account_id = l.account_id
    window w as (partition by l.account_id order by l.o rows unbounded preceding)
  ), last as (
    select distinct on (r.account_id) r.account_id, r.balance_after, r.account_version
      from run r order by r.account_id, r.o desc
  )
  select pg_catalog.min(r.o) filter (where r.account_currency <> r.currency),
         pg_catalog.min(r.o) filter (where r.line = 1 and not v_caller.trusted
                                       and not ledger_private.may_debit(r.owner_user_id, r.organization_id, v_caller.actor)),
         pg_catalog.min(r.o) filter (where r.line = 1 and not r.allow_negative and r.balance_after - r.pending_out < 0),
         pg_catalog.min(r.o) filter (where r.line = 2 and not r.allow_positive and r.balance_after + r.pending_in > 0),
         pg_catalog.array_agg(v_tx_ids[r.o] order by r.o, r.line), pg_catalog.array_agg(r.line order by r.o, r.line),
         pg_catalog.array_agg(r.account_id order by r.o, r.line), pg_catalog.array_agg(r.currency order by r.o, r.line),
         pg_catalog.array_agg(r.amount order by r.o, r.line), pg_catalog.array_agg(r.balance_after order by r.o, r.line),
         pg_catalog.array_agg(r.account_version order by r.o, r.line),
         (select pg_catalog.array_agg(x.account_id) from last x), (select pg_catalog.array_agg(x.balance_after) from last x),
         (select pg_catalog.array_agg(x.account_version) from last x)
    into v_bad_currency, v_bad_debit, v_bad_negative, v_bad_positive,
         v_e_tx, v_e_line, v_e_account, v_e_currency, v_e_amount, v_e_balance, v_e_version,
         v_a_ids, v_a_balance, v_a_version
    from run r;
  v_bad := least(v_bad_currency, v_bad_debit, v_bad_negative, v_bad_positive);
  if v_bad is not null then
    if v_bad = v_bad_currency then
      raise exception 'Transfer % of the batch: currency mismatch (% between accounts % and %).', v_bad,
        v_currency[v_bad], v_from[v_bad], v_to[v_bad]
        using errcode = 'LCURR';
    elsif v_bad = v_bad_debit then
      raise exception 'You may not move money out of account %.', v_from[v_bad] using errcode = 'DNIED';
    elsif v_bad = v_bad_negative then
      raise exception 'Transfer % of the batch: insufficient funds in account %.', v_bad, v_from[v_bad]
        using errcode = 'LFUND';
    else
      raise exception 'Transfer % of the batch: account % may not go above zero.', v_bad, v_to[v_bad]
        using errcode = 'LFUND';
    end if;
  end if;

  -- All transaction rows, all balances, all entries: one statement.
  return query
    with tx as (
      insert into ledger.transactions (transaction_id, kind, memo, metadata, effective_at, posted_by, checked_by_function)
      select u.id, v_kind, u.memo, post_batch.metadata, v_effective_at, v_caller.actor, true
        from unnest(v_tx_ids, v_memo) as u (id, memo)
      returning *
    ), moved as (
      update ledger.accounts a
         set balance = u.balance, version = u.version
        from unnest(v_a_ids, v_a_balance, v_a_version) as u (account_id, balance, version)
       where a.account_id = u.account_id
    ), written as (
      insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version)
      select * from unnest(v_e_tx, v_e_line, v_e_account, v_e_currency, v_e_amount, v_e_balance, v_e_version)
    )
    select * from tx order by tx.transaction_id;
  -- What the commit-time check does for other writers (these rows skip it);
  -- after the insert, for the reason given in post_transfer.
  if exists (
    select 1 from ledger.periods p
     where p.closed_at is not null and pg_catalog.tstzrange(p.starts_at, p.ends_at) @> v_effective_at
  ) then
    raise exception 'The period containing % is closed.', v_effective_at using errcode = 'LPCLS';
  end if;
end;
$$;
comment on function ledger.post_batch(ledger.transfer_input[], text, jsonb, timestamptz) is
  E'@resultFieldName transactions\nPosts up to 10000 transfers atomically (all or none), each its own transaction, in one call: every account is locked once in id order, balances are applied in the given order, then one insert writes all transactions and one all entries. Transfers whose idempotency key was already posted with the same content are returned as they are. Errors: as postTransfer, naming the transfer''s position; 40001 when a concurrent call posted one of the keys meanwhile (retry). Security definer because the ledger tables have no write grants.';

grant execute on function ledger.create_account(text, text, text, text, uuid, uuid, boolean, boolean) to gw_user;
grant execute on function ledger.post_transfer(bigint, bigint, bigint, text, text, text, text, jsonb, timestamptz) to gw_user;
grant execute on function ledger.post_transaction(ledger.entry_input[], text, text, text, jsonb, timestamptz) to gw_user;
grant execute on function ledger.post_batch(ledger.transfer_input[], text, jsonb, timestamptz) to gw_user;

--! split: 3200-ledger-holds.sql
-- Holds (two-phase transfers, escrow): reserve now, post or void later, or
-- expire. Lock order everywhere: the hold row first, then its two accounts in
-- id order (transfers lock accounts only), so holds never deadlock with
-- transfers.

drop function if exists ledger_private.expire_holds(integer) cascade;
drop function if exists ledger.void_hold(bigint) cascade;
drop function if exists ledger.post_hold(bigint, bigint, text) cascade;
drop function if exists ledger_private.lock_pending_hold(bigint, uuid, boolean) cascade;
drop function if exists ledger_private.settle_hold(ledger.holds, bigint, text, uuid) cascade;
drop function if exists ledger.create_hold(bigint, bigint, bigint, text, timestamptz, text, text) cascade;

create function ledger.create_hold(
  from_account_id bigint,
  to_account_id bigint,
  amount bigint,
  currency text,
  expires_at timestamptz default null,
  idempotency_key text default null,
  memo text default null
) returns ledger.holds
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_caller record := ledger_private.caller();
  v_scope uuid := coalesce(v_caller.actor, '00000000-0000-0000-0000-000000000000'::uuid);
  v_hold ledger.holds;
  v_row record;
  v_from record;
  v_to record;
  v_found integer := 0;
begin
  if create_hold.amount is null or create_hold.amount <= 0 then
    raise exception 'A hold amount is a positive number of minor units, not %.', create_hold.amount using errcode = 'BADIN';
  end if;
  if create_hold.from_account_id is not distinct from create_hold.to_account_id then
    raise exception 'A hold needs two different accounts.' using errcode = 'BADIN';
  end if;
  if create_hold.expires_at is not null and create_hold.expires_at <= now() then
    raise exception 'A hold cannot expire in the past.' using errcode = 'BADIN';
  end if;
  if create_hold.idempotency_key is not null then
    select * into v_hold from ledger.holds h
     where h.idempotency_scope = v_scope and h.idempotency_key = create_hold.idempotency_key;
    if found then
      if (v_hold.from_account_id, v_hold.to_account_id, v_hold.amount, v_hold.currency, v_hold.memo)
         is distinct from (create_hold.from_account_id, create_hold.to_account_id, create_hold.amount, create_hold.currency, create_hold.memo) then
        raise exception 'Idempotency key % was already used for hold % with other content.', create_hold.idempotency_key, v_hold.hold_id
          using errcode = 'LIDEM';
      end if;
      return v_hold;
    end if;
  end if;

  for v_row in
    select a.account_id, a.currency, a.balance, a.pending_out, a.pending_in,
           a.allow_negative, a.allow_positive, a.owner_user_id, a.organization_id
      from ledger.accounts a
     where a.account_id in (create_hold.from_account_id, create_hold.to_account_id)
     order by a.account_id
       for update
  loop
    v_found := v_found + 1;
    if v_row.account_id = create_hold.from_account_id then v_from := v_row; else v_to := v_row; end if;
  end loop;
  if v_found < 2 then
    raise exception 'No such account: %.',
      case when v_found = 1 and v_row.account_id = create_hold.from_account_id then create_hold.to_account_id else create_hold.from_account_id end
      using errcode = 'NTFND';
  end if;
  if not v_caller.trusted and not ledger_private.may_debit(v_from.owner_user_id, v_from.organization_id, v_caller.actor) then
    raise exception 'You may not move money out of account %.', create_hold.from_account_id using errcode = 'DNIED';
  end if;
  if v_from.currency <> create_hold.currency or v_to.currency <> create_hold.currency then
    raise exception 'Currency mismatch: the hold is in %, the accounts in % and %.', create_hold.currency, v_from.currency, v_to.currency
      using errcode = 'LCURR';
  end if;
  if not v_from.allow_negative and v_from.balance - v_from.pending_out - create_hold.amount < 0 then
    raise exception 'Insufficient funds in account %: available %, needed %.', v_from.account_id,
      v_from.balance - v_from.pending_out, create_hold.amount using errcode = 'LFUND';
  end if;
  if not v_to.allow_positive and v_to.balance + v_to.pending_in + create_hold.amount > 0 then
    raise exception 'Account % may not go above zero.', v_to.account_id using errcode = 'LFUND';
  end if;

  update ledger.accounts a
     set pending_out = a.pending_out + case when a.account_id = create_hold.from_account_id then create_hold.amount else 0 end,
         pending_in = a.pending_in + case when a.account_id = create_hold.to_account_id then create_hold.amount else 0 end
   where a.account_id in (create_hold.from_account_id, create_hold.to_account_id);

  insert into ledger.holds (from_account_id, to_account_id, amount, currency, expires_at, created_by, idempotency_scope, idempotency_key, memo)
  values (create_hold.from_account_id, create_hold.to_account_id, create_hold.amount, create_hold.currency, create_hold.expires_at,
          v_caller.actor, case when create_hold.idempotency_key is not null then v_scope end, create_hold.idempotency_key, create_hold.memo)
  returning * into v_hold;
  return v_hold;
end;
$$;
comment on function ledger.create_hold(bigint, bigint, bigint, text, timestamptz, text, text) is
  E'@resultFieldName hold\nReserves amount for a later transfer (escrow): the payer''s pendingOut and the payee''s pendingIn grow, so the money is no longer available, but nothing is posted yet. Post it with postHold, release it with voidHold; after expiresAt it can no longer be posted and the expiry job releases it. Permissions as postTransfer. Errors: LOGIN, BADIN, NTFND, DNIED, LCURR, LFUND, LIDEM. Security definer because the ledger tables have no write grants.';

-- Releases a locked pending hold and, when posting, moves posted_amount.
create function ledger_private.settle_hold(hold ledger.holds, posted_amount bigint, status text, actor uuid)
  returns ledger.transactions
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_row record;
  v_from record;
  v_to record;
  v_tx ledger.transactions;
begin
  for v_row in
    select a.account_id, a.balance, a.pending_out, a.pending_in, a.version, a.allow_negative, a.allow_positive
      from ledger.accounts a
     where a.account_id in (hold.from_account_id, hold.to_account_id)
     order by a.account_id
       for update
  loop
    if v_row.account_id = hold.from_account_id then v_from := v_row; else v_to := v_row; end if;
  end loop;

  update ledger.accounts a
     set pending_out = a.pending_out - case when a.account_id = hold.from_account_id then hold.amount else 0 end,
         pending_in = a.pending_in - case when a.account_id = hold.to_account_id then hold.amount else 0 end,
         balance = a.balance + case when settle_hold.posted_amount is null then 0
                                    when a.account_id = hold.from_account_id then -settle_hold.posted_amount
                                    else settle_hold.posted_amount end,
         version = a.version + case when settle_hold.posted_amount is null then 0 else 1 end
   where a.account_id in (hold.from_account_id, hold.to_account_id);

  if settle_hold.posted_amount is not null then
    -- The reservation covered this amount, so the flags still hold; the table's check is the backstop.
    insert into ledger.transactions (kind, memo, effective_at, posted_by, hold_id)
    values ('hold_post', hold.memo, now(), settle_hold.actor, hold.hold_id)
    returning * into v_tx;
    insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version)
    values (v_tx.transaction_id, 1, hold.from_account_id, hold.currency, -settle_hold.posted_amount,
            v_from.balance - settle_hold.posted_amount, v_from.version + 1),
           (v_tx.transaction_id, 2, hold.to_account_id, hold.currency, settle_hold.posted_amount,
            v_to.balance + settle_hold.posted_amount, v_to.version + 1);
  end if;

  update ledger.holds h
     set status = settle_hold.status,
         posted_amount = settle_hold.posted_amount,
         transaction_id = v_tx.transaction_id,
         resolved_at = now()
   where h.hold_id = hold.hold_id;
  return v_tx;
end;
$$;
comment on function ledger_private.settle_hold(ledger.holds, bigint, text, uuid) is
  'Resolves a pending hold the caller has locked: releases its reservation, posts posted_amount (when not null) as a hold_post transaction, and records the new status.';

create function ledger_private.lock_pending_hold(hold_id bigint, actor uuid, trusted boolean) returns ledger.holds
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_hold ledger.holds;
  v_account record;
begin
  select * into v_hold from ledger.holds h where h.hold_id = lock_pending_hold.hold_id for update;
  if not found then
    raise exception 'No such hold: %.', lock_pending_hold.hold_id using errcode = 'NTFND';
  end if;
  if not trusted then
    select a.owner_user_id, a.organization_id into v_account from ledger.accounts a where a.account_id = v_hold.from_account_id;
    if not ledger_private.may_debit(v_account.owner_user_id, v_account.organization_id, actor) then
      raise exception 'You may not settle hold %: its money leaves an account that is not yours.', v_hold.hold_id using errcode = 'DNIED';
    end if;
  end if;
  if v_hold.status <> 'pending' then
    raise exception 'Hold % is % and can no longer be posted or voided.', v_hold.hold_id, v_hold.status using errcode = 'LHOLD';
  end if;
  return v_hold;
end;
$$;
comment on function ledger_private.lock_pending_hold(bigint, uuid, boolean) is
  'Locks a hold for settling; raises NTFND, DNIED (the payer account is not the caller''s to debit) or LHOLD (no longer pending).';

create function ledger.post_hold(hold_id bigint, amount bigint default null, memo text default null) returns ledger.transactions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_caller record := ledger_private.caller();
  v_hold ledger.holds := ledger_private.lock_pending_hold(post_hold.hold_id, v_caller.actor, v_caller.trusted);
begin
  if v_hold.expires_at is not null and v_hold.expires_at <= now() then
    raise exception 'Hold % expired at %.', v_hold.hold_id, v_hold.expires_at using errcode = 'LHEXP';
  end if;
  if post_hold.amount is not null and (post_hold.amount <= 0 or post_hold.amount > v_hold.amount) then
    raise exception 'A hold of % posts between 1 and % minor units, not %.', v_hold.amount, v_hold.amount, post_hold.amount
      using errcode = 'BADIN';
  end if;
  v_hold.memo := coalesce(post_hold.memo, v_hold.memo);
  return ledger_private.settle_hold(v_hold, coalesce(post_hold.amount, v_hold.amount), 'posted', v_caller.actor);
end;
$$;
comment on function ledger.post_hold(bigint, bigint, text) is
  E'@resultFieldName transaction\nPosts a pending hold: amount (default: all of it, at most all of it) moves as a hold_post transaction and the rest of the reservation is released. Who may debit the payer account (or trusted code) may post. Errors: LOGIN, NTFND, DNIED, LHOLD (not pending: posted, voided or expired), LHEXP (past expiresAt), BADIN (amount out of range). Security definer because the ledger tables have no write grants.';

create function ledger.void_hold(hold_id bigint) returns ledger.holds
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_caller record := ledger_private.caller();
  v_hold ledger.holds := ledger_private.lock_pending_hold(void_hold.hold_id, v_caller.actor, v_caller.trusted);
begin
  perform ledger_private.settle_hold(v_hold, null, 'voided', v_caller.actor);
  select * into v_hold from ledger.holds h where h.hold_id = void_hold.hold_id;
  return v_hold;
end;
$$;
comment on function ledger.void_hold(bigint) is
  E'@resultFieldName hold\nReleases a pending hold without moving money. Errors: LOGIN, NTFND, DNIED, LHOLD. Security definer because the ledger tables have no write grants.';

create function ledger_private.expire_holds(max_holds integer default 1000) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_hold ledger.holds;
  v_count integer := 0;
begin
  for v_hold in
    select * from ledger.holds h
     where h.status = 'pending' and h.expires_at <= now()
     order by h.expires_at
     limit expire_holds.max_holds
       for update skip locked
  loop
    perform ledger_private.settle_hold(v_hold, null, 'expired', null);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
comment on function ledger_private.expire_holds(integer) is
  'Releases up to max_holds pending holds past their expiry (status expired) and returns how many; holds being settled right now are skipped. Run by the ledger_expire_holds worker task.';

grant execute on function ledger.create_hold(bigint, bigint, bigint, text, timestamptz, text, text) to gw_user;
grant execute on function ledger.post_hold(bigint, bigint, text) to gw_user;
grant execute on function ledger.void_hold(bigint) to gw_user;

--! split: 3300-ledger-reversals-periods.sql
-- Reversals (corrections without touching the log) and accounting periods.

drop function if exists ledger.reopen_period(bigint) cascade;
drop function if exists ledger.close_period(bigint) cascade;
drop function if exists ledger.create_period(text, timestamptz, timestamptz) cascade;
drop function if exists ledger.reverse(bigint, text, text) cascade;

create function ledger.reverse(transaction_id bigint, idempotency_key text default null, memo text default null)
  returns ledger.transactions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_caller record := ledger_private.caller();
  v_scope uuid := coalesce(v_caller.actor, '00000000-0000-0000-0000-000000000000'::uuid);
  v_original ledger.transactions;
  v_tx ledger.transactions;
  v_ids bigint[];
  v_amounts bigint[];
  v_balances bigint[];
  v_versions bigint[];
  v_row record;
  v_i integer;
  v_short bigint;
begin
  select * into v_original from ledger.transactions t where t.transaction_id = reverse.transaction_id;
  if not found then
    raise exception 'No such transaction: %.', reverse.transaction_id using errcode = 'NTFND';
  end if;
  select pg_catalog.array_agg(e.account_id order by e.line), pg_catalog.array_agg(-e.amount order by e.line)
    into v_ids, v_amounts
    from ledger.entries e where e.transaction_id = reverse.transaction_id;

  if reverse.idempotency_key is not null then
    select * into v_tx from ledger.transactions t
     where t.idempotency_scope = v_scope and t.idempotency_key = reverse.idempotency_key;
    if found then
      if v_tx.reverses_id is distinct from reverse.transaction_id then
        raise exception 'Idempotency key % was already used for transaction % with other content.', reverse.idempotency_key, v_tx.transaction_id
          using errcode = 'LIDEM';
      end if;
      return v_tx;
    end if;
  end if;

  -- Lock the accounts first: two concurrent reversals of one transaction queue here.
  v_balances := pg_catalog.array_fill(null::bigint, array[pg_catalog.array_length(v_ids, 1)]);
  v_versions := v_balances;
  for v_row in
    select a.account_id, a.balance, a.pending_out, a.pending_in, a.version,
           a.allow_negative, a.allow_positive, a.owner_user_id, a.organization_id
      from ledger.accounts a
     where a.account_id = any (v_ids)
     order by a.account_id
       for update
  loop
    v_i := pg_catalog.array_position(v_ids, v_row.account_id);
    if v_amounts[v_i] < 0 and not v_caller.trusted
       and not ledger_private.may_debit(v_row.owner_user_id, v_row.organization_id, v_caller.actor) then
      raise exception 'You may not reverse transaction %: it takes money out of account %, which is not yours.', reverse.transaction_id, v_row.account_id
        using errcode = 'DNIED';
    end if;
    v_balances[v_i] := v_row.balance + v_amounts[v_i];
    v_versions[v_i] := v_row.version + 1;
    if v_short is null and ((not v_row.allow_negative and v_balances[v_i] - v_row.pending_out < 0)
                            or (not v_row.allow_positive and v_balances[v_i] + v_row.pending_in > 0)) then
      v_short := v_row.account_id;
    end if;
  end loop;

  if exists (select 1 from ledger.transactions t where t.reverses_id = reverse.transaction_id) then
    raise exception 'Transaction % is already reversed.', reverse.transaction_id using errcode = 'LREVD';
  end if;
  if v_short is not null then
    raise exception 'Cannot reverse transaction %: account % would break its balance flags (insufficient funds).', reverse.transaction_id, v_short
      using errcode = 'LFUND';
  end if;

  insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by, reverses_id, idempotency_scope, idempotency_key)
  values ('reversal', coalesce(reverse.memo, 'Reversal of transaction ' || reverse.transaction_id), v_original.metadata, now(),
          v_caller.actor, reverse.transaction_id,
          case when reverse.idempotency_key is not null then v_scope end, reverse.idempotency_key)
  returning * into v_tx;

  update ledger.accounts a
     set balance = u.balance, version = u.version
    from unnest(v_ids, v_balances, v_versions) as u (account_id, balance, version)
   where a.account_id = u.account_id;

  insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version)
  select v_tx.transaction_id, e.line, e.account_id, e.currency, -e.amount, u.balance, u.version
    from ledger.entries e
    join unnest(v_ids, v_balances, v_versions) as u (account_id, balance, version) on u.account_id = e.account_id
   where e.transaction_id = reverse.transaction_id;

  return v_tx;
end;
$$;
comment on function ledger.reverse(bigint, text, text) is
  E'@resultFieldName transaction\nWrites the mirror of a transaction (every entry negated, kind reversal, reversesId pointing at it), effective now, so the original stays as it was and the balances return. A transaction is reversed at most once. You need the right to debit every account the reversal takes money from (in practice: operators and trusted code). Errors: LOGIN, NTFND, DNIED, LREVD (already reversed), LFUND, LIDEM, LPCLS. Security definer because the ledger tables have no write grants.';

create function ledger.create_period(name text, starts_at timestamptz, ends_at timestamptz) returns ledger.periods
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_period ledger.periods;
begin
  perform auth_private.assert_operator();
  if create_period.starts_at is null or create_period.ends_at is null or create_period.starts_at >= create_period.ends_at then
    raise exception 'A period starts before it ends.' using errcode = 'BADIN';
  end if;
  if exists (select 1 from ledger.periods p
              where pg_catalog.tstzrange(p.starts_at, p.ends_at) && pg_catalog.tstzrange(create_period.starts_at, create_period.ends_at)) then
    raise exception 'The period overlaps an existing one.' using errcode = 'LPOVL';
  end if;
  insert into ledger.periods (name, starts_at, ends_at)
  values (create_period.name, create_period.starts_at, create_period.ends_at)
  returning * into v_period;
  return v_period;
end;
$$;
comment on function ledger.create_period(text, timestamptz, timestamptz) is
  E'@resultFieldName period\nOperators: creates an open accounting period [startsAt, endsAt). Errors: DNIED, BADIN, LPOVL (overlaps another period; a concurrent overlap fails with 23P01). Security definer because periods have no insert grant.';

create function ledger.close_period(period_id bigint) returns ledger.periods
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_period ledger.periods;
begin
  perform auth_private.assert_operator();
  -- Waits for postings in flight: any that commit afterwards check the period
  -- at their commit and see it closed.
  lock table ledger.transactions in share mode;
  update ledger.periods p
     set closed_at = now(), closed_by = auth.uid()
   where p.period_id = close_period.period_id
  returning * into v_period;
  if not found then
    raise exception 'No such period: %.', close_period.period_id using errcode = 'NTFND';
  end if;
  return v_period;
end;
$$;
comment on function ledger.close_period(bigint) is
  E'@resultFieldName period\nOperators: closes a period, so that postings effective in it fail (LPCLS). Closing waits for postings in flight. Closing a closed period refreshes closedAt. Errors: DNIED, NTFND. Security definer because periods have no update grant.';

create function ledger.reopen_period(period_id bigint) returns ledger.periods
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_period ledger.periods;
begin
  perform auth_private.assert_operator();
  update ledger.periods p
     set closed_at = null, closed_by = null
   where p.period_id = reopen_period.period_id
  returning * into v_period;
  if not found then
    raise exception 'No such period: %.', reopen_period.period_id using errcode = 'NTFND';
  end if;
  return v_period;
end;
$$;
comment on function ledger.reopen_period(bigint) is
  E'@resultFieldName period\nOperators: reopens a closed period (for a late correction); the change is in the audit log. Errors: DNIED, NTFND. Security definer because periods have no update grant.';

select audit.enable_tracking('ledger.periods');

grant execute on function ledger.reverse(bigint, text, text) to gw_user;
grant execute on function ledger.create_period(text, timestamptz, timestamptz) to gw_admin;
grant execute on function ledger.close_period(bigint) to gw_admin;
grant execute on function ledger.reopen_period(bigint) to gw_admin;

--! split: 3400-ledger-reads.sql
-- Reads: available balance, trial balance and currency totals for operators,
-- and ledger.verify(), which recomputes everything the postings maintain.

drop function if exists ledger.verify() cascade;
drop function if exists ledger.currency_totals() cascade;
drop function if exists ledger.trial_balance() cascade;
drop function if exists ledger.accounts_available_balance(ledger.accounts) cascade;
drop type if exists ledger.verify_problem cascade;
drop type if exists ledger.currency_total cascade;
drop type if exists ledger.trial_balance_line cascade;

create function ledger.accounts_available_balance(account ledger.accounts) returns bigint
  language sql
  stable
  set search_path = ''
as $$
  select account.balance - account.pending_out
$$;
comment on function ledger.accounts_available_balance(ledger.accounts) is
  'What may still leave the account: the posted balance minus pending outgoing holds.';
grant execute on function ledger.accounts_available_balance(ledger.accounts) to gw_user;

create type ledger.trial_balance_line as (
  currency text,
  kind text,
  accounts integer,
  debits numeric,
  credits numeric
);
comment on type ledger.trial_balance_line is 'One line of the trial balance: the accounts of one kind in one currency.';
comment on column ledger.trial_balance_line.currency is 'The currency.';
comment on column ledger.trial_balance_line.kind is 'The account kind.';
comment on column ledger.trial_balance_line.accounts is 'How many accounts.';
comment on column ledger.trial_balance_line.debits is 'Sum of the debit (positive) balances, in minor units.';
comment on column ledger.trial_balance_line.credits is 'Sum of the credit (negative) balances as a positive number, in minor units.';

create function ledger.trial_balance() returns setof ledger.trial_balance_line
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  return query
    select a.currency, a.kind, pg_catalog.count(*)::integer,
           coalesce(pg_catalog.sum(a.balance) filter (where a.balance > 0), 0)::numeric,
           coalesce(-pg_catalog.sum(a.balance) filter (where a.balance < 0), 0)::numeric
      from ledger.accounts a
     group by a.currency, a.kind
     order by a.currency, a.kind;
end;
$$;
comment on function ledger.trial_balance() is
  E'Operators: debit and credit balances per currency and account kind. In each currency total debits equal total credits. Errors: DNIED. Security definer so that it sums every account, not only the visible ones.';

create type ledger.currency_total as (
  currency text,
  debits numeric,
  credits numeric,
  net numeric
);
comment on type ledger.currency_total is 'The ledger''s totals in one currency.';
comment on column ledger.currency_total.currency is 'The currency.';
comment on column ledger.currency_total.debits is 'Sum of the positive balances.';
comment on column ledger.currency_total.credits is 'Sum of the negative balances, as a positive number.';
comment on column ledger.currency_total.net is 'debits - credits: always 0.';

create function ledger.currency_totals() returns setof ledger.currency_total
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  return query
    select a.currency,
           coalesce(pg_catalog.sum(a.balance) filter (where a.balance > 0), 0)::numeric,
           coalesce(-pg_catalog.sum(a.balance) filter (where a.balance < 0), 0)::numeric,
           pg_catalog.sum(a.balance)::numeric
      from ledger.accounts a
     group by a.currency
     order by a.currency;
end;
$$;
comment on function ledger.currency_totals() is
  E'Operators: per-currency totals of all account balances; net is zero in every currency. Errors: DNIED. Security definer so that it sums every account.';

create type ledger.verify_problem as (
  problem text,
  account_id bigint,
  transaction_id bigint,
  expected numeric,
  actual numeric
);
comment on type ledger.verify_problem is 'Something ledger.verify() found wrong.';
comment on column ledger.verify_problem.problem is 'balance, version, pending_out, pending_in, entry_chain, unbalanced, too_few_entries.';
comment on column ledger.verify_problem.account_id is 'The account concerned, if any.';
comment on column ledger.verify_problem.transaction_id is 'The transaction concerned, if any.';
comment on column ledger.verify_problem.expected is 'The value recomputed from entries or holds.';
comment on column ledger.verify_problem.actual is 'The stored value.';

create function ledger.verify() returns setof ledger.verify_problem
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth_private.assert_operator();
  return query
    with sums as (
      select e.account_id, pg_catalog.sum(e.amount) as total, pg_catalog.count(*) as n
        from ledger.entries e group by e.account_id
    )
    select 'balance', a.account_id, null::bigint, coalesce(s.total, 0)::numeric, a.balance::numeric
      from ledger.accounts a left join sums s on s.account_id = a.account_id
     where a.balance <> coalesce(s.total, 0)
    union all
    select 'version', a.account_id, null, coalesce(s.n, 0)::numeric, a.version::numeric
      from ledger.accounts a left join sums s on s.account_id = a.account_id
     where a.version <> coalesce(s.n, 0);
  return query
    with pending as (
      select h.from_account_id as account_id, pg_catalog.sum(h.amount) as out_total, 0::numeric as in_total
        from ledger.holds h where h.status = 'pending' group by h.from_account_id
      union all
      select h.to_account_id, 0, pg_catalog.sum(h.amount)
        from ledger.holds h where h.status = 'pending' group by h.to_account_id
    ), per_account as (
      select p.account_id, pg_catalog.sum(p.out_total) as out_total, pg_catalog.sum(p.in_total) as in_total
        from pending p group by p.account_id
    )
    select 'pending_out', a.account_id, null::bigint, coalesce(p.out_total, 0)::numeric, a.pending_out::numeric
      from ledger.accounts a left join per_account p on p.account_id = a.account_id
     where a.pending_out <> coalesce(p.out_total, 0)
    union all
    select 'pending_in', a.account_id, null, coalesce(p.in_total, 0)::numeric, a.pending_in::numeric
      from ledger.accounts a left join per_account p on p.account_id = a.account_id
     where a.pending_in <> coalesce(p.in_total, 0);
  -- Each entry's running balance follows from the one before it.
  return query
    select 'entry_chain', x.account_id, x.transaction_id, (x.previous + x.amount)::numeric, x.balance_after::numeric
      from (
        select e.account_id, e.transaction_id, e.amount, e.balance_after, e.account_version,
               coalesce(pg_catalog.lag(e.balance_after) over w, 0) as previous,
               coalesce(pg_catalog.lag(e.account_version) over w, 0) as previous_version
          from ledger.entries e
        window w as (partition by e.account_id order by e.account_version)
      ) x
     where x.balance_after <> x.previous + x.amount or x.account_version <> x.previous_version + 1;
  return query
    select case when pg_catalog.count(*) < 2 then 'too_few_entries' else 'unbalanced' end,
           null::bigint, e.transaction_id, 0::numeric, pg_catalog.sum(e.amount)::numeric
      from ledger.entries e
     group by e.transaction_id, e.currency
    having pg_catalog.sum(e.amount) <> 0
    union all
    select 'too_few_entries', null, t.transaction_id, 2, pg_catalog.count(e.line)::numeric
      from ledger.transactions t left join ledger.entries e on e.transaction_id = t.transaction_id
     group by t.transaction_id
    having pg_catalog.count(e.line) < 2;
end;
$$;
comment on function ledger.verify() is
  E'Operators: recomputes what the postings maintain and returns every disagreement (no rows: the ledger is consistent): account balance = sum of entries, version = number of entries, pending amounts = sums of pending holds, each entry''s balanceAfter = the previous one + amount with versions 1, 2, 3…, every transaction balanced per currency with at least two entries. Reads everything: for audits and tests, not for hot paths. Errors: DNIED. Security definer so that it checks every account.';

grant execute on function ledger.trial_balance() to gw_admin;
grant execute on function ledger.currency_totals() to gw_admin;
grant execute on function ledger.verify() to gw_admin;
