--! Previous: sha1:9f2f7a6786d0c0d8795cb9528ce9a3fd9ed97598
--! Hash: sha1:429371757d2710109f7050205f85cce143831b79
--! Message: capstone fintech module: finance, sales, support, hr schemas with RLS, partitioned transactions, posting triggers, closure, aggregates, materialized views, audit

--! split: 4000-capstone-types.sql
-- Capstone fintech module (issue 5): the schemas, their enums and domains.
-- Re-runnable: every later 4xxx file creates objects inside these schemas, so
-- dropping the schemas (reverse order of creation) drops all of it.

drop schema if exists hr cascade;
drop schema if exists support_private cascade;
drop schema if exists support cascade;
drop schema if exists sales_private cascade;
drop schema if exists sales cascade;
drop schema if exists finance_private cascade;
drop schema if exists finance cascade;

create schema finance;
comment on schema finance is
  'Core financial engine: customers, accounts, monthly-partitioned transactions, the ledger, closures. Sensitive: finance staff and each account''s owner only.';
grant usage on schema finance to gw_user;

create schema finance_private;
comment on schema finance_private is
  'Transaction partitions, trigger functions and helpers of finance; never exposed.';
revoke all on schema finance_private from public;

create schema sales;
comment on schema sales is 'Products, sales reps, orders and their items, sold to finance customers.';
grant usage on schema sales to gw_user;

create schema sales_private;
comment on schema sales_private is 'Trigger functions of sales; never exposed.';
revoke all on schema sales_private from public;

create schema support;
comment on schema support is 'Support agents, tickets of finance customers and their messages.';
grant usage on schema support to gw_user;

create schema support_private;
comment on schema support_private is 'Trigger functions of support; never exposed.';
revoke all on schema support_private from public;

create schema hr;
comment on schema hr is 'Employees and payroll. Sensitive: HR staff alone.';
grant usage on schema hr to role_hr;

