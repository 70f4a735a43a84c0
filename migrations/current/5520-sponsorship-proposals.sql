-- Proposals: the seed's proposal state machine. One side (the event's
-- organizer, or a sponsor) drafts and sends; the other side views, counters,
-- accepts or rejects; after a counter offer the proposing side accepts or
-- rejects. A sent proposal not viewed by expires_at is expired by the job
-- sponsorship_expire_proposals (and refused as expired before the job runs).
-- Accepting creates the sponsorship order (status pending) and takes a slot
-- of the package it names. Deliverables (what the organizer owes on an order)
-- are at the end of this file.

create function sponsorship_private.lock_proposal(proposal_id uuid) returns sponsorship.proposals
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals;
begin
  select p.* into v_proposal from sponsorship.proposals p where p.proposal_id = lock_proposal.proposal_id for update;
  if not found then
    raise exception 'No such proposal.' using errcode = 'NTFND';
  end if;
  return v_proposal;
end;
$$;
comment on function sponsorship_private.lock_proposal(uuid) is 'The proposal row, locked for the step (NTFND if there is none).';

-- The side that answers a proposal in its current state: the receiving side, or after a counter offer the proposing side.
create function sponsorship_private.answering_side(proposal sponsorship.proposals) returns text
  language sql
  immutable
  set search_path = ''
as $$
  select case when (proposal.status = 'counter_offer') = (proposal.proposed_by = 'organizer') then 'organizer' else 'sponsor' end
$$;
comment on function sponsorship_private.answering_side(sponsorship.proposals) is
  'Who answers the proposal now: the side that did not propose it, except after a counter offer, when the proposing side does.';

create function sponsorship_private.receiving_side(proposal sponsorship.proposals) returns text
  language sql
  immutable
  set search_path = ''
as $$
  select case proposal.proposed_by when 'organizer' then 'sponsor' else 'organizer' end
$$;
comment on function sponsorship_private.receiving_side(sponsorship.proposals) is 'The side a proposal was sent to.';

create function sponsorship_private.assert_not_expired(proposal sponsorship.proposals, at timestamptz) returns void
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  if proposal.status in ('draft', 'sent') and proposal.expires_at <= assert_not_expired.at then
    raise exception 'Proposal % expired at %.', proposal.proposal_id, proposal.expires_at using errcode = 'SPEXP';
  end if;
end;
$$;
comment on function sponsorship_private.assert_not_expired(sponsorship.proposals, timestamptz) is
  'SPEXP for a draft or sent proposal past its expiry (the job may not have marked it yet).';

create function sponsorship_private.assert_status(proposal sponsorship.proposals, from_states text[]) returns void
  language plpgsql
  immutable
  set search_path = ''
as $$
begin
  if not (proposal.status = any (assert_status.from_states)) then
    raise exception 'Proposal % is %; this step applies to a proposal that is %.', proposal.proposal_id, proposal.status,
      pg_catalog.array_to_string(assert_status.from_states, ' or ') using errcode = 'SPSTA';
  end if;
end;
$$;
comment on function sponsorship_private.assert_status(sponsorship.proposals, text[]) is
  'SPSTA unless the proposal is in one of the step''s source states (the registry trigger checks the move itself, RGTRN, for every writer, but lets a row stay where it is).';

create function sponsorship.create_proposal(
  event_id uuid,
  sponsor_id uuid,
  amount bigint,
  terms text,
  currency text default null,
  package_id uuid default null,
  expires_at timestamptz default null
) returns sponsorship.proposals
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_event events.events;
  v_sponsor sponsorship.sponsors;
  v_package sponsorship.packages;
  v_side text;
  v_proposal sponsorship.proposals;
