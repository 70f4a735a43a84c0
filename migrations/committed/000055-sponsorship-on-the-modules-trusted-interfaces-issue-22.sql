--! Previous: sha1:b115c7d6cb70b1a0e6b3a4db5c97334c772da7ec
--! Hash: sha1:a88521e8697562e5d20b9905be56f4fd0a9fd0b1
--! Message: sponsorship: on the modules' trusted interfaces (issue 22)

--! split: 5560-sponsorship-on-module-interfaces.sql
--! split: 5560-sponsorship-on-module-interfaces.sql
-- Sponsorship's escrow on the other modules' trusted interfaces: the
-- ledger's (3900: ledger.trusted_post_entries), payments' (5450: the
-- sponsor's and organizer's wallets, the platform's revenue and escrow
-- clearing accounts) and auth's (1910: auth.assert_operator), instead of
-- their *_private schemas (CONVENTIONS). Only those calls change.

-- sponsorship.fund_order: as in 000035, on the interfaces
create or replace function sponsorship.fund_order(order_id uuid) returns sponsorship.orders
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
  v_escrow := payments.system_account('sponsorship.escrow.' || v_order.order_id::text,
    'Escrow of sponsorship order ' || v_order.order_id::text, v_order.currency, 'liability', false);
  v_tx := sponsorship_private.post('sponsorship.escrow_fund', array[
    row(payments.organization_account(v_order.sponsor_organization_id, 'wallet', v_order.currency),
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

-- sponsorship.resolve_dispute: as in 000035, on the interfaces
create or replace function sponsorship.resolve_dispute(order_id uuid, outcome text, resolution text) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(resolve_dispute.order_id);
begin
  perform auth.assert_operator();
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

-- sponsorship_private.post: as in 000035, on the interfaces
create or replace function sponsorship_private.post(kind text, entries ledger.entry_input[], order_id uuid) returns bigint
  language sql
  volatile
  set search_path = ''
as $$
  select (ledger.trusted_post_entries(post.entries, null, post.kind, 'Sponsorship order ' || post.order_id::text,
            pg_catalog.jsonb_build_object('orderId', post.order_id), auth.uid(), false)).transaction_id
$$;

-- sponsorship_private.refund: as in 000035, on the interfaces
create or replace function sponsorship_private.refund(v_order sponsorship.orders, from_status text) returns sponsorship.orders
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
      row(payments.organization_account(v_order.sponsor_organization_id, 'wallet', v_order.currency),
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

-- sponsorship_private.release: as in 000035, on the interfaces
create or replace function sponsorship_private.release(v_order sponsorship.orders, from_status text) returns sponsorship.orders
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
    row(payments.organization_account(v_order.organizer_organization_id, 'wallet', v_order.currency),
        v_order.amount - v_fee, v_order.currency)::ledger.entry_input];
  if v_fee > 0 then
    v_entries := v_entries || row(payments.revenue_account(v_order.organizer_organization_id, v_order.currency),
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
