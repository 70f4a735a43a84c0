import { afterAll, describe, expect, it } from "vitest";
import { rootDb } from "../../helpers/db.ts";
import { until } from "../../helpers/until.ts";
import { asUserAlone, committed, correct, deleteUsers, onboardedUser, spend, type Onboarded } from "../budget/fixtures.ts";

// Tamper evidence: the audit module logs every entry and seals it into its
// SHA-256 chain; expenses.verify_ledger compares the ledger with what was sealed.
// The rows are committed (sealing only covers finished transactions) and a
// superuser tampers with them by switching triggers off, as an attacker would.

const made: string[] = [];
afterAll(async () => {
  await deleteUsers(...made);
});

/** Seals (as the audit_seal task does) until every log entry of the user's ledger is sealed. */
async function sealed(userId: string): Promise<void> {
  await until(
    async () => {
      await rootDb().query("select audit_private.seal(10000)");
      const { rows } = await rootDb().query<{ n: number }>(
        "select count(*)::int as n from audit.change_log where schema_name = 'expenses' and table_name = 'entries' and owner_id = $1 and chain_seq is null",
        [userId],
      );
      return rows[0]!.n;
    },
    (unsealed) => unsealed === 0,
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

/** As superuser with triggers off (session_replication_role = replica): what no role of the application can do. */
async function tamper(sql: string, values: unknown[]): Promise<void> {
  const client = await rootDb().connect();
  try {
    await client.query("set session_replication_role = replica");
    await client.query(sql, values);
  } finally {
    await client.query("reset session_replication_role");
    client.release();
  }
}

async function verify(user: Onboarded): Promise<Array<Record<string, unknown>>> {
  const result = await asUserAlone(user, "select expense_id, problem from expenses.verify_ledger()");
  if (result.code) throw new Error(`verify_ledger failed: ${result.code}`);
  return result.rows ?? [];
}

describe("tamper evidence", () => {
  it("verifies an intact ledger, then shows the first altered entry after a superuser rewrites rows, and a deleted one", async () => {
    const { user, ids } = await committed(async (tx) => {
      const onboarded = await onboardedUser(tx, "extamper", "2032-01-01");
      const expenseIds: string[] = [];
      for (let i = 0; i < 4; i++) expenseIds.push(await spend(tx, onboarded, 1000 + i, onboarded.tags.Groceries!, `2032-01-1${i}`));
      return { user: onboarded, ids: expenseIds };
    });
    made.push(user.userId);
    // A later transaction: the correction is recorded after the originals.
    const correction = await committed(async (tx) => correct(tx, user, ids[0]!, 999, user.tags.Groceries!, "2032-01-10"));
    await sealed(user.userId);
    expect(await verify(user)).toEqual([]);

    // Tampering with two entries: verification names the first one recorded.
    await tamper("update expenses.entries set amount_cents = 1 where expense_id = $1", [ids[2]]);
    await tamper("update expenses.entries set note = 'rewritten' where expense_id = $1", [correction]);
    expect(await verify(user)).toEqual([{ expense_id: ids[2], problem: "altered" }]);

    // Put back exactly as it was: intact again (the seal covers content, not timing).
    await tamper("update expenses.entries set amount_cents = 1002 where expense_id = $1", [ids[2]]);
    expect(await verify(user)).toEqual([{ expense_id: correction, problem: "altered" }]);
    await tamper("update expenses.entries set note = null where expense_id = $1", [correction]);
    expect(await verify(user)).toEqual([]);

    await tamper("delete from expenses.entries where expense_id = $1", [ids[3]]);
    expect(await verify(user)).toEqual([{ expense_id: ids[3], problem: "deleted" }]);
  });

  it("lets operators verify another user's ledger, including the audit chain over its span", async () => {
    const user = await committed((tx) => onboardedUser(tx, "extamp2", "2032-01-01"));
    made.push(user.userId);
    await committed((tx) => spend(tx, user, 4200, user.tags.Groceries!, "2032-01-05"));
    await sealed(user.userId);
    const { rows } = await rootDb().query("select * from expenses.verify_ledger($1)", [user.userId]);
    expect(rows).toEqual([]);
    // A row inserted behind the functions' back (triggers off: no log entry) is unlogged.
    await tamper(
      "insert into expenses.entries (user_id, amount_cents, currency, spent_on, tag_id) values ($1, 1, 'EUR', '2032-01-06', $2)",
      [user.userId, user.tags.Groceries],
    );
    const after = await rootDb().query("select problem from expenses.verify_ledger($1)", [user.userId]);
    expect(after.rows).toEqual([{ problem: "unlogged" }]);
  });
});
