import { describe, expect, it } from "vitest";
import { withTransaction, type Claims, type TestTransaction } from "../../helpers/db.ts";
import { createWorld, staffRoles, type CapstoneWorld } from "./fixtures.ts";
import { anonymous, countAsRoot } from "../../helpers/fixtures.ts";

// Role × table × command for the capstone schemas: the five staff roles, a
// signed-in customer and anonymous, against data that exists in every table
// (two customers, each with accounts, postings, orders, tickets, messages).
//
// select: "all" sees every row, "own" sees exactly the customer's rows (fewer
// than exist), "none" sees nothing although rows exist, "denied" fails 42501.
// insert: "ok" or "denied" (42501: no grant, or a policy's with check).
// update/delete: "ok" touches every row it sees (at least one), "denied" fails 42501.

const actors = [...staffRoles, "customer", "anonymous"] as const;
type Actor = (typeof actors)[number];
type SelectRule = "all" | "own" | "none" | "denied";
type WriteRule = "ok" | "denied";

interface TableCase {
  table: string;
  /** Where the rows come from when `table` is a view that filters by role (its rows as root). */
  rowsOf?: string;
  /** The customer's own rows, as a where clause over the world. */
  own?: (w: CapstoneWorld) => string;
  select: Partial<Record<Actor, SelectRule>>;
  insert?: { sql: (w: CapstoneWorld, actor: Actor) => string; ok: Actor[] };
  update?: { set: string; ok: Actor[] };
  delete?: { ok: Actor[] };
}

const everyoneElse = (rule: SelectRule, given: Partial<Record<Actor, SelectRule>>): Record<Actor, SelectRule> =>
  Object.fromEntries(actors.map((actor) => [actor, given[actor] ?? rule])) as Record<Actor, SelectRule>;

const q = (value: string) => `'${value}'`;
const financeOnly = { role_finance: "all" } as const;

