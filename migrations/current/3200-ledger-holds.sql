-- Holds (two-phase transfers, escrow): reserve now, post or void later, or
-- expire. Lock order everywhere: the hold row first, then its two accounts in
-- id order (transfers lock accounts only), so holds never deadlock with
-- transfers.

drop function if exists ledger_private.expire_holds(integer) cascade;
drop function if exists ledger.void_hold(bigint) cascade;
drop function if exists ledger.post_hold(bigint, bigint, text) cascade;
drop function if exists ledger_private.lock_pending_hold(bigint, uuid, boolean) cascade;
drop function if exists ledger_private.settle_hold(ledger.holds, bigint, text, uuid) cascade;
drop function if exists ledger.create_hold(bigint, bigint, bigint, text, timestamptz, text, text) cascade;

create function ledger.create_hold(
  from_account_id bigint,
  to_account_id bigint,
  amount bigint,
  currency text,
  expires_at timestamptz default null,
  idempotency_key text default null,
  memo text default null
) returns ledger.holds
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_caller record := ledger_private.caller();
  v_scope uuid := coalesce(v_caller.actor, '00000000-0000-0000-0000-000000000000'::uuid);
  v_hold ledger.holds;
  v_row record;
  v_from record;
  v_to record;
  v_found integer := 0;
begin
  if create_hold.amount is null or create_hold.amount <= 0 then
    raise exception 'A hold amount is a positive number of minor units, not %.', create_hold.amount using errcode = 'BADIN';
  end if;
  if create_hold.from_account_id is not distinct from create_hold.to_account_id then
    raise exception 'A hold needs two different accounts.' using errcode = 'BADIN';
  end if;
  if create_hold.expires_at is not null and create_hold.expires_at <= now() then
    raise exception 'A hold cannot expire in the past.' using errcode = 'BADIN';
  end if;
  if create_hold.idempotency_key is not null then
    select * into v_hold from ledger.holds h
     where h.idempotency_scope = v_scope and h.idempotency_key = create_hold.idempotency_key;
    if found then
      if (v_hold.from_account_id, v_hold.to_account_id, v_hold.amount, v_hold.currency, v_hold.memo)
         is distinct from (create_hold.from_account_id, create_hold.to_account_id, create_hold.amount, create_hold.currency, create_hold.memo) then
        raise exception 'Idempotency key % was already used for hold % with other content.', create_hold.idempotency_key, v_hold.hold_id
          using errcode = 'LIDEM';
      end if;
      return v_hold;
    end if;
  end if;

  for v_row in
    select a.account_id, a.currency, a.balance, a.pending_out, a.pending_in,
           a.allow_negative, a.allow_positive, a.owner_user_id, a.organization_id
      from ledger.accounts a
     where a.account_id in (create_hold.from_account_id, create_hold.to_account_id)
     order by a.account_id
       for update
  loop
    v_found := v_found + 1;
    if v_row.account_id = create_hold.from_account_id then v_from := v_row; else v_to := v_row; end if;
  end loop;
  if v_found < 2 then
    raise exception 'No such account: %.',
      case when v_found = 1 and v_row.account_id = create_hold.from_account_id then create_hold.to_account_id else create_hold.from_account_id end
      using errcode = 'NTFND';
  end if;
  if not v_caller.trusted and not ledger_private.may_debit(v_from.owner_user_id, v_from.organization_id, v_caller.actor) then
    raise exception 'You may not move money out of account %.', create_hold.from_account_id using errcode = 'DNIED';
  end if;
  if v_from.currency <> create_hold.currency or v_to.currency <> create_hold.currency then
    raise exception 'Currency mismatch: the hold is in %, the accounts in % and %.', create_hold.currency, v_from.currency, v_to.currency
      using errcode = 'LCURR';
  end if;
  if not v_from.allow_negative and v_from.balance - v_from.pending_out - create_hold.amount < 0 then
    raise exception 'Insufficient funds in account %: available %, needed %.', v_from.account_id,
      v_from.balance - v_from.pending_out, create_hold.amount using errcode = 'LFUND';
  end if;
  if not v_to.allow_positive and v_to.balance + v_to.pending_in + create_hold.amount > 0 then
    raise exception 'Account % may not go above zero.', v_to.account_id using errcode = 'LFUND';
  end if;

  update ledger.accounts a
     set pending_out = a.pending_out + case when a.account_id = create_hold.from_account_id then create_hold.amount else 0 end,
         pending_in = a.pending_in + case when a.account_id = create_hold.to_account_id then create_hold.amount else 0 end
   where a.account_id in (create_hold.from_account_id, create_hold.to_account_id);

  insert into ledger.holds (from_account_id, to_account_id, amount, currency, expires_at, created_by, idempotency_scope, idempotency_key, memo)
  values (create_hold.from_account_id, create_hold.to_account_id, create_hold.amount, create_hold.currency, create_hold.expires_at,
          v_caller.actor, case when create_hold.idempotency_key is not null then v_scope end, create_hold.idempotency_key, create_hold.memo)
  returning * into v_hold;
  return v_hold;