--------------------------------------------------------------------------------
-- One enum per schema (hr keeps the blueprint's free-text department).

create type sales.order_status as enum ('draft', 'placed', 'shipped', 'cancelled');
comment on type sales.order_status is 'Life of an order: draft, placed (counted as revenue), shipped, cancelled.';

create type finance.account_type as enum ('checking', 'savings', 'credit');
comment on type finance.account_type is 'checking and savings may not go below zero; credit may (a drawn credit line).';

create type finance.tx_type as enum ('debit', 'credit', 'adjustment');
comment on type finance.tx_type is 'debit takes money out of the account, credit puts money in, adjustment is a correction that puts money in (a correction against the customer is a debit).';

create type support.ticket_status as enum ('open', 'pending', 'closed');
comment on type support.ticket_status is 'open (waiting for support), pending (waiting for the customer), closed.';

create type support.sender_type as enum ('customer', 'agent');
comment on type support.sender_type is 'Who wrote a ticket message: the ticket''s customer or a support agent.';

-- Domains: e-mail is the core's auth.email; amounts get their own domain
-- because the core's auth.money_positive has no scale and money here is
-- numeric(18,4).
create domain finance.money_positive as numeric(18, 4)
  constraint money_positive_check check (value > 0);
comment on domain finance.money_positive is 'A strictly positive amount of money, numeric(18,4).';
grant usage on domain finance.money_positive to gw_user;

--! split: 4100-finance.sql
-- finance: customers, accounts, transactions (partitioned by month), ledger,
-- monthly closures, the posting function and the custom aggregates.
-- Re-runnable: 4000-capstone-types.sql drops the finance schemas first.

--------------------------------------------------------------------------------
-- finance.customers

create table finance.customers (
  customer_id uuid primary key default gen_random_uuid(),
  full_name text not null
    constraint customers_full_name_check check (char_length(btrim(full_name)) between 1 and 200),
  primary_email auth.email not null,
  user_id uuid references auth.users (user_id) on delete set null
);
alter table finance.customers enable row level security;

create unique index customers_primary_email_lower_key on finance.customers (lower(primary_email));
create unique index customers_user_id_key on finance.customers (user_id);

create policy "customers see their own record"
  on finance.customers for select to gw_user
  using (user_id = (select auth.uid()));
create policy "finance staff see every customer"
  on finance.customers for select to role_finance
  using ((select auth.has_role('role_finance')));
create policy "finance staff add customers"
  on finance.customers for insert to role_finance
  with check ((select auth.has_role('role_finance')));
create policy "finance staff edit customers"
  on finance.customers for update to role_finance
  using ((select auth.has_role('role_finance')))
  with check ((select auth.has_role('role_finance')));

grant select on finance.customers to gw_user;
grant insert (full_name, primary_email, user_id), update (full_name, primary_email, user_id) on finance.customers to role_finance;

comment on table finance.customers is
  E'@behavior -delete\nA customer of the bank. When user_id is set, that signed-in user is the customer and owns the customer''s accounts, orders and tickets. Finance staff see and edit every customer; sales and support see only the columns they need, through sales.order_customers and support.customer_contacts.';
comment on column finance.customers.customer_id is 'The customer''s id.';
comment on column finance.customers.full_name is 'Full name, 1 to 200 characters.';
comment on column finance.customers.primary_email is 'Contact e-mail address; unique ignoring case.';
comment on column finance.customers.user_id is 'The user who signs in as this customer (the account owner), if any; unique.';

-- Who the caller is as a customer. Security definer: policies of other tables
-- call it, and it must not depend on what the caller may see of customers.
create function finance.current_customer_id() returns uuid
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select c.customer_id from finance.customers c where c.user_id = auth.uid();
$$;
comment on function finance.current_customer_id() is
  E'@behavior -queryField -mutationField -typeField\nThe customer record of the signed-in user, or null. Security definer so policies can call it whatever the caller may see; it reveals only the caller''s own id.';
grant execute on function finance.current_customer_id() to gw_user;

--------------------------------------------------------------------------------
-- finance.accounts

create table finance.accounts (
  account_id uuid primary key default gen_random_uuid(),
  customer_id uuid not null references finance.customers (customer_id) on delete restrict,
  account_type finance.account_type not null,
  balance numeric(18, 4) not null default 0
);
alter table finance.accounts enable row level security;

create index accounts_customer_id_idx on finance.accounts (customer_id);

create policy "customers see their own accounts"
  on finance.accounts for select to gw_user
  using (customer_id = (select finance.current_customer_id()));
create policy "finance staff see every account"
  on finance.accounts for select to role_finance
  using ((select auth.has_role('role_finance')));
create policy "finance staff open accounts"
  on finance.accounts for insert to role_finance
  with check ((select auth.has_role('role_finance')));

grant select on finance.accounts to gw_user;
-- No balance: an account opens at zero and only postings move it.
grant insert (customer_id, account_type) on finance.accounts to role_finance;

comment on table finance.accounts is
  E'@behavior -update -delete\nAn account of a customer. Its balance is moved only by postings (finance.post_transaction), by the triggers of finance.transactions.';
comment on column finance.accounts.account_id is 'The account''s id.';
comment on column finance.accounts.customer_id is 'The customer who owns the account.';
comment on column finance.accounts.account_type is 'checking, savings (never below zero) or credit (may go below zero).';
comment on column finance.accounts.balance is 'Current balance: the balance_after of the account''s latest posting (0 before the first).';

create function finance.current_account_ids() returns setof uuid
  language sql
  stable
  rows 4
  security definer
  set search_path = ''
as $$
  select a.account_id from finance.accounts a where a.customer_id = finance.current_customer_id();
$$;
comment on function finance.current_account_ids() is
  E'@behavior -queryField -mutationField -typeField\nThe accounts of the signed-in customer. Security definer so the policies of finance.transactions can call it without going through the policies of finance.accounts.';
grant execute on function finance.current_account_ids() to gw_user;

--------------------------------------------------------------------------------
-- finance.transactions: range-partitioned by posted_at, one partition per UTC
-- month, partitions live in finance_private (not exposed).

create sequence finance.transactions_tx_id_seq as bigint;

create table finance.transactions (
  -- Assigned by the BEFORE INSERT trigger once the account is locked, so that
  -- tx_id order is the order in which an account's postings were applied.
  tx_id bigint not null,
  account_id uuid not null references finance.accounts (account_id) on delete restrict,
  tx_type finance.tx_type not null,
  amount finance.money_positive not null,
  posted_at timestamptz not null default now(),
  balance_after numeric(18, 4) not null,
  primary key (tx_id, posted_at)
) partition by range (posted_at);
alter sequence finance.transactions_tx_id_seq owned by finance.transactions.tx_id;
alter table finance.transactions enable row level security;

-- Statements and the account foreign key: one account's postings in date order.
create index transactions_account_id_posted_at_idx on finance.transactions (account_id, posted_at, tx_id);

create policy "account owners see their transactions"
  on finance.transactions for select to gw_user
  using (account_id = any (array(select finance.current_account_ids())));
create policy "finance staff see every transaction"
  on finance.transactions for select to role_finance
  using ((select auth.has_role('role_finance')));

grant select on finance.transactions to gw_user;

comment on table finance.transactions is
  E'@behavior -insert -update -delete\nA posting on an account, written only by finance.post_transaction and never changed. Partitioned by month of posted_at (UTC). Only the account''s owner and finance staff see it.';
comment on column finance.transactions.tx_id is 'The posting''s number, assigned once the account row is locked: for one account, increasing in the order postings were applied.';
comment on column finance.transactions.account_id is 'The account posted to.';
comment on column finance.transactions.tx_type is 'debit (money out), credit (money in) or adjustment (a correction, money in).';
comment on column finance.transactions.amount is 'The amount, strictly positive; tx_type says the direction.';
comment on column finance.transactions.posted_at is 'When the posting takes effect; decides its month (partition and closure period).';
comment on column finance.transactions.balance_after is 'The account''s balance right after this posting (computed by the insert trigger, in posting order).';

-- Creates the partition of the month containing `month` (UTC) unless it
-- exists. Standalone table then ATTACH: attaching takes SHARE UPDATE EXCLUSIVE
-- on the parent, so concurrent postings into other months are not blocked
-- (CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE).
create function finance_private.ensure_transaction_partition(month date) returns regclass
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_start timestamp := pg_catalog.date_trunc('month', ensure_transaction_partition.month::timestamp);
  v_end timestamp := v_start + interval '1 month';
  v_name text := 'transactions_y' || pg_catalog.to_char(v_start, 'YYYY') || 'm' || pg_catalog.to_char(v_start, 'MM');
  v_rel regclass := pg_catalog.to_regclass('finance_private.' || v_name);
begin
  if v_rel is not null then
    return v_rel;
  end if;
  if ensure_transaction_partition.month is null then
    raise exception 'A month is required.' using errcode = 'BADIN';
  end if;
  -- Two postings into the same new month: the second waits, then finds it.
  perform pg_catalog.pg_advisory_xact_lock(4100, 0);
  v_rel := pg_catalog.to_regclass('finance_private.' || v_name);
  if v_rel is not null then
    return v_rel;
  end if;
  execute pg_catalog.format('create table finance_private.%I (like finance.transactions including defaults)', v_name);
  execute pg_catalog.format('alter table finance_private.%I enable row level security', v_name);
  execute pg_catalog.format(
    'alter table finance.transactions attach partition finance_private.%I for values from (%L) to (%L)',
    v_name, (v_start at time zone 'UTC'), (v_end at time zone 'UTC'));
  return pg_catalog.to_regclass('finance_private.' || v_name);
end;
$$;
comment on function finance_private.ensure_transaction_partition(date) is
  'Creates (idempotently) the finance.transactions partition of the UTC month containing the given date. Called by finance.post_transaction before every insert (on demand) and by the finance_create_partitions task (ahead).';

create function finance_private.create_transaction_partitions(months_ahead integer default 3) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_created integer := 0;
  v_month date;
begin
  for i in 0 .. greatest(coalesce(months_ahead, 3), 0) loop
    v_month := (pg_catalog.date_trunc('month', pg_catalog.now() at time zone 'UTC') + pg_catalog.make_interval(months => i))::date;
    if pg_catalog.to_regclass('finance_private.transactions_y' || pg_catalog.to_char(v_month, 'YYYY') || 'm' || pg_catalog.to_char(v_month, 'MM')) is null then
      perform finance_private.ensure_transaction_partition(v_month);
      v_created := v_created + 1;
    end if;
  end loop;
  return v_created;
end;
$$;
comment on function finance_private.create_transaction_partitions(integer) is
  'Creates the partitions of the current UTC month and the next months_ahead months that do not exist yet; returns how many it created. Run by the finance_create_partitions crontab task.';

--------------------------------------------------------------------------------
-- finance.ledger: one double-entry record per posting.

create table finance.ledger (
  ledger_id uuid primary key default gen_random_uuid(),
  tx_id bigint not null,
  posted_at timestamptz not null,
  entry jsonb not null
    constraint ledger_entry_check check (jsonb_typeof(entry) = 'object' and jsonb_typeof(entry -> 'lines') = 'array'),
  -- A foreign key to a partitioned table names its whole key, partition key included.
  constraint ledger_transaction_fkey foreign key (tx_id, posted_at)
    references finance.transactions (tx_id, posted_at) on delete restrict
);
alter table finance.ledger enable row level security;

-- One record per posting; also the foreign key's index.
create unique index ledger_tx_id_posted_at_key on finance.ledger (tx_id, posted_at);
create index ledger_entry_gin on finance.ledger using gin (entry);

create policy "finance staff read the ledger"
  on finance.ledger for select to role_finance
  using ((select auth.has_role('role_finance')));

grant select on finance.ledger to role_finance;

comment on table finance.ledger is
  E'@behavior -insert -update -delete\nThe double-entry record of each posting, written with it by finance.post_transaction. entry holds the posting (tx_id, account_id, tx_type, amount, balance_before, balance_after, posted_by) and its lines: two lines of equal amount, one debit and one credit, between the customer account and the bank''s cash or adjustments account. Searchable with @> (GIN). Finance staff only.';
comment on column finance.ledger.ledger_id is 'The record''s id.';
comment on column finance.ledger.tx_id is 'The posting recorded.';
comment on column finance.ledger.posted_at is 'The posting''s posted_at (part of its key).';
comment on column finance.ledger.entry is 'The posting record as JSON, with its double-entry lines.';

--------------------------------------------------------------------------------
-- Closed periods and monthly closures

create table finance.closed_periods (
  period date primary key
    constraint closed_periods_period_check check (extract(day from period) = 1),
  closed_at timestamptz not null default now(),
  closed_by text not null,
  accounts_count integer not null,
  tx_count integer not null
);
alter table finance.closed_periods enable row level security;

create policy "finance staff see closed periods"
  on finance.closed_periods for select to role_finance
  using ((select auth.has_role('role_finance')));
grant select on finance.closed_periods to role_finance;

comment on table finance.closed_periods is
  E'@behavior -insert -update -delete\nA closed (locked) month: no posting dated in it is accepted any more (PCLSD). Written by finance.monthly_closure.';
comment on column finance.closed_periods.period is 'First day of the closed month (UTC).';
comment on column finance.closed_periods.closed_at is 'When it was closed.';
comment on column finance.closed_periods.closed_by is 'Who closed it (user id, or the database role for system work).';
comment on column finance.closed_periods.accounts_count is 'Accounts with a closure row for the month.';
comment on column finance.closed_periods.tx_count is 'Postings dated in the month.';

create table finance.monthly_closures (
  closure_id uuid primary key default gen_random_uuid(),
  period date not null references finance.closed_periods (period) on delete restrict,
  account_id uuid not null references finance.accounts (account_id) on delete restrict,
  opening_balance numeric(18, 4) not null,
  total_debits numeric(18, 4) not null,
  total_credits numeric(18, 4) not null,
  total_adjustments numeric(18, 4) not null,
  closing_balance numeric(18, 4) not null,
  tx_count integer not null,
  constraint monthly_closures_period_account_id_key unique (period, account_id),
  constraint monthly_closures_sum_check check (closing_balance = opening_balance - total_debits + total_credits + total_adjustments)
);
alter table finance.monthly_closures enable row level security;

create index monthly_closures_account_id_idx on finance.monthly_closures (account_id);

create policy "finance staff see monthly closures"
  on finance.monthly_closures for select to role_finance
  using ((select auth.has_role('role_finance')));
grant select on finance.monthly_closures to role_finance;

comment on table finance.monthly_closures is
  E'@behavior -insert -update -delete\nOne account''s figures for a closed month: opening balance, the month''s debits, credits and adjustments, closing balance. Written by finance.monthly_closure.';
comment on column finance.monthly_closures.closure_id is 'The row''s id.';
comment on column finance.monthly_closures.period is 'The closed month.';
comment on column finance.monthly_closures.account_id is 'The account.';
comment on column finance.monthly_closures.opening_balance is 'Signed sum of the account''s postings dated before the month.';
comment on column finance.monthly_closures.total_debits is 'Sum of the month''s debits.';
comment on column finance.monthly_closures.total_credits is 'Sum of the month''s credits.';
comment on column finance.monthly_closures.total_adjustments is 'Sum of the month''s adjustments.';
comment on column finance.monthly_closures.closing_balance is 'opening - debits + credits + adjustments.';
comment on column finance.monthly_closures.tx_count is 'Postings dated in the month.';

--------------------------------------------------------------------------------
-- Custom aggregates

create function finance_private.running_balance_step(state numeric, tx_type finance.tx_type, amount numeric) returns numeric
  language sql
  immutable
  parallel safe
as $$
  select case
    when amount is null or tx_type is null then state
    when tx_type = 'debit' then state - amount
    else state + amount
  end;
$$;
comment on function finance_private.running_balance_step(numeric, finance.tx_type, numeric) is
  'Transition of finance.running_balance: debits subtract, credits and adjustments add.';

create aggregate finance.running_balance(finance.tx_type, numeric) (
  sfunc = finance_private.running_balance_step,
  stype = numeric,
  initcond = '0',
  combinefunc = pg_catalog.numeric_add,
  parallel = safe
);
comment on aggregate finance.running_balance(finance.tx_type, numeric) is
  E'@behavior -queryField -mutationField -typeField\nThe balance that a set of postings adds up to: credits and adjustments minus debits (0 for none). As a window function ordered by posted_at it gives the running balance of a statement; as a plain aggregate, an account''s balance at a date (monthly closure).';

create function finance_private.weighted_avg_step(state numeric[], value numeric, weight numeric) returns numeric[]
  language sql
  immutable
  parallel safe
as $$
  select case
    when value is null or weight is null then state
    else array[state[1] + value * weight, state[2] + weight]
  end;
$$;
comment on function finance_private.weighted_avg_step(numeric[], numeric, numeric) is
  'Transition of finance.weighted_avg: accumulates sum(value * weight) and sum(weight).';

create function finance_private.weighted_avg_combine(a numeric[], b numeric[]) returns numeric[]
  language sql
  immutable
  parallel safe
as $$
  select array[a[1] + b[1], a[2] + b[2]];
$$;
comment on function finance_private.weighted_avg_combine(numeric[], numeric[]) is 'Combines two partial states of finance.weighted_avg.';

create function finance_private.weighted_avg_final(state numeric[]) returns numeric
  language sql
  immutable
  parallel safe
as $$
  select case when state[2] = 0 then null else state[1] / state[2] end;
$$;
comment on function finance_private.weighted_avg_final(numeric[]) is 'Final step of finance.weighted_avg: null when the weights add up to zero.';

create aggregate finance.weighted_avg(numeric, numeric) (
  sfunc = finance_private.weighted_avg_step,
  stype = numeric[],
  finalfunc = finance_private.weighted_avg_final,
  combinefunc = finance_private.weighted_avg_combine,
  initcond = '{0,0}',
  parallel = safe
);
comment on aggregate finance.weighted_avg(numeric, numeric) is
  E'@behavior -queryField -mutationField -typeField\nWeighted average: sum(value * weight) / sum(weight), ignoring rows with a null value or weight; null when the weights add up to zero. finance.mv_monthly_revenue uses it for the average unit price weighted by quantity.';

grant execute on function finance.running_balance(finance.tx_type, numeric) to gw_user;
grant execute on function finance.weighted_avg(numeric, numeric) to gw_user;

--------------------------------------------------------------------------------
-- Posting triggers

create function finance_private.period_lock_key(posted_at timestamptz) returns integer
  language sql
  immutable
  parallel safe
as $$
  select pg_catalog.to_char(posted_at at time zone 'UTC', 'YYYYMM')::integer;
$$;
comment on function finance_private.period_lock_key(timestamptz) is
  'The advisory lock key (second half; the first is 4101) of the UTC month of a posting: postings take it shared, monthly_closure exclusive.';

-- Postings are facts: corrections are new postings, never edits.
create function finance_private.tg_postings__append_only() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  raise exception 'Postings and ledger records are never changed or deleted; post a correction instead.' using errcode = 'TXIMM';
end;
$$;
comment on function finance_private.tg_postings__append_only() is 'Refuses update and delete on finance.transactions and finance.ledger (TXIMM).';

create trigger _010_append_only
  before update or delete on finance.transactions
  for each row execute function finance_private.tg_postings__append_only();
create trigger _010_append_only
  before update or delete on finance.ledger
  for each row execute function finance_private.tg_postings__append_only();

-- Security definer: it locks and reads the account row whatever the caller may see.
create function finance_private.tg_transactions__compute_balance() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_balance numeric(18, 4);
  v_account_type finance.account_type;
begin
  -- Shared: postings of one month never wait for each other here, only for a closure of that month.
  perform pg_catalog.pg_advisory_xact_lock_shared(4101, finance_private.period_lock_key(new.posted_at));
  if exists (
    select 1 from finance.closed_periods p
     where p.period = (pg_catalog.date_trunc('month', new.posted_at at time zone 'UTC'))::date
  ) then
    raise exception 'The period of % is closed: no posting may be dated in it.', new.posted_at using errcode = 'PCLSD';
  end if;
  -- The row lock serialises postings on one account: each sees the balance the previous one left.
  select a.balance, a.account_type into v_balance, v_account_type
    from finance.accounts a
   where a.account_id = new.account_id
     for update;
  if not found then
    raise exception 'No account %.', new.account_id using errcode = 'NTFND';
  end if;
  new.tx_id := pg_catalog.nextval('finance.transactions_tx_id_seq');
  new.balance_after := v_balance + case when new.tx_type = 'debit' then -new.amount else new.amount end;
  if new.tx_type = 'debit' and v_account_type <> 'credit' and new.balance_after < 0 then
    raise exception 'Insufficient funds: account % holds %, the debit is %.', new.account_id, v_balance, new.amount
      using errcode = 'INSUF';
  end if;
  return new;
end;
$$;
comment on function finance_private.tg_transactions__compute_balance() is
  'BEFORE INSERT on finance.transactions: refuses a posting dated in a closed month (PCLSD), locks the account row, assigns tx_id, computes balance_after, refuses a debit that would take a checking or savings account below zero (INSUF).';

create trigger _100_compute_balance
  before insert on finance.transactions
  for each row execute function finance_private.tg_transactions__compute_balance();

-- Security definer: callers have no update grant on accounts.
create function finance_private.tg_transactions__apply_balance() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  update finance.accounts set balance = new.balance_after where account_id = new.account_id;
  return null;
end;
$$;
comment on function finance_private.tg_transactions__apply_balance() is
  'AFTER INSERT on finance.transactions: sets accounts.balance to the posting''s balance_after (the row is already locked by the BEFORE trigger).';

create trigger _200_apply_balance
  after insert on finance.transactions
  for each row execute function finance_private.tg_transactions__apply_balance();

--------------------------------------------------------------------------------
-- finance.post_transaction

create function finance_private.ledger_entry(tx finance.transactions) returns jsonb
  language sql
  stable
  set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'tx_id', tx.tx_id,
    'account_id', tx.account_id,
    'tx_type', tx.tx_type,
    'amount', tx.amount,
    'balance_before', tx.balance_after + case when tx.tx_type = 'debit' then tx.amount else -tx.amount end,
    'balance_after', tx.balance_after,
    'posted_at', tx.posted_at,
    'posted_by', coalesce(auth.uid()::text, nullif(pg_catalog.current_setting('role', true), 'none'), session_user::text),
    'lines', case tx.tx_type
      when 'debit' then pg_catalog.jsonb_build_array(
        pg_catalog.jsonb_build_object('account', 'customer:' || tx.account_id, 'side', 'debit', 'amount', tx.amount),
        pg_catalog.jsonb_build_object('account', 'bank:cash', 'side', 'credit', 'amount', tx.amount))
      when 'credit' then pg_catalog.jsonb_build_array(
        pg_catalog.jsonb_build_object('account', 'bank:cash', 'side', 'debit', 'amount', tx.amount),
        pg_catalog.jsonb_build_object('account', 'customer:' || tx.account_id, 'side', 'credit', 'amount', tx.amount))
      else pg_catalog.jsonb_build_array(
        pg_catalog.jsonb_build_object('account', 'bank:adjustments', 'side', 'debit', 'amount', tx.amount),
        pg_catalog.jsonb_build_object('account', 'customer:' || tx.account_id, 'side', 'credit', 'amount', tx.amount))
    end);
