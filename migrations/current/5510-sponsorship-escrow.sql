-- Escrow: the seed's escrow state machine on sponsorship.orders, each money
-- move one balanced ledger transaction through ledger_private.post_entries.
--   fund    (pending -> funded):   sponsor wallet -amount, escrow +amount (txn_1)
--   release (locked|disputed -> released): escrow -amount, organizer wallet
--           +(amount - fee), platform revenue +fee (txn_2; fee = payments.fee_for,
--           the organizer's rate, default 5 %)
--   refund  (funded|disputed -> refunded): escrow -amount, sponsor wallet +amount;
--           pending -> refunded moves no money.
-- Each order has its own escrow account (a platform liability without owner,
-- so no organization may move its money through the ledger's own functions);
-- after release or refund it is empty again. The state moves first (the
-- registry trigger refuses an illegal one with RGTRN), then the money.
--
-- Who may take each step (the module page's matrix): sponsor admins fund,
-- approve and refund; organizer admins lock and refund; either side disputes;
-- operators (gw_admin) lock, approve, refund and resolve.

insert into registry.types (namespace, code, label, description, metadata) values
  ('ledger_transaction_kind', 'sponsorship.escrow_fund', 'Escrow funded', 'A sponsor''s wallet into a sponsorship order''s escrow account.', '{"written_by": "trusted"}'),
  ('ledger_transaction_kind', 'sponsorship.escrow_release', 'Escrow released', 'A sponsorship order''s escrow to the organizer''s wallet and the platform''s fee revenue.', '{"written_by": "trusted"}'),
  ('ledger_transaction_kind', 'sponsorship.escrow_refund', 'Escrow refunded', 'A sponsorship order''s escrow back to the sponsor''s wallet.', '{"written_by": "trusted"}')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description, metadata = excluded.metadata;

--------------------------------------------------------------------------------
-- Who is asking: the side of the caller on an order's parties.

create function sponsorship_private.side(organizer_organization_id uuid, sponsor_organization_id uuid, allowed text[])
  returns text
  language plpgsql
  stable
  set search_path = ''
as $$
declare
  v_org uuid := auth.current_org_id();
  v_managed uuid := events.managed_organization_id();
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  if 'operator' = any (side.allowed) and auth.has_role('gw_admin') then
    return 'operator';
  end if;
  if v_org is null or v_org not in (side.organizer_organization_id, side.sponsor_organization_id) then
    if auth.has_role('gw_admin') then
      raise exception 'Operators may not take this step.' using errcode = 'DNIED';
    end if;
    -- Not a party: the row is not theirs to know of.
    raise exception 'No such object that you may act on.' using errcode = 'NTFND';
  end if;
  if v_managed is distinct from v_org then
    raise exception 'Only owners and admins of the organization take this step.' using errcode = 'DNIED';
  end if;
  if v_org = side.organizer_organization_id and 'organizer' = any (side.allowed) then
    return 'organizer';
  end if;
  if v_org = side.sponsor_organization_id and 'sponsor' = any (side.allowed) then
    return 'sponsor';
  end if;
  raise exception 'This step is the other party''s (allowed: %).', pg_catalog.array_to_string(side.allowed, ', ') using errcode = 'DNIED';
end;
$$;
comment on function sponsorship_private.side(uuid, uuid, text[]) is
  'Which allowed side the caller takes on a pair of parties: operator (a current gw_admin grant), organizer or sponsor (an owner or admin acting in that organization). LOGIN signed out; NTFND for a non-party (the object is not theirs to know of); DNIED for a member who is not an admin, or the wrong side.';

create function sponsorship_private.lock_order(order_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_order sponsorship.orders;
begin
  select o.* into v_order from sponsorship.orders o where o.order_id = lock_order.order_id for update;
  if not found then
    raise exception 'No such order.' using errcode = 'NTFND';
  end if;
  return v_order;
end;
$$;
comment on function sponsorship_private.lock_order(uuid) is 'The order row, locked for the step (NTFND if there is none): steps on one order run one at a time.';

create function sponsorship_private.post(kind text, entries ledger.entry_input[], order_id uuid) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select (ledger_private.post_entries(post.entries, null, post.kind, 'Sponsorship order ' || post.order_id::text,
            pg_catalog.jsonb_build_object('orderId', post.order_id), auth.uid(), false)).transaction_id
$$;
comment on function sponsorship_private.post(text, ledger.entry_input[], uuid) is
  'One balanced ledger transaction of a sponsorship kind for an order (trusted: the calling function decided who may take the step).';

-- Release: the state was moved by the caller; this posts txn_2.
create function sponsorship_private.release(v_order sponsorship.orders, from_status text) returns sponsorship.orders
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_fee bigint := payments.fee_for(v_order.organizer_organization_id, v_order.amount);
  v_entries ledger.entry_input[];
  v_tx bigint;
  v_result sponsorship.orders;
begin
  v_entries := array[
    row(v_order.escrow_account_id, -v_order.amount, v_order.currency)::ledger.entry_input,
    row(payments_private.organization_account(v_order.organizer_organization_id, 'wallet', v_order.currency),
        v_order.amount - v_fee, v_order.currency)::ledger.entry_input];
  if v_fee > 0 then
    v_entries := v_entries || row(payments_private.revenue_account(v_order.organizer_organization_id, v_order.currency),
      v_fee, v_order.currency)::ledger.entry_input;
  end if;
  v_tx := sponsorship_private.post('sponsorship.escrow_release', v_entries, v_order.order_id);
  update sponsorship.orders o
     set release_transaction_id = v_tx, fee = v_fee, closed_at = pg_catalog.now(), updated_at = pg_catalog.now()
   where o.order_id = v_order.order_id
  returning * into v_result;
  perform sponsorship_private.announce_order(v_result, from_status);
  return v_result;
end;
$$;
comment on function sponsorship_private.release(sponsorship.orders, text) is
  'Posts the release of an order already moved to released: escrow -amount, organizer wallet +(amount - fee), platform revenue from the organizer +fee, in one ledger transaction; records it on the order.';

create function sponsorship_private.refund(v_order sponsorship.orders, from_status text) returns sponsorship.orders
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_tx bigint;
  v_result sponsorship.orders;
begin
  if v_order.fund_transaction_id is not null then
    v_tx := sponsorship_private.post('sponsorship.escrow_refund', array[
      row(v_order.escrow_account_id, -v_order.amount, v_order.currency)::ledger.entry_input,
      row(payments_private.organization_account(v_order.sponsor_organization_id, 'wallet', v_order.currency),
          v_order.amount, v_order.currency)::ledger.entry_input], v_order.order_id);
  end if;
  update sponsorship.orders o
     set refund_transaction_id = v_tx, closed_at = pg_catalog.now(), updated_at = pg_catalog.now()
   where o.order_id = v_order.order_id
  returning * into v_result;
  perform sponsorship_private.announce_order(v_result, from_status);
  return v_result;
end;
$$;
comment on function sponsorship_private.refund(sponsorship.orders, text) is
  'Posts the refund of an order already moved to refunded: escrow back to the sponsor''s wallet in one ledger transaction (nothing to move if it was never funded).';

create function sponsorship_private.move(v_order sponsorship.orders, from_states text[], status text) returns sponsorship.orders
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_result sponsorship.orders;
begin
  -- The step's own source states: the registry allows disputed -> released for a
  -- resolution, not for an approval, and lets a row "move" to the state it is in.
  if not (v_order.status = any (move.from_states)) then
    raise exception 'Order % is %; this step applies to an order that is %.', v_order.order_id, v_order.status,
      pg_catalog.array_to_string(move.from_states, ' or ') using errcode = 'SPSTA';
  end if;
  update sponsorship.orders o set status = move.status, updated_at = pg_catalog.now()
   where o.order_id = v_order.order_id
  returning * into v_result;
  return v_result;
end;
$$;
comment on function sponsorship_private.move(sponsorship.orders, text[], text) is
  'Moves an order''s escrow state for a step that applies to from_states (SPSTA otherwise); the registry trigger checks the move itself (RGTRN) for every writer.';

--------------------------------------------------------------------------------
-- The steps.

create function sponsorship.fund_order(order_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(fund_order.order_id);
  v_escrow bigint;
  v_tx bigint;
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['sponsor']);
  perform sponsorship_private.move(v_order, array['pending'], 'funded');
  v_escrow := payments_private.system_account('sponsorship.escrow.' || v_order.order_id::text,
    'Escrow of sponsorship order ' || v_order.order_id::text, v_order.currency, 'liability', false);
  v_tx := sponsorship_private.post('sponsorship.escrow_fund', array[
    row(payments_private.organization_account(v_order.sponsor_organization_id, 'wallet', v_order.currency),
        -v_order.amount, v_order.currency)::ledger.entry_input,
    row(v_escrow, v_order.amount, v_order.currency)::ledger.entry_input], v_order.order_id);
  update sponsorship.orders o
     set escrow_account_id = v_escrow, fund_transaction_id = v_tx, funded_at = pg_catalog.now()
   where o.order_id = v_order.order_id
  returning * into v_order;
  perform sponsorship_private.announce_order(v_order, 'pending');
  return v_order;
end;
$$;
comment on function sponsorship.fund_order(order_id uuid) is
  E'@resultFieldName order\nPays a pending order into escrow (pending -> funded): the sponsoring organization''s wallet -amount, the order''s escrow account +amount, one ledger transaction (the seed''s txn_1). Sponsor owners and admins acting in the sponsoring organization. Errors: SPSTA (not pending), LFUND (the wallet does not hold the amount), DNIED, NTFND, LOGIN. Security definer because orders and ledger postings have no write grants for API roles.';

create function sponsorship.lock_order(order_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(lock_order.order_id);
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['organizer', 'operator']);
  perform sponsorship_private.move(v_order, array['funded'], 'locked');
  update sponsorship.orders o set locked_at = pg_catalog.now() where o.order_id = v_order.order_id returning * into v_order;
  perform sponsorship_private.announce_order(v_order, 'funded');
  return v_order;
end;
$$;
comment on function sponsorship.lock_order(order_id uuid) is
  E'@resultFieldName order\nLocks a funded order (funded -> locked): the organizer commits to the deliverables, and the money stays in escrow until they are approved or a dispute is resolved; the sponsor can no longer take it back alone. Organizer owners and admins, or operators. Errors: SPSTA, DNIED, NTFND, LOGIN. Security definer because orders have no write grants for API roles.';

create function sponsorship.approve_order(order_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(approve_order.order_id);
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['sponsor', 'operator']);
  if exists (select 1 from sponsorship.deliverables d where d.order_id = v_order.order_id and d.status <> 'approved') then
    raise exception 'Order % has deliverables that are not approved.', v_order.order_id using errcode = 'SPDLV';
  end if;
  v_order := sponsorship_private.move(v_order, array['locked'], 'released');
  return sponsorship_private.release(v_order, 'locked');
end;
$$;
comment on function sponsorship.approve_order(order_id uuid) is
  E'@resultFieldName order\nApproves a locked order and releases its escrow (locked -> released): escrow -amount, the organizer''s wallet +95 %, platform revenue +5 % (the organizer''s fee rate), one ledger transaction (the seed''s txn_2). Every deliverable must be approved (SPDLV); approving the last deliverable releases by itself. Sponsor owners and admins, or operators. Errors: SPSTA (not locked: released already, or disputed), SPDLV, DNIED, NTFND, LOGIN. Security definer because orders and ledger postings have no write grants for API roles.';

create function sponsorship.refund_order(order_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(refund_order.order_id);
  v_from text;
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['sponsor', 'organizer', 'operator']);
  v_from := v_order.status;
  v_order := sponsorship_private.move(v_order, array['pending', 'funded'], 'refunded');
  return sponsorship_private.refund(v_order, v_from);
end;
$$;
comment on function sponsorship.refund_order(order_id uuid) is
  E'@resultFieldName order\nCalls off a pending or funded order (-> refunded); a funded one''s escrow goes back to the sponsor''s wallet in one ledger transaction. Either party''s owners and admins, or operators; a locked order is disputed instead. Errors: SPSTA (locked or disputed: dispute it, an operator resolves it), DNIED, NTFND, LOGIN. Security definer because orders and ledger postings have no write grants for API roles.';

create function sponsorship.dispute_order(order_id uuid, reason text) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(dispute_order.order_id);
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['sponsor', 'organizer']);
  if dispute_order.reason is null or pg_catalog.btrim(dispute_order.reason) = '' or char_length(dispute_order.reason) > 5000 then
    raise exception 'A dispute gives a reason of 1 to 5,000 characters.' using errcode = 'BADIN';
  end if;
  perform sponsorship_private.move(v_order, array['locked'], 'disputed');
  update sponsorship.orders o set dispute_reason = dispute_order.reason, disputed_at = pg_catalog.now()
   where o.order_id = v_order.order_id returning * into v_order;
  perform sponsorship_private.announce_order(v_order, 'locked');
  return v_order;
end;
$$;
comment on function sponsorship.dispute_order(order_id uuid, reason text) is
  E'@resultFieldName order\nDisputes a locked order (locked -> disputed): the escrow stays until an operator resolves it. Either party''s owners and admins. Errors: SPSTA, BADIN (no reason), DNIED, NTFND, LOGIN. Security definer because orders have no write grants for API roles.';

create function sponsorship.resolve_dispute(order_id uuid, outcome text, resolution text) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(resolve_dispute.order_id);
begin
  perform auth_private.assert_operator();
  if resolve_dispute.outcome is null or resolve_dispute.outcome not in ('released', 'refunded') then
    raise exception 'The outcome is released or refunded.' using errcode = 'BADIN';
  end if;
  if resolve_dispute.resolution is null or pg_catalog.btrim(resolve_dispute.resolution) = '' or char_length(resolve_dispute.resolution) > 5000 then
    raise exception 'A resolution says why, in 1 to 5,000 characters.' using errcode = 'BADIN';
  end if;
  v_order := sponsorship_private.move(v_order, array['disputed'], resolve_dispute.outcome);
  update sponsorship.orders o set resolution = resolve_dispute.resolution where o.order_id = v_order.order_id returning * into v_order;
  if resolve_dispute.outcome = 'released' then
    return sponsorship_private.release(v_order, 'disputed');
  end if;
  return sponsorship_private.refund(v_order, 'disputed');
end;
$$;
comment on function sponsorship.resolve_dispute(order_id uuid, outcome text, resolution text) is
  E'@resultFieldName order\nAn operator resolves a disputed order: outcome released (escrow to the organizer and the platform fee, as on approval) or refunded (escrow back to the sponsor), one ledger transaction either way. Operators (gw_admin) only. Errors: DNIED, BADIN, SPSTA (not disputed), NTFND. Security definer because orders and ledger postings have no write grants for API roles.';

revoke execute on all functions in schema sponsorship_private from public;
revoke execute on function sponsorship.fund_order(uuid), sponsorship.lock_order(uuid), sponsorship.approve_order(uuid),
  sponsorship.refund_order(uuid), sponsorship.dispute_order(uuid, text), sponsorship.resolve_dispute(uuid, text, text) from public;
grant execute on function sponsorship.fund_order(uuid), sponsorship.lock_order(uuid), sponsorship.approve_order(uuid),
  sponsorship.refund_order(uuid), sponsorship.dispute_order(uuid, text), sponsorship.resolve_dispute(uuid, text, text) to gw_user;
