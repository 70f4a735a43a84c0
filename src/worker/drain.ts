import type { JobHelpers } from "graphile-worker";

/**
 * Calls a batch function until it handles fewer rows than it was allowed: `sql`
 * takes the batch size as $1 and returns one row with the number it handled as
 * `handled`. Each call is its own statement, so a long backlog never keeps one
 * transaction (and its locks) open. Returns the total handled.
 */
export async function drain(helpers: JobHelpers, sql: string, batchSize: number): Promise<number> {
  let total = 0;
  for (;;) {
    const { rows } = await helpers.query<{ handled: number }>(sql, [batchSize]);
    const handled = rows[0]?.handled ?? 0;
    total += handled;
    if (handled < batchSize) return total;
  }
}
