-- Conventions (tests/project/conventions.test.ts, docs/conventions.md) applied
-- to the outbox. Re-runnable; no change of behaviour.

-- Every foreign key has an index that leads with its columns. The one on
-- organization_id was partial (where is_active), so deleting an organization
-- (on delete cascade) scanned the table for its inactive subscriptions. One
-- full index replaces it; it also serves the fan-out's lookup of the event's
-- organization's subscriptions (few, is_active filtered on the row).
drop index if exists outbox.webhook_subscriptions_organization_id_idx;
create index webhook_subscriptions_organization_id_idx
  on outbox.webhook_subscriptions (organization_id);

-- PostGraphile exposes a relation and a column's condition and ordering only
-- when a full index leads with them, so that index alone would have added
-- Organization.outboxWebhookSubscriptions and organizationId conditions and
-- ordering to the API. These tags keep the API as it was; dropping them is an
-- API decision of its own. (The constraint comment is tags only: its text
-- would become the forward relation's description.)
comment on constraint webhook_subscriptions_organization_id_fkey on outbox.webhook_subscriptions is
  '@backwardBehavior -select -list -connection -single -manyToMany';
comment on column outbox.webhook_subscriptions.organization_id is
  E'@behavior -filterBy -orderBy\nWhose events it receives.';

-- Every security definer function says why it is one (text and smart tags kept).
comment on function outbox_private.tg_webhook_subscriptions__cancel_pending() is
  'Cancels the pending dispatches of a subscription that was deactivated. Security definer because those who deactivate a subscription (its organization''s owners and admins) have no update grant on dispatches.';

comment on function outbox.send_test_webhook(uuid) is
  E'@resultFieldName eventId\nSends a webhook.test event to this subscription only (whatever its topics, even if inactive) and returns the event id; follow it in outboxDispatches. Owners and admins of its organization only (NTFND otherwise). Security definer because events and dispatches have no insert grant and the job queue is not granted to API roles: the check above is the permission.';

comment on function outbox.replay_dead_letters(bigint[]) is
  E'@resultFieldName replayedCount\nSends dead letters again: the given dispatches, or every dead one when dispatchIds is null (those of deactivated subscriptions are skipped). Attempts restart at 1. Returns how many were replayed. Operators (gw_admin) only (DNIED when the grant was withdrawn). Security definer because dispatches have no update grant and the job queue is not granted to API roles.';
