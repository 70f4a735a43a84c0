--! Previous: sha1:f37a62f6271931ee5482209def5100e4c5ec2631
--! Hash: sha1:c10084d14fe5e537bda84ef2e7143bb72c674102
--! Message: auth: definer comments say why (conventions)

--! split: 1090-auth-conventions.sql
-- Conventions (tests/project/conventions.test.ts, docs/conventions.md): every
-- security definer function says in its comment why it is one. These auth
-- triggers were the ones that did not; their text is kept, the reason added.
-- Comments only: re-runnable, no change of behaviour.

comment on function auth_private.tg_users__publish_registered() is
  'Publishes user.registered. Security definer because outbox.publish is not granted to API roles.';

comment on function auth_private.tg_organizations__record_created() is
  'Records organization.created activity. Security definer because audit.record_activity is not granted to API roles.';

comment on function auth_private.tg_memberships__publish_added() is
  'Publishes member.added; records activity and notifies the new member when someone else added them. Security definer because outbox.publish, audit.record_activity and outbox.notify_user are not granted to API roles, and RLS shows the caller no user row but their own (the member''s name).';

comment on function auth_private.tg_memberships__publish_removed() is
  'Publishes member.removed, records activity and notifies the removed member. Security definer because outbox.publish, audit.record_activity and outbox.notify_user are not granted to API roles, and RLS would hide the member''s name, and the organization from a member who just left it.';
