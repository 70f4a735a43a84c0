--! Previous: sha1:dd8c74a836c664493d647cb2a99dd002519b6551
--! Hash: sha1:04be748128fa3cc6dde35f6acf3c669a737b3c4b
--! Message: outbox: notifications filterable and ordered by creation time, unread count aggregate (issue 17)

--! split: 2355-outbox-notification-filters.sql
-- outbox: what clients filter, order and count notifications by (issue 17).
-- Clients re-query unread notifications (docs/realtime.md) ordered by creation
-- time and show an unread counter: both need an index PostGraphile can see
-- (it offers filter and order only on indexed columns), and the counter is an
-- aggregate, enabled by the +aggregates behavior.

drop index if exists outbox.notifications_user_id_read_at_idx;
drop index if exists outbox.notifications_user_id_created_at_idx;

create index notifications_user_id_created_at_idx on outbox.notifications (user_id, created_at desc);
create index notifications_user_id_read_at_idx on outbox.notifications (user_id, read_at);

comment on table outbox.notifications is
  E'@behavior -insert -delete +aggregates\nThings that happened that concern you ("Alice added you to Acme"). New ones arrive on the notificationAdded subscription; set readAt to mark one read. Filter by readAt (isNull: true) and order by CREATED_AT_DESC for the unread list; aggregates { distinctCount { notificationId } } with that filter is the unread counter.';
