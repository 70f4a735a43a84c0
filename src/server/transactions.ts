import pg, { type Pool, type PoolClient } from "pg";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { makeWithPgClientViaPgClientAlreadyInTransaction } from "postgraphile/adaptors/pg";
import type { WithPgClient } from "postgraphile/@dataplan/pg";
import type { RequestAuth } from "./authenticate.ts";

/**
 * How the API's statements reach PostgreSQL as the caller, with fewer round
 * trips than @dataplan/pg's own adaptor and the same guarantees.
 *
 * @dataplan/pg runs every batch of a request in its own transaction on its own
 * pool connection: `begin`, `select set_config(…)` (role, claims, timeouts),
 * the statement, `commit` — four round trips per statement, and a query whose
 * page and aggregate are two statements takes two connections and eight
 * round trips (docs/benchmarks.md, issue 17). Here:
 *
 * - `begin` and the settings go as one simple-protocol message (the values as
 *   escaped literals: the simple protocol takes no parameters), so every
 *   transaction costs one round trip less;
 * - a **query** operation runs all its statements in one transaction on one
 *   connection, one after another (`requestTransaction`): one `begin`, one
 *   `commit`, one snapshot of the data for the whole answer. Mutations keep a
 *   transaction per statement (a failing second mutation must not roll back
 *   the first, which GraphQL reports as done), and so do subscriptions.
 */

type Settings = Record<string, string | undefined> | null;

/**
 * The caller's transaction settings, made once per verified token (one
 * RequestAuth each, src/server/authenticate.ts): the claims are not
 * serialised again for every request, and `beginWithSettings` escapes them
 * once per (frozen) settings object. One maker per statement timeout: the
 * GraphQL service's and the beacon route's.
 */
export function callerSettings(statementTimeoutMs: number): (auth: RequestAuth) => Readonly<Record<string, string>> {
  const statementTimeout = String(statementTimeoutMs);
  const byAuth = new WeakMap<RequestAuth, Readonly<Record<string, string>>>();
  return (auth) => {
    let settings = byAuth.get(auth);
    if (!settings) {
      // statement_timeout: one slow statement cannot hold a pool connection for long (SET LOCAL, so per transaction).
      // jit_optimize_above_cost: @dataplan/pg's session-wide setting, made per transaction so that
      // nothing sticks to a pooler's server connection (src/db/pool.ts skips the session statement).
      settings = Object.freeze({ role: auth.role, "request.jwt.claims": JSON.stringify(auth.claims), statement_timeout: statementTimeout, jit_optimize_above_cost: "-1" });
      byAuth.set(auth, settings);
    }
    return settings;
  };
}

/** The statement of each settings object: the API's are made once per token (src/server/preset.ts). */
const beginBySettings = new WeakMap<object, string | null>();

/** `begin; select set_config(…, true), …`: one message, so one round trip. Null when there is nothing to set. */
export function beginWithSettings(pgSettings: Settings): string | null {
  if (!pgSettings) return null;
  let begin = beginBySettings.get(pgSettings);
  if (begin === undefined) {
    begin = buildBegin(pgSettings);
    // Only objects nobody changes afterwards may be remembered.
    if (Object.isFrozen(pgSettings)) beginBySettings.set(pgSettings, begin);
  }
  return begin;
}

function buildBegin(pgSettings: Settings): string | null {
  const calls: string[] = [];
  for (const [key, value] of Object.entries(pgSettings ?? {})) {
    if (value == null) continue;
    calls.push(`set_config(${pg.escapeLiteral(key)}, ${pg.escapeLiteral(String(value))}, true)`);
  }
  return calls.length > 0 ? `begin; select ${calls.join(", ")}` : null;
}

/** @dataplan/pg's client wrapper (prepared statements, savepoints for nested transactions) over a connection already in its transaction. */
function inTransaction(client: PoolClient): WithPgClient<NodePostgresPgClient> {
  return makeWithPgClientViaPgClientAlreadyInTransaction(client, true);
}

