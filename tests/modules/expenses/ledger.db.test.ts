import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { countAsRoot, one } from "../../helpers/fixtures.ts";
import { correct, onboardedUser, spend } from "../budget/fixtures.ts";

// The expense ledger in SQL: immutable entries, correction chains with exactly
// one active entry, the active view, bad input, isolation.

describe("recording", () => {
  it("records cents, currency (the budget's by default), date, tag and note, and opens the month's period", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "exrec");
      const id = await spend(tx, user, 1250, user.tags.Groceries!, "2031-08-14", 1, "Market");
      expect(await one(tx, "select amount_cents, currency, spent_on::text, tag_id, note, corrects_id, expenses.entries_status(e) as status from expenses.entries e where expense_id = $1", [id])).toEqual({
        amount_cents: "1250",
        currency: "EUR",
        spent_on: "2031-08-14",
        tag_id: user.tags.Groceries,
        note: "Market",
        corrects_id: null,
        status: "active",
      });
      expect(await one(tx, "select count(*)::int as n from budget.budget_periods where month = '2031-08-01'")).toEqual({ n: 1 });
      expect(await one(tx, "select currency from expenses.create_expense(99, $1, '2031-08-14', null, 'JPY')", [user.tags.Groceries])).toEqual({ currency: "JPY" });
    });
  });

  it("refuses bad input with a coded error and writes nothing", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "exbad");
      const other = await onboardedUser(tx, "exbad2");
      await tx.become(user.claims);
      const create = (amount: string, tagId: string | null, date: string, currency: string | null = null, note: string | null = null) =>
        tx.errorCode(() => tx.query("select expenses.create_expense($1::bigint, $2, $3::date, $4, $5)", [amount, tagId, date, note, currency]));
      expect(await create("-100", user.tags.Groceries!, "2031-03-01")).toBe("EXAMT");
      expect(await create("0", user.tags.Groceries!, "2031-03-01")).toBe("EXAMT");
      expect(await create("1000000000001", user.tags.Groceries!, "2031-03-01")).toBe("EXAMT");
      expect(await create("12.5", user.tags.Groceries!, "2031-03-01")).toBe("22P02"); // fractional cents are not a bigint
      expect(await create("100", user.tags.Groceries!, "1066-10-14")).toBe("EXDAT");
      expect(await create("100", user.tags.Groceries!, "2999-01-01")).toBe("EXDAT");
      expect(await create("100", other.tags.Groceries!, "2031-03-01")).toBe("EXTAG");
      expect(await create("100", null, "2031-03-01")).toBe("EXTAG");
      expect(await create("100", user.tags.Groceries!, "2031-03-01", "ZZZ")).toBe("EXCUR");
      expect(await create("100", user.tags.Groceries!, "2031-03-01", null, "x".repeat(1001))).toBe("BADIN");
      expect(await countAsRoot(tx, "expenses.entries where user_id = $1", [user.userId])).toBe(0);
      expect(await countAsRoot(tx, "budget.budget_periods where user_id = $1 and month <> '2031-03-01'", [user.userId])).toBe(0);
      // The constraints are the backstop for trusted code.
      await tx.asRoot(async () => {
        const insert = (amount: number, date: string, tagId: string) =>
          tx.errorCode(() => tx.query("insert into expenses.entries (user_id, amount_cents, currency, spent_on, tag_id) values ($1, $2, 'EUR', $3, $4)", [user.userId, amount, date, tagId]));
        expect(await insert(-1, "2031-03-01", user.tags.Groceries!)).toBe("23514");
        expect(await insert(1, "1800-01-01", user.tags.Groceries!)).toBe("23514");
        expect(await insert(1, "2031-03-01", other.tags.Groceries!)).toBe("23503");
      });
    });
  });
});

describe("immutability", () => {
  it("refuses update, delete and truncate for every role, the owner and superuser included", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "eximm");
      const id = await spend(tx, user, 500, user.tags.Groceries!, "2031-03-01");
      expect(await tx.errorCode(() => tx.query("update expenses.entries set amount_cents = 1 where expense_id = $1", [id]))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("delete from expenses.entries where expense_id = $1", [id]))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("insert into expenses.entries (user_id, amount_cents, currency, spent_on, tag_id) values ($1, 1, 'EUR', '2031-03-01', $2)", [user.userId, user.tags.Groceries]))).toBe("42501");
      await tx.asRoot(async () => {
        expect(await tx.errorCode(() => tx.query("update expenses.entries set amount_cents = 1 where expense_id = $1", [id]))).toBe("EXIMM");
        expect(await tx.errorCode(() => tx.query("delete from expenses.entries where expense_id = $1", [id]))).toBe("EXIMM");
        expect(await tx.errorCode(() => tx.query("truncate expenses.entries cascade"))).toBe("EXIMM");
        await tx.query("set local role gw_owner");
        expect(await tx.errorCode(() => tx.query("update expenses.entries set note = 'x' where expense_id = $1", [id]))).toBe("EXIMM");
        expect(await tx.errorCode(() => tx.query("delete from expenses.entries where expense_id = $1", [id]))).toBe("EXIMM");
      });
      expect(await countAsRoot(tx, "expenses.entries where expense_id = $1 and amount_cents = 500", [id])).toBe(1);
    });
  });

  it("lets the erasure of the user take their ledger with them", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "exera");
      const first = await spend(tx, user, 500, user.tags.Groceries!, "2031-03-01");
      await correct(tx, user, first, 600, user.tags.Groceries!, "2031-03-01");
      await spend(tx, user, 900, user.tags.Health!, "2031-03-01", 3);
      await tx.asRoot(() => tx.query("delete from auth.users where user_id = $1", [user.userId]));
      expect(await countAsRoot(tx, "expenses.entries where user_id = $1", [user.userId])).toBe(0);
      expect(await countAsRoot(tx, "budget.tags where user_id = $1", [user.userId])).toBe(0);
    });
  });
});