begin
  if auth.uid() is null then
    raise exception 'You must be signed in.' using errcode = 'LOGIN';
  end if;
  select e.* into v_event from events.events e where e.event_id = create_proposal.event_id;
  select s.* into v_sponsor from sponsorship.sponsors s where s.sponsor_id = create_proposal.sponsor_id;
  if v_sponsor.sponsor_id is null then
    raise exception 'No sponsor %.', create_proposal.sponsor_id using errcode = 'NTFND';
  end if;
  -- The organizer may propose on any of its events; a sponsor only on published public events.
  if v_event.event_id is null or (v_event.owner_context_id is distinct from auth.current_org_id()
     and (v_event.published_at is null or v_event.visibility <> 'public')) then
    raise exception 'No event %.', create_proposal.event_id using errcode = 'NTFND';
  end if;
  v_side := sponsorship_private.side(v_event.owner_context_id, v_sponsor.organization_id, array['organizer', 'sponsor']);
  if create_proposal.package_id is not null then
    select k.* into v_package from sponsorship.packages k where k.package_id = create_proposal.package_id;
    if v_package.package_id is null or v_package.event_id <> v_event.event_id then
      raise exception 'Package % is not one of event %.', create_proposal.package_id, v_event.event_id using errcode = 'SPPKG';
    end if;
  end if;
  if create_proposal.amount is null or create_proposal.amount <= 0 or create_proposal.amount > 100000000000 then
    raise exception 'An amount is a positive whole number of minor units (at most 100,000,000,000).' using errcode = 'SPAMT';
  end if;
  if create_proposal.terms is null or pg_catalog.btrim(create_proposal.terms) = '' or char_length(create_proposal.terms) > 20000 then
    raise exception 'Terms have 1 to 20,000 characters.' using errcode = 'BADIN';
  end if;
  if not exists (select 1 from ledger.currencies c
                  where c.code = coalesce(create_proposal.currency, v_package.currency, 'USD')) then
    raise exception 'Unknown currency %.', pg_catalog.left(create_proposal.currency, 10) using errcode = 'SPCUR';
  end if;
  if v_package.package_id is not null and coalesce(create_proposal.currency, v_package.currency) <> v_package.currency then
    raise exception 'The package is priced in %.', v_package.currency using errcode = 'SPCUR';
  end if;
  if create_proposal.expires_at is not null and create_proposal.expires_at <= pg_catalog.now() then
    raise exception 'A proposal expires in the future.' using errcode = 'SPEXP';
  end if;
  insert into sponsorship.proposals (event_id, sponsor_id, package_id, organizer_organization_id, sponsor_organization_id,
                                     proposed_by, terms, amount, currency, expires_at)
  values (v_event.event_id, v_sponsor.sponsor_id, v_package.package_id, v_event.owner_context_id, v_sponsor.organization_id,
          v_side, create_proposal.terms, create_proposal.amount, coalesce(create_proposal.currency, v_package.currency, 'USD'),
          coalesce(create_proposal.expires_at, pg_catalog.now() + interval '14 days'))
  returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function sponsorship.create_proposal(uuid, uuid, bigint, text, text, uuid, timestamptz) is
  E'@resultFieldName proposal\nDrafts a proposal: the event''s organizer to a sponsor, or a sponsor on a published public event. Owners and admins acting in either organization; the caller''s side is proposedBy. Currency defaults to the package''s, else USD; expiry to 14 days. Errors: LOGIN, NTFND, DNIED, SPPKG, SPAMT, SPCUR, SPEXP, BADIN. Security definer because proposals have no insert grant (both parties and the state are set here).';

create function sponsorship.send_proposal(proposal_id uuid) returns sponsorship.proposals
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals := sponsorship_private.lock_proposal(send_proposal.proposal_id);
begin
  perform sponsorship_private.side(v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id, array[v_proposal.proposed_by]);
  perform sponsorship_private.assert_status(v_proposal, array['draft']);
  perform sponsorship_private.assert_not_expired(v_proposal, pg_catalog.now());
  update sponsorship.proposals p set status = 'sent', sent_at = pg_catalog.now()
   where p.proposal_id = v_proposal.proposal_id returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function sponsorship.send_proposal(proposal_id uuid) is
  E'@resultFieldName proposal\nSends a draft (draft -> sent). The proposing side''s owners and admins. Errors: SPSTA (not a draft), SPEXP, DNIED, NTFND, LOGIN. Security definer because proposals have no update grant.';

create function sponsorship.view_proposal(proposal_id uuid) returns sponsorship.proposals
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals := sponsorship_private.lock_proposal(view_proposal.proposal_id);
begin
  perform sponsorship_private.side(v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id,
    array[sponsorship_private.receiving_side(v_proposal)]);
  if v_proposal.status in ('viewed', 'counter_offer', 'accepted', 'rejected') then
    return v_proposal;  -- opened before: nothing moves
  end if;
  perform sponsorship_private.assert_status(v_proposal, array['sent']);
  perform sponsorship_private.assert_not_expired(v_proposal, pg_catalog.now());
  update sponsorship.proposals p set status = 'viewed', viewed_at = pg_catalog.now()
   where p.proposal_id = v_proposal.proposal_id returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function sponsorship.view_proposal(proposal_id uuid) is
  E'@resultFieldName proposal\nOpens a sent proposal (sent -> viewed); opening it again changes nothing. The receiving side''s owners and admins. Errors: SPSTA (a draft or expired one), SPEXP (past its expiry), DNIED, NTFND, LOGIN. Security definer because proposals have no update grant.';