const cases: TableCase[] = [
  {
    table: "finance.customers",
    own: (w) => `customer_id = ${q(w.c1)}`,
    select: { role_finance: "all", customer: "own", role_sales: "none", role_support: "none", role_hr: "none", role_readonly: "none" },
    insert: { sql: () => `insert into finance.customers (full_name, primary_email) values ('New', 'new-${process.pid}@example.com')`, ok: ["role_finance"] },
    update: { set: "full_name = full_name", ok: ["role_finance"] },
  },
  {
    table: "finance.accounts",
    own: (w) => `customer_id = ${q(w.c1)}`,
    select: { role_finance: "all", customer: "own", role_sales: "none", role_support: "none", role_hr: "none", role_readonly: "none" },
    insert: { sql: (w) => `insert into finance.accounts (customer_id, account_type) values (${q(w.c2)}, 'credit')`, ok: ["role_finance"] },
    update: { set: "account_type = account_type", ok: [] },
  },
  {
    table: "finance.transactions",
    own: (w) => `account_id = ${q(w.a1)}`,
    select: { role_finance: "all", customer: "own", role_sales: "none", role_support: "none", role_hr: "none", role_readonly: "none" },
    insert: { sql: (w) => `insert into finance.transactions (account_id, tx_type, amount, posted_at, balance_after) values (${q(w.a1)}, 'credit', 1, now(), 0)`, ok: [] },
    update: { set: "amount = amount", ok: [] },
  },
  {
    table: "finance.ledger",
    select: financeOnly,
    insert: { sql: () => `insert into finance.ledger (tx_id, posted_at, entry) values (1, now(), '{"lines": []}')`, ok: [] },
    update: { set: "entry = entry", ok: [] },
  },
  {
    table: "finance.closed_periods",
    select: financeOnly,
    insert: { sql: () => `insert into finance.closed_periods (period, closed_by, accounts_count, tx_count) values ('2002-02-01', 'x', 0, 0)`, ok: [] },
    update: { set: "tx_count = tx_count", ok: [] },
  },
  {
    table: "finance.monthly_closures",
    select: financeOnly,
    insert: { sql: (w) => `insert into finance.monthly_closures (period, account_id, opening_balance, total_debits, total_credits, total_adjustments, closing_balance, tx_count) values ('2001-01-01', ${q(w.a1)}, 0, 0, 0, 0, 0, 0)`, ok: [] },
    update: { set: "tx_count = tx_count", ok: [] },
  },
  { table: "finance.mv_monthly_revenue", select: financeOnly },
  { table: "finance.mv_customer_value", select: financeOnly },
  {
    table: "sales.products",
    own: () => "active",
    select: { role_sales: "all", role_readonly: "all", customer: "own", role_finance: "none", role_support: "none", role_hr: "none" },
    insert: { sql: () => `insert into sales.products (sku, name, price) values ('NEW-${process.pid}', 'New', 1)`, ok: ["role_sales"] },
    update: { set: "name = name", ok: ["role_sales"] },
  },
  {
    table: "sales.sales_reps",
    select: { role_sales: "all", role_readonly: "all" },
    insert: { sql: () => `insert into sales.sales_reps (full_name, email) values ('New', 'rep-${process.pid}@example.com')`, ok: ["role_sales"] },
    update: { set: "full_name = full_name", ok: ["role_sales"] },
  },
  {
    table: "sales.orders",
    own: (w) => `customer_id = ${q(w.c1)}`,
    select: { role_sales: "all", role_readonly: "all", customer: "own", role_finance: "none", role_support: "none", role_hr: "none" },
    insert: { sql: (w) => `insert into sales.orders (customer_id) values (${q(w.c1)})`, ok: [] },
    update: { set: "sales_rep_id = sales_rep_id", ok: ["role_sales"] },
  },
  {
    table: "sales.order_items",
    own: (w) => `order_id = ${q(w.o1)}`,
    select: { role_sales: "all", role_readonly: "all", customer: "own", role_finance: "none", role_support: "none", role_hr: "none" },
    insert: { sql: (w) => `insert into sales.order_items (order_id, product_id, quantity, unit_price) values (${q(w.o1)}, ${q(w.inactiveProduct)}, 1, 1)`, ok: [] },
    update: { set: "quantity = quantity", ok: [] },
  },
  { table: "sales.order_customers", rowsOf: "finance.customers", select: { role_sales: "all" } },
  {
    table: "support.support_agents",
    select: { role_support: "all", role_readonly: "all" },
    insert: { sql: () => `insert into support.support_agents (full_name, email) values ('New', 'agent-${process.pid}@example.com')`, ok: ["role_support"] },
    update: { set: "full_name = full_name", ok: ["role_support"] },
  },
  {
    table: "support.tickets",
    own: (w) => `customer_id = ${q(w.c1)}`,
    select: { role_support: "all", role_readonly: "all", customer: "own", role_sales: "none", role_finance: "none", role_hr: "none" },
    insert: { sql: (w) => `insert into support.tickets (customer_id, subject) values (${q(w.c1)}, 'New')`, ok: ["role_support", "customer"] },
    update: { set: "subject = subject", ok: ["role_support"] },
  },
  {
    table: "support.ticket_messages",
    own: (w) => `ticket_id = ${q(w.t1)}`,
    select: { role_support: "all", role_readonly: "all", customer: "own", role_sales: "none", role_finance: "none", role_hr: "none" },
    insert: {
      // The sender comes from the session (support staff as their agent, anyone else as their customer record).
      sql: (w, actor) => `insert into support.ticket_messages (ticket_id, message) values (${q(actor === "role_support" ? w.t2 : w.t1)}, 'New')`,
      ok: ["role_support", "customer"],
    },
    update: { set: "message = message", ok: [] },
  },
  { table: "support.customer_contacts", rowsOf: "finance.customers", select: { role_support: "all" } },
  {
    table: "hr.employees",
    select: { role_hr: "all" },
    insert: { sql: () => `insert into hr.employees (full_name, department) values ('New', 'Ops')`, ok: ["role_hr"] },
    update: { set: "full_name = full_name", ok: ["role_hr"] },
    delete: { ok: ["role_hr"] },
  },
  {
    table: "hr.payroll",
    select: { role_hr: "all" },
    insert: { sql: (w) => `insert into hr.payroll (employee_id, salary_amount) values (${q(w.employee)}, 100)`, ok: ["role_hr"] },
    update: { set: "salary_amount = salary_amount", ok: ["role_hr"] },
    delete: { ok: ["role_hr"] },
  },
];

