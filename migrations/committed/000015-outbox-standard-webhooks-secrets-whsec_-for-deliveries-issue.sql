--! Previous: sha1:327ff2d7c9964ee7e8d67b0d86a047486dcf4ea4
--! Hash: sha1:4d16b6ff719ae84c26dd2a6486c7d7ccb8cdcecb
--! Message: outbox: Standard Webhooks secrets (whsec_) for deliveries (issue 15)

--! split: 2310-outbox-webhook-secrets.sql
-- Webhook secrets in the Standard Webhooks form (issue 15): whsec_ followed by
-- the base64 of 32 random bytes, which receivers' Standard Webhooks libraries
-- take as they are. Deliveries carry both signatures: webhook-signature (key:
-- the base64-decoded bytes after whsec_) and the legacy X-Groundwork-Signature
-- (key: the secret string itself, as before). Existing hex secrets stay valid:
-- for them both signatures are keyed with the string's bytes, and a Standard
-- Webhooks library takes them as whsec_ + base64(secret).

alter table outbox.webhook_subscriptions
  alter column secret set default 'whsec_' || pg_catalog.encode(public.gen_random_bytes(32), 'base64');
comment on column outbox.webhook_subscriptions.secret is
  'The signing secret, whsec_ and the base64 of 32 random bytes (older subscriptions: 64 hex digits). Deliveries carry webhook-signature (Standard Webhooks) and X-Groundwork-Signature; readable by the organization''s owners and admins, replaced by rotateWebhookSecret.';

create or replace function outbox.rotate_webhook_secret(subscription_id uuid) returns outbox.webhook_subscriptions
  language plpgsql
  volatile
  security definer
  set search_path = ''
as $$
declare
  v_subscription outbox.webhook_subscriptions;
begin
  update outbox.webhook_subscriptions s
     set secret = 'whsec_' || pg_catalog.encode(public.gen_random_bytes(32), 'base64')
   where s.subscription_id = rotate_webhook_secret.subscription_id
     and s.organization_id = any (array(select auth.current_user_admin_organization_ids()))
  returning * into v_subscription;
  if not found then
    raise exception 'No webhook subscription % that you manage.', rotate_webhook_secret.subscription_id
      using errcode = 'NTFND';
  end if;
  return v_subscription;
end;
$$;
comment on function outbox.rotate_webhook_secret(uuid) is
  E'@resultFieldName webhookSubscription\nReplaces a subscription''s signing secret with a new random one (whsec_ and base64, the Standard Webhooks form) and returns it. Owners and admins of its organization only (NTFND otherwise). Security definer because the secret column has no update grant.';