create function sponsorship.counter_proposal(proposal_id uuid, amount bigint, terms text default null) returns sponsorship.proposals
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals := sponsorship_private.lock_proposal(counter_proposal.proposal_id);
begin
  perform sponsorship_private.side(v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id,
    array[sponsorship_private.receiving_side(v_proposal)]);
  perform sponsorship_private.assert_status(v_proposal, array['viewed']);
  if counter_proposal.amount is null or counter_proposal.amount <= 0 or counter_proposal.amount > 100000000000 then
    raise exception 'An amount is a positive whole number of minor units (at most 100,000,000,000).' using errcode = 'SPAMT';
  end if;
  if counter_proposal.terms is not null and (pg_catalog.btrim(counter_proposal.terms) = '' or char_length(counter_proposal.terms) > 20000) then
    raise exception 'Terms have 1 to 20,000 characters.' using errcode = 'BADIN';
  end if;
  update sponsorship.proposals p
     set status = 'counter_offer', amount = counter_proposal.amount, terms = coalesce(counter_proposal.terms, p.terms),
         countered_at = pg_catalog.now()
   where p.proposal_id = v_proposal.proposal_id returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function sponsorship.counter_proposal(proposal_id uuid, amount bigint, terms text) is
  E'@resultFieldName proposal\nAnswers a viewed proposal with another amount (and terms) (viewed -> counter_offer); the proposing side then accepts or rejects. The receiving side''s owners and admins. Errors: SPSTA (not viewed: a draft, sent, expired or decided one), SPAMT, BADIN, DNIED, NTFND, LOGIN. Security definer because proposals have no update grant.';

create function sponsorship.accept_proposal(proposal_id uuid) returns sponsorship.orders
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals := sponsorship_private.lock_proposal(accept_proposal.proposal_id);
  v_order sponsorship.orders;
begin
  perform sponsorship_private.side(v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id,
    array[sponsorship_private.answering_side(v_proposal)]);
  perform sponsorship_private.assert_status(v_proposal, array['viewed', 'counter_offer']);
  update sponsorship.proposals p set status = 'accepted', decided_at = pg_catalog.now()
   where p.proposal_id = v_proposal.proposal_id returning * into v_proposal;
  if v_proposal.package_id is not null then
    -- One statement: the row lock serialises concurrent acceptances of the last slot.
    update sponsorship.packages k set sold = k.sold + 1 where k.package_id = v_proposal.package_id and k.sold < k.slots;
    if not found then
      raise exception 'Package % has no slot left.', v_proposal.package_id using errcode = 'SPSLT';
    end if;
  end if;
  insert into sponsorship.orders (proposal_id, package_id, event_id, sponsor_id, organizer_organization_id,
                                  sponsor_organization_id, amount, currency)
  values (v_proposal.proposal_id, v_proposal.package_id, v_proposal.event_id, v_proposal.sponsor_id,
          v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id, v_proposal.amount, v_proposal.currency)
  returning * into v_order;
  perform sponsorship_private.announce_order(v_order, null);
  return v_order;
end;
$$;
comment on function sponsorship.accept_proposal(proposal_id uuid) is
  E'@resultFieldName order\nAccepts a viewed proposal (by the receiving side) or a counter offer (by the proposing side): -> accepted, and creates the sponsorship order (escrow pending) for its amount, taking a slot of its package. Owners and admins of the answering side. Errors: SPSTA, SPSLT (no slot left), DNIED, NTFND, LOGIN. Security definer because proposals, packages and orders have no write grants for API roles.';

create function sponsorship.reject_proposal(proposal_id uuid) returns sponsorship.proposals
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_proposal sponsorship.proposals := sponsorship_private.lock_proposal(reject_proposal.proposal_id);
begin
  perform sponsorship_private.side(v_proposal.organizer_organization_id, v_proposal.sponsor_organization_id,
    array[sponsorship_private.answering_side(v_proposal)]);
  perform sponsorship_private.assert_status(v_proposal, array['viewed', 'counter_offer']);
  update sponsorship.proposals p set status = 'rejected', decided_at = pg_catalog.now()
   where p.proposal_id = v_proposal.proposal_id returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function sponsorship.reject_proposal(proposal_id uuid) is
  E'@resultFieldName proposal\nTurns down a viewed proposal (the receiving side) or a counter offer (the proposing side): -> rejected. Errors: SPSTA, DNIED, NTFND, LOGIN. Security definer because proposals have no update grant.';

