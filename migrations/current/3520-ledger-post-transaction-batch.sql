-- ledger.post_transaction and ledger.post_batch (000007's 3100-ledger-posting.sql) with the posting rules
-- of 3500-ledger-posting-rules.sql; post_batch checks them once for the batch, keyed or not.

create or replace function ledger.post_transaction(
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
  perform ledger_private.assert_posting(post_transaction.kind, post_transaction.metadata, post_transaction.effective_at,
    v_caller.trusted);
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
  E'@resultFieldName transaction\nPosts one transaction of 2 to 1000 entries (each account at most once) that sums to zero in every currency: splits, fees, and currency conversions through per-currency liquidity accounts. Every account with a negative entry must be yours to debit (or the caller trusted). Errors: LOGIN, BADIN, LUNBL (fewer than two entries, or not zero per currency), NTFND, DNIED, LCURR, LFUND, LIDEM, LPCLS, RTYPE, LKIND (a kind reserved to another function or to trusted callers: conversion and adjustment are for operators and trusted code), LMETA (metadata over 16 kB), LDATE (effectiveAt out of bounds). Security definer because the ledger tables have no write grants.';
create or replace function ledger.post_batch(
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
  -- One kind, metadata and effective time for the whole batch, keyed or not.
  if v_kind <> 'transfer' or post_batch.metadata is not null or post_batch.effective_at is not null then
    perform ledger_private.assert_posting(v_kind, post_batch.metadata, post_batch.effective_at, v_caller.trusted);
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