-- Reversals (corrections without touching the log) and accounting periods.

drop function if exists ledger.reopen_period(bigint) cascade;
drop function if exists ledger.close_period(bigint) cascade;
drop function if exists ledger.create_period(text, timestamptz, timestamptz) cascade;
drop function if exists ledger.reverse(bigint, text, text) cascade;

create function ledger.reverse(transaction_id bigint, idempotency_key text default null, memo text default null)
  returns ledger.transactions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_caller record := ledger_private.caller();
  v_scope uuid := coalesce(v_caller.actor, '00000000-0000-0000-0000-000000000000'::uuid);
  v_original ledger.transactions;
  v_tx ledger.transactions;
  v_ids bigint[];
  v_amounts bigint[];
  v_balances bigint[];
  v_versions bigint[];
  v_row record;
  v_i integer;
  v_short bigint;
begin
  select * into v_original from ledger.transactions t where t.transaction_id = reverse.transaction_id;
  if not found then
    raise exception 'No such transaction: %.', reverse.transaction_id using errcode = 'NTFND';
  end if;
  select pg_catalog.array_agg(e.account_id order by e.line), pg_catalog.array_agg(-e.amount order by e.line)
    into v_ids, v_amounts
    from ledger.entries e where e.transaction_id = reverse.transaction_id;

  if reverse.idempotency_key is not null then
    select * into v_tx from ledger.transactions t
     where t.idempotency_scope = v_scope and t.idempotency_key = reverse.idempotency_key;
    if found then
      if v_tx.reverses_id is distinct from reverse.transaction_id then
        raise exception 'Idempotency key % was already used for transaction % with other content.', reverse.idempotency_key, v_tx.transaction_id
          using errcode = 'LIDEM';
      end if;
      return v_tx;
    end if;
  end if;

  -- Lock the accounts first: two concurrent reversals of one transaction queue here.
  v_balances := pg_catalog.array_fill(null::bigint, array[pg_catalog.array_length(v_ids, 1)]);
  v_versions := v_balances;
  for v_row in
    select a.account_id, a.balance, a.pending_out, a.pending_in, a.version,
           a.allow_negative, a.allow_positive, a.owner_user_id, a.organization_id
      from ledger.accounts a
     where a.account_id = any (v_ids)
     order by a.account_id
       for update
  loop
    v_i := pg_catalog.array_position(v_ids, v_row.account_id);
    if v_amounts[v_i] < 0 and not v_caller.trusted
       and not ledger_private.may_debit(v_row.owner_user_id, v_row.organization_id, v_caller.actor) then
      raise exception 'You may not reverse transaction %: it takes money out of account %, which is not yours.', reverse.transaction_id, v_row.account_id
        using errcode = 'DNIED';
    end if;
    v_balances[v_i] := v_row.balance + v_amounts[v_i];
    v_versions[v_i] := v_row.version + 1;
    if v_short is null and ((not v_row.allow_negative and v_balances[v_i] - v_row.pending_out < 0)
                            or (not v_row.allow_positive and v_balances[v_i] + v_row.pending_in > 0)) then
      v_short := v_row.account_id;
    end if;
  end loop;

  if exists (select 1 from ledger.transactions t where t.reverses_id = reverse.transaction_id) then
    raise exception 'Transaction % is already reversed.', reverse.transaction_id using errcode = 'LREVD';
  end if;
  if v_short is not null then
    raise exception 'Cannot reverse transaction %: account % would break its balance flags (insufficient funds).', reverse.transaction_id, v_short
      using errcode = 'LFUND';
  end if;

  insert into ledger.transactions (kind, memo, metadata, effective_at, posted_by, reverses_id, idempotency_scope, idempotency_key)
  values ('reversal', coalesce(reverse.memo, 'Reversal of transaction ' || reverse.transaction_id), v_original.metadata, now(),
          v_caller.actor, reverse.transaction_id,
          case when reverse.idempotency_key is not null then v_scope end, reverse.idempotency_key)
  returning * into v_tx;

  update ledger.accounts a
     set balance = u.balance, version = u.version
    from unnest(v_ids, v_balances, v_versions) as u (account_id, balance, version)
   where a.account_id = u.account_id;

  insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version)
  select v_tx.transaction_id, e.line, e.account_id, e.currency, -e.amount, u.balance, u.version
    from ledger.entries e
    join unnest(v_ids, v_balances, v_versions) as u (account_id, balance, version) on u.account_id = e.account_id
   where e.transaction_id = reverse.transaction_id;

  return v_tx;
end;
$$;
comment on function ledger.reverse(bigint, text, text) is
  E'@resultFieldName transaction\nWrites the mirror of a transaction (every entry negated, kind reversal, reversesId pointing at it), effective now, so the original stays as it was and the balances return. A transaction is reversed at most once. You need the right to debit every account the reversal takes money from (in practice: operators and trusted code). Errors: LOGIN, NTFND, DNIED, LREVD (already reversed), LFUND, LIDEM, LPCLS. Security definer because the ledger tables have no write grants.';

create function ledger.create_period(name text, starts_at timestamptz, ends_at timestamptz) returns ledger.periods
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_period ledger.periods;
begin
  perform auth_private.assert_operator();
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
comment on function ledger.create_period(text, timestamptz, timestamptz) is
  E'@resultFieldName period\nOperators: creates an open accounting period [startsAt, endsAt). Errors: DNIED, BADIN, LPOVL (overlaps another period; a concurrent overlap fails with 23P01). Security definer because periods have no insert grant.';

create function ledger.close_period(period_id bigint) returns ledger.periods
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_period ledger.periods;
begin
  perform auth_private.assert_operator();
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
comment on function ledger.close_period(bigint) is
  E'@resultFieldName period\nOperators: closes a period, so that postings effective in it fail (LPCLS). Closing waits for postings in flight. Closing a closed period refreshes closedAt. Errors: DNIED, NTFND. Security definer because periods have no update grant.';

create function ledger.reopen_period(period_id bigint) returns ledger.periods
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_period ledger.periods;
begin
  perform auth_private.assert_operator();
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
comment on function ledger.reopen_period(bigint) is
  E'@resultFieldName period\nOperators: reopens a closed period (for a late correction); the change is in the audit log. Errors: DNIED, NTFND. Security definer because periods have no update grant.';

select audit.enable_tracking('ledger.periods');

grant execute on function ledger.reverse(bigint, text, text) to gw_user;
grant execute on function ledger.create_period(text, timestamptz, timestamptz) to gw_admin;
grant execute on function ledger.close_period(bigint) to gw_admin;
grant execute on function ledger.reopen_period(bigint) to gw_admin;