create function sponsorship_private.expire_proposals(at timestamptz default now(), max_proposals integer default 1000) returns integer
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_count integer;
begin
  with due as (
    select p.proposal_id from sponsorship.proposals p
     where p.status = 'sent' and p.expires_at <= expire_proposals.at
     order by p.expires_at
     limit expire_proposals.max_proposals
       for update skip locked
  )
  update sponsorship.proposals p set status = 'expired', decided_at = expire_proposals.at
    from due where p.proposal_id = due.proposal_id;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function sponsorship_private.expire_proposals(timestamptz, integer) is
  'Expires up to max_proposals sent proposals whose expires_at is at or before at (sent -> expired); returns how many. The sponsorship_expire_proposals job runs it every minute; tests pass at.';

--------------------------------------------------------------------------------
-- Deliverables.

create function sponsorship_private.lock_deliverable(deliverable_id uuid) returns sponsorship.deliverables
  language plpgsql
  volatile
  set search_path = ''
as $$
declare
  v_deliverable sponsorship.deliverables;
begin
  select d.* into v_deliverable from sponsorship.deliverables d where d.deliverable_id = lock_deliverable.deliverable_id for update;
  if not found then
    raise exception 'No such deliverable.' using errcode = 'NTFND';
  end if;
  return v_deliverable;
end;
$$;
comment on function sponsorship_private.lock_deliverable(uuid) is 'The deliverable row, locked for the step (NTFND if there is none).';

create function sponsorship.add_deliverable(order_id uuid, title text, due_at timestamptz, description text default null)
  returns sponsorship.deliverables
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_order sponsorship.orders := sponsorship_private.lock_order(add_deliverable.order_id);
  v_deliverable sponsorship.deliverables;
begin
  perform sponsorship_private.side(v_order.organizer_organization_id, v_order.sponsor_organization_id, array['organizer', 'sponsor']);
  if v_order.status not in ('pending', 'funded') then
    raise exception 'Deliverables are agreed before the order is locked (order % is %).', v_order.order_id, v_order.status using errcode = 'SPSTA';
  end if;
  if add_deliverable.title is null or pg_catalog.btrim(add_deliverable.title) = '' or char_length(add_deliverable.title) > 200
     or char_length(add_deliverable.description) > 5000 or add_deliverable.due_at is null then
    raise exception 'A deliverable has a title of 1 to 200 characters, a due date and at most 5,000 characters of description.' using errcode = 'BADIN';
  end if;
  insert into sponsorship.deliverables (order_id, sponsor_id, organizer_organization_id, sponsor_organization_id, title, description, due_at)
  values (v_order.order_id, v_order.sponsor_id, v_order.organizer_organization_id, v_order.sponsor_organization_id,
          add_deliverable.title, add_deliverable.description, add_deliverable.due_at)
  returning * into v_deliverable;
  return v_deliverable;
end;
$$;
comment on function sponsorship.add_deliverable(uuid, text, timestamptz, text) is
  E'@resultFieldName deliverable\nAdds what the organizer owes on an order, while it is pending or funded (SPSTA once locked: the list the release waits for is fixed). Either party''s owners and admins. Errors: BADIN, SPSTA, DNIED, NTFND, LOGIN. Security definer because deliverables have no insert grant.';

create function sponsorship.submit_deliverable(deliverable_id uuid, evidence jsonb) returns sponsorship.deliverables
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_deliverable sponsorship.deliverables := sponsorship_private.lock_deliverable(submit_deliverable.deliverable_id);
  v_order sponsorship.orders;
begin
  perform sponsorship_private.side(v_deliverable.organizer_organization_id, v_deliverable.sponsor_organization_id, array['organizer']);
  select o.* into v_order from sponsorship.orders o where o.order_id = v_deliverable.order_id;
  if v_order.status <> 'locked' then
    raise exception 'Deliverables are submitted while the order is locked (order % is %).', v_order.order_id, v_order.status using errcode = 'SPSTA';
  end if;
  if v_deliverable.status not in ('pending', 'rejected') then
    raise exception 'Deliverable % is %: only a pending or rejected one is submitted.', v_deliverable.deliverable_id, v_deliverable.status using errcode = 'SPSTA';
  end if;
  if submit_deliverable.evidence is null or pg_catalog.jsonb_typeof(submit_deliverable.evidence) <> 'object'
     or pg_catalog.pg_column_size(submit_deliverable.evidence) > 65536 then
    raise exception 'Evidence is a JSON object of at most 64 kB.' using errcode = 'BADIN';
  end if;
  update sponsorship.deliverables d set status = 'submitted', evidence = submit_deliverable.evidence, submitted_at = pg_catalog.now()
   where d.deliverable_id = v_deliverable.deliverable_id returning * into v_deliverable;
  return v_deliverable;
