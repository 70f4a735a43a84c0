import { afterAll, describe, expect, it } from "vitest";
import { rootDb } from "../../helpers/db.ts";
import { asUserAlone, committed, deleteUsers, onboardedUser, spend } from "../budget/fixtures.ts";

// Two simultaneous corrections of one entry, on separate connections: one wins,
// the other gets EXCOR, and the chain keeps exactly one active entry.
const made: string[] = [];
afterAll(async () => {
  await deleteUsers(...made);
});

describe("concurrent double correction", () => {
  it("lets one of two simultaneous corrections win and refuses the other with EXCOR, every time", async () => {
    const { user, ids } = await committed(async (tx) => {
      const onboarded = await onboardedUser(tx, "exrace", "2032-01-01");
      const expenseIds: string[] = [];
      for (let i = 0; i < 5; i++) expenseIds.push(await spend(tx, onboarded, 1000 + i, onboarded.tags.Groceries!, "2032-01-10"));
      return { user: onboarded, ids: expenseIds };
    });
    made.push(user.userId);
    for (const id of ids) {
      const results = await Promise.all(
        [2000, 3000].map((amount) =>
          asUserAlone(user, "select expense_id from expenses.correct_expense($1, $2, $3, '2032-01-10')", [id, amount, user.tags.Groceries]),
        ),
      );
      expect(results.map((result) => result.code ?? "ok").sort()).toEqual(["EXCOR", "ok"]);
      const { rows } = await rootDb().query(
        `select count(*) filter (where not exists (select 1 from expenses.entries c where c.corrects_id = e.expense_id))::int as active,
                count(*)::int as entries
           from expenses.chain($1) e`,
        [id],
      );
      expect(rows[0]).toEqual({ active: 1, entries: 2 });
    }
  });

  it("refuses the second correction of a chain even when both correct through different, stale views of it", async () => {
    const { user, id } = await committed(async (tx) => {
      const onboarded = await onboardedUser(tx, "exrace2", "2032-01-01");
      return { user: onboarded, id: await spend(tx, onboarded, 1000, onboarded.tags.Groceries!, "2032-01-10") };
    });
    made.push(user.userId);
    // Four at once: exactly one correction lands.
    const results = await Promise.all(
      [1, 2, 3, 4].map((n) => asUserAlone(user, "select expense_id from expenses.correct_expense($1, $2, $3, '2032-01-10')", [id, n * 100, user.tags.Groceries])),
    );
    expect(results.filter((result) => result.code === undefined)).toHaveLength(1);
    expect(results.filter((result) => result.code === "EXCOR")).toHaveLength(3);
    const { rows } = await rootDb().query("select count(*)::int as n from expenses.expenses where user_id = $1", [user.userId]);
    expect(rows[0]).toEqual({ n: 1 });
  });
});
