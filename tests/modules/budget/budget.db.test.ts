import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { correct, onboardedUser, spend, summary } from "./fixtures.ts";

// The budget module in SQL, as the user (claims) inside rolled-back transactions.

describe("onboarding", () => {
  it("sets the defaults, creates the default tags and the month's period, syncs the display currency and marks onboarding done", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "bgon");
      await tx.become(user.claims);
      const settings = await one(tx, "select * from budget.complete_onboarding(250000, 60, 25, 15, 'EUR', '2031-03-17')");
      expect(settings).toMatchObject({ user_id: user.userId, budget_amount: "250000", essentials_pct: 60, discretionary_pct: 25, savings_pct: 15, currency: "EUR" });
      const tags = (await tx.query("select name, bucket, is_default from budget.tags order by name")).rows;
      expect(tags).toHaveLength(10);
      expect(tags.every((tag) => tag.is_default)).toBe(true);
      expect(new Set(tags.map((tag) => tag.bucket))).toEqual(new Set(["E", "D", "S"]));
      expect((await tx.query("select month::text, amount, essentials_pct, discretionary_pct, savings_pct, currency from budget.budget_periods")).rows).toEqual([
        { month: "2031-03-01", amount: "250000", essentials_pct: 60, discretionary_pct: 25, savings_pct: 15, currency: "EUR" },
      ]);
      expect(await one(tx, "select currency, has_completed_onboarding from auth.users where user_id = $1", [user.userId])).toEqual({
        currency: "EUR",
        has_completed_onboarding: true,
      });
    });
  });

  it("accepts a skipped onboarding (amount 0), and running it again keeps the tags and updates the open period", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "bgskip");
      await tx.become(user.claims);
      await tx.query("select budget.open_period('2031-04-01')");
      await tx.query("select budget.complete_onboarding(0, 50, 30, 20, 'USD', '2031-04-01')");
      await tx.query("select budget.complete_onboarding(99900, 50, 30, 20, 'GBP', '2031-04-01')");
      expect(await one(tx, "select count(*)::int as n from budget.tags")).toEqual({ n: 10 });
      expect(await one(tx, "select amount, currency from budget.budget_periods where month = '2031-04-01'")).toEqual({ amount: "99900", currency: "GBP" });
      expect(await one(tx, "select currency from auth.users where user_id = $1", [user.userId])).toEqual({ currency: "GBP" });
    });
  });

  it("keeps the display currency in step when the settings change", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "bgcur");
      await tx.query("select budget.update_settings(100000, 40, 40, 20, 'JPY')");
      expect(await one(tx, "select currency from auth.users where user_id = $1", [user.userId])).toEqual({ currency: "JPY" });
      expect(await one(tx, "select budget_amount, currency from budget.default_settings")).toEqual({ budget_amount: "100000", currency: "JPY" });
    });
  });

  it("refuses bad settings with a coded error and writes nothing", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "bgbad");
      await tx.become(user.claims);
      const attempt = (amount: string, e: number, d: number, s: number, currency = "EUR") =>
        tx.errorCode(() => tx.query("select budget.complete_onboarding($1::bigint, $2, $3, $4, $5, '2031-03-01')", [amount, e, d, s, currency]));
      expect(await attempt("100", 50, 30, 30)).toBe("BGSPL");
      expect(await attempt("100", 50, 60, -10)).toBe("BGSPL");
      expect(await attempt("100", 101, 0, -1)).toBe("BGSPL");
      expect(await attempt("-1", 50, 30, 20)).toBe("BGAMT");
      expect(await attempt("100", 50, 30, 20, "XXQ")).toBe("BGCUR");
      expect(await tx.errorCode(() => tx.query("select budget.complete_onboarding(100, 50, 30, 20, 'EUR', '1899-01-01')"))).toBe("BGMON");
      expect(await tx.errorCode(() => tx.query("select budget.open_period('9999-01-01')"))).toBe("BGMON");
      expect(await tx.errorCode(() => tx.query("select budget.complete_onboarding(1.5, 50, 30, 20, 'EUR')"))).toBe("42883");
      expect(await countAsRoot(tx, "budget.default_settings where user_id = $1", [user.userId])).toBe(0);
      expect(await countAsRoot(tx, "budget.tags where user_id = $1", [user.userId])).toBe(0);
      expect(await countAsRoot(tx, "budget.budget_periods where user_id = $1", [user.userId])).toBe(0);
      expect(await one(tx, "select has_completed_onboarding from auth.users where user_id = $1", [user.userId])).toEqual({ has_completed_onboarding: false });
    });
  });
});

