-- Every escrow and proposal transition leaves through the outbox in its own
-- transaction: one outbox event per party organization (so each party's
-- webhooks receive it) and an in-app notification to each owner and admin of
-- both organizations (a handful of people: bounded, so done here rather than
-- in a worker fan-out).

insert into registry.types (namespace, code, label, description) values
  ('outbox_topic', 'sponsorship.order.created', 'Sponsorship order created', 'A proposal was accepted. Payload: orderId, proposalId, eventId, sponsorId, organizerOrganizationId, sponsorOrganizationId, amount, currency, status.'),
  ('outbox_topic', 'sponsorship.order.funded', 'Sponsorship escrow funded', 'Payload as sponsorship.order.created, plus fromStatus and transactionId.'),
  ('outbox_topic', 'sponsorship.order.locked', 'Sponsorship escrow locked', 'Payload as sponsorship.order.created, plus fromStatus.'),
  ('outbox_topic', 'sponsorship.order.released', 'Sponsorship escrow released', 'Payload as sponsorship.order.created, plus fromStatus, transactionId and fee.'),
  ('outbox_topic', 'sponsorship.order.refunded', 'Sponsorship escrow refunded', 'Payload as sponsorship.order.created, plus fromStatus and transactionId (null if it was never funded).'),
  ('outbox_topic', 'sponsorship.order.disputed', 'Sponsorship order disputed', 'Payload as sponsorship.order.created, plus fromStatus and reason.'),
  ('outbox_topic', 'sponsorship.proposal.sent', 'Sponsorship proposal sent', 'Payload: proposalId, eventId, sponsorId, organizerOrganizationId, sponsorOrganizationId, proposedBy, amount, currency, status, fromStatus.'),
  ('outbox_topic', 'sponsorship.proposal.viewed', 'Sponsorship proposal viewed', 'Payload as sponsorship.proposal.sent.'),
  ('outbox_topic', 'sponsorship.proposal.counter_offer', 'Sponsorship counter offer', 'Payload as sponsorship.proposal.sent (amount is the counter offer''s).'),
  ('outbox_topic', 'sponsorship.proposal.accepted', 'Sponsorship proposal accepted', 'Payload as sponsorship.proposal.sent.'),
  ('outbox_topic', 'sponsorship.proposal.rejected', 'Sponsorship proposal rejected', 'Payload as sponsorship.proposal.sent.'),
  ('outbox_topic', 'sponsorship.proposal.expired', 'Sponsorship proposal expired', 'Payload as sponsorship.proposal.sent.')
on conflict (namespace, code) do update set label = excluded.label, description = excluded.description;

create function sponsorship_private.announce(
  topic text, payload jsonb, aggregate_type text, aggregate_id uuid, organizer_organization_id uuid,
  sponsor_organization_id uuid, message text
) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_event bigint;
  v_user uuid;
begin
  perform outbox.publish(announce.topic, announce.payload, announce.aggregate_type, announce.aggregate_id::text,
    announce.organizer_organization_id);
  v_event := outbox.publish(announce.topic, announce.payload, announce.aggregate_type, announce.aggregate_id::text,
    announce.sponsor_organization_id);
  for v_user in
    select distinct m.user_id from auth.memberships m
     where m.organization_id in (announce.organizer_organization_id, announce.sponsor_organization_id)
       and m.role in ('owner', 'admin')
  loop
    perform outbox.notify_user(v_user, announce.topic, pg_catalog.left(announce.message, 1000), announce.payload, v_event);
  end loop;
end;
$$;
comment on function sponsorship_private.announce(text, jsonb, text, uuid, uuid, uuid, text) is
  'Publishes a sponsorship topic once for each party organization and notifies the owners and admins of both.';

create function sponsorship_private.announce_order(v_order sponsorship.orders, from_status text) returns void
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_payload jsonb := pg_catalog.jsonb_build_object('orderId', v_order.order_id, 'proposalId', v_order.proposal_id,
    'eventId', v_order.event_id, 'sponsorId', v_order.sponsor_id, 'organizerOrganizationId', v_order.organizer_organization_id,
    'sponsorOrganizationId', v_order.sponsor_organization_id, 'amount', v_order.amount::text, 'currency', v_order.currency,
    'status', v_order.status);
begin
  if announce_order.from_status is not null then
    v_payload := v_payload || pg_catalog.jsonb_build_object('fromStatus', announce_order.from_status, 'transactionId',
      case v_order.status when 'funded' then v_order.fund_transaction_id when 'released' then v_order.release_transaction_id
                          when 'refunded' then v_order.refund_transaction_id end);
    if v_order.status = 'released' then
      v_payload := v_payload || pg_catalog.jsonb_build_object('fee', v_order.fee::text);
    elsif v_order.status = 'disputed' then
      v_payload := v_payload || pg_catalog.jsonb_build_object('reason', v_order.dispute_reason);
    end if;
  end if;
  perform sponsorship_private.announce(
    'sponsorship.order.' || case when announce_order.from_status is null then 'created' else v_order.status end,
    v_payload, 'sponsorship_order', v_order.order_id, v_order.organizer_organization_id, v_order.sponsor_organization_id,
    'Sponsorship order of ' || v_order.amount::text || ' ' || v_order.currency || ': '
      || case when announce_order.from_status is null then 'created' else v_order.status end);
end;
$$;
comment on function sponsorship_private.announce_order(sponsorship.orders, text) is
  'Publishes sponsorship.order.<created|status> to both parties with a notification to their owners and admins; each escrow step calls it last, once the order row holds its ledger transaction.';

create function sponsorship_private.tg_proposals__announce() returns trigger
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
begin
  perform sponsorship_private.announce('sponsorship.proposal.' || new.status,
    pg_catalog.jsonb_build_object('proposalId', new.proposal_id, 'eventId', new.event_id, 'sponsorId', new.sponsor_id,
      'organizerOrganizationId', new.organizer_organization_id, 'sponsorOrganizationId', new.sponsor_organization_id,
      'proposedBy', new.proposed_by, 'amount', new.amount::text, 'currency', new.currency, 'status', new.status,
      'fromStatus', old.status),
    'sponsorship_proposal', new.proposal_id, new.organizer_organization_id, new.sponsor_organization_id,
    'Sponsorship proposal of ' || new.amount::text || ' ' || new.currency || ': ' || pg_catalog.replace(new.status, '_', ' '));
  return null;
end;
$$;
comment on function sponsorship_private.tg_proposals__announce() is
  'Publishes sponsorship.proposal.<status> to both parties with a notification to their owners and admins. Security definer because outbox.publish and outbox.notify_user are not granted to API roles.';
create trigger _500_announce_status after update of status on sponsorship.proposals
  for each row when (old.status is distinct from new.status)
  execute function sponsorship_private.tg_proposals__announce();

revoke execute on all functions in schema sponsorship_private from public;
