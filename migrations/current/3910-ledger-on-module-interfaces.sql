--! split: 3910-ledger-on-module-interfaces.sql
-- The ledger's operator-only functions on auth's trusted interface
-- (auth.assert_operator, 1910) instead of auth_private (CONVENTIONS: a module
-- never reads another module's *_private schema). Only the operator check
-- changes.

-- ledger.close_period: as in 000007, on the interfaces
create or replace function ledger.close_period(period_id bigint) returns ledger.periods
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_period ledger.periods;
begin
  perform auth.assert_operator();
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

-- ledger.create_period: as in 000007, on the interfaces
create or replace function ledger.create_period(name text, starts_at timestamptz, ends_at timestamptz) returns ledger.periods
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_period ledger.periods;
begin
  perform auth.assert_operator();
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

-- ledger.currency_totals: as in 000007, on the interfaces
create or replace function ledger.currency_totals() returns setof ledger.currency_total
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth.assert_operator();
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

-- ledger.reopen_period: as in 000007, on the interfaces
create or replace function ledger.reopen_period(period_id bigint) returns ledger.periods
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_period ledger.periods;
begin
  perform auth.assert_operator();
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

-- ledger.trial_balance: as in 000007, on the interfaces
create or replace function ledger.trial_balance() returns setof ledger.trial_balance_line
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth.assert_operator();
  return query
    select a.currency, a.kind, pg_catalog.count(*)::integer,
           coalesce(pg_catalog.sum(a.balance) filter (where a.balance > 0), 0)::numeric,
           coalesce(-pg_catalog.sum(a.balance) filter (where a.balance < 0), 0)::numeric
      from ledger.accounts a
     group by a.currency, a.kind
     order by a.currency, a.kind;
end;
$$;

-- ledger.verify: as in 000007, on the interfaces
create or replace function ledger.verify() returns setof ledger.verify_problem
  language plpgsql
  stable
  security definer
  set search_path = ''
as $$
begin
  perform auth.assert_operator();
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