describe("periods", () => {
  it("enforces the split summing to 100 and one period per month in the database, whoever writes", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "bgper");
      await tx.asRoot(async () => {
        const insert = (month: string, e: number, d: number, s: number) =>
          tx.errorCode(() =>
            tx.query("insert into budget.budget_periods (user_id, month, amount, essentials_pct, discretionary_pct, savings_pct, currency) values ($1, $2, 100, $3, $4, $5, 'EUR')", [
              user.userId,
              month,
              e,
              d,
              s,
            ]),
          );
        expect(await insert("2031-05-01", 50, 30, 30)).toBe("23514");
        expect(await insert("2031-05-15", 50, 30, 20)).toBe("23514");
        expect(await insert("2031-03-01", 50, 30, 20)).toBe("23505");
        expect(await tx.errorCode(() => tx.query("update budget.budget_periods set savings_pct = 21 where user_id = $1", [user.userId]))).toBe("23514");
        expect(await tx.errorCode(() => tx.query("update budget.default_settings set savings_pct = 0 where user_id = $1", [user.userId]))).toBe("23514");
      });
      expect(await tx.errorCode(() => tx.query("select budget.set_period('2031-03-01', 100, 10, 10, 10)"))).toBe("BGSPL");
      const changed = await one(tx, "select amount, savings_pct from budget.set_period('2031-03-01', 5000, 10, 10, 80)");
      expect(changed).toEqual({ amount: "5000", savings_pct: 80 });
    });
  });

  it("creates a month's period from the defaults once, lazily, and gives API roles no way to write periods", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "bglazy");
      const first = await one(tx, "select period_id from budget.open_period('2031-07-20')");
      const again = await one(tx, "select period_id from budget.open_period('2031-07-01')");
      expect(again).toEqual(first);
      expect(await one(tx, "select amount, essentials_pct from budget.budget_periods where month = '2031-07-01'")).toEqual({ amount: "300000", essentials_pct: 50 });
      expect(await tx.errorCode(() => tx.query("insert into budget.budget_periods (user_id, month, amount, essentials_pct, discretionary_pct, savings_pct, currency) values ($1, '2031-09-01', 1, 100, 0, 0, 'EUR')", [user.userId]))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("update budget.budget_periods set amount = 1"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("delete from budget.budget_periods"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("select budget.ensure_period($1, '2031-09-01')", [user.userId]))).toBe("42501");
    });
  });

  it("opens the month for every onboarded user in the monthly job, applying their pending installments", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "bgjob");
      await spend(tx, user, 1200, user.tags.Health!, "2031-03-10", 3);
      expect(await one(tx, "select count(*)::int as n from budget.pro_rata_schedules where status = 'pending'")).toEqual({ n: 2 });
      await tx.asRoot(() => tx.query("select budget_private.open_periods('2031-04-01')"));
      expect(await one(tx, "select count(*)::int as n from budget.budget_periods where month = '2031-04-01'")).toEqual({ n: 1 });
      expect((await tx.query("select installment, status from budget.pro_rata_schedules order by installment")).rows).toEqual([
        { installment: 1, status: "applied" },
        { installment: 2, status: "applied" },
        { installment: 3, status: "pending" },
      ]);
    });
  });
});