function claimsOf(world: CapstoneWorld, actor: Actor): Claims {
  if (actor === "customer") return world.customer.claims;
  if (actor === "anonymous") return anonymous;
  return world.staff[actor].staffClaims;
}

/** Runs `sql` in a savepoint that is always rolled back: the row count, or the SQLSTATE it failed with. */
async function attempt(tx: TestTransaction, sql: string): Promise<{ rows?: number; code?: string }> {
  await tx.query("savepoint attempt");
  try {
    const result = await tx.query(sql);
    return { rows: result.rowCount ?? 0 };
  } catch (error) {
    return { code: (error as { code?: string }).code ?? "NO_CODE" };
  } finally {
    await tx.query("rollback to savepoint attempt");
  }
}

describe("capstone role × table × command matrix", () => {
  for (const testCase of cases) {
    it(`${testCase.table}: each role sees and changes exactly what its rules allow`, async () => {
      await withTransaction(async (tx) => {
        // One snapshot: rows other test files commit meanwhile cannot skew the counts.
        await tx.query("set transaction isolation level repeatable read");
        const world = await createWorld(tx);
        const total = await countAsRoot(tx, testCase.rowsOf ?? testCase.table);
        expect(total, `${testCase.table} has rows`).toBeGreaterThan(0);
        const own = testCase.own ? await countAsRoot(tx, `${testCase.table} where ${testCase.own(world)}`) : 0;
        if (testCase.own) expect(own, `${testCase.table}: the customer's rows are fewer than all`).toBeLessThan(total);
        const rules = everyoneElse("denied", testCase.select);
        const mismatches: string[] = [];

        for (const actor of actors) {
          await tx.become(claimsOf(world, actor));
          const rule = rules[actor];
          const seen = await attempt(tx, `select 1 from ${testCase.table}`);
          const got: string =
            seen.code !== undefined ? (seen.code === "42501" ? "denied" : `error ${seen.code}`)
            : seen.rows === total ? "all"
            : seen.rows === 0 ? "none"
            : seen.rows === own && own > 0 ? "own"
            : `${seen.rows} of ${total} rows`;
          if (got !== rule) mismatches.push(`${actor} select: expected ${rule}, got ${got}`);

          if (testCase.insert) {
            const result = await attempt(tx, testCase.insert.sql(world, actor));
            const expected: WriteRule = testCase.insert.ok.includes(actor) ? "ok" : "denied";
            const outcome = result.code === undefined ? "ok" : result.code === "42501" ? "denied" : `error ${result.code}`;
            if (outcome !== expected) mismatches.push(`${actor} insert: expected ${expected}, got ${outcome}`);
          }
          if (testCase.insert || testCase.update) {
            const set = testCase.update?.set;
            if (set) {
              const result = await attempt(tx, `update ${testCase.table} set ${set}`);
              const expected: WriteRule = testCase.update!.ok.includes(actor) ? "ok" : "denied";
              const outcome = result.code === undefined ? (result.rows! > 0 ? "ok" : "0 rows") : result.code === "42501" ? "denied" : `error ${result.code}`;
              if (outcome !== expected) mismatches.push(`${actor} update: expected ${expected}, got ${outcome}`);
            }
            const deleted = await attempt(tx, `delete from ${testCase.table}`);
            const expected: WriteRule = testCase.delete?.ok.includes(actor) ? "ok" : "denied";
            const outcome = deleted.code === undefined ? (deleted.rows! > 0 ? "ok" : "0 rows") : deleted.code === "42501" ? "denied" : `error ${deleted.code}`;
            if (outcome !== expected) mismatches.push(`${actor} delete: expected ${expected}, got ${outcome}`);
          }
        }
        // Every denial above ran against rows that are still there.
        expect(await countAsRoot(tx, testCase.rowsOf ?? testCase.table)).toBe(total);
        expect(mismatches).toEqual([]);
      });
    });
  }

  it("covers every table and view of the four schemas", async () => {
    await withTransaction(async (tx) => {
      const { rows } = await tx.query<{ name: string }>(
        `select n.nspname || '.' || c.relname as name
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname in ('finance', 'sales', 'support', 'hr') and c.relkind in ('r', 'p', 'v', 'm') and not c.relispartition
          order by 1`,
      );
      expect(rows.map((row) => row.name).sort()).toEqual(cases.map((c) => c.table).sort());
    });
  });
});
