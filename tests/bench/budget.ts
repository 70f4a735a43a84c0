/**
 * Budgeting app benchmarks (issue 20). One user with five years of data: 60
 * periods, 20,000 expenses (1 in 50 spread over 3 to 12 months), 1,000
 * corrections, all recorded through the API functions
 * (expenses.create_expense, expenses.correct_expense) as the user.
 *
 * * Period summary: budget.period_summary(month) as gw_user with claims, over
 *   random months of the five years; p50/p99 of the statement as the client
 *   sees it (one round trip on a warm connection).
 * * Export: the datarights_export task run in this process (runOnce) for the
 *   user, mailing through the platform's file transport into a scratch folder;
 *   wall time and peak memory (live heap after a full collection every 100 ms, in a run of its own,
 *   and RSS, above the level before the run), at two sizes (the full user and one with a quarter of
 *   the expenses) to show memory flat in the number of expenses.
 * * Inserts: expenses.create_expense per statement (one transaction, one call
 *   per round trip) ÷ a plain insert per statement into an unconstrained copy
 *   of the table (no keys, checks, triggers or indexes), same rows.
 */
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Logger, runOnce } from "graphile-worker";
import pg from "pg";
import { mailDefaults } from "../../src/config.ts";
import { createPool } from "../../src/db/pool.ts";
import { createLogger } from "../../src/logger.ts";
import { createMailTransport } from "../../src/mail/transport.ts";
import { makeDatarightsExport } from "../../src/worker/tasks/datarights_export.ts";
import type { TestDatabase } from "../setup/testDatabase.ts";

export interface ExportRun {
  expenses: number;
  wallMs: number;
  zipBytes: number;
  peakHeapMb: number;
  peakRssMb: number;
}

export interface BudgetBench {
  periods: number;
  expenses: number;
  corrections: number;
  seedMs: number;
  summary: { queries: number; p50Ms: number; p99Ms: number; baselineP50Ms: number; baselineP99Ms: number };
  exports: ExportRun[];
  inserts: { rows: number; functionPerSecond: number; plainPerSecond: number; ratio: number };
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;

interface BenchUser {
  userId: string;
  claims: string;
}

/** A user with a live session (what auth.uid() needs), onboarded with budget 4,000.00 EUR. */
export async function createUser(root: pg.Client, name: string): Promise<BenchUser> {
  const { rows } = await root.query<{ user_id: string; session_id: string }>(
    `with u as (insert into auth.users (username, email) values ($1, $1 || '@example.com') returning user_id),
          s as (insert into auth.sessions (session_id, family_id, user_id, token_hash)
                select id, id, u.user_id, sha256(convert_to(id::text, 'UTF8')) from u, (select gen_random_uuid() as id) g
                returning session_id, user_id)
     select user_id, session_id from s`,
    [name],
  );
  const row = rows[0]!;
  const claims = JSON.stringify({ role: "gw_user", sub: row.user_id, sid: row.session_id, iat: Math.floor(Date.now() / 1000) });
  await asUser(root, claims, "select budget.complete_onboarding(400000, 50, 30, 20, 'EUR', '2027-01-01')");
  return { userId: row.user_id, claims };
}

/** Runs one statement as the user, in its own transaction. */
async function asUser<R extends pg.QueryResultRow>(client: pg.Client, claims: string, sql: string, values: unknown[] = []): Promise<R[]> {
  await client.query("begin");
  try {
    await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [claims]);
    const { rows } = await client.query<R>(sql, values);
    await client.query("commit");
    return rows;
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
}

/** `count` expenses over the 60 months from 2027-01, as the user, in batches of 2,000 (one statement each); then `corrections`. */
export async function seedLedger(root: pg.Client, user: BenchUser, count: number, corrections: number, seed: number): Promise<void> {
  await root.query("select setseed($1)", [seed]);
  for (let done = 0; done < count; done += 2000) {
    const batch = Math.min(2000, count - done);
    await asUser(
      root,
      user.claims,
      `select count(expenses.create_expense(
                50 + (random() * 20000)::bigint,
                (select tag_id from budget.tags t order by t.name offset (i % 10) limit 1),
                (date '2027-01-01' + ((i * 1826) / $2))::date,
                case when i % 7 = 0 then 'note ' || i end,
                null,
                case when i % 50 = 0 then 3 + (i % 10) else 1 end))
         from generate_series($1::int, $1::int + $3::int - 1) i`,
      [done, count, batch],
    );
  }
  await asUser(
    root,
    user.claims,
    `select count(expenses.correct_expense(e.expense_id, e.amount_cents + 1, e.tag_id, e.spent_on, 'corrected'))
       from (select expense_id, amount_cents, tag_id, spent_on from expenses.expenses where pro_rata_group is null order by md5(expense_id::text) limit $1) e`,
    [corrections],
  );
}

async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; peakHeap: number; peakRss: number; wallMs: number }> {
  const started = performance.now();
  const result = await fn();
  return { result, peakHeap: 0, peakRss: 0, wallMs: performance.now() - started };
}

/** V8's gc(), made reachable without --expose-gc on the command line. */
function collector(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/**
 * Wall time and peak memory of `fn`: every 100 ms a full collection, then the
 * heap in use (what the export holds live, not garbage awaiting collection)
 * and the RSS, both above their level before the run.
 */
async function sampleMemory<T>(fn: () => Promise<T>): Promise<{ result: T; peakHeap: number; peakRss: number; wallMs: number }> {
  const gc = collector();
  gc();
  const before = process.memoryUsage();
  let peakHeap = before.heapUsed;
  let peakRss = before.rss;
  const timer = setInterval(() => {
    gc();
    const now = process.memoryUsage();
    peakHeap = Math.max(peakHeap, now.heapUsed);
    peakRss = Math.max(peakRss, now.rss);
  }, 100);
  const started = performance.now();
  try {
    const result = await fn();
    return { result, peakHeap: peakHeap - before.heapUsed, peakRss: peakRss - before.rss, wallMs: performance.now() - started };
  } finally {
    clearInterval(timer);
  }
}

const silent = new Logger(() => () => undefined);

export async function benchBudget(
  db: TestDatabase,
  options: { expenses: number; corrections: number; queries: number; inserts: number; seed?: number },
): Promise<BudgetBench> {
  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  const scratch = await mkdtemp(path.join(tmpdir(), "gw-bench-budget-"));
  const ownerPool = createPool(db.ownerUrl, 4, createLogger("silent"), "bench-budget");
  try {
    const seedStarted = performance.now();
    const user = await createUser(root, "benchbudget");
    await seedLedger(root, user, options.expenses, options.corrections, 0.42);
    const small = await createUser(root, "benchbudgetsmall");
    await seedLedger(root, small, Math.round(options.expenses / 4), Math.round(options.corrections / 4), 0.17);
    await root.query("vacuum analyze expenses.entries, budget.pro_rata_schedules, budget.budget_periods, budget.tags, audit.change_log");
    const seedMs = performance.now() - seedStarted;
    const { rows: counts } = await root.query<{ periods: number; entries: number; corrections: number }>(
      `select (select count(*)::int from budget.budget_periods where user_id = $1) as periods,
              (select count(*)::int from expenses.entries where user_id = $1) as entries,
              (select count(*)::int from expenses.entries where user_id = $1 and corrects_id is not null) as corrections`,
      [user.userId],
    );

    // Period summary: session-level role and claims, one statement per query.
    const reader = new pg.Client({ connectionString: db.rootUrl });
    await reader.connect();
    await reader.query("select set_config('role', 'gw_user', false), set_config('request.jwt.claims', $1, false)", [user.claims]);
    const months = Array.from({ length: 60 }, (_, i) => new Date(Date.UTC(2027, i, 1)).toISOString().slice(0, 10));
    for (let i = 0; i < 50; i++) await reader.query("select * from budget.period_summary($1)", [months[i % 60]]);
    const times: number[] = [];
    for (let i = 0; i < options.queries; i++) {
      const month = months[(i * 37) % 60];
      const started = performance.now();
      await reader.query("select * from budget.period_summary($1)", [month]);
      times.push(performance.now() - started);
    }
    // Baseline on the same connection: a round trip that does nothing.
    const baseline: number[] = [];
    for (let i = 0; i < options.queries; i++) {
      const started = performance.now();
      await reader.query("select 1");
      baseline.push(performance.now() - started);
    }
    await reader.end();

    // Export at two sizes: the full user, then the one with a quarter of the expenses. Three runs
    // each: a warm-up, one timed (nothing else running in the process), one sampling memory (its
    // full collections slow it down, so its time is not the figure).
    const exportOnce = async (who: BenchUser, attempt: number, sampling: boolean) => {
      await root.query("delete from datarights.export_jobs where user_id = $1", [who.userId]);
      const [job] = await asUser<{ id: string }>(root, who.claims, "select id from datarights.request_data_export()");
      const mailDir = path.join(scratch, `mail-${who.userId}-${attempt}`);
      const transport = createMailTransport({ smtpUrl: undefined, dir: mailDir, ...mailDefaults });
      const task = makeDatarightsExport(transport, { tmpRoot: scratch });
      const run = () => runOnce({ pgPool: ownerPool, taskList: { datarights_export: task }, noHandleSignals: true, logger: silent });
      const measured = sampling ? await sampleMemory(run) : await timed(run);
      const { rows } = await root.query<{ status: string; file_size_bytes: string }>("select status, file_size_bytes from datarights.export_jobs where id = $1", [job!.id]);
      if (rows[0]?.status !== "completed") throw new Error(`export ended ${rows[0]?.status}`);
      const mails = await readdir(mailDir);
      await stat(path.join(mailDir, mails[0]!));
      return { ...measured, zipBytes: Number(rows[0].file_size_bytes) };
    };
    const exportRun = async (who: BenchUser, expenses: number): Promise<ExportRun> => {
      await exportOnce(who, 0, false);
      const wall = await exportOnce(who, 1, false);
      const memory = await exportOnce(who, 2, true);
      return {
        expenses,
        wallMs: wall.wallMs,
        zipBytes: wall.zipBytes,
        peakHeapMb: memory.peakHeap / 2 ** 20,
        peakRssMb: memory.peakRss / 2 ** 20,
      };
    };
    const exports = [await exportRun(small, Math.round(options.expenses / 4)), await exportRun(user, options.expenses)];

    // Inserts per statement: the API function vs an unconstrained copy.
    await root.query("drop table if exists public.bench_plain_expenses");
    await root.query(
      `create table public.bench_plain_expenses (expense_id uuid, user_id uuid, amount_cents bigint, currency text, spent_on date, tag_id uuid,
         note text, corrects_id uuid, pro_rata_group uuid, pro_rata_months smallint, created_at timestamptz default now())`,
    );
    const [{ tag_id: tagId }] = (await root.query<{ tag_id: string }>("select tag_id from budget.tags where user_id = $1 and name = 'Groceries'", [user.userId])).rows as [{ tag_id: string }];
    const insertRun = async (sql: (i: number) => [string, unknown[]], asTheUser: boolean): Promise<number> => {
      await root.query("begin");
      if (asTheUser) await root.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [user.claims]);
      const started = performance.now();
      for (let i = 0; i < options.inserts; i++) {
        const [text, values] = sql(i);
        await root.query(text, values);
      }
      const ms = performance.now() - started;
      await root.query("commit");
      return (options.inserts / ms) * 1000;
    };
    const day = (i: number) => new Date(Date.UTC(2031, 0, 1 + (i % 365))).toISOString().slice(0, 10);
    const functionPerSecond = await insertRun((i) => ["select expenses.create_expense($1, $2, $3::date, null, 'EUR')", [100 + i, tagId, day(i)]], true);
    const plainPerSecond = await insertRun(
      (i) => ["insert into public.bench_plain_expenses (expense_id, user_id, amount_cents, currency, spent_on, tag_id) values (gen_random_uuid(), $1, $2, 'EUR', $3::date, $4)", [user.userId, 100 + i, day(i), tagId]],
      false,
    );
    await root.query("drop table public.bench_plain_expenses");

    return {
      periods: counts[0]!.periods,
      expenses: counts[0]!.entries,
      corrections: counts[0]!.corrections,
      seedMs,
      summary: {
        queries: options.queries,
        p50Ms: percentile(times, 50),
        p99Ms: percentile(times, 99),
        baselineP50Ms: percentile(baseline, 50),
        baselineP99Ms: percentile(baseline, 99),
      },
      exports,
      inserts: { rows: options.inserts, functionPerSecond, plainPerSecond, ratio: functionPerSecond / plainPerSecond },
    };
  } finally {
    await ownerPool.end();
    await root.end();
    await rm(scratch, { recursive: true, force: true });
  }
}
