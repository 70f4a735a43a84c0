import { rootDb, type TestTransaction } from "../../helpers/db.ts";
import { createUser, one, type TestUser } from "../../helpers/fixtures.ts";

/**
 * Budgeting fixtures for SQL tests: onboarded users, tags by name, expenses
 * recorded through expenses.create_expense. Months are passed as parameters
 * (never the clock), so a test means the same whenever it runs.
 */

export interface Onboarded extends TestUser {
  /** Default tag ids by name. */
  tags: Record<string, string>;
}

/** A user onboarded with budget 3,000.00 EUR split 50/30/20, the period of `month` opened. Leaves the transaction as the user. */
export async function onboardedUser(tx: TestTransaction, label: string, month = "2031-03-01", amount = 300000): Promise<Onboarded> {
  const user = await createUser(tx, label);
  await tx.become(user.claims);
  await tx.query("select budget.complete_onboarding($1, 50, 30, 20, 'EUR', $2)", [amount, month]);
  const { rows } = await tx.query<{ name: string; tag_id: string }>("select name, tag_id from budget.tags order by name");
  return { ...user, tags: Object.fromEntries(rows.map((row) => [row.name, row.tag_id])) };
}

/** expenses.create_expense as `user`; returns the entry id. Leaves the transaction as the user. */
export async function spend(
  tx: TestTransaction,
  user: TestUser,
  amountCents: number | string,
  tagId: string,
  spentOn: string,
  spreadMonths = 1,
  note: string | null = null,
): Promise<string> {
  await tx.become(user.claims);
  const row = await one<{ expense_id: string }>(
    tx,
    "select expense_id from expenses.create_expense($1::bigint, $2, $3::date, $4, null, $5)",
    [amountCents, tagId, spentOn, note, spreadMonths],
  );
  return row.expense_id;
}

/** expenses.correct_expense as `user`; returns the new entry's id. */
export async function correct(tx: TestTransaction, user: TestUser, expenseId: string, amountCents: number, tagId: string, spentOn: string): Promise<string> {
  await tx.become(user.claims);
  const row = await one<{ expense_id: string }>(tx, "select expense_id from expenses.correct_expense($1, $2, $3, $4::date)", [
    expenseId,
    amountCents,
    tagId,
    spentOn,
  ]);
  return row.expense_id;
}

export interface Summary {
  period_id: string | null;
  currency: string;
  amount: string;
  essentials_budget: string;
  discretionary_budget: string;
  savings_budget: string;
  essentials_spent: string;
  discretionary_spent: string;
  savings_spent: string;
  total_spent: string;
  essentials_remaining: string;
  discretionary_remaining: string;
  savings_remaining: string;
  total_remaining: string;
  top_tags: Array<{ tagId: string; name: string; bucket: string; spent: string }>;
}

/** budget.period_summary as `user`. */
export async function summary(tx: TestTransaction, user: TestUser, month: string): Promise<Summary> {
  await tx.become(user.claims);
  return one<Summary & Record<string, unknown>>(tx, "select * from budget.period_summary($1::date)", [month]);
}

/**
 * Like withTransaction, but commits: for tests that need other connections to
 * see the data (races, the worker, sealing). The caller removes what it made
 * (deleteUsers).
 */
export async function committed<T>(fn: (tx: TestTransaction) => Promise<T>): Promise<T> {
  const client = await rootDb().connect();
  const tx: TestTransaction = {
    client,
    query: (text, values) => client.query(text, values),
    async become(claims) {
      await client.query("select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)", [
        claims.role,
        JSON.stringify({ iat: Math.floor(Date.now() / 1000), ...claims }),
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
          await client.query("select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)", [saved.role, saved.claims ?? ""]);
        }
      }
    },
    async errorCode(inner) {
      await client.query("savepoint committed_sp");
      try {
        await inner();
        await client.query("release savepoint committed_sp");
        return undefined;
      } catch (error) {
        await client.query("rollback to savepoint committed_sp");
        return (error as { code?: string }).code ?? "NO_CODE";
      }
    },
    async errorOf(inner) {
      return tx.errorCode(inner);
    },
  };
  await client.query("begin");
  try {
    const result = await fn(tx);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}

/** Deletes users made by committed tests (their budgets, ledgers and exports go with them). */
export async function deleteUsers(...userIds: string[]): Promise<void> {
  await rootDb().query("delete from auth.users where user_id = any($1::uuid[])", [userIds]);
}

/** Runs `sql` as the user on its own connection and transaction; resolves to the rows or the error code. */
export async function asUserAlone(user: TestUser, sql: string, values: unknown[] = [], beforeCommit?: () => Promise<void>): Promise<{ rows?: Record<string, unknown>[]; code?: string }> {
  const client = await rootDb().connect();
  try {
    await client.query("begin");
    await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [
      JSON.stringify({ iat: Math.floor(Date.now() / 1000), ...user.claims }),
    ]);
    try {
      const { rows } = await client.query(sql, values);
      await beforeCommit?.();
      await client.query("commit");
      return { rows };
    } catch (error) {
      await client.query("rollback");
      return { code: (error as { code?: string }).code ?? "NO_CODE" };
    }
  } finally {
    client.release();
  }
}
