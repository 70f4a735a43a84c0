import { setTimeout as sleep } from "node:timers/promises";
import { withClient } from "./diagnose.ts";
import { redact } from "./urls.ts";
import type { Logger } from "../logger.ts";

/**
 * Whether a connection string reaches PostgreSQL through a transaction (or
 * statement) pooler, which hands each transaction to any server connection.
 * Client A asks for its backend pid; client B opens a transaction and asks for
 * its own, holding it; A asks again. Direct: A keeps its pid and B has another.
 * Pooled: A's server connection went back to the pooler after its statement,
 * so B gets it (PgBouncer reuses the last one first) or A's second statement
 * lands elsewhere. Three rounds, so a pooler that happens to hand A the same
 * connection twice is still caught.
 */
export async function isTransactionPooled(url: string, purpose: string): Promise<boolean> {
  return withClient(url, purpose, (a) =>
    withClient(url, purpose, async (b) => {
      const pid = async (client: typeof a) => (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
      for (let round = 0; round < 3; round++) {
        const first = await pid(a);
        await b.query("begin");
        try {
          const other = await pid(b);
          const second = await pid(a);
          if (other === first || second !== first) return true;
        } finally {
          await b.query("rollback");
        }
      }
      return false;
    }),
  );
}

/** What a connection is used for, and so what it needs of the server connection behind it. */
export interface ConnectionUse {
  /** The environment variable that sets it, for the message. */
  variable: string;
  url: string;
  /** A session is needed (LISTEN, session advisory locks): a transaction pooler is refused. */
  needsSession: boolean;
  what: string;
}

export class PoolerError extends Error {
  override name = "PoolerError";
}

/**
 * The start-up check: refuses a transaction pooler on a connection that needs
 * a session, and on a poolable one while prepared statements are on (every
 * request would fail with 42P05 "prepared statement … already exists").
 */
export async function checkConnections(uses: ConnectionUse[], preparedStatements: boolean, logger: Logger): Promise<void> {
  const seen = new Map<string, boolean>();
  for (const use of uses) {
    let pooled = seen.get(use.url);
    if (pooled === undefined) {
      pooled = await isTransactionPooled(use.url, `checking ${use.variable} for a pooler`);
      seen.set(use.url, pooled);
    }
    if (!pooled) continue;
    const where = `${use.variable} (${redact(use.url)})`;
    if (use.needsSession) {
      throw new PoolerError(
        `${where} goes through a transaction pooler: consecutive statements ran on different server connections. ${use.what} needs a session of its own; ` +
          `give it a direct connection to PostgreSQL (docs/scaling.md#connections).`,
      );
    }
    if (preparedStatements) {
      throw new PoolerError(
        `${where} goes through a transaction pooler, and prepared statements are on: requests would fail with "prepared statement … already exists". ` +
          `Set DATABASE_PREPARED_STATEMENTS=off (docs/scaling.md#connections).`,
      );
    }
    logger.info({ variable: use.variable }, `${use.variable} goes through a transaction pooler; prepared statements are off`);
  }
}

/** Any 64-bit number of our own: graphile-migrate and graphile-worker take theirs. */
const migrationLockKey = "7201602160016";

/**
 * Runs `fn` holding the migration lock: a session advisory lock on a client of
 * its own, so processes that start together migrate one after another (the
 * others wait, then find nothing to do) instead of failing on
 * graphile-migrate's "Failed to get exclusive lock". The lock ends with the
 * session: a crashed process cannot strand it (the URL must be direct, which
 * checkConnections makes sure of).
 */
export async function withMigrationLock<T>(url: string, logger: Logger, fn: () => Promise<T>, timeoutMs = 600_000): Promise<T> {
  return withClient(url, "taking the migration lock", async (client) => {
    const started = Date.now();
    let reported = started;
    for (;;) {
      const { rows } = await client.query<{ locked: boolean }>("select pg_try_advisory_lock($1::bigint) as locked", [migrationLockKey]);
      if (rows[0]?.locked) break;
      const now = Date.now();
      if (now - started > timeoutMs) throw new Error(`Another process has held the migration lock for ${Math.round((now - started) / 1000)} s; giving up.`);
      if (now - reported >= 10_000) {
        reported = now;
        logger.info({ waitedMs: now - started }, "waiting for another process to finish migrating");
      }
      await sleep(100 + Math.random() * 200);
    }
    try {
      return await fn();
    } finally {
      await client.query("select pg_advisory_unlock($1::bigint)", [migrationLockKey]).catch(() => undefined);
    }
  });
}
