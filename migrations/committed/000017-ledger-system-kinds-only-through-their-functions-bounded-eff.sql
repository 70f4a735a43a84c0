--! Previous: sha1:84fa06f97adfc0058b154b27fe645a6996b63845
--! Hash: sha1:3d7b2f108dc5408949f987e6f9c9847cec8f5162
--! Message: ledger: system kinds only through their functions, bounded effective time, capped metadata (issue 15)

--! split: 3500-ledger-posting-rules.sql
-- Who may write which kind of ledger transaction, when it may be effective,
-- and how much metadata it may carry (issue 15). The posting functions call
-- ledger_private.assert_posting whenever a caller gives a kind other than
-- transfer, metadata or an effective time; the table's constraints are the
-- backstop for every writer, the owner's code included.

-- Which function writes each system kind. written_by names the only function
-- that may write the kind ("ledger.reverse", "ledger.post_hold"), or "trusted"
-- for operators (a current gw_admin grant) and trusted server code. A kind
-- without written_by (transfer, or one another module registers) is open to
-- every caller; a module reserves its own kind the same way.
update registry.types t
   set metadata = t.metadata || v.metadata
  from (values
    ('reversal', '{"written_by": "ledger.reverse"}'::jsonb),
    ('hold_post', '{"written_by": "ledger.post_hold"}'::jsonb),
    ('conversion', '{"written_by": "trusted"}'::jsonb),
    ('adjustment', '{"written_by": "trusted"}'::jsonb)
  ) as v (code, metadata)
 where t.namespace = 'ledger_transaction_kind' and t.code = v.code
   and not t.metadata @> v.metadata;

-- Backstops. NOT VALID: they hold for every row written from now on, without
-- judging rows an existing installation already has (validate them by hand:
-- alter table ledger.transactions validate constraint …).
alter table ledger.transactions drop constraint if exists transactions_reversal_check;
alter table ledger.transactions drop constraint if exists transactions_hold_post_check;
alter table ledger.transactions drop constraint if exists transactions_metadata_size_check;
alter table ledger.transactions
  add constraint transactions_reversal_check check (kind <> 'reversal' or reverses_id is not null) not valid;
alter table ledger.transactions
  add constraint transactions_hold_post_check check ((kind = 'hold_post') = (hold_id is not null)) not valid;
-- The cap of outbox.notifications.payload: 16 kB.
alter table ledger.transactions
  add constraint transactions_metadata_size_check check (pg_column_size(metadata) <= 16384) not valid;

comment on column ledger.transactions.kind is
  'What kind of movement (registry namespace ledger_transaction_kind): transfer, or a registered kind. System kinds are written only by the function that means them: reversal by reverse, hold_post by postHold; conversion and adjustment by operators and trusted code (LKIND otherwise).';
comment on column ledger.transactions.metadata is
  'Free-form JSON object (order ids, provider references), at most 16 kB (LMETA).';
comment on column ledger.transactions.effective_at is
  'When the movement happened in business terms (decides its period); defaults to the posting time. At most 5 minutes ahead of the database clock; for signed-in users at most 24 hours back; operators and trusted code not before the earliest period, if any (LDATE).';

create or replace function ledger_private.assert_posting(
  kind text,
  metadata jsonb,
  effective_at timestamptz,
  trusted boolean
) returns void
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_written_by text;
  v_earliest timestamptz;
begin
  if assert_posting.kind is not null and assert_posting.kind <> 'transfer' then
    select t.metadata ->> 'written_by' into v_written_by
      from registry.types t
     where t.namespace = 'ledger_transaction_kind' and t.code = assert_posting.kind and t.is_active;
    if not found then
      raise exception '% is not an active ledger_transaction_kind type.', assert_posting.kind using errcode = 'RTYPE';
    end if;
    if v_written_by = 'trusted' and not assert_posting.trusted then
      raise exception 'Transactions of kind % are posted by operators and trusted code only.', assert_posting.kind
        using errcode = 'LKIND';
    elsif v_written_by is not null and v_written_by <> 'trusted' then
      raise exception 'Transactions of kind % are written only by %.', assert_posting.kind, v_written_by
        using errcode = 'LKIND';
    end if;
  end if;

  if assert_posting.metadata is not null and pg_catalog.pg_column_size(assert_posting.metadata) > 16384 then
    raise exception 'Transaction metadata is at most 16 kB (16384 bytes), not %.', pg_catalog.pg_column_size(assert_posting.metadata)
      using errcode = 'LMETA';
  end if;

  if assert_posting.effective_at is not null then
    if assert_posting.effective_at > pg_catalog.now() + interval '5 minutes' then
      raise exception 'effective_at % is in the future (at most 5 minutes ahead).', assert_posting.effective_at
        using errcode = 'LDATE';
    end if;
    if not assert_posting.trusted and assert_posting.effective_at < pg_catalog.now() - interval '24 hours' then
      raise exception 'effective_at % is more than 24 hours back; only operators and trusted code back-date further.',
        assert_posting.effective_at using errcode = 'LDATE';
    end if;
    if assert_posting.trusted then
      select pg_catalog.min(p.starts_at) into v_earliest from ledger.periods p;
      if assert_posting.effective_at < v_earliest then
        raise exception 'effective_at % is before the earliest accounting period (which starts %).',
          assert_posting.effective_at, v_earliest using errcode = 'LDATE';
      end if;
    end if;
  end if;
end;
$$;
comment on function ledger_private.assert_posting(text, jsonb, timestamptz, boolean) is
  'What a caller may ask of a new transaction: an active kind (RTYPE) that the caller may write (LKIND: a kind whose registry metadata names written_by is written only by that function, or by trusted callers when it says "trusted"), metadata of at most 16 kB (LMETA), and an effective time at most 5 minutes ahead, at most 24 hours back for untrusted callers, and for trusted ones not before the earliest period (LDATE).';
revoke all on function ledger_private.assert_posting(text, jsonb, timestamptz, boolean) from public;

--! split: 3510-ledger-post-transfer.sql
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

--! split: 3520-ledger-post-transaction-batch.sql
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
