-- ledger_private.post_entries writes its transaction as checked_by_function,
-- as post_transfer and post_batch do (issue 19 measurements): it has checked
-- what the commit-time trigger would (two or more entries, each with an
-- account, a non-zero amount and a currency; zero sum per currency; an active
-- kind through assert_posting) on the very array it then inserts, so the
-- deferred re-read of its entries at commit (~0.2 ms a checkout) is skipped.
-- The closed-period check moves into the function, after the transaction row
-- is written, for the reason post_transfer gives (a concurrent close_period
-- either committed before the probe or waits for this transaction).
-- plan_cache_mode = force_generic_plan: its statements read unnest() of the
-- entry arrays, whose custom plans (knowing the arrays' length) always look
-- cheaper than the generic ones, so PostgreSQL planned every statement again
-- on every call; the generic plans are the same index lookups.

create or replace function ledger_private.post_entries(
  entries ledger.entry_input[],
  idempotency_key text,
  kind text,
  memo text,
  metadata jsonb,
  actor uuid,
  check_owner boolean
) returns ledger.transactions
  language plpgsql
  volatile
  set search_path = ''
  set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  v_scope uuid := coalesce(post_entries.actor, '00000000-0000-0000-0000-000000000000'::uuid);
  v_n integer := coalesce(pg_catalog.array_length(post_entries.entries, 1), 0);
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
  if coalesce(post_entries.kind, 'transfer') <> 'transfer' or post_entries.metadata is not null then
    perform ledger_private.assert_posting(post_entries.kind, post_entries.metadata, null, not post_entries.check_owner);
  end if;
  if exists (select 1 from pg_catalog.unnest(post_entries.entries) e
              where e.account_id is null or e.amount is null or e.amount = 0 or e.currency is null) then
    raise exception 'Every entry needs an account, a non-zero amount and a currency.' using errcode = 'BADIN';
  end if;
  if (select pg_catalog.count(distinct e.account_id) from pg_catalog.unnest(post_entries.entries) e) <> v_n then
    raise exception 'An account appears at most once in a transaction.' using errcode = 'BADIN';
  end if;
  select e.currency into v_row from pg_catalog.unnest(post_entries.entries) e
   group by e.currency having pg_catalog.sum(e.amount) <> 0 limit 1;
  if found then
    raise exception 'The entries do not balance in %.', v_row.currency using errcode = 'LUNBL';
  end if;

  v_ids := array(select e.account_id from pg_catalog.unnest(post_entries.entries) e);
  v_amounts := array(select e.amount from pg_catalog.unnest(post_entries.entries) e);

  if post_entries.idempotency_key is null then
    insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by, checked_by_function)
    values (coalesce(post_entries.kind, 'transfer'), post_entries.memo, post_entries.metadata, now(), post_entries.actor, true)
    returning * into v_tx;
  else
    insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by, idempotency_scope, idempotency_key,
                                     checked_by_function)
    values (coalesce(post_entries.kind, 'transfer'), post_entries.memo, post_entries.metadata, now(), post_entries.actor,
            v_scope, post_entries.idempotency_key, true)
    on conflict (idempotency_scope, idempotency_key) where idempotency_key is not null do nothing
    returning * into v_tx;
    if not found then
      select * into v_tx from ledger.transactions t
       where t.idempotency_scope = v_scope and t.idempotency_key = post_entries.idempotency_key;
      return ledger_private.assert_same(v_tx, coalesce(post_entries.kind, 'transfer'), post_entries.memo,
        post_entries.metadata, v_ids, v_amounts);
    end if;
  end if;

  -- What the commit-time check does for other writers (this row skips it), after the insert as in post_transfer.
  if exists (
    select 1 from ledger.periods p
     where p.closed_at is not null and pg_catalog.tstzrange(p.starts_at, p.ends_at) @> v_tx.effective_at
  ) then
    raise exception 'The period containing % is closed.', v_tx.effective_at using errcode = 'LPCLS';
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
    if v_row.currency <> post_entries.entries[v_i].currency then
      raise exception 'Currency mismatch: account % is in %, its entry in %.', v_row.account_id, v_row.currency,
        post_entries.entries[v_i].currency using errcode = 'LCURR';
    end if;
    if v_amounts[v_i] < 0 and post_entries.check_owner
       and not ledger_private.may_debit(v_row.owner_user_id, v_row.organization_id, post_entries.actor) then
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
  select v_tx.transaction_id, u.line, u.account_id, post_entries.entries[u.line].currency, u.amount, u.balance, u.version
    from unnest(v_ids, v_amounts, v_balances, v_versions) with ordinality as u (account_id, amount, balance, version, line);

  return v_tx;
end;
$$;
comment on function ledger_private.post_entries(ledger.entry_input[], text, text, text, jsonb, uuid, boolean) is
  'Posts one transaction of 2 to 1000 entries as ledger.post_transaction does (validation, idempotent replay in the actor''s scope, closed period refused, accounts locked in id order by one statement, one update, one insert; the row is checked_by_function, so the commit-time trigger does not re-read it), for trusted SQL of other modules. check_owner makes it refuse (DNIED) to debit an account actor may not debit and treats the caller as untrusted for ledger_private.assert_posting; without it the calling function has made the trust decision (a checkout debits the buyer''s own wallet and credits system accounts; a refund takes back a system account''s fee).';
