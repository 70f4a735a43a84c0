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
