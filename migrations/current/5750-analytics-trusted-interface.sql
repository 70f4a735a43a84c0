--! split: 5750-analytics-trusted-interface.sql
-- Analytics' trusted interface: the on-demand partition a writer of another
-- module (campaigns' impression counting) makes before it inserts, instead of
-- reading analytics_private (CONVENTIONS: a module never reads another
-- module's *_private schema). Execute revoked from every API role, hidden
-- from GraphQL; a thin wrapper of the private implementation.

drop function if exists analytics.ensure_month_partition(text, date);

create function analytics.ensure_month_partition(parent text, month date) returns regclass
  language sql
  volatile
  set search_path = ''
as $$
  select analytics_private.ensure_month_partition(ensure_month_partition.parent, ensure_month_partition.month)
$$;
comment on function analytics.ensure_month_partition(text, date) is
  E'@behavior -*\nTrusted interface, not in GraphQL: creates (idempotently) the partition of a registered monthly table (analytics_private.partitioned_tables) for the UTC month containing month, and returns it; BADIN for a table that is not registered. No API role may execute it.';
revoke execute on function analytics.ensure_month_partition(text, date) from public;
