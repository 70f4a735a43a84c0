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