$$;
comment on function finance_private.ledger_entry(finance.transactions) is
  'The ledger entry of a posting: the posting''s fields and two balanced lines (the bank''s view: money paid in debits bank:cash and credits the customer).';

create function finance.post_transaction(
  account_id uuid,
  amount numeric,
  tx_type finance.tx_type,
  posted_at timestamptz default null
) returns finance.transactions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_trusted boolean := pg_catalog.current_setting('role', true) is not distinct from 'none';
  v_owner uuid;
  v_posted_at timestamptz := coalesce(post_transaction.posted_at, pg_catalog.now());
  v_tx finance.transactions;
begin
  if post_transaction.account_id is null or post_transaction.amount is null or post_transaction.tx_type is null then
    raise exception 'An account, an amount and a transaction type are required.' using errcode = 'BADIN';
  end if;
  if post_transaction.amount <= 0 or post_transaction.amount >= 1e14
     or post_transaction.amount <> pg_catalog.round(post_transaction.amount, 4) then
    raise exception 'The amount must be positive, below 10^14, with at most 4 decimals (got %).', post_transaction.amount
      using errcode = 'BADIN';
  end if;
  select a.customer_id into v_owner from finance.accounts a where a.account_id = post_transaction.account_id;
  -- Finance staff post anything; an account's owner may only pay out of it (a debit, dated now).
  if not (v_trusted or auth.has_role('role_finance')) then
    if v_owner is null or v_owner is distinct from finance.current_customer_id() then
      raise exception 'No account % that you may post to.', post_transaction.account_id using errcode = 'NTFND';
    end if;
    if post_transaction.tx_type <> 'debit' or post_transaction.posted_at is not null then
      raise exception 'Customers may only post debits dated now; credits, adjustments and back-dating are for finance staff.'
        using errcode = 'DNIED';
    end if;
  elsif v_owner is null then
    raise exception 'No account %.', post_transaction.account_id using errcode = 'NTFND';
  end if;

  perform finance_private.ensure_transaction_partition((v_posted_at at time zone 'UTC')::date);
  insert into finance.transactions (account_id, tx_type, amount, posted_at)
  values (post_transaction.account_id, post_transaction.tx_type, post_transaction.amount, v_posted_at)
  returning * into v_tx;
  insert into finance.ledger (tx_id, posted_at, entry)
  values (v_tx.tx_id, v_tx.posted_at, finance_private.ledger_entry(v_tx));
  return v_tx;
