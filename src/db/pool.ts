import pg from "pg";
import type { Logger } from "../logger.ts";

/**
 * A pool whose lost connections are logged, not thrown: an idle client that the
 * server closes (restart, failover, our own shutdown) would otherwise emit an
 * unhandled 'error' and crash the process.
 */
export function createPool(connectionString: string, max: number, logger: Logger, label: string): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  const report = (error: Error & { code?: string }) => {
    // 57P01: the server is shutting down (expected when we stop the embedded cluster).
    const level = error.code === "57P01" ? "debug" : "warn";
    logger[level]({ pool: label, code: error.code, message: error.message }, "database connection lost");
  };
  pool.on("error", report);
  pool.on("connect", (client) => client.on("error", report));
  return pool;
}
