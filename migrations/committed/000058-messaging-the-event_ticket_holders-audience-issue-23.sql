--! Previous: sha1:092a61d85a0cc2a9baebcfb1a17c113adfaaa553
--! Hash: sha1:08181ba24543d1afd594c064b41680804e9adc57
--! Message: messaging: the event_ticket_holders audience (issue 23)

--! split: 5840-messaging-ticket-holders.sql
-- The audience every ticket holder of an event (issue 23): registered in
-- messaging's audiences with ticketing's own resolver
-- (ticketing.event_ticket_holders, 5330-ticketing-message-audience.sql), so
-- messaging never reads tickets. Like every event audience it needs an event
-- of the organization the job is created in (MSAUD otherwise, nothing
-- written), and the fan-out reaches each holder once, however many tickets
-- they hold.

insert into messaging_private.audiences (audience, resolver, needs_event, description)
values ('event_ticket_holders', 'ticketing.event_ticket_holders(uuid, uuid, uuid, integer)', true,
        'People holding a valid ticket (issued or redeemed) of the event, each once (the ticketing module answers who).')
on conflict (audience) do update set resolver = excluded.resolver, needs_event = excluded.needs_event, description = excluded.description;

comment on column messaging.message_jobs.audience is
  'Who receives it: organization_followers, event_followers (needs eventId), organization_members, event_ticket_holders (needs eventId: everyone holding a valid ticket of it).';
comment on function messaging.create_message_job(uuid, text, text, uuid, jsonb) is
  'Messages an audience of the organization you act in (owners and admins: DNIED otherwise) with one of its templates: audience organization_followers, event_followers (with eventId), organization_members or event_ticket_holders (with eventId); channel in_app or email; variables give the template''s own placeholders. Refused, nothing written: NTFND (template not yours), MSAUD (unknown audience, missing event, or an event of another organization), MSVAR (a variable missing, extra, or not a string or number of at most 1000 characters). The worker fans it out. Security definer because message jobs have no insert grant and the job queue is not granted to API roles.';
