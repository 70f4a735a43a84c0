-- ledger.post_transfer and ledger_private.transfer (000007's 3100-ledger-posting.sql) with the posting rules
-- of 3500-ledger-posting-rules.sql: kind, metadata and effective time are checked before anything is written.

create or replace function ledger_private.transfer(
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
  if coalesce(transfer.kind, 'transfer') <> 'transfer' or transfer.metadata is not null or transfer.effective_at is not null then
    perform ledger_private.assert_posting(transfer.kind, transfer.metadata, transfer.effective_at, not transfer.check_owner);
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
  'Posts one transfer: the transaction row (or the idempotent replay), both accounts locked in id order by one statement, one update of both balances, one insert of both entries. For trusted SQL; check_owner makes it refuse to debit an account actor may not debit, and treats the caller as untrusted for ledger_private.assert_posting (reserved kinds, effective time).';
create or replace function ledger.post_transfer(
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

  -- Kind, metadata and effective time, checked only when given: the default
  -- transfer dated now skips the call (the hot path).
  if coalesce(post_transfer.kind, 'transfer') <> 'transfer' or post_transfer.metadata is not null
     or post_transfer.effective_at is not null then
    perform ledger_private.assert_posting(post_transfer.kind, post_transfer.metadata, post_transfer.effective_at, not v_check);
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
  E'@resultFieldName transaction\nMoves amount minor units from one account to another as one transaction of two entries. You may move money out of accounts you own or whose organization you own/administer; system accounts only as an operator or trusted code. The same idempotencyKey with the same content returns the original transaction. Errors: LOGIN, BADIN (amount not positive, same account), NTFND (no such account), DNIED (not yours to debit), LCURR (currency mismatch), LFUND (balance flags: insufficient funds), LIDEM (key reused with other content), LPCLS (effectiveAt in a closed period), RTYPE (unknown kind), LKIND (a kind reserved to another function or to trusted callers), LMETA (metadata over 16 kB), LDATE (effectiveAt out of bounds). Security definer because the ledger tables have no write grants.';