import { execFile } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectQueries } from "../../../src/db/inspect.ts";
import { seedTables } from "../../../src/db/seed.ts";
import { projectRoot } from "../../../src/paths.ts";
import { createTestDatabase, type TestDatabaseHandle } from "../../setup/testDatabase.ts";

// `groundwork seed` and `groundwork inspect`, run as the real CLI.
//
// Not on the shared test database: inside its transaction the seed drops and
// re-adds the posting foreign keys and disables the capstone tables' triggers,
// which takes exclusive locks on finance.accounts, transactions, ledger and the
// rest one table after another, while other files' open transactions hold locks
// on some of them and wait for others (a deadlock, or minutes of waiting). And
// it commits thousands of rows into tables other files read. So this file
// seeds a throwaway database of its own.

const run = promisify(execFile);

let db: TestDatabaseHandle;
let root: pg.Client;
let createdAt = 0;

beforeAll(async () => {
  db = await createTestDatabase("cli");
  createdAt = Date.now();
  root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
});

afterAll(async () => {
  await root?.end();
  // graphile-migrate's pool from createTestDatabase may still hold a connection for
  // a moment; dropping the database under it makes its error handler exit the process.
  await sleep(Math.max(0, 1000 - (Date.now() - createdAt)));
  await db?.drop();
});

