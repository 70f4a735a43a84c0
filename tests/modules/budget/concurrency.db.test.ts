import { afterAll, describe, expect, it } from "vitest";
import { rootDb } from "../../helpers/db.ts";
import { asUserAlone, committed, deleteUsers, onboardedUser, spend, type Onboarded } from "./fixtures.ts";

// Real concurrency: separate connections and transactions, committed data.
const made: string[] = [];
afterAll(async () => {
  await deleteUsers(...made);
});

describe("concurrent creation of the same month's period", () => {
  it("leaves one row, and applies the month's installments once", async () => {
    const user: Onboarded = await committed(async (tx) => {
      const onboarded = await onboardedUser(tx, "bgrace", "2032-01-01");
      await spend(tx, onboarded, 1000, onboarded.tags.Health!, "2032-01-15", 4);
      return onboarded;
    });
    made.push(user.userId);
    for (const month of ["2032-02-01", "2032-03-01", "2032-04-01"]) {
      const results = await Promise.all(
        Array.from({ length: 4 }, () => asUserAlone(user, "select period_id from budget.open_period($1::date)", [month])),
      );
      expect(results.map((result) => result.code)).toEqual([undefined, undefined, undefined, undefined]);
      expect(new Set(results.map((result) => result.rows?.[0]?.period_id)).size).toBe(1);
      const { rows } = await rootDb().query("select count(*)::int as n from budget.budget_periods where user_id = $1 and month = $2", [user.userId, month]);
      expect(rows[0]).toEqual({ n: 1 });
    }
    const { rows } = await rootDb().query("select installment, status from budget.pro_rata_schedules where user_id = $1 order by installment", [user.userId]);
    expect(rows).toEqual([1, 2, 3, 4].map((installment) => ({ installment, status: "applied" })));
  });

  it("makes a concurrent expense and a period opening of a new month agree on one period", async () => {
    const user: Onboarded = await committed((tx) => onboardedUser(tx, "bgrace2", "2032-01-01"));
    made.push(user.userId);
    const [expense, period] = await Promise.all([
      asUserAlone(user, "select expense_id from expenses.create_expense(500, $1, '2032-06-09')", [user.tags.Groceries]),
      asUserAlone(user, "select period_id from budget.open_period('2032-06-01')"),
    ]);
    expect([expense.code, period.code]).toEqual([undefined, undefined]);
    const { rows } = await rootDb().query("select period_id from budget.budget_periods where user_id = $1 and month = '2032-06-01'", [user.userId]);
    expect(rows).toEqual([{ period_id: period.rows?.[0]?.period_id }]);
  });
});