end;
$$;
comment on function ledger.create_hold(bigint, bigint, bigint, text, timestamptz, text, text) is
  E'@resultFieldName hold\nReserves amount for a later transfer (escrow): the payer''s pendingOut and the payee''s pendingIn grow, so the money is no longer available, but nothing is posted yet. Post it with postHold, release it with voidHold; after expiresAt it can no longer be posted and the expiry job releases it. Permissions as postTransfer. Errors: LOGIN, BADIN, NTFND, DNIED, LCURR, LFUND, LIDEM. Security definer because the ledger tables have no write grants.';

-- Releases a locked pending hold and, when posting, moves posted_amount.
create function ledger_private.settle_hold(hold ledger.holds, posted_amount bigint, status text, actor uuid)
  returns ledger.transactions
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_row record;
  v_from record;
  v_to record;
  v_tx ledger.transactions;
begin
  for v_row in
    select a.account_id, a.balance, a.pending_out, a.pending_in, a.version, a.allow_negative, a.allow_positive
      from ledger.accounts a
     where a.account_id in (hold.from_account_id, hold.to_account_id)
     order by a.account_id
       for update
  loop
    if v_row.account_id = hold.from_account_id then v_from := v_row; else v_to := v_row; end if;
  end loop;

  update ledger.accounts a
     set pending_out = a.pending_out - case when a.account_id = hold.from_account_id then hold.amount else 0 end,
         pending_in = a.pending_in - case when a.account_id = hold.to_account_id then hold.amount else 0 end,
         balance = a.balance + case when settle_hold.posted_amount is null then 0
                                    when a.account_id = hold.from_account_id then -settle_hold.posted_amount
                                    else settle_hold.posted_amount end,
         version = a.version + case when settle_hold.posted_amount is null then 0 else 1 end
   where a.account_id in (hold.from_account_id, hold.to_account_id);

  if settle_hold.posted_amount is not null then
    -- The reservation covered this amount, so the flags still hold; the table's check is the backstop.
    insert into ledger.transactions (kind, memo, effective_at, posted_by, hold_id)
    values ('hold_post', hold.memo, now(), settle_hold.actor, hold.hold_id)
    returning * into v_tx;
    insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version)
    values (v_tx.transaction_id, 1, hold.from_account_id, hold.currency, -settle_hold.posted_amount,
            v_from.balance - settle_hold.posted_amount, v_from.version + 1),
           (v_tx.transaction_id, 2, hold.to_account_id, hold.currency, settle_hold.posted_amount,
            v_to.balance + settle_hold.posted_amount, v_to.version + 1);
  end if;

  update ledger.holds h
     set status = settle_hold.status,
         posted_amount = settle_hold.posted_amount,
         transaction_id = v_tx.transaction_id,
         resolved_at = now()
   where h.hold_id = hold.hold_id;
  return v_tx;
end;
$$;
comment on function ledger_private.settle_hold(ledger.holds, bigint, text, uuid) is
  'Resolves a pending hold the caller has locked: releases its reservation, posts posted_amount (when not null) as a hold_post transaction, and records the new status.';

create function ledger_private.lock_pending_hold(hold_id bigint, actor uuid, trusted boolean) returns ledger.holds
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_hold ledger.holds;
  v_account record;
