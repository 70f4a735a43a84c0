import pg from "pg";
import { redact, userName } from "./urls.ts";

/**
 * Turns a failed connection into a sentence that names what is missing: the
 * host, the role, the password, the database or a privilege.
 */
export function explainConnectionError(error: unknown, url: string, purpose: string): Error {
  const e = error as NodeJS.ErrnoException & { code?: string; message?: string };
  const where = new URL(url);
  const target = `${where.hostname}:${where.port || 5432}`;
  const role = userName(url);
  const database = decodeURIComponent(where.pathname.slice(1));
  let reason: string;
  switch (e.code) {
    case "ECONNREFUSED":
    case "ENOTFOUND":
    case "EHOSTUNREACH":
    case "ETIMEDOUT":
    case "EAI_AGAIN":
      reason = `cannot reach PostgreSQL at ${target} (${e.code}). Is the server running, and is the host right?`;
      break;
    case "28P01":
      reason = `password authentication failed for role "${role}".`;
      break;
    case "28000":
      reason = /does not exist/.test(e.message ?? "")
        ? `role "${role}" does not exist. Set ROOT_DATABASE_URL (a superuser connection) so Groundwork can create its roles, or create them with migrations/afterReset.sql.`
        : `the server refused role "${role}": ${e.message}`;
      break;
    case "3D000":
      reason = `database "${database}" does not exist. Set ROOT_DATABASE_URL so Groundwork can create it, or create it yourself.`;
      break;
    case "42501":
      reason = `role "${role}" lacks a privilege: ${e.message}`;
      break;
    default:
      reason = e.message ?? String(error);
  }
  return new Error(`Cannot connect to ${redact(url)} (${purpose}): ${reason}`, { cause: error });
}

/** Runs `fn` with a one-off client, explaining connection failures. */
export async function withClient<T>(url: string, purpose: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw explainConnectionError(error, url, purpose);
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