describe("tags", () => {
  it("keeps names unique per user case-insensitively, renames default tags, and refuses bad buckets", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "bgtag");
      expect(await tx.errorCode(() => tx.query("select budget.create_tag('groceries', 'E')"))).toBe("BGTNT");
      expect(await tx.errorCode(() => tx.query("select budget.create_tag('Pets', 'X')"))).toBe("BGBKT");
      expect(await tx.errorCode(() => tx.query("select budget.create_tag('  ', 'E')"))).toBe("BADIN");
      const pets = await one<{ tag_id: string }>(tx, "select tag_id from budget.create_tag('Pets', 'D')");
      expect(await tx.errorCode(() => tx.query("select budget.update_tag($1, 'HOUSING')", [pets.tag_id]))).toBe("BGTNT");
      const renamed = await one(tx, "select name, is_default from budget.update_tag($1, 'Rent')", [user.tags.Housing]);
      expect(renamed).toEqual({ name: "Rent", is_default: true });
      await tx.asRoot(async () => {
        expect(await tx.errorCode(() => tx.query("insert into budget.tags (user_id, name, bucket) values ($1, 'PETS', 'D')", [user.userId]))).toBe("23505");
      });
      // Another user may use the same name.
      const other = await onboardedUser(tx, "bgtag2");
      expect(await one(tx, "select name from budget.create_tag('Pets', 'D')")).toEqual({ name: "Pets" });
      expect(other.tags.Groceries).not.toBe(user.tags.Groceries);
    });
  });

  it("refuses to delete a default tag, or one an active expense or a pending installment uses; archives it otherwise", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "bgdel");
      const del = (tagId: string) => tx.errorCode(() => tx.query("select budget.delete_tag($1)", [tagId]));
      expect(await del(user.tags.Groceries!)).toBe("BGTDF");

      const gym = (await one<{ tag_id: string }>(tx, "select tag_id from budget.create_tag('Gym', 'D')")).tag_id;
      const expense = await spend(tx, user, 4500, gym, "2031-03-05");
      expect(await del(gym)).toBe("BGTIU");
      // Corrected into another tag: no active expense uses it any more.
      await correct(tx, user, expense, 4500, user.tags.Health!, "2031-03-05");

      const course = (await one<{ tag_id: string }>(tx, "select tag_id from budget.create_tag('Course', 'D')")).tag_id;
      const spread = await spend(tx, user, 90000, course, "2031-03-05", 3);
      await correct(tx, user, spread, 90000, user.tags.Health!, "2031-03-05");
      // The correction cancelled the pending installments; a new spread keeps them pending.
      const vinyl = (await one<{ tag_id: string }>(tx, "select tag_id from budget.create_tag('Vinyl', 'D')")).tag_id;
      const records = await spend(tx, user, 3000, vinyl, "2031-03-05", 3);
      await correct(tx, user, records, 3000, user.tags.Shopping!, "2031-03-05");
      const pending = (await one<{ tag_id: string }>(tx, "select tag_id from budget.create_tag('Insurance', 'E')")).tag_id;
      const policy = await spend(tx, user, 120000, pending, "2031-03-05", 12);
      expect(await one(tx, "select count(*)::int as n from budget.pro_rata_schedules where tag_id = $1 and status = 'pending'", [pending])).toEqual({ n: 11 });
      expect(await del(pending)).toBe("BGTIU"); // the expense itself is active too
      await correct(tx, user, policy, 120000, user.tags.Health!, "2031-03-05");
      expect(await one(tx, "select count(*)::int as n from budget.pro_rata_schedules where tag_id = $1 and status = 'pending'", [pending])).toEqual({ n: 0 });

      const archived = await one(tx, "select deleted_at is not null as archived from budget.delete_tag($1)", [gym]);
      expect(archived).toEqual({ archived: true });
      expect(await one(tx, "select deleted_at is not null as archived from budget.delete_tag($1)", [course])).toEqual({ archived: true });
      // History keeps the tag; new expenses cannot use it, and its name is free again.
      expect(await one(tx, "select t.name from expenses.entries e join budget.tags t using (tag_id) where e.expense_id = $1", [expense])).toEqual({ name: "Gym" });
      expect(await tx.errorCode(() => tx.query("select expenses.create_expense(100, $1, '2031-03-06')", [gym]))).toBe("EXTAG");
      expect(await one(tx, "select name from budget.create_tag('gym', 'D')")).toEqual({ name: "gym" });
      expect(await del(gym)).toBe("NTFND");
    });
  });

  it("refuses a pending installment's tag even when its expense was recorded in another tag's name by the owner", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "bgpend");
      const lessons = (await one<{ tag_id: string }>(tx, "select tag_id from budget.create_tag('Lessons', 'D')")).tag_id;
      const expense = await spend(tx, user, 6000, user.tags.Shopping!, "2031-03-05", 3);
      // Installments keep the tag they were scheduled with; point them at Lessons (as trusted code) to isolate the pending check.
      await tx.asRoot(() => tx.query("update budget.pro_rata_schedules set tag_id = $1 where expense_id = $2", [lessons, expense]));
      expect(await tx.errorCode(() => tx.query("select budget.delete_tag($1)", [lessons]))).toBe("BGTIU");
      await tx.query("select budget.cancel_pro_rata(pro_rata_group) from expenses.entries where expense_id = $1", [expense]);
      expect(await one(tx, "select deleted_at is not null as archived from budget.delete_tag($1)", [lessons])).toEqual({ archived: true });
    });
  });
});