describe("corrections", () => {
  it("supersedes an entry with a new one: the old is corrected, the new active, and the chain reads oldest first", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "excor");
      const original = await spend(tx, user, 1000, user.tags.Groceries!, "2031-03-01");
      const second = await correct(tx, user, original, 1100, user.tags.Groceries!, "2031-03-02");
      const third = await correct(tx, user, second, 1200, user.tags["Dining out"]!, "2031-03-02");
      expect((await tx.query("select expense_id, corrects_id, expenses.entries_status(c) as status from expenses.chain($1) c", [second])).rows).toEqual([
        { expense_id: original, corrects_id: null, status: "corrected" },
        { expense_id: second, corrects_id: original, status: "corrected" },
        { expense_id: third, corrects_id: second, status: "active" },
      ]);
      expect((await tx.query("select expense_id, amount_cents from expenses.expenses")).rows).toEqual([{ expense_id: third, amount_cents: "1200" }]);
      expect(await one(tx, "select count(*)::int as n from expenses.entries")).toEqual({ n: 3 });
    });
  });

  it("refuses to correct a corrected entry, another user's entry, or with bad input, writing nothing", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "excor2");
      const original = await spend(tx, user, 1000, user.tags.Groceries!, "2031-03-01");
      await correct(tx, user, original, 900, user.tags.Groceries!, "2031-03-01");
      expect(await tx.errorCode(() => correct(tx, user, original, 800, user.tags.Groceries!, "2031-03-01"))).toBe("EXCOR");
      const active = await spend(tx, user, 1000, user.tags.Groceries!, "2031-03-01");
      expect(await tx.errorCode(() => correct(tx, user, active, -5, user.tags.Groceries!, "2031-03-01"))).toBe("EXAMT");
      expect(await tx.errorCode(() => correct(tx, user, active, 5, user.tags.Groceries!, "1900-03-01"))).toBe("EXDAT");
      const other = await onboardedUser(tx, "excor3");
      expect(await tx.errorCode(() => correct(tx, user, active, 5, other.tags.Groceries!, "2031-03-01"))).toBe("EXTAG");
      expect(await tx.errorCode(() => correct(tx, other, active, 5, other.tags.Groceries!, "2031-03-01"))).toBe("NTFND");
      expect(await countAsRoot(tx, "expenses.entries where user_id = $1", [user.userId])).toBe(3);
      // Trusted code cannot fork a chain either: one correction per entry.
      await tx.asRoot(async () => {
        expect(await tx.errorCode(() => tx.query("insert into expenses.entries (user_id, amount_cents, currency, spent_on, tag_id, corrects_id) values ($1, 1, 'EUR', '2031-03-01', $2, $3)", [user.userId, user.tags.Groceries, original]))).toBe("23505");
        expect(await tx.errorCode(() => tx.query("insert into expenses.entries (user_id, amount_cents, currency, spent_on, tag_id, corrects_id) values ($1, 1, 'EUR', '2031-03-01', $2, $3)", [other.userId, other.tags.Groceries, active]))).toBe("23503");
      });
    });
  });
});

describe("isolation", () => {
  it("shows a user only their own entries (the other's exist), and nothing to anonymous callers", async () => {
    await withTransaction(async (tx) => {
      const alice = await onboardedUser(tx, "exisoa");
      const id = await spend(tx, alice, 700, alice.tags.Groceries!, "2031-03-01");
      const bob = await onboardedUser(tx, "exisob");
      await tx.become(bob.claims);
      expect(await countAsRoot(tx, "expenses.entries where expense_id = $1", [id])).toBe(1);
      expect((await tx.query("select 1 from expenses.entries where expense_id = $1", [id])).rowCount).toBe(0);
      expect((await tx.query("select 1 from expenses.expenses where expense_id = $1", [id])).rowCount).toBe(0);
      expect((await tx.query("select 1 from expenses.chain($1)", [id])).rowCount).toBe(0);
      expect(await tx.errorCode(() => tx.query("select * from expenses.verify_ledger($1)", [alice.userId]))).toBe("DNIED");
      await tx.become({ role: "gw_anonymous" });
      expect(await tx.errorCode(() => tx.query("select * from expenses.expenses"))).toBe("42501");
    });
  });
});