end;
$$;
comment on function finance.post_transaction(uuid, numeric, finance.tx_type, timestamptz) is
  E'Posts an amount to an account and writes its ledger record; returns the posting. debit takes the amount out (refused with INSUF if a checking or savings account would go below zero), credit puts it in, adjustment puts it in as a correction. postedAt (default now) may back-date a posting, but never into a closed month (PCLSD); the month''s partition is created if missing. Finance staff post anything; a signed-in customer may only post debits, dated now, on their own accounts (DNIED, NTFND). Bad input: BADIN. Security definer: callers have no insert grant on postings, and the checks above are the permission.';
grant execute on function finance.post_transaction(uuid, numeric, finance.tx_type, timestamptz) to gw_user;

--------------------------------------------------------------------------------
-- finance.monthly_closure

create procedure finance.monthly_closure(year integer, month integer)
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  v_period date;
  v_start timestamptz;
  v_end timestamptz;
  v_accounts integer;
  v_txs integer;
begin
  if not (pg_catalog.current_setting('role', true) is not distinct from 'none' or auth.has_role('role_finance')) then
    raise exception 'Only finance staff close periods.' using errcode = 'DNIED';
  end if;
  if monthly_closure.year is null or monthly_closure.month is null
     or monthly_closure.year not between 2000 and 9999 or monthly_closure.month not between 1 and 12 then
    raise exception 'A year (2000-9999) and a month (1-12) are required.' using errcode = 'BADIN';
  end if;
  v_period := pg_catalog.make_date(monthly_closure.year, monthly_closure.month, 1);
  v_start := v_period::timestamp at time zone 'UTC';
  v_end := (v_period + interval '1 month') at time zone 'UTC';
  if v_end > pg_catalog.now() then
    raise exception 'The month %-% has not ended yet.', monthly_closure.year, monthly_closure.month using errcode = 'BADST';
  end if;
  -- Exclusive: waits for postings into the month in flight, and holds off new ones until we commit.
  perform pg_catalog.pg_advisory_xact_lock(4101, finance_private.period_lock_key(v_start));
  if exists (select 1 from finance.closed_periods p where p.period = v_period) then
    return; -- already closed: closing again changes nothing
  end if;

  insert into finance.closed_periods (period, closed_by, accounts_count, tx_count)
  values (v_period, coalesce(auth.uid()::text, nullif(pg_catalog.current_setting('role', true), 'none'), session_user::text), 0, 0);

  insert into finance.monthly_closures
    (period, account_id, opening_balance, total_debits, total_credits, total_adjustments, closing_balance, tx_count)
  select v_period, t.account_id,
         finance.running_balance(t.tx_type, t.amount) filter (where t.posted_at < v_start),
         coalesce(sum(t.amount) filter (where t.tx_type = 'debit' and t.posted_at >= v_start), 0),
         coalesce(sum(t.amount) filter (where t.tx_type = 'credit' and t.posted_at >= v_start), 0),
         coalesce(sum(t.amount) filter (where t.tx_type = 'adjustment' and t.posted_at >= v_start), 0),
         finance.running_balance(t.tx_type, t.amount),
         (count(*) filter (where t.posted_at >= v_start))::integer
    from finance.transactions t
   where t.posted_at < v_end
   group by t.account_id;
  get diagnostics v_accounts = row_count;

  select count(*)::integer into v_txs from finance.transactions t where t.posted_at >= v_start and t.posted_at < v_end;
  update finance.closed_periods set accounts_count = v_accounts, tx_count = v_txs where period = v_period;