describe("pro-rata installments", () => {
  it.each([
    [1, 100000, [100000]],
    [3, 100000, [33334, 33333, 33333]],
    [7, 100000, [14286, 14286, 14286, 14286, 14286, 14285, 14285]],
    [12, 100000, [8334, 8334, 8334, 8334, 8333, 8333, 8333, 8333, 8333, 8333, 8333, 8333]],
    [7, 100006, [14287, 14287, 14287, 14287, 14286, 14286, 14286]],
    [12, 13, [2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]],
  ])("spreads over %i months into installments that sum exactly to %i (remainder cents one each on the first)", async (months, total, expected) => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "bgpr");
      const expense = await spend(tx, user, total, user.tags.Health!, "2031-11-20", months);
      const { rows } = await tx.query<{ installment: number; target_month: string; amount: string; installments: number }>(
        "select installment, installments, target_month::text, amount from budget.pro_rata_schedules where expense_id = $1 order by installment",
        [expense],
      );
      if (months === 1) {
        expect(rows).toEqual([]); // one month: the expense counts in its own month, nothing to spread
        expect(await one(tx, "select pro_rata_group from expenses.entries where expense_id = $1", [expense])).toEqual({ pro_rata_group: null });
        return;
      }
      const amounts = rows.map((row) => Number(row.amount));
      const base = Math.floor(total / months);
      const remainder = total % months;
      expect(amounts).toEqual(Array.from({ length: months }, (_, i) => base + (i < remainder ? 1 : 0)));
      expect(amounts).toEqual(expected);
      expect(amounts.reduce((a, b) => a + b, 0)).toBe(total);
      expect(rows.map((row) => row.target_month)).toEqual(
        Array.from({ length: months }, (_, i) => new Date(Date.UTC(2031, 10 + i, 1)).toISOString().slice(0, 10)),
      );
      expect(rows.every((row) => row.installments === months)).toBe(true);
    });
  });

  it("applies the installment of a month that already has a period at once, and cancelling the group cancels only pending ones", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "bgcan");
      const expense = await spend(tx, user, 90000, user.tags.Health!, "2031-03-02", 3);
      const group = (await one<{ pro_rata_group: string }>(tx, "select pro_rata_group from expenses.entries where expense_id = $1", [expense])).pro_rata_group;
      const cancelled = (await tx.query("select installment, status from budget.cancel_pro_rata($1)", [group])).rows;
      expect(cancelled).toEqual([
        { installment: 1, status: "applied" },
        { installment: 2, status: "cancelled" },
        { installment: 3, status: "cancelled" },
      ]);
      await tx.asRoot(async () => {
        expect(await tx.errorCode(() => tx.query("update budget.pro_rata_schedules set status = 'pending' where pro_rata_group = $1 and installment = 2", [group]))).toBe("RGTRN");
        expect(await tx.errorCode(() => tx.query("update budget.pro_rata_schedules set status = 'applied' where pro_rata_group = $1 and installment = 3", [group]))).toBe("RGTRN");
      });
      const other = await createUser(tx, "bgcan2");
      await tx.become(other.claims);
      expect(await tx.errorCode(() => tx.query("select budget.cancel_pro_rata($1)", [group]))).toBe("NTFND");
    });
  });

  it("refuses spreads the database cannot split into whole cents", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "bgspr");
      expect(await tx.errorCode(() => spend(tx, user, 2, user.tags.Health!, "2031-03-02", 3))).toBe("EXSPR");
      expect(await tx.errorCode(() => spend(tx, user, 200, user.tags.Health!, "2031-03-02", 121))).toBe("EXSPR");
      expect(await tx.errorCode(() => spend(tx, user, 200, user.tags.Health!, "2099-11-02", 3))).toBe("BGMON");
      expect(await tx.errorCode(() => tx.query("select budget.schedule_pro_rata($1, gen_random_uuid(), gen_random_uuid(), 10, 3, '2031-01-01', $2)", [user.userId, user.tags.Health]))).toBe("42501");
      expect(await countAsRoot(tx, "expenses.entries where user_id = $1", [user.userId])).toBe(0);
    });
  });
});

