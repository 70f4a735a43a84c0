--! Previous: sha1:5e193f5bd9f264389cebea37bc329af4af22ea76
--! Hash: sha1:594c8c15232eb5a6be326fe6026accc3de0863d7
--! Message: ledger: the trusted interface, post_transaction a wrapper of post_entries, checked postings with generic plans (issues 19, 22)

--! split: 3900-ledger-trusted-interface.sql
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

--! split: 3910-ledger-on-module-interfaces.sql
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