/** Releases a connection; one whose transaction could not be ended is destroyed, never reused. */
async function end(client: PoolClient, statement: "commit" | "rollback"): Promise<void> {
  try {
    await client.query(statement);
    client.release();
  } catch (error) {
    client.release(error instanceof Error ? error : true);
    if (statement === "commit") throw error;
  }
}

/** Runs `work` in one transaction as the caller on a pool connection (`begin` and the settings in one round trip); commits, or rolls back and rethrows. */
export async function asCaller<T>(pool: Pool, pgSettings: Settings, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(beginWithSettings(pgSettings) ?? "begin");
  } catch (error) {
    await end(client, "rollback");
    throw error;
  }
  let result: T;
  try {
    result = await work(client);
  } catch (error) {
    await end(client, "rollback");
    throw error;
  }
  await end(client, "commit");
  return result;
}

/** The pg service's withPgClient: a transaction per call, as @dataplan/pg's, one round trip shorter. */
export function transactionPerCall(pool: Pool): WithPgClient<NodePostgresPgClient> {
  const withPgClient = async <T>(pgSettings: Settings, callback: (client: NodePostgresPgClient) => Promise<T>): Promise<T> => {
    if (beginWithSettings(pgSettings)) return asCaller(pool, pgSettings, (client) => inTransaction(client)(null, callback));
    const client = await pool.connect();
    try {
      return await makeWithPgClientViaPgClientAlreadyInTransaction(client, false)(pgSettings, callback);
    } finally {
      client.release();
    }
  };
  return withPgClient as WithPgClient<NodePostgresPgClient>;
}

/**
 * A withPgClient for one query operation: its statements share one
 * transaction, opened by the first and committed once none is running or
 * waiting (after the current turn of the event loop, so the next batch of the
 * same plan usually still finds it open). Statements run one at a time, in
 * the order asked. A statement that fails rolls the transaction back and the
 * next one opens a new one, so one failing field does not fail the others
 * (as with a transaction per statement). Calls with other settings than the
 * request's go through `fallback`.
 */
export function requestTransaction(pool: Pool, requestSettings: Settings, fallback: WithPgClient<NodePostgresPgClient>): WithPgClient<NodePostgresPgClient> {
  const begin = beginWithSettings(requestSettings);
  let client: PoolClient | null = null;
  let tail: Promise<unknown> = Promise.resolve();
  let waiting = 0;

  const open = async (): Promise<PoolClient> => {
    if (client) return client;
    const fresh = await pool.connect();
    try {
      await fresh.query(begin!);
    } catch (error) {
      await end(fresh, "rollback");
      throw error;
    }
    client = fresh;
    return fresh;
  };
  const close = async (statement: "commit" | "rollback"): Promise<void> => {
    const current = client;
    client = null;
    if (current) await end(current, statement);
  };
  // Queued behind whatever is running: commits only if nothing arrived meanwhile.
  const commitWhenIdle = () => {
    tail = tail.then(async () => {
      if (waiting === 0) await close("commit").catch(() => undefined);
    });
  };

  const withPgClient = <T>(pgSettings: Settings, callback: (client: NodePostgresPgClient) => Promise<T>): Promise<T> => {
    if (!begin || pgSettings !== requestSettings) return fallback(pgSettings, callback);
    waiting++;
    const result = tail.then(async () => {
      const current = await open();
      try {
        return await inTransaction(current)(null, callback);
      } catch (error) {
        await close("rollback");
        throw error;
      }
    });
    tail = result.then(
      () => undefined,
      () => undefined,
    );
    const settle = () => {
      if (--waiting === 0) setImmediate(commitWhenIdle);
    };
    result.then(settle, settle);
    return result;
  };
  return withPgClient as WithPgClient<NodePostgresPgClient>;
}