async function groundwork(...args: string[]) {
  return run(process.execPath, [path.join(projectRoot, "src/cli.ts"), ...args], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: db.ownerUrl, AUTH_DATABASE_URL: db.authenticatorUrl, LOG_LEVEL: "error" },
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    ({ stdout }) => ({ code: 0, stdout, stderr: "" }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}


/** Row counts of the seeded tables, plus what a change would move: balances, the sequence, the audit log. */
async function snapshot() {
  const counts: Record<string, number> = {};
  for (const table of seedTables) counts[table] = Number((await root.query(`select count(*) as n from ${table}`)).rows[0].n);
  const { rows } = await root.query(
    `select (select coalesce(sum(balance), 0)::text from finance.accounts) as balances,
            (select md5(string_agg(account_id::text || ':' || balance || ':' || xmin::text, ',' order by account_id)) from finance.accounts) as accounts,
            (select md5(string_agg(order_id::text || ':' || total_amount || ':' || xmin::text, ',' order by order_id)) from sales.orders) as orders,
            (select last_value::text from finance.transactions_tx_id_seq) as tx_seq,
            (select count(*)::int from audit.change_log where schema_name in ('finance', 'finance_private', 'sales', 'support', 'hr')) as audit_rows`,
  );
  return { counts, ...rows[0] };
}

describe("groundwork seed", () => {
  // One customer with an account and a posting that are not the seed's, made before it.
  let own: { customer: string; account: string; xmin: string; auditRows: number };

  beforeAll(async () => {
    const customer = (
      await root.query("insert into finance.customers (full_name, primary_email) values ('Own Customer', 'own@example.com') returning customer_id")
    ).rows[0].customer_id as string;
    const account = (await root.query("insert into finance.accounts (customer_id, account_type) values ($1, 'checking') returning account_id", [customer]))
      .rows[0].account_id as string;
    await root.query("select finance.post_transaction($1, 75, 'credit')", [account]);
    const { rows } = await root.query("select xmin::text from finance.accounts where account_id = $1", [account]);
    own = { customer, account, xmin: rows[0].xmin, auditRows: (await snapshot()).audit_rows };
  });

  it("loads the data set at a small scale, printing each step, beside rows that are not the seed's", async () => {
    const result = await groundwork("seed", "--scale", "0.01");
    expect(result).toMatchObject({ code: 0, stderr: "" });

    // Progress (not a terminal: one line per step), from 0 to done.
    const progress = result.stdout.split("\n").filter((line) => line.startsWith("["));
    const steps = progress.map((line) => line.replace(/^\[[#.]+\]\s+\d+\/\d+\s+[\d.]+ s\s+/, ""));
    expect(steps).toEqual([
      "partitions",
      "disable triggers",
      "customers",
      "accounts",
      "products",
      "sales reps",
      "orders",
      "order items",
      "order totals",
      "transactions",
      "sequence",
      "ledger",
      "balances",
      "support agents",
      "tickets",
      "ticket messages",
      "employees",
      "payroll",
      "enable triggers",
      "reporting views",
      "foreign keys and GIN index",
      "done",
    ]);
    expect(progress.at(-1)).toMatch(/^\[#{30}\]/);

    // Scale 0.01: 10 customers (accounts: 10 checking, 5 savings, 2 credit), all 50 products,
    // 1 rep, 100 orders with 1-4 items, 2,000 postings with as many ledger records, 1 agent,
    // 30 tickets with 2-4 messages, 1 employee paid for 13 months. Plus the customer made above.
    const expected = {
      "finance.customers": 10 + 1,
      "finance.accounts": 17 + 1,
      "finance.transactions": 2000 + 1,
      "finance.ledger": 2000 + 1,
      "sales.products": 50,
      "sales.sales_reps": 1,
      "sales.orders": 100,
      "sales.order_items": 250,
      "support.support_agents": 1,
      "support.tickets": 30,
      "support.ticket_messages": 90,
      "hr.employees": 1,
      "hr.payroll": 13,
    };
    expect((await snapshot()).counts).toEqual(expected);
    // The summary it prints says the same.
    for (const [table, count] of Object.entries(expected)) {
      expect(result.stdout).toMatch(new RegExp(`^  ${table.replace(".", "\\.")}\\s+${count.toLocaleString("en-US")}$`, "m"));
    }
  });

  it("leaves consistent data: balances are the last postings, order totals the items, every posting has its ledger record", async () => {
    const { rows } = await root.query(
      `select (select count(*)::int from finance.accounts a
                where a.balance is distinct from coalesce((select t.balance_after from finance.transactions t where t.account_id = a.account_id order by t.tx_id desc limit 1), 0)) as wrong_balances,
              (select count(*)::int from sales.orders o
                where o.total_amount <> coalesce((select sum(i.quantity * i.unit_price) from sales.order_items i where i.order_id = o.order_id), 0)) as wrong_totals,
              (select count(*)::int from finance.transactions t where not exists (select 1 from finance.ledger l where l.tx_id = t.tx_id)) as without_ledger,
              (select count(*)::int from finance.mv_monthly_revenue) > 0 as revenue_refreshed,
              (select count(*)::int from pg_constraint where conrelid in ('finance.transactions'::regclass, 'finance.ledger'::regclass) and contype = 'f' and conparentid = 0) as foreign_keys,
              (select count(*)::int from pg_indexes where schemaname = 'finance' and indexname = 'ledger_entry_gin') as gin_index`,
    );
    expect(rows[0]).toEqual({ wrong_balances: 0, wrong_totals: 0, without_ledger: 0, revenue_refreshed: true, foreign_keys: 2, gin_index: 1 });
  });

  it("writes no audit rows for seed data, leaves the rows that were there untouched, and re-enables every trigger", async () => {
    const after = await snapshot();
    // Only the own customer's rows (made before the seed, with its triggers on) are in the log.
    expect(after.audit_rows).toBe(own.auditRows);
    const { rows } = await root.query("select xmin::text, balance::text from finance.accounts where account_id = $1", [own.account]);
    expect(rows[0]).toEqual({ xmin: own.xmin, balance: "75.0000" });
    // Triggers of the seeded tables and of every partition are enabled again.
    const triggers = await root.query<{ enabled: string; n: number }>(
      `select t.tgenabled as enabled, count(*)::int as n
         from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in ('finance', 'finance_private', 'sales', 'support', 'hr') and not t.tgisinternal
        group by 1`,
    );
    expect(triggers.rows.map((row) => row.enabled)).toEqual(["O"]);
    expect(triggers.rows[0]!.n).toBeGreaterThan(20);
    // And the audit trigger works on seeded accounts afterwards.
    const seeded = (await root.query("select account_id from finance.accounts where customer_id = md5('gw-seed:customer:1')::uuid and account_type = 'checking'"))
      .rows[0].account_id as string;
    await root.query("select finance.post_transaction($1, 5, 'credit')", [seeded]);
    const logged = await root.query(
      "select schema_name, table_name from audit.change_log where payload -> 'new' ->> 'account_id' = $1 and record_id <> $1",
      [seeded],
    );
    expect(logged.rows).toEqual([{ schema_name: "finance", table_name: "transactions" }]);
  });

  it("changes nothing when run again", async () => {
    const before = await snapshot();
    const result = await groundwork("seed", "--scale", "0.01");
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toMatch(/already loaded; nothing changed/);
    expect(result.stdout).not.toMatch(/Seeded in/);
    expect(await snapshot()).toEqual(before);
  });

  it("refuses a bad scale with exit code 1", async () => {
    const result = await groundwork("seed", "--scale", "0");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--scale takes a number above 0/);
  });
});

describe("groundwork inspect", () => {
  it("prints every verification section with the rows its query returns", async () => {
    const result = await groundwork("inspect");
    expect(result).toMatchObject({ code: 0, stderr: "" });
    const sections = result.stdout.split(/^== (.+) ==$/m).slice(1);
    const printed = new Map<string, string[]>();
    for (let i = 0; i < sections.length; i += 2) printed.set(sections[i]!, sections[i + 1]!.trim().split("\n"));
    expect([...printed.keys()]).toEqual(inspectQueries.map((query) => query.title));

    const owner = new pg.Client({ connectionString: db.ownerUrl });
    await owner.connect();
    try {
      for (const { title, sql } of inspectQueries) {
        const lines = printed.get(title)!;
        const { rows, fields } = await owner.query(sql);
        // Header, rule, one line per row, count.
        expect(lines[0]!.split(/\s+/)).toEqual(fields.map((field) => field.name));
        expect(lines[1]).toMatch(/^[- ]+$/);
        expect(rows.length).toBeGreaterThan(0);
        expect(lines.at(-1)).toBe(`(${rows.length} row${rows.length === 1 ? "" : "s"})`);
        expect(lines.length).toBe(rows.length + 3);
      }
    } finally {
      await owner.end();
    }

    const row = (title: string, ...cells: string[]) =>
      expect(printed.get(title)).toContainEqual(expect.stringMatching(new RegExp(`^${cells.map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("\\s+")}(\\s|$)`)));
    row("Tables", "finance", "transactions");
    row("Tables", "hr", "payroll");
    row("RLS policies", "finance", "accounts");
    row("Functions", "finance", "post_transaction", "FUNCTION");
    row("Functions", "finance", "monthly_closure", "PROCEDURE");
    row("Triggers", "finance", "transactions", "_900_audit", "AFTER", "INSERT");
    row("Installed extensions", "plpgsql");
    row("Ledger-related objects", "finance", "ledger");
    row("Event or job related objects", "outbox");
  });
});
