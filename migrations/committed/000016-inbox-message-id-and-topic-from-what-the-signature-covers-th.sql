--! Previous: sha1:4d16b6ff719ae84c26dd2a6486c7d7ccb8cdcecb
--! Hash: sha1:84fa06f97adfc0058b154b27fe645a6996b63845
--! Message: inbox: message id and topic from what the signature covers; the route verifies in the process (issue 15)

--! split: 2410-inbox-signed-identity.sql
-- Inbound webhooks whose identity is signed (issue 15). The signature used to
-- cover timestamp and body only, while the message id and topic came from
-- unsigned headers: one captured request replayed with new ids was stored
-- once per id, and a body could be stored under another topic. Now senders
-- sign the Standard Webhooks way (webhook-id, webhook-timestamp,
-- webhook-signature over "id.timestamp.body"), the route verifies in the API
-- process before touching the database (src/server/inbox.ts, with
-- src/signature.ts: the one place the check lives), and the topic comes from
-- the signed body. A source may opt in to the old X-Groundwork-Signature;
-- then the message id and topic come from the signed body too.
--
-- The database keeps what only it can do: hand the route a source's secret,
-- and store a verified message once per (source, id). inbox.receive, which
-- verified in SQL and took the id and topic from its caller, is gone.

drop function if exists inbox.receive(text, text, text, text, text);

alter table inbox.sources add column if not exists accepts_legacy_signatures boolean not null default false;
comment on column inbox.sources.accepts_legacy_signatures is
  'Also accept the old X-Groundwork-Signature (t=…,v1=…): then the message id is the signed body''s id and the topic its type (or topic). Off by default: Standard Webhooks signatures cover the id as well.';
alter table inbox.sources
  alter column secret set default 'whsec_' || pg_catalog.encode(public.gen_random_bytes(32), 'base64');
comment on column inbox.sources.secret is
  'The key the sender signs with: whsec_ and base64 (the Standard Webhooks form; the key is the decoded bytes), generated unless given; any other string is used as it is (its UTF-8 bytes). Legacy X-Groundwork-Signature is keyed with the string itself.';
revoke update (secret, handler, is_active, description) on inbox.sources from gw_admin;
revoke insert (source, secret, handler, is_active, description) on inbox.sources from gw_admin;
grant insert (source, secret, handler, is_active, description, accepts_legacy_signatures),
      update (secret, handler, is_active, description, accepts_legacy_signatures) on inbox.sources to gw_admin;

comment on column inbox.messages.external_id is
  'The sender''s id for it: the signed webhook-id (or, for a legacy-signed source, the signed body''s id). A redelivery with the same id is ignored.';
comment on column inbox.messages.topic is
  'The sender''s event type from the signed body (its type, else its topic), if any; never from a header.';

-- The route runs as gw_authenticator, outside any request role: like the
-- rate-limit functions of ops_private, these two are granted to it alone.
grant usage on schema inbox_private to gw_authenticator;

create or replace function inbox_private.source_key(source text)
  returns table (secret text, accepts_legacy_signatures boolean)
  language sql
  stable
  security definer
  set search_path = ''
as $$
  select s.secret, s.accepts_legacy_signatures
    from inbox.sources s
   where s.source = source_key.source and s.is_active;
$$;
comment on function inbox_private.source_key(text) is
  'The signing secret of an active source, for the webhook route to verify signatures before it stores anything (no row: no such active source). Executable by gw_authenticator only. Security definer because no request role may read inbox.sources and gw_authenticator has no table grants.';
revoke all on function inbox_private.source_key(text) from public;
grant execute on function inbox_private.source_key(text) to gw_authenticator;

create or replace function inbox_private.store(source text, external_id text, topic text, body text)
  returns text
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_message_id bigint;
begin
  if not exists (select 1 from inbox.sources s where s.source = store.source and s.is_active) then
    return 'unknown_source';
  end if;
  -- The cast refuses what jsonb cannot hold (22P05 for \u0000, 22P02 for non-JSON): the route answers 400.
  insert into inbox.messages (source, external_id, topic, payload)
  values (store.source, store.external_id, pg_catalog.left(store.topic, 200), store.body::jsonb)
  on conflict on constraint messages_source_external_id_key do nothing
  returning message_id into v_message_id;
  return case when v_message_id is null then 'duplicate' else 'accepted' end;
end;
$$;
comment on function inbox_private.store(text, text, text, text) is
  'Stores a message whose signature the webhook route verified, once per (source, external_id): accepted, duplicate (already stored; nothing changes) or unknown_source (inactive or deleted since). Storing queues its processing. Executable by gw_authenticator only. Security definer because messages have no insert grant for any role but the owner.';
revoke all on function inbox_private.store(text, text, text, text) from public;
grant execute on function inbox_private.store(text, text, text, text) to gw_authenticator;
