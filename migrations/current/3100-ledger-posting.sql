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
