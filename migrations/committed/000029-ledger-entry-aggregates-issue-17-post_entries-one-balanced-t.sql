--! Previous: sha1:06c9a49eb5a7570089dfad69f9d647032017de01
--! Hash: sha1:d2bcbabae1c8b97abc363b9daca2c372fe7bcd1d
--! Message: ledger: entry aggregates (issue 17); post_entries, one balanced transaction of many entries (issue 19)

--! split: 3150-ledger-entry-aggregates.sql
-- ledger: totals of entries per account (issue 17). Entries are filtered by
-- accountId (indexed by entries_account_version_key) and ordered by
-- accountVersion, so a statement page and its sum are index scans under RLS.

comment on table ledger.entries is
  E'@behavior -insert -update -delete +aggregates\nOne line of a transaction: a signed amount on one account (positive: money in, a debit; negative: money out, a credit), with the account''s balance and version right after it. Ordered by accountVersion, an account''s entries are its statement with a running balance; aggregates { sum { amount } } totals what a filter selects.';

--! split: 3800-ledger-post-entries.sql
-- ledger_private.post_entries: the trusted sibling of ledger.post_transaction,
-- as ledger_private.transfer is post_transfer's (issue 19). Other modules'
-- security-definer functions post multi-entry transactions with it (a ticket
-- checkout: buyer wallet, organization receivable, platform revenue; a
-- refund taking money back from a system revenue account). The caller names
-- the actor; check_owner makes it refuse to debit an account the actor may
-- not debit and treats the caller as untrusted for the posting rules.

drop function if exists ledger_private.post_entries(ledger.entry_input[], text, text, text, jsonb, uuid, boolean);

create function ledger_private.post_entries(
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
    insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by)
    values (coalesce(post_entries.kind, 'transfer'), post_entries.memo, post_entries.metadata, now(), post_entries.actor)
    returning * into v_tx;
  else
    insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by, idempotency_scope, idempotency_key)
    values (coalesce(post_entries.kind, 'transfer'), post_entries.memo, post_entries.metadata, now(), post_entries.actor,
            v_scope, post_entries.idempotency_key)
    on conflict (idempotency_scope, idempotency_key) where idempotency_key is not null do nothing
    returning * into v_tx;
    if not found then
      select * into v_tx from ledger.transactions t
       where t.idempotency_scope = v_scope and t.idempotency_key = post_entries.idempotency_key;
      return ledger_private.assert_same(v_tx, coalesce(post_entries.kind, 'transfer'), post_entries.memo,
        post_entries.metadata, v_ids, v_amounts);
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
  'Posts one transaction of 2 to 1000 entries as ledger.post_transaction does (validation, idempotent replay in the actor''s scope, accounts locked in id order by one statement, one update, one insert; checked again at commit), for trusted SQL of other modules. check_owner makes it refuse (DNIED) to debit an account actor may not debit and treats the caller as untrusted for ledger_private.assert_posting; without it the calling function has made the trust decision (a checkout debits the buyer''s own wallet and credits system accounts; a refund takes back a system account''s fee).';
revoke all on function ledger_private.post_entries(ledger.entry_input[], text, text, text, jsonb, uuid, boolean) from public;
