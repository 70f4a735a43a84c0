import type { TestTransaction } from "../../helpers/db.ts";

/**
 * Takes, first thing in a test that registers types and then calls
 * registry.add_type_column, the lock add_type_column's foreign key needs anyway:
 * SHARE ROW EXCLUSIVE on registry.types (adding a foreign key locks the
 * referenced table that way, and puts its triggers on it).
 *
 * Why: such a test inserts into registry.types first (ROW EXCLUSIVE) and only
 * then adds the foreign key (SHARE ROW EXCLUSIVE, which conflicts with ROW
 * EXCLUSIVE held by anyone else). Two files doing that at once (types.db and
 * state-machines.db) each held the first lock and waited for the other's to go:
 * "deadlock detected" in registry.add_type_column. Taking the stronger lock
 * before any write means nobody upgrades a lock: the second test simply waits
 * for the first one's rollback (milliseconds), and other files' inserts into
 * registry.types wait the same short while.
 */
export async function lockTypesForDdl(tx: TestTransaction): Promise<void> {
  await tx.query("lock table registry.types in share row exclusive mode");
}