end;
$$;
comment on procedure finance.monthly_closure(integer, integer) is
  E'@behavior -queryField -mutationField\nCloses a UTC month that has ended: writes each account''s opening balance, debits, credits, adjustments and closing balance for it into finance.monthly_closures, and locks the month (finance.closed_periods) so that any later posting dated in it fails with PCLSD. Closing a closed month again is a no-op. Waits for postings into the month that are in flight. Finance staff (or a direct owner connection) only: DNIED; BADIN for a bad month, BADST for a month that has not ended. Security definer: it writes tables no API role may write.';
grant execute on procedure finance.monthly_closure(integer, integer) to role_finance;

create function finance.close_month(year integer, month integer) returns finance.closed_periods
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_closed finance.closed_periods;
begin
  call finance.monthly_closure(close_month.year, close_month.month);
  select * into v_closed from finance.closed_periods p where p.period = pg_catalog.make_date(close_month.year, close_month.month, 1);
  return v_closed;
end;
$$;
comment on function finance.close_month(integer, integer) is
  'GraphQL entry to finance.monthly_closure (procedures are not exposed): closes the month and returns its closed period. Finance staff only.';
grant execute on function finance.close_month(integer, integer) to role_finance;

--------------------------------------------------------------------------------
-- Statement

create function finance.account_statement(account_id uuid, from_at timestamptz, to_at timestamptz)
  returns table (
    tx_id bigint,
    posted_at timestamptz,
    tx_type finance.tx_type,
    amount numeric,
    balance_after numeric,
    running_balance numeric
  )
  language sql
  stable
as $$
  -- Inlined into the caller's query (SQL, invoker, no SET): the caller's RLS
  -- applies, and the posted_at range prunes partitions.
  select t.tx_id, t.posted_at, t.tx_type, t.amount, t.balance_after,
         o.opening + finance.running_balance(t.tx_type, t.amount) over (order by t.posted_at, t.tx_id)
    from finance.transactions t
   cross join (
     select coalesce((
       select p.balance_after
         from finance.transactions p
        where p.account_id = $1 and p.posted_at < $2
        order by p.posted_at desc, p.tx_id desc
        limit 1), 0) as opening
   ) o
   where t.account_id = $1
     and t.posted_at >= $2
     and t.posted_at < $3
   order by t.posted_at, t.tx_id;
$$;
comment on function finance.account_statement(uuid, timestamptz, timestamptz) is
  'The statement of an account between fromAt (inclusive) and toAt (exclusive): its postings in date order, each with the running balance (the opening balance plus finance.running_balance over the postings so far). Shows only postings the caller may see.';
grant execute on function finance.account_statement(uuid, timestamptz, timestamptz) to gw_user;

-- The current month and the next three exist from the start; the crontab task keeps it so.
select finance_private.create_transaction_partitions(3);

--! split: 4200-sales.sql
-- sales: products, sales reps, orders and order items; sales.create_order.
-- Re-runnable: 4000-capstone-types.sql drops the sales schemas first.

--------------------------------------------------------------------------------
-- sales.products

create table sales.products (
  product_id uuid primary key default gen_random_uuid(),
  sku text not null
    constraint products_sku_key unique
    constraint products_sku_check check (sku ~ '^[A-Z0-9][A-Z0-9-]{1,31}$'),
  name text not null
    constraint products_name_check check (char_length(btrim(name)) between 1 and 200),
  price finance.money_positive not null,
  active boolean not null default true
);
alter table sales.products enable row level security;

create policy "customers see active products"
  on sales.products for select to gw_user
  using (active and (select finance.current_customer_id()) is not null);
create policy "sales and readonly staff see every product"
  on sales.products for select to role_sales, role_readonly
  using ((select auth.has_role('role_sales')) or (select auth.has_role('role_readonly')));
create policy "sales staff add products"
  on sales.products for insert to role_sales
  with check ((select auth.has_role('role_sales')));
create policy "sales staff edit products"
  on sales.products for update to role_sales
  using ((select auth.has_role('role_sales')))
  with check ((select auth.has_role('role_sales')));

grant select on sales.products to gw_user;
grant insert (sku, name, price, active), update (sku, name, price, active) on sales.products to role_sales;

comment on table sales.products is
  E'@behavior -delete\nA product for sale. Customers see the active ones; sales staff manage them (retire one by setting active to false; orders keep their price).';
comment on column sales.products.product_id is 'The product''s id.';
comment on column sales.products.sku is 'Stock-keeping unit: 2 to 32 capital letters, digits and dashes; unique.';
comment on column sales.products.name is 'Display name.';
comment on column sales.products.price is 'Current unit price.';
comment on column sales.products.active is 'Whether the product can be ordered.';

--------------------------------------------------------------------------------
-- sales.sales_reps

create table sales.sales_reps (
  rep_id uuid primary key default gen_random_uuid(),
  full_name text not null
    constraint sales_reps_full_name_check check (char_length(btrim(full_name)) between 1 and 200),
  email auth.email not null
);
alter table sales.sales_reps enable row level security;

create unique index sales_reps_email_lower_key on sales.sales_reps (lower(email));

create policy "sales and readonly staff see sales reps"
  on sales.sales_reps for select to role_sales, role_readonly
  using ((select auth.has_role('role_sales')) or (select auth.has_role('role_readonly')));
create policy "sales staff add sales reps"
  on sales.sales_reps for insert to role_sales
  with check ((select auth.has_role('role_sales')));
create policy "sales staff edit sales reps"
  on sales.sales_reps for update to role_sales
  using ((select auth.has_role('role_sales')))
  with check ((select auth.has_role('role_sales')));

grant select on sales.sales_reps to role_sales, role_readonly;
grant insert (full_name, email), update (full_name, email) on sales.sales_reps to role_sales;

comment on table sales.sales_reps is
  E'@behavior -delete\nA sales representative. Sales and readonly staff only.';
comment on column sales.sales_reps.rep_id is 'The rep''s id.';
comment on column sales.sales_reps.full_name is 'Full name.';
comment on column sales.sales_reps.email is 'Work e-mail; unique ignoring case.';

--------------------------------------------------------------------------------
-- sales.orders

create table sales.orders (
  order_id uuid primary key default gen_random_uuid(),
  customer_id uuid not null references finance.customers (customer_id) on delete restrict,
  sales_rep_id uuid references sales.sales_reps (rep_id) on delete set null,
  status sales.order_status not null default 'draft',
  placed_at timestamptz,
  total_amount numeric(18, 4) not null default 0,
  constraint orders_placed_at_check check (status = 'draft' or placed_at is not null)
);
alter table sales.orders enable row level security;

create index orders_customer_id_idx on sales.orders (customer_id);
create index orders_sales_rep_id_idx on sales.orders (sales_rep_id);
-- The work list of orders waiting to ship.
create index orders_placed_idx on sales.orders (placed_at) where status = 'placed';

create policy "customers see their own orders"
  on sales.orders for select to gw_user
  using (customer_id = (select finance.current_customer_id()));
create policy "sales and readonly staff see every order"
  on sales.orders for select to role_sales, role_readonly
  using ((select auth.has_role('role_sales')) or (select auth.has_role('role_readonly')));
create policy "sales staff update orders"
  on sales.orders for update to role_sales
  using ((select auth.has_role('role_sales')))
  with check ((select auth.has_role('role_sales')));

grant select on sales.orders to gw_user;
grant update (status, sales_rep_id) on sales.orders to role_sales;

comment on table sales.orders is
  E'@behavior -insert -delete\nAn order of a finance customer, created by sales.create_order. Customers see their own; sales staff see all and move them along (status, rep); readonly staff read them.';
