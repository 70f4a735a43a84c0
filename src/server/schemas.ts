/**
 * The schemas PostGraphile exposes, in order: the first keeps unprefixed names.
 * The RLS-coverage test walks the same list.
 */
export const exposedSchemas = ["auth", "registry", "audit", "outbox", "inbox", "ops", "ledger", "finance", "sales", "support", "hr"] as const;
