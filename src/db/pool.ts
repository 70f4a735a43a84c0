import pg from "pg";
import type { Logger } from "../logger.ts";

export interface PoolOptions {
  /**
   * false: queries never name a statement, so nothing is prepared on the server
   * connection (a transaction pooler hands each transaction to any server
   * connection; a statement prepared on one is missing, or already exists, on
   * another). DATABASE_PREPARED_STATEMENTS=off.
   */
  preparedStatements?: boolean;
}

/**
 * @dataplan/pg (PostGraphile) sends this once per new connection, outside any
 * transaction: through a transaction pooler it would stick to whichever server
 * connection ran it. The API sets the same thing per transaction instead
 * (src/server/preset.ts), so the session statement is skipped.
 */
export const sessionJitStatement = "set jit_optimize_above_cost = -1;";

type QueryConfig = { text?: unknown; name?: unknown };

function isQueryConfig(value: unknown): value is QueryConfig {
  return typeof value === "object" && value !== null && !("submit" in value);
}

/**
 * A pg.Client that never changes its session's settings behind a pooler's back
 * and, with `unnamed`, runs named queries unnamed (nothing prepared).
 */
function clientClass(unnamed: boolean): typeof pg.Client {
  return class SessionFreeClient extends pg.Client {
    // pg's overloads cannot be restated one by one; the arguments pass through unchanged but for the name.
    override query(...args: unknown[]): never {
      const [config] = args;
      if (config === sessionJitStatement || (isQueryConfig(config) && config.text === sessionJitStatement)) {
        const done = Promise.resolve({ command: "SET", rowCount: null, rows: [], fields: [], oid: 0 });
        const callback = args.find((arg) => typeof arg === "function") as ((error: null, result: unknown) => void) | undefined;
        if (callback) {
          void done.then((result) => callback(null, result));
          return undefined as never;
        }
        return done as never;
      }
      if (unnamed && isQueryConfig(config) && config.name !== undefined) {
        const { name: _name, ...rest } = config;
        args[0] = rest;
      }
      return (super.query as (...a: unknown[]) => never).apply(this, args);
    }
  };
}

/**
 * A pool whose lost connections are logged, not thrown: an idle client that the
 * server closes (restart, failover, our own shutdown) would otherwise emit an
 * unhandled 'error' and crash the process.
 */
export function createPool(connectionString: string, max: number, logger: Logger, label: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, Client: clientClass(options.preparedStatements === false) });
  const report = (error: Error & { code?: string }) => {
    // 57P01: the server is shutting down (expected when we stop the embedded cluster).
    const level = error.code === "57P01" ? "debug" : "warn";
    logger[level]({ pool: label, code: error.code, message: error.message }, "database connection lost");
  };
  pool.on("error", report);
  pool.on("connect", (client) => client.on("error", report));
  return pool;
}