comment on column sales.orders.order_id is 'The order''s id.';
comment on column sales.orders.customer_id is 'The customer who ordered.';
comment on column sales.orders.sales_rep_id is 'The rep in charge, if any.';
comment on column sales.orders.status is 'draft, placed, shipped or cancelled.';
comment on column sales.orders.placed_at is 'When the order was placed (set when it leaves draft).';
comment on column sales.orders.total_amount is 'Sum of quantity × unit price over the order''s items, computed by sales.create_order.';

create function sales_private.tg_orders__validate_status() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if new.status is distinct from old.status then
    if old.status in ('shipped', 'cancelled')
       or (old.status = 'placed' and new.status = 'draft') then
      raise exception 'An order cannot go from % to %.', old.status, new.status using errcode = 'BADST';
    end if;
    if new.status <> 'draft' and new.placed_at is null then
      new.placed_at := pg_catalog.now();
    end if;
  end if;
  return new;
end;
$$;
comment on function sales_private.tg_orders__validate_status() is
  'Orders move forward only: draft → placed → shipped, or to cancelled before shipping (BADST otherwise); placed_at is set when an order leaves draft.';

create trigger _100_validate_status
  before update on sales.orders
  for each row execute function sales_private.tg_orders__validate_status();

--------------------------------------------------------------------------------
-- sales.order_items

create table sales.order_items (
  order_item_id uuid primary key default gen_random_uuid(),
  order_id uuid not null references sales.orders (order_id) on delete cascade,
  product_id uuid not null references sales.products (product_id) on delete restrict,
  quantity integer not null
    constraint order_items_quantity_check check (quantity between 1 and 10000),
  unit_price finance.money_positive not null,
  constraint order_items_order_id_product_id_key unique (order_id, product_id)
);
alter table sales.order_items enable row level security;

create index order_items_product_id_idx on sales.order_items (product_id);

create policy "customers see the items of their own orders"
  on sales.order_items for select to gw_user
  using (order_id in (select o.order_id from sales.orders o where o.customer_id = (select finance.current_customer_id())));
create policy "sales and readonly staff see every order item"
  on sales.order_items for select to role_sales, role_readonly
  using ((select auth.has_role('role_sales')) or (select auth.has_role('role_readonly')));

grant select on sales.order_items to gw_user;

comment on table sales.order_items is
  E'@behavior -insert -update -delete\nA line of an order: product, quantity and the unit price at the time of sale. Written by sales.create_order.';
comment on column sales.order_items.order_item_id is 'The line''s id.';
comment on column sales.order_items.order_id is 'The order.';
comment on column sales.order_items.product_id is 'The product ordered.';
comment on column sales.order_items.quantity is 'How many, 1 to 10000.';
comment on column sales.order_items.unit_price is 'The product''s price when the order was created.';

--------------------------------------------------------------------------------
-- The customer columns an order needs, for sales staff (who do not see finance.customers).

create view sales.order_customers
  with (security_barrier = true)
as
  select c.customer_id, c.full_name
    from finance.customers c
   where (select auth.has_role('role_sales'));
grant select on sales.order_customers to role_sales;
comment on view sales.order_customers is
  E'@primaryKey customer_id\n@behavior -insert -update -delete\nName of every customer, for sales staff (finance.customers itself is finance''s). Empty for everyone else.';
comment on column sales.order_customers.customer_id is 'The customer''s id.';
comment on column sales.order_customers.full_name is 'The customer''s full name.';

--------------------------------------------------------------------------------
-- sales.create_order

create type sales.order_line as (
  product_id uuid,
  quantity integer
);
comment on type sales.order_line is 'One line of a new order: a product and a quantity.';

create function sales.create_order(
  customer_id uuid,
  product_list sales.order_line[],
  sales_rep_id uuid default null
) returns sales.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_trusted boolean := pg_catalog.current_setting('role', true) is not distinct from 'none';
  v_is_sales boolean := auth.has_role('role_sales');
  v_order sales.orders;
  v_missing uuid;
  v_inactive text;
begin
  if create_order.customer_id is null or create_order.product_list is null
     or pg_catalog.cardinality(create_order.product_list) = 0 then
    raise exception 'A customer and at least one product are required.' using errcode = 'BADIN';
  end if;
  if pg_catalog.cardinality(create_order.product_list) > 100 then
    raise exception 'An order has at most 100 lines.' using errcode = 'BADIN';
  end if;
  if exists (select 1 from pg_catalog.unnest(create_order.product_list) l
              where l.product_id is null or l.quantity is null or l.quantity not between 1 and 10000) then
    raise exception 'Every line needs a product and a quantity from 1 to 10000.' using errcode = 'BADIN';
  end if;
  -- Sales staff order for any customer; a signed-in customer only for themselves.
  if not (v_trusted or v_is_sales) and create_order.customer_id is distinct from finance.current_customer_id() then
    raise exception 'No customer % that you may order for.', create_order.customer_id using errcode = 'NTFND';
  end if;
  if not exists (select 1 from finance.customers c where c.customer_id = create_order.customer_id) then
    raise exception 'No customer %.', create_order.customer_id using errcode = 'NTFND';
  end if;
  if create_order.sales_rep_id is not null then
    if not (v_trusted or v_is_sales) then
      raise exception 'Only sales staff assign a sales rep.' using errcode = 'DNIED';
    end if;
    if not exists (select 1 from sales.sales_reps r where r.rep_id = create_order.sales_rep_id) then
      raise exception 'No sales rep %.', create_order.sales_rep_id using errcode = 'NTFND';
    end if;
  end if;

  select l.product_id into v_missing
    from pg_catalog.unnest(create_order.product_list) l
   where not exists (select 1 from sales.products p where p.product_id = l.product_id)
   limit 1;
  if v_missing is not null then
    raise exception 'No product %.', v_missing using errcode = 'NTFND';
  end if;
  -- Share lock: a product retired concurrently is either seen inactive or retired after this order.
  select p.sku into v_inactive
    from sales.products p
   where p.product_id in (select l.product_id from pg_catalog.unnest(create_order.product_list) l)
     and not p.active
   for share
   limit 1;
  if v_inactive is not null then
    raise exception 'Product % is not for sale any more.', v_inactive using errcode = 'PINAC';
  end if;

  insert into sales.orders (customer_id, sales_rep_id, status, placed_at)
  values (create_order.customer_id, create_order.sales_rep_id, 'placed', pg_catalog.now())
  returning * into v_order;

  -- The same product on two lines is one item with the quantities added.
  insert into sales.order_items (order_id, product_id, quantity, unit_price)
  select v_order.order_id, l.product_id, sum(l.quantity)::integer, p.price
    from pg_catalog.unnest(create_order.product_list) l
    join sales.products p on p.product_id = l.product_id
   group by l.product_id, p.price;

  update sales.orders o
     set total_amount = (select coalesce(sum(i.quantity * i.unit_price), 0) from sales.order_items i where i.order_id = v_order.order_id)
   where o.order_id = v_order.order_id
  returning * into v_order;
  return v_order;
end;
$$;
comment on function sales.create_order(uuid, sales.order_line[], uuid) is
  'Creates a placed order for a customer from a list of products and quantities, at today''s prices, and returns it with its total. Sales staff order for any customer (and may assign a rep); a signed-in customer orders for themselves. Errors: BADIN (no lines, a line without product or with a quantity outside 1-10000, over 100 lines), NTFND (unknown customer, product or rep, or a customer not yours), PINAC (a product is inactive), DNIED (a customer assigning a rep). Security definer: orders and items have no insert grant; the checks above are the permission.';
grant execute on function sales.create_order(uuid, sales.order_line[], uuid) to gw_user;

--! split: 4300-support.sql
-- support: agents, tickets of finance customers, ticket messages.
-- Re-runnable: 4000-capstone-types.sql drops the support schemas first.