end;
$$;
comment on function sponsorship.submit_deliverable(uuid, jsonb) is
  E'@resultFieldName deliverable\nSubmits evidence for a deliverable of a locked order (pending or rejected -> submitted). The organizer''s owners and admins. Errors: SPSTA, BADIN, DNIED, NTFND, LOGIN. Security definer because deliverables have no update grant.';

create function sponsorship.review_deliverable(deliverable_id uuid, approve boolean, note text default null)
  returns sponsorship.deliverables
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_deliverable sponsorship.deliverables := sponsorship_private.lock_deliverable(review_deliverable.deliverable_id);
  v_order sponsorship.orders;
begin
  perform sponsorship_private.side(v_deliverable.organizer_organization_id, v_deliverable.sponsor_organization_id, array['sponsor']);
  -- The order first: every approval of its deliverables queues here, so exactly one of them sees the last one approved.
  v_order := sponsorship_private.lock_order(v_deliverable.order_id);
  if v_order.status <> 'locked' then
    raise exception 'Deliverables are reviewed while the order is locked (order % is %).', v_order.order_id, v_order.status using errcode = 'SPSTA';
  end if;
  if v_deliverable.status <> 'submitted' then
    raise exception 'Deliverable % is %: only a submitted one is reviewed.', v_deliverable.deliverable_id, v_deliverable.status using errcode = 'SPSTA';
  end if;
  if review_deliverable.approve is null or char_length(review_deliverable.note) > 5000 then
    raise exception 'A review approves or rejects, with a note of at most 5,000 characters.' using errcode = 'BADIN';
  end if;
  update sponsorship.deliverables d
     set status = case when review_deliverable.approve then 'approved' else 'rejected' end,
         review_note = review_deliverable.note, reviewed_at = pg_catalog.now()
   where d.deliverable_id = v_deliverable.deliverable_id returning * into v_deliverable;
  if review_deliverable.approve
     and not exists (select 1 from sponsorship.deliverables d where d.order_id = v_order.order_id and d.status <> 'approved') then
    v_order := sponsorship_private.move(v_order, array['locked'], 'released');
    perform sponsorship_private.release(v_order, 'locked');
  end if;
  return v_deliverable;
end;
$$;
comment on function sponsorship.review_deliverable(uuid, boolean, text) is
  E'@resultFieldName deliverable\nApproves or rejects a submitted deliverable (submitted -> approved or rejected). Approving the last one of a locked order releases its escrow in the same transaction (as sponsorshipApproveOrder). The sponsor''s owners and admins. Errors: SPSTA, BADIN, DNIED, NTFND, LOGIN. Security definer because deliverables, orders and ledger postings have no write grants for API roles.';

revoke execute on all functions in schema sponsorship_private from public;
revoke execute on function sponsorship.create_proposal(uuid, uuid, bigint, text, text, uuid, timestamptz),
  sponsorship.send_proposal(uuid), sponsorship.view_proposal(uuid), sponsorship.counter_proposal(uuid, bigint, text),
  sponsorship.accept_proposal(uuid), sponsorship.reject_proposal(uuid),
  sponsorship.add_deliverable(uuid, text, timestamptz, text), sponsorship.submit_deliverable(uuid, jsonb),
  sponsorship.review_deliverable(uuid, boolean, text) from public;
grant execute on function sponsorship.create_proposal(uuid, uuid, bigint, text, text, uuid, timestamptz),
  sponsorship.send_proposal(uuid), sponsorship.view_proposal(uuid), sponsorship.counter_proposal(uuid, bigint, text),
  sponsorship.accept_proposal(uuid), sponsorship.reject_proposal(uuid),
  sponsorship.add_deliverable(uuid, text, timestamptz, text), sponsorship.submit_deliverable(uuid, jsonb),
  sponsorship.review_deliverable(uuid, boolean, text) to gw_user;
