import pg from "pg";
import { afterAll, inject } from "vitest";
import { createPool } from "../../src/db/pool.ts";
import { createLogger } from "../../src/logger.ts";

export type Claims = { role: string; sub?: string; sid?: string; org_id?: string; iat?: number; [claim: string]: unknown };

let rootPool: pg.Pool | undefined;

/** Superuser pool on the test database (fixtures; becoming any role). */
export function rootDb(): pg.Pool {
  if (!rootPool) {
    rootPool = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 4 });
    afterAll(async () => {
      await rootPool?.end();
      rootPool = undefined;
    });
  }
  return rootPool;
}

/**
 * An owner pool for graphile-worker (`runOnce`) in a test: made by the server's
 * createPool, so it has the 'error' handlers graphile-worker asks for (a pool
 * without them crashes the process when the server drops an idle connection).
 */
export function workerPool(max = 4): pg.Pool {
  return createPool(inject("testDatabase").ownerUrl, max, createLogger("silent"), "test-worker");
}

export interface TestTransaction {
  client: pg.PoolClient;
  query<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /** From here on, run as this role with these JWT claims (what the API does per request). */
  become(claims: Claims): Promise<void>;
  /** Run `fn` as superuser, then return to the current role and claims (to prove data exists). */
  asRoot<T>(fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` in a savepoint and returns the SQLSTATE it failed with (or undefined). */
  errorCode(fn: () => Promise<unknown>): Promise<string | undefined>;
  /** Runs `fn` in a savepoint and returns "SQLSTATE: message" of the error it failed with (or undefined). */
  errorOf(fn: () => Promise<unknown>): Promise<string | undefined>;
}

export interface TransactionOptions {
  /**
   * The test attaches or drops a partition of a monthly-partitioned table (analytics'
   * impressions): it then runs while no other SQL test's transaction is open (see below).
   */
  attachesPartitions?: boolean;
}

/**
 * Attaching a partition takes SHARE ROW EXCLUSIVE, one table after the other, on every
 * table the partitioned table references (events.events, events.event_posts,
 * users.profiles, campaigns' tables), and the test keeps them until its rollback. Other
 * test files meanwhile write those tables in their own order (a user, then an event;
 * or an event, then another user): a test holding the lock on events and waiting for
 * profiles, and one holding a row of profiles and waiting to insert an event, deadlock
 * (seen at four files at once: "deadlock detected" in createEvent and in ingest).
 * So every SQL test holds this advisory lock shared for its transaction, and a test
 * that attaches partitions holds it exclusive, taken before anything else (so nobody
 * upgrades it). Transactions of the API and worker tests do not take it; theirs are
 * short and do not write profiles and then events.
 */
const partitionDdlKey = "pg_catalog.hashtextextended('groundwork tests: partition ddl', 0)";
const partitionDdlLock = `select pg_catalog.pg_advisory_lock%s(${partitionDdlKey})`;
const partitionDdlUnlock = `select pg_catalog.pg_advisory_unlock%s(${partitionDdlKey}) as released`;

/**
 * The one helper for SQL tests: a transaction on the test database that is
 * always rolled back, starting as superuser; `become` switches to a role with
 * claims exactly as the API would.
 */
export async function withTransaction<T>(fn: (tx: TestTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const client = await rootDb().connect();
  let savepoints = 0;
  /** The error `fn` failed with inside a savepoint (rolled back to), or undefined. */
  const failure = async (fn: () => Promise<unknown>): Promise<{ code: string; message: string } | undefined> => {
    const name = `sp_${++savepoints}`;
    await client.query(`savepoint ${name}`);
    try {
      await fn();
      await client.query(`release savepoint ${name}`);
      return undefined;
    } catch (error) {
      await client.query(`rollback to savepoint ${name}`);
      const { code, message } = error as { code?: string; message: string };
      return { code: code ?? "NO_CODE", message };
    }
  };
  const tx: TestTransaction = {
    client,
    query: (text, values) => client.query(text, values),
    async become(claims) {
      const withIat = { iat: Math.floor(Date.now() / 1000), ...claims };
      await client.query("select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)", [
        claims.role,
        JSON.stringify(withIat),
      ]);
    },
    async asRoot(inner) {
      const { rows } = await client.query<{ role: string; claims: string }>(
        "select current_setting('role') as role, current_setting('request.jwt.claims', true) as claims",
      );
      await client.query("reset role");
      try {
        return await inner();
      } finally {
        const saved = rows[0];
        if (saved && saved.role !== "none") {
          await client.query("select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)", [
            saved.role,
            saved.claims ?? "",
          ]);
        }
      }
    },
    async errorCode(inner) {
      return (await failure(inner))?.code;
    },
    async errorOf(inner) {
      const error = await failure(inner);
      return error && `${error.code}: ${error.message}`;
    },
  };
  const shared = options.attachesPartitions ? "" : "_shared";
  // Held by the session around the transaction rather than in it, so that a test may still open with
  // `set transaction isolation level …`; released after the rollback (or with the connection).
  try {
    await client.query(partitionDdlLock.replace("%s", shared));
  } catch (error) {
    client.release(true);
    throw error;
  }
  await client.query("begin");
  try {
    return await fn(tx);
  } finally {
    await client.query("rollback").catch(() => undefined);
    const unlocked = await client.query<{ released: boolean }>(partitionDdlUnlock.replace("%s", shared)).then(
      ({ rows }) => rows[0]?.released === true,
      () => false,
    );
    // A connection that could not give the lock back is closed, which gives it back.
    client.release(!unlocked);
  }
}