--------------------------------------------------------------------------------
-- support.support_agents

create table support.support_agents (
  agent_id uuid primary key default gen_random_uuid(),
  full_name text not null
    constraint support_agents_full_name_check check (char_length(btrim(full_name)) between 1 and 200),
  email auth.email not null
);
alter table support.support_agents enable row level security;

create unique index support_agents_email_lower_key on support.support_agents (lower(email));

create policy "support and readonly staff see agents"
  on support.support_agents for select to role_support, role_readonly
  using ((select auth.has_role('role_support')) or (select auth.has_role('role_readonly')));
create policy "support staff add agents"
  on support.support_agents for insert to role_support
  with check ((select auth.has_role('role_support')));
create policy "support staff edit agents"
  on support.support_agents for update to role_support
  using ((select auth.has_role('role_support')))
  with check ((select auth.has_role('role_support')));

grant select on support.support_agents to role_support, role_readonly;
grant insert (full_name, email), update (full_name, email) on support.support_agents to role_support;

comment on table support.support_agents is
  E'@behavior -delete\nA support agent. Support and readonly staff only.';
comment on column support.support_agents.agent_id is 'The agent''s id.';
comment on column support.support_agents.full_name is 'Full name.';
comment on column support.support_agents.email is 'Work e-mail; unique ignoring case.';

--------------------------------------------------------------------------------
-- support.tickets

create table support.tickets (
  ticket_id uuid primary key default gen_random_uuid(),
  customer_id uuid not null references finance.customers (customer_id) on delete restrict,
  subject text not null
    constraint tickets_subject_check check (char_length(btrim(subject)) between 1 and 200),
  status support.ticket_status not null default 'open',
  created_at timestamptz not null default now()
);
alter table support.tickets enable row level security;

create index tickets_customer_id_idx on support.tickets (customer_id);

create policy "customers see their own tickets"
  on support.tickets for select to gw_user
  using (customer_id = (select finance.current_customer_id()));
create policy "support and readonly staff see every ticket"
  on support.tickets for select to role_support, role_readonly
  using ((select auth.has_role('role_support')) or (select auth.has_role('role_readonly')));
create policy "customers open tickets for themselves"
  on support.tickets for insert to gw_user
  with check (customer_id = (select finance.current_customer_id()) and status = 'open');
create policy "support staff open tickets for any customer"
  on support.tickets for insert to role_support
  with check ((select auth.has_role('role_support')));
create policy "support staff update tickets"
  on support.tickets for update to role_support
  using ((select auth.has_role('role_support')))
  with check ((select auth.has_role('role_support')));

grant select on support.tickets to gw_user;
grant insert (customer_id, subject) on support.tickets to gw_user;
grant update (subject, status) on support.tickets to role_support;

comment on table support.tickets is
  E'@behavior -delete\nA support request of a customer. Customers open and read their own; support staff read all, open them for any customer and change subject and status; readonly staff read them.';
comment on column support.tickets.ticket_id is 'The ticket''s id.';
comment on column support.tickets.customer_id is 'The customer it is about.';
comment on column support.tickets.subject is 'Subject line, 1 to 200 characters.';
comment on column support.tickets.status is 'open, pending or closed.';
comment on column support.tickets.created_at is 'When it was opened.';

--------------------------------------------------------------------------------
-- support.ticket_messages

create table support.ticket_messages (
  message_id uuid primary key default gen_random_uuid(),
  ticket_id uuid not null references support.tickets (ticket_id) on delete cascade,
  sender_type support.sender_type not null,
  sender_id uuid not null,
  message text not null
    constraint ticket_messages_message_check check (char_length(btrim(message)) between 1 and 10000),
  sent_at timestamptz not null default now()
);
alter table support.ticket_messages enable row level security;

create index ticket_messages_ticket_id_sent_at_idx on support.ticket_messages (ticket_id, sent_at);

create policy "customers see the messages of their own tickets"
  on support.ticket_messages for select to gw_user
  using (ticket_id in (select t.ticket_id from support.tickets t where t.customer_id = (select finance.current_customer_id())));
create policy "support and readonly staff see every message"
  on support.ticket_messages for select to role_support, role_readonly
  using ((select auth.has_role('role_support')) or (select auth.has_role('role_readonly')));
create policy "customers write on their own tickets as themselves"
  on support.ticket_messages for insert to gw_user
  with check (
    sender_type = 'customer'
    and sender_id = (select finance.current_customer_id())
    and ticket_id in (select t.ticket_id from support.tickets t where t.customer_id = (select finance.current_customer_id()))
  );
create policy "support staff write as agents"
  on support.ticket_messages for insert to role_support
  with check (sender_type = 'agent' and (select auth.has_role('role_support')));

grant select on support.ticket_messages to gw_user;
grant insert (ticket_id, sender_type, sender_id, message) on support.ticket_messages to gw_user;

comment on table support.ticket_messages is
  E'@behavior -update -delete\nA message on a ticket, by its customer or by an agent; never edited. Customers read and write on their own tickets; support staff read all and write as agents.';
comment on column support.ticket_messages.message_id is 'The message''s id.';
comment on column support.ticket_messages.ticket_id is 'The ticket.';
comment on column support.ticket_messages.sender_type is 'customer or agent.';
comment on column support.ticket_messages.sender_id is 'The ticket''s customer_id (sender_type customer) or a support agent''s agent_id (sender_type agent).';
comment on column support.ticket_messages.message is 'The text, 1 to 10000 characters.';
comment on column support.ticket_messages.sent_at is 'When it was written.';

-- Security definer: the sender must exist whatever the writer may see.
create function support_private.tg_ticket_messages__validate_sender() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  if new.sender_type = 'customer' and not exists (
    select 1 from support.tickets t where t.ticket_id = new.ticket_id and t.customer_id = new.sender_id
  ) then
    raise exception 'A customer message must come from the ticket''s customer.' using errcode = 'BADIN';
  end if;
  if new.sender_type = 'agent' and not exists (
    select 1 from support.support_agents a where a.agent_id = new.sender_id
  ) then
    raise exception 'No support agent %.', new.sender_id using errcode = 'NTFND';
  end if;
  return new;
end;
$$;
comment on function support_private.tg_ticket_messages__validate_sender() is
  'sender_id must be the ticket''s customer (BADIN) or an existing agent (NTFND), by sender_type.';

create trigger _100_validate_sender
  before insert on support.ticket_messages
  for each row execute function support_private.tg_ticket_messages__validate_sender();

--------------------------------------------------------------------------------
-- Contact columns for support staff (who do not see finance.customers).

create view support.customer_contacts
  with (security_barrier = true)
as
  select c.customer_id, c.full_name, c.primary_email
    from finance.customers c
   where (select auth.has_role('role_support'));
grant select on support.customer_contacts to role_support;
comment on view support.customer_contacts is
  E'@primaryKey customer_id\n@behavior -insert -update -delete\nName and e-mail of every customer, for support staff (finance.customers itself is finance''s). Empty for everyone else.';
comment on column support.customer_contacts.customer_id is 'The customer''s id.';
comment on column support.customer_contacts.full_name is 'The customer''s full name.';
comment on column support.customer_contacts.primary_email is 'The customer''s contact e-mail.';

--! split: 4400-hr.sql
-- hr: employees and payroll. HR staff alone; nobody else has even schema usage.
-- Re-runnable: 4000-capstone-types.sql drops the hr schema first.

create table hr.employees (
  employee_id uuid primary key default gen_random_uuid(),
  full_name text not null
    constraint employees_full_name_check check (char_length(btrim(full_name)) between 1 and 200),
  department text not null
    constraint employees_department_check check (char_length(btrim(department)) between 1 and 100),
  joined_at timestamptz not null default now()
);
alter table hr.employees enable row level security;

