import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { beginWithSettings, requestTransaction, transactionPerCall } from "../../src/server/transactions.ts";

// The API's way to PostgreSQL (src/server/transactions.ts), on gw_authenticator connections as the server has them.
const pool = new pg.Pool({ connectionString: inject("testDatabase").authenticatorUrl, max: 4 });
afterAll(() => pool.end());

// Claims with a quote and a backslash: the settings travel as escaped literals in a simple-protocol message.
const settings = () => ({ role: "gw_user", "request.jwt.claims": JSON.stringify({ role: "gw_user", sub: "o'brien\\x" }), statement_timeout: "5000" });

const txid = async (withPgClient: ReturnType<typeof transactionPerCall>, s: ReturnType<typeof settings>) =>
  withPgClient(s, async (client) => {
    const { rows } = await client.query<{ txid: string; who: string; claims: string; timeout: string }>({
      text: "select txid_current()::text as txid, current_user as who, current_setting('request.jwt.claims') as claims, current_setting('statement_timeout') as timeout",
    });
    return rows[0]!;
  });

/** Waits until the pool has every connection back (a request's transaction commits after its last statement). */
async function settled(): Promise<void> {
  for (let i = 0; i < 100 && pool.idleCount !== pool.totalCount; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(pool.idleCount).toBe(pool.totalCount);
}

describe("transactions of the API (src/server/transactions.ts)", () => {
  it("sends begin and every setting in one message, values escaped", () => {
    expect(beginWithSettings({ a: "x'y", b: undefined, c: "back\\slash" })).toBe("begin; select set_config('a', 'x''y', true), set_config('c',  E'back\\\\slash', true)");
    expect(beginWithSettings({})).toBeNull();
    expect(beginWithSettings(null)).toBeNull();
  });

  it("a transaction per call for mutations: each call its own, as the caller, settings intact", async () => {
    const perCall = transactionPerCall(pool);
    const s = settings();
    const [a, b] = await Promise.all([txid(perCall, s), txid(perCall, s)]);
    expect(a.who).toBe("gw_user");
    expect(JSON.parse(a.claims).sub).toBe("o'brien\\x");
    expect(a.timeout).toBe("5s");
    expect(a.txid).not.toBe(b.txid);
    await settled();
  });

  it("a query's statements share one transaction, committed when the last one is done", async () => {
    const s = settings();
    const shared = requestTransaction(pool, s, transactionPerCall(pool));
    const [a, b] = await Promise.all([txid(shared, s), txid(shared, s)]);
    expect(a.txid).toBe(b.txid);
    expect(a.who).toBe("gw_user");
    expect(JSON.parse(b.claims).sub).toBe("o'brien\\x");
    await settled();
    // Committed, not left open or rolled back: its transaction id is in the past of a new one.
    const later = await txid(shared, s);
    expect(BigInt(later.txid)).toBeGreaterThan(BigInt(a.txid));
    const { rows } = await pool.query<{ status: string }>("select txid_status($1::bigint) as status", [a.txid]);
    expect(rows[0]!.status).toBe("committed");
    await settled();
  });

  it("a failing statement rolls back and the next statement of the query still runs, in a fresh transaction", async () => {
    const s = settings();
    const shared = requestTransaction(pool, s, transactionPerCall(pool));
    const first = txid(shared, s);
    const failing = shared(s, (client) => client.query({ text: "select 1 / 0" }));
    const after = txid(shared, s);
    const [a, error, c] = await Promise.all([first, failing.then(() => null, (e: Error) => e), after]);
    expect(error?.message).toMatch(/division by zero/);
    expect(c.txid).not.toBe(a.txid);
    expect(c.who).toBe("gw_user");
    const { rows } = await pool.query<{ status: string }>("select txid_status($1::bigint) as status", [a.txid]);
    expect(rows[0]!.status).toBe("aborted");
    await settled();
  });

  it("calls with other settings than the request's take their own transaction", async () => {
    const s = settings();
    const shared = requestTransaction(pool, s, transactionPerCall(pool));
    const other = { ...settings(), role: "gw_anonymous" };
    const [a, b] = await Promise.all([txid(shared, s), txid(shared, other)]);
    expect(b.who).toBe("gw_anonymous");
    expect(a.who).toBe("gw_user");
    expect(a.txid).not.toBe(b.txid);
    await settled();
  });
});