describe("the period summary", () => {
  it("gives budget, spent and remaining per bucket and the top tags, counting only active expenses and the month's installments", async () => {
    await withTransaction(async (tx) => {
      const user = await onboardedUser(tx, "bgsum", "2031-03-01", 300001);
      await spend(tx, user, 50000, user.tags.Groceries!, "2031-03-03");
      await spend(tx, user, 20000, user.tags.Groceries!, "2031-03-31");
      const dinner = await spend(tx, user, 9999, user.tags["Dining out"]!, "2031-03-12");
      await correct(tx, user, dinner, 8000, user.tags["Dining out"]!, "2031-03-12");
      await spend(tx, user, 30000, user.tags.Savings!, "2031-03-15");
      await spend(tx, user, 100000, user.tags.Health!, "2031-03-20", 3); // 33334 in March
      await spend(tx, user, 7000, user.tags.Groceries!, "2031-04-01"); // April
      const march = await summary(tx, user, "2031-03-09");
      expect(march).toMatchObject({
        currency: "EUR",
        amount: "300001",
        essentials_budget: "150000",
        discretionary_budget: "90000",
        savings_budget: "60001",
        essentials_spent: String(50000 + 20000 + 33334),
        discretionary_spent: "8000",
        savings_spent: "30000",
        total_spent: String(50000 + 20000 + 33334 + 8000 + 30000),
        essentials_remaining: String(150000 - 103334),
        discretionary_remaining: "82000",
        savings_remaining: "30001",
        total_remaining: String(300001 - 141334),
      });
      expect(march.period_id).not.toBeNull();
      expect(march.top_tags.map((tag) => [tag.name, tag.spent])).toEqual([
        ["Groceries", "70000"],
        ["Health", "33334"],
        ["Savings", "30000"],
        ["Dining out", "8000"],
      ]);
      const april = await summary(tx, user, "2031-04-01");
      expect(april).toMatchObject({ essentials_spent: String(7000 + 33333), total_spent: String(7000 + 33333) });
      // A month never opened shows the defaults and creates nothing.
      const june = await summary(tx, user, "2031-06-01");
      expect(june).toMatchObject({ period_id: null, amount: "300001", total_spent: "0", top_tags: [] });
      expect(await countAsRoot(tx, "budget.budget_periods where user_id = $1 and month = '2031-06-01'", [user.userId])).toBe(0);
    });
  });
});

describe("isolation", () => {
  it("shows each user only their own settings, periods, tags and installments (the other's exist)", async () => {
    await withTransaction(async (tx) => {
      const alice = await onboardedUser(tx, "bgisoa");
      await spend(tx, alice, 3000, alice.tags.Health!, "2031-03-02", 3);
      const bob = await onboardedUser(tx, "bgisob");
      for (const table of ["budget.default_settings", "budget.budget_periods", "budget.tags", "budget.pro_rata_schedules"]) {
        expect(await countAsRoot(tx, `${table} where user_id = $1`, [alice.userId])).toBeGreaterThan(0);
        expect((await tx.query(`select 1 from ${table} where user_id = $1`, [alice.userId])).rowCount).toBe(0);
      }
      // Bob cannot use Alice's tag, rename it or delete it.
      expect(await tx.errorCode(() => tx.query("select expenses.create_expense(100, $1, '2031-03-02')", [alice.tags.Health]))).toBe("EXTAG");
      expect(await tx.errorCode(() => tx.query("select budget.update_tag($1, 'Mine')", [alice.tags.Health]))).toBe("NTFND");
      expect(await tx.errorCode(() => tx.query("select budget.delete_tag($1)", [alice.tags.Health]))).toBe("NTFND");
      expect((await summary(tx, bob, "2031-03-01")).total_spent).toBe("0");
      await tx.become({ role: "gw_anonymous" });
      expect(await tx.errorCode(() => tx.query("select * from budget.tags"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("select budget.open_period()"))).toBe("42501");
    });
  });
});