create policy "hr staff see employees"
  on hr.employees for select to role_hr
  using ((select auth.has_role('role_hr')));
create policy "hr staff add employees"
  on hr.employees for insert to role_hr
  with check ((select auth.has_role('role_hr')));
create policy "hr staff edit employees"
  on hr.employees for update to role_hr
  using ((select auth.has_role('role_hr')))
  with check ((select auth.has_role('role_hr')));
create policy "hr staff remove employees"
  on hr.employees for delete to role_hr
  using ((select auth.has_role('role_hr')));

grant select, delete on hr.employees to role_hr;
grant insert (full_name, department, joined_at), update (full_name, department, joined_at) on hr.employees to role_hr;

comment on table hr.employees is 'An employee. HR staff only.';
comment on column hr.employees.employee_id is 'The employee''s id.';
comment on column hr.employees.full_name is 'Full name.';
comment on column hr.employees.department is 'Department name.';
comment on column hr.employees.joined_at is 'When they joined.';

create table hr.payroll (
  payroll_id uuid primary key default gen_random_uuid(),
  employee_id uuid not null references hr.employees (employee_id) on delete cascade,
  salary_amount finance.money_positive not null,
  paid_at timestamptz not null default now()
);
alter table hr.payroll enable row level security;

create index payroll_employee_id_paid_at_idx on hr.payroll (employee_id, paid_at);

create policy "hr staff see payroll"
  on hr.payroll for select to role_hr
  using ((select auth.has_role('role_hr')));
create policy "hr staff add payroll"
  on hr.payroll for insert to role_hr
  with check ((select auth.has_role('role_hr')));
create policy "hr staff edit payroll"
  on hr.payroll for update to role_hr
  using ((select auth.has_role('role_hr')))
  with check ((select auth.has_role('role_hr')));
create policy "hr staff remove payroll"
  on hr.payroll for delete to role_hr
  using ((select auth.has_role('role_hr')));

grant select, delete on hr.payroll to role_hr;
grant insert (employee_id, salary_amount, paid_at), update (salary_amount, paid_at) on hr.payroll to role_hr;

comment on table hr.payroll is 'A salary payment to an employee. HR staff only.';
comment on column hr.payroll.payroll_id is 'The payment''s id.';
comment on column hr.payroll.employee_id is 'The employee paid.';
comment on column hr.payroll.salary_amount is 'The amount paid.';
comment on column hr.payroll.paid_at is 'When it was paid.';

--! split: 4500-capstone-audit.sql
-- The core audit (audit.change_log) on every table of finance, sales, support
-- and hr. Re-runnable: enable_tracking replaces the trigger.
-- finance.transactions is partitioned: its trigger is cloned onto every
-- partition, so change-log rows name the partition (finance_private.transactions_yYYYYmMM).

select audit.enable_tracking('finance.customers', 'user_id');
select audit.enable_tracking('finance.accounts');
select audit.enable_tracking('finance.transactions');
select audit.enable_tracking('finance.ledger');
select audit.enable_tracking('finance.closed_periods');
select audit.enable_tracking('finance.monthly_closures');
select audit.enable_tracking('sales.products');
select audit.enable_tracking('sales.sales_reps');
select audit.enable_tracking('sales.orders');
select audit.enable_tracking('sales.order_items');
select audit.enable_tracking('support.support_agents');
select audit.enable_tracking('support.tickets');
select audit.enable_tracking('support.ticket_messages');
select audit.enable_tracking('hr.employees');
select audit.enable_tracking('hr.payroll');

--! split: 4600-capstone-views.sql
-- Reporting: materialized views over sales and finance, refreshed concurrently
-- by the finance_refresh_views task (crontab) and by finance.refresh_views().
-- Re-runnable: 4000-capstone-types.sql drops the finance schema first.

create materialized view finance.mv_monthly_revenue as
  select (pg_catalog.date_trunc('month', o.placed_at at time zone 'UTC'))::date as month,
         count(distinct o.order_id)::integer as orders_count,
         sum(i.quantity)::bigint as units_sold,
         sum(i.quantity * i.unit_price)::numeric(18, 4) as revenue,
         finance.weighted_avg(i.unit_price, i.quantity)::numeric(18, 4) as avg_unit_price
    from sales.orders o
    join sales.order_items i on i.order_id = o.order_id
   where o.status in ('placed', 'shipped')
   group by 1;
create unique index mv_monthly_revenue_month_key on finance.mv_monthly_revenue (month);
grant select on finance.mv_monthly_revenue to role_finance;

comment on materialized view finance.mv_monthly_revenue is
  E'@primaryKey month\nSales revenue per UTC month of placed and shipped orders: orders, units, revenue and the average unit price weighted by quantity (finance.weighted_avg). Refreshed every 10 minutes and by refreshViews. Finance staff only.';
comment on column finance.mv_monthly_revenue.month is 'First day of the month (UTC) the orders were placed in.';
comment on column finance.mv_monthly_revenue.orders_count is 'Placed and shipped orders.';
comment on column finance.mv_monthly_revenue.units_sold is 'Units sold.';
comment on column finance.mv_monthly_revenue.revenue is 'Sum of quantity × unit price.';
comment on column finance.mv_monthly_revenue.avg_unit_price is 'Average unit price weighted by quantity.';

create materialized view finance.mv_customer_value as
  select c.customer_id,
         coalesce(o.orders_count, 0)::integer as orders_count,
         coalesce(o.lifetime_value, 0)::numeric(18, 4) as lifetime_value,
         o.last_order_at,
         coalesce(a.accounts_count, 0)::integer as accounts_count,
         coalesce(a.total_balance, 0)::numeric(18, 4) as total_balance
    from finance.customers c
    left join (
      select customer_id, count(*) as orders_count, sum(total_amount) as lifetime_value, max(placed_at) as last_order_at
        from sales.orders
       where status in ('placed', 'shipped')
       group by customer_id
    ) o on o.customer_id = c.customer_id
    left join (
      select customer_id, count(*) as accounts_count, sum(balance) as total_balance
        from finance.accounts
       group by customer_id
    ) a on a.customer_id = c.customer_id;
create unique index mv_customer_value_customer_id_key on finance.mv_customer_value (customer_id);
grant select on finance.mv_customer_value to role_finance;

comment on materialized view finance.mv_customer_value is
  E'@primaryKey customer_id\nPer customer: placed and shipped orders, their lifetime value, the last order, accounts and their total balance. Refreshed every 10 minutes and by refreshViews. Finance staff only.';
comment on column finance.mv_customer_value.customer_id is 'The customer.';
comment on column finance.mv_customer_value.orders_count is 'Placed and shipped orders.';
comment on column finance.mv_customer_value.lifetime_value is 'Sum of their totals.';
comment on column finance.mv_customer_value.last_order_at is 'When the last of them was placed.';
comment on column finance.mv_customer_value.accounts_count is 'Accounts held.';
comment on column finance.mv_customer_value.total_balance is 'Sum of the accounts'' balances.';

create function finance.refresh_views() returns boolean
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  if not (pg_catalog.current_setting('role', true) is not distinct from 'none'
          or auth.has_role('role_finance') or auth.has_role('gw_admin')) then
    raise exception 'Only finance staff and operators refresh the reporting views.' using errcode = 'DNIED';
  end if;
  -- Concurrently: readers keep the old contents until the new ones are ready.
  refresh materialized view concurrently finance.mv_monthly_revenue;
  refresh materialized view concurrently finance.mv_customer_value;
  return true;
end;
$$;
comment on function finance.refresh_views() is
  'Refreshes finance.mv_monthly_revenue and finance.mv_customer_value concurrently (readers are not blocked); the worker also does it every 10 minutes. Finance staff and operators (DNIED otherwise). Security definer: only the owner of a materialized view may refresh it.';
grant execute on function finance.refresh_views() to role_finance, gw_admin;