begin
  select * into v_hold from ledger.holds h where h.hold_id = lock_pending_hold.hold_id for update;
  if not found then
    raise exception 'No such hold: %.', lock_pending_hold.hold_id using errcode = 'NTFND';
  end if;
  if not trusted then
    select a.owner_user_id, a.organization_id into v_account from ledger.accounts a where a.account_id = v_hold.from_account_id;
    if not ledger_private.may_debit(v_account.owner_user_id, v_account.organization_id, actor) then
      raise exception 'You may not settle hold %: its money leaves an account that is not yours.', v_hold.hold_id using errcode = 'DNIED';
    end if;
  end if;
  if v_hold.status <> 'pending' then
    raise exception 'Hold % is % and can no longer be posted or voided.', v_hold.hold_id, v_hold.status using errcode = 'LHOLD';
  end if;
  return v_hold;
end;
$$;
comment on function ledger_private.lock_pending_hold(bigint, uuid, boolean) is
  'Locks a hold for settling; raises NTFND, DNIED (the payer account is not the caller''s to debit) or LHOLD (no longer pending).';

create function ledger.post_hold(hold_id bigint, amount bigint default null, memo text default null) returns ledger.transactions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_caller record := ledger_private.caller();
  v_hold ledger.holds := ledger_private.lock_pending_hold(post_hold.hold_id, v_caller.actor, v_caller.trusted);
begin
  if v_hold.expires_at is not null and v_hold.expires_at <= now() then
    raise exception 'Hold % expired at %.', v_hold.hold_id, v_hold.expires_at using errcode = 'LHEXP';
  end if;
  if post_hold.amount is not null and (post_hold.amount <= 0 or post_hold.amount > v_hold.amount) then
    raise exception 'A hold of % posts between 1 and % minor units, not %.', v_hold.amount, v_hold.amount, post_hold.amount
      using errcode = 'BADIN';
  end if;
  v_hold.memo := coalesce(post_hold.memo, v_hold.memo);
  return ledger_private.settle_hold(v_hold, coalesce(post_hold.amount, v_hold.amount), 'posted', v_caller.actor);
end;
$$;
comment on function ledger.post_hold(bigint, bigint, text) is
  E'@resultFieldName transaction\nPosts a pending hold: amount (default: all of it, at most all of it) moves as a hold_post transaction and the rest of the reservation is released. Who may debit the payer account (or trusted code) may post. Errors: LOGIN, NTFND, DNIED, LHOLD (not pending: posted, voided or expired), LHEXP (past expiresAt), BADIN (amount out of range). Security definer because the ledger tables have no write grants.';

create function ledger.void_hold(hold_id bigint) returns ledger.holds
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_caller record := ledger_private.caller();
  v_hold ledger.holds := ledger_private.lock_pending_hold(void_hold.hold_id, v_caller.actor, v_caller.trusted);
begin
  perform ledger_private.settle_hold(v_hold, null, 'voided', v_caller.actor);
  select * into v_hold from ledger.holds h where h.hold_id = void_hold.hold_id;
  return v_hold;
end;
$$;
comment on function ledger.void_hold(bigint) is
  E'@resultFieldName hold\nReleases a pending hold without moving money. Errors: LOGIN, NTFND, DNIED, LHOLD. Security definer because the ledger tables have no write grants.';

create function ledger_private.expire_holds(max_holds integer default 1000) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_hold ledger.holds;
  v_count integer := 0;
begin
  for v_hold in
    select * from ledger.holds h
     where h.status = 'pending' and h.expires_at <= now()
     order by h.expires_at
     limit expire_holds.max_holds
       for update skip locked
  loop
    perform ledger_private.settle_hold(v_hold, null, 'expired', null);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
comment on function ledger_private.expire_holds(integer) is
  'Releases up to max_holds pending holds past their expiry (status expired) and returns how many; holds being settled right now are skipped. Run by the ledger_expire_holds worker task.';

grant execute on function ledger.create_hold(bigint, bigint, bigint, text, timestamptz, text, text) to gw_user;
grant execute on function ledger.post_hold(bigint, bigint, text) to gw_user;
grant execute on function ledger.void_hold(bigint) to gw_user;
