--! split: 3900-ledger-trusted-interface.sql
-- The ledger's trusted interface: what other modules' trusted SQL calls
-- instead of reading ledger_private (CONVENTIONS: a module never reads
-- another module's *_private schema). Public functions of the ledger schema,
-- execute revoked from every API role (only the owner's security-definer
-- functions and direct owner/worker connections call them), hidden from
-- GraphQL with @behavior -*. Each is a thin wrapper of the private
-- implementation, which stays the one place for its logic.
--
-- And one place for posting: ledger_private.post_entries takes the effective
-- time too, and ledger.post_transaction (the API's posting) is its thin
-- wrapper with the caller's identity and trust, so the validation, idempotent
-- replay, locking and entry writing exist once.
-- post_entries writes its row checked_by_function as post_transfer does: it
-- has checked what the commit-time trigger would on the very array it inserts
-- (issue 19: ~0.2 ms a checkout), and runs with generic plans (0.35–0.54 ms a
-- call with re-planning, 0.24–0.31 ms without).

drop function if exists ledger.caller();
drop function if exists ledger.may_debit(uuid, uuid, uuid);
drop function if exists ledger.trusted_transfer(bigint, bigint, bigint, text, text, text, text, jsonb, timestamptz, uuid, boolean);
drop function if exists ledger.trusted_post_entries(ledger.entry_input[], text, text, text, jsonb, uuid, boolean);
drop function if exists ledger_private.post_entries(ledger.entry_input[], text, text, text, jsonb, uuid, boolean, timestamptz);

create function ledger_private.post_entries(
  entries ledger.entry_input[],
  idempotency_key text,
  kind text,
  memo text,
  metadata jsonb,
  actor uuid,
  check_owner boolean,
  effective_at timestamptz
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
  -- A plain transfer now without metadata asks nothing of the posting rules.
  if coalesce(post_entries.kind, 'transfer') <> 'transfer' or post_entries.metadata is not null or post_entries.effective_at is not null then
    perform ledger_private.assert_posting(post_entries.kind, post_entries.metadata, post_entries.effective_at, not post_entries.check_owner);
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
    values (coalesce(post_entries.kind, 'transfer'), post_entries.memo, post_entries.metadata,
            coalesce(post_entries.effective_at, now()), post_entries.actor, true)
    returning * into v_tx;
  else
    insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by, idempotency_scope, idempotency_key,
                                     checked_by_function)
    values (coalesce(post_entries.kind, 'transfer'), post_entries.memo, post_entries.metadata,
            coalesce(post_entries.effective_at, now()), post_entries.actor, v_scope, post_entries.idempotency_key, true)
    on conflict (idempotency_scope, idempotency_key) where idempotency_key is not null do nothing
    returning * into v_tx;
    if not found then
      select * into v_tx from ledger.transactions t
       where t.idempotency_scope = v_scope and t.idempotency_key = post_entries.idempotency_key;
      return ledger_private.assert_same(v_tx, coalesce(post_entries.kind, 'transfer'), post_entries.memo,
        post_entries.metadata, v_ids, v_amounts);
    end if;
  end if;

  -- What the commit-time check does for other writers (this row skips it), after the insert as in post_transfer:
  -- a concurrent close_period either committed before this probe or waits for this transaction.
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
comment on function ledger_private.post_entries(ledger.entry_input[], text, text, text, jsonb, uuid, boolean, timestamptz) is
  'The one posting of a transaction of 2 to 1000 entries: validation, the posting rules (assert_posting, trusted unless check_owner), idempotent replay in the actor''s scope, accounts locked in id order by one statement, one update, one insert; the row is checked_by_function (everything the commit-time trigger checks is checked here, the closed period included), so the trigger does not re-read it. Generic plans: the custom plans of its unnest() statements always look cheaper, so PostgreSQL planned them again on every call. effective_at null is now. check_owner refuses (DNIED) to debit an account actor may not debit. ledger.post_transaction (the API) and ledger.trusted_post_entries (other modules'' trusted SQL) are its wrappers.';
revoke all on function ledger_private.post_entries(ledger.entry_input[], text, text, text, jsonb, uuid, boolean, timestamptz) from public;

-- The 7-argument version (3800) is this one at effective_at now.
drop function if exists ledger_private.post_entries(ledger.entry_input[], text, text, text, jsonb, uuid, boolean);

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
declare
  v_caller record := ledger_private.caller();
begin
  -- The caller's trust decides the owner check and the posting rules; the rest is ledger_private.post_entries.
  return ledger_private.post_entries(post_transaction.entries, post_transaction.idempotency_key, post_transaction.kind,
    post_transaction.memo, post_transaction.metadata, v_caller.actor, not v_caller.trusted, post_transaction.effective_at);
end;
$$;

create function ledger.caller(out actor uuid, out trusted boolean)
  language sql
  stable
  set search_path = ''
as $$
  select c.actor, c.trusted from ledger_private.caller() c
$$;
comment on function ledger.caller() is
  E'@behavior -*\nTrusted interface, not in GraphQL: the signed-in user (null for direct connections) and whether the caller is trusted (a direct owner/worker connection, or a current gw_admin grant); LOGIN for a signed-out request. For other modules'' security-definer functions; no API role may execute it.';

create function ledger.may_debit(owner_user_id uuid, organization_id uuid, actor uuid) returns boolean
  language sql
  stable
  set search_path = ''
as $$
  select ledger_private.may_debit(may_debit.owner_user_id, may_debit.organization_id, may_debit.actor)
$$;
comment on function ledger.may_debit(uuid, uuid, uuid) is
  E'@behavior -*\nTrusted interface, not in GraphQL: may this user take money out of an account with this owner (the owning user; owners and admins of the owning organization; never system accounts)? For other modules'' security-definer functions; no API role may execute it.';

create function ledger.trusted_transfer(
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
  language sql
  volatile
  set search_path = ''
as $$
  select ledger_private.transfer(trusted_transfer.from_account_id, trusted_transfer.to_account_id, trusted_transfer.amount,
    trusted_transfer.currency, trusted_transfer.idempotency_key, trusted_transfer.kind, trusted_transfer.memo,
    trusted_transfer.metadata, trusted_transfer.effective_at, trusted_transfer.actor, trusted_transfer.check_owner)
$$;
comment on function ledger.trusted_transfer(bigint, bigint, bigint, text, text, text, text, jsonb, timestamptz, uuid, boolean) is
  E'@behavior -*\nTrusted interface, not in GraphQL: one transaction of two entries moving amount from one account to another, as ledger.post_transfer does, for other modules'' trusted SQL. The caller names the actor; check_owner refuses (DNIED) to debit an account the actor may not debit and treats the caller as untrusted for the posting rules; without it the calling function has made the trust decision. No API role may execute it.';

create function ledger.trusted_post_entries(
  entries ledger.entry_input[],
  idempotency_key text,
  kind text,
  memo text,
  metadata jsonb,
  actor uuid,
  check_owner boolean
) returns ledger.transactions
  language sql
  volatile
  set search_path = ''
as $$
  select ledger_private.post_entries(trusted_post_entries.entries, trusted_post_entries.idempotency_key, trusted_post_entries.kind,
    trusted_post_entries.memo, trusted_post_entries.metadata, trusted_post_entries.actor, trusted_post_entries.check_owner, null)
$$;
comment on function ledger.trusted_post_entries(ledger.entry_input[], text, text, text, jsonb, uuid, boolean) is
  E'@behavior -*\nTrusted interface, not in GraphQL: one balanced transaction of 2 to 1000 entries, now, as ledger.post_transaction posts it (the same function underneath), for other modules'' trusted SQL (a checkout: buyer wallet, organization receivable, platform revenue). The caller names the actor; check_owner refuses (DNIED) to debit an account the actor may not debit and treats the caller as untrusted for the posting rules. No API role may execute it.';

revoke execute on function ledger.caller(), ledger.may_debit(uuid, uuid, uuid),
  ledger.trusted_transfer(bigint, bigint, bigint, text, text, text, text, jsonb, timestamptz, uuid, boolean),
  ledger.trusted_post_entries(ledger.entry_input[], text, text, text, jsonb, uuid, boolean) from public;
