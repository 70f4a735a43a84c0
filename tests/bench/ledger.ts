/**
 * Ledger benchmarks. All phases use the same harness: `clients` connections
 * (16) as the owner (trusted server code), autocommit, one named prepared
 * statement per call, transfers drawn from a seeded generator.
 *
 * * post_transfer on `accounts` (10k) random accounts vs the raw SQL
 *   baseline: one data-modifying statement that locks both rows in id order
 *   (select … order by id for update), updates both balances and versions, and
 *   inserts both entries (with balance and version after) into plain tables
 *   with the same two entry indexes — no transaction row, no idempotency, no
 *   permission or flag checks, no commit-time check.
 * * Reference, not a target: the raw SQL baseline plus one row in a plain
 *   transactions table (id, created_at), i.e. the least a ledger that records
 *   transactions must write. Shows how much of the gap is that row alone.
 * * CPU per transfer of the whole machine (/proc/stat busy time over the
 *   phase ÷ transfers, Linux only): steadier than transfers/s on a VM whose
 *   speed drifts between minutes.
 * * The same on 2 hot accounts (every transfer touches both).
 * * post_batch with 100 transfers per call on the 10k accounts vs single
 *   post_transfer.
 * * Bytes on disk per transfer: growth of pg_total_relation_size of
 *   ledger.transactions + ledger.entries (all indexes and TOAST) divided by
 *   the transfers of the single-transfer phases.
 * * pgbench -b tpcb-like (if pgbench is on PATH) on its own database, same
 *   client count, for an absolute reference of this machine.
 *
 * Each round alternates which side runs first; the median of the rounds is
 * reported, and the ratio of each round (its phases run back to back) too.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import pg from "pg";
import type { TestDatabase } from "../setup/testDatabase.ts";
import { seededRandom } from "../helpers/random.ts";

const run = promisify(execFile);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const baselineTransfer = `
  with locked as (
    select a.id from bench_ledger.accounts a where a.id in ($1, $2) order by a.id for update
  ), moved as (
    update bench_ledger.accounts a
       set balance = a.balance + case when a.id = $1 then -$3::bigint else $3::bigint end, version = a.version + 1
      from locked l where a.id = l.id
    returning a.id, a.balance, a.version
  ), tx as (select nextval('bench_ledger.transaction_ids') as id)
  insert into bench_ledger.entries (transaction_id, line, account_id, amount, balance_after, account_version)
  select tx.id, case when m.id = $1 then 1 else 2 end, m.id, case when m.id = $1 then -$3::bigint else $3::bigint end, m.balance, m.version
    from moved m, tx`;

// The same, plus the one row per transfer that any ledger recording transactions writes.
const baselineWithRowTransfer = baselineTransfer.replace(
  "tx as (select nextval('bench_ledger.transaction_ids') as id)",
  "tx as (insert into bench_ledger.transactions (id) values (nextval('bench_ledger.transaction_ids')) returning id)",
);

/** Busy CPU time of the whole machine so far, in ms (user, nice, system, irq, softirq, steal), from /proc/stat; NaN elsewhere. */
function machineBusyMs(): number {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
    return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1000) / 100;
  } catch {
    return NaN;
  }
}

async function setUp(root: pg.Client, accounts: number): Promise<{ ledgerIds: string[]; baselineIds: string[] }> {
  await root.query("create schema bench_ledger");
  await root.query("create table bench_ledger.accounts (id bigint primary key, balance bigint not null default 0, version bigint not null default 0) with (fillfactor = 70)");
  await root.query(`create table bench_ledger.entries (
      transaction_id bigint not null, account_id bigint not null, amount bigint not null, balance_after bigint not null,
      account_version bigint not null, line smallint not null, primary key (transaction_id, line), unique (account_id, account_version))`);
  await root.query("create table bench_ledger.transactions (id bigint primary key, created_at timestamptz not null default now())");
  await root.query("create sequence bench_ledger.transaction_ids");
  await root.query("grant usage on schema bench_ledger to gw_owner; grant all on all tables in schema bench_ledger to gw_owner; grant all on all sequences in schema bench_ledger to gw_owner");
  await root.query("insert into bench_ledger.accounts (id) select g from generate_series(1, $1::int) g", [accounts]);
  // Ledger accounts may go negative so that random transfers never fail: the flag checks still run.
  const { rows } = await root.query<{ account_id: string }>(
    "select (ledger.create_account('bench-' || g, 'Bench ' || g, 'USD', 'liability', null, null, true, true)).account_id from generate_series(1, $1::int) g",
    [accounts],
  );
  await root.query("vacuum analyze bench_ledger.accounts, bench_ledger.entries, ledger.accounts, ledger.transactions, ledger.entries");
  return { ledgerIds: rows.map((row) => row.account_id), baselineIds: Array.from({ length: accounts }, (_, i) => String(i + 1)) };
}

type Pick = (n: number) => number;

/** Runs `total` calls spread over the clients: calls per second, and the whole machine's CPU time (µs) per call. */
async function drive(
  clients: pg.Client[],
  total: number,
  call: (client: pg.Client, pick: Pick, i: number) => Promise<unknown>,
  seed: number,
): Promise<{ perSecond: number; cpuUsPerCall: number }> {
  const perClient = Math.ceil(total / clients.length);
  const busyBefore = machineBusyMs();
  const started = performance.now();
  await Promise.all(
    clients.map(async (client, c) => {
      const pick = seededRandom(seed * 1000 + c);
      for (let i = 0; i < perClient; i++) await call(client, pick, i);
    }),
  );
  const calls = perClient * clients.length;
  return { perSecond: (calls / (performance.now() - started)) * 1000, cpuUsPerCall: ((machineBusyMs() - busyBefore) * 1000) / calls };
}

function pair(ids: string[], pick: Pick): [string, string] {
  const from = pick(ids.length);
  const to = (from + 1 + pick(ids.length - 1)) % ids.length;
  return [ids[from]!, ids[to]!];
}

const ledgerCall = (ids: string[]) => (client: pg.Client, pick: Pick) => {
  const [from, to] = pair(ids, pick);
  return client.query({ name: "ledger_transfer", text: "select transaction_id from ledger.post_transfer($1, $2, $3, 'USD')", values: [from, to, 1 + pick(1000)] });
};
const baselineCall = (ids: string[], withRow = false) => (client: pg.Client, pick: Pick) => {
  const [from, to] = pair(ids, pick);
  const [name, text] = withRow ? ["baseline_row_transfer", baselineWithRowTransfer] : ["baseline_transfer", baselineTransfer];
  return client.query({ name, text, values: [from, to, 1 + pick(1000)] });
};
const batchCall = (ids: string[], size: number) => (client: pg.Client, pick: Pick) => {
  const from: string[] = [];
  const to: string[] = [];
  const amounts: number[] = [];
  for (let k = 0; k < size; k++) {
    const [f, t] = pair(ids, pick);
    from.push(f);
    to.push(t);
    amounts.push(1 + pick(1000));
  }
  return client.query({
    name: "ledger_batch",
    text: "select count(*) from ledger.post_batch(array(select row(f, t, a, 'USD', null, null)::ledger.transfer_input from unnest($1::bigint[], $2::bigint[], $3::bigint[]) as u (f, t, a)))",
    values: [from, to, amounts],
  });
};

async function relationBytes(root: pg.Client, tables: string[]): Promise<number> {
  const { rows } = await root.query<{ bytes: string }>("select sum(pg_total_relation_size(t::regclass))::bigint as bytes from unnest($1::text[]) t", [tables]);
  return Number(rows[0]!.bytes);
}

async function pgbench(rootUrl: string, clients: number, seconds: number, scale: number) {
  try {
    await run("pgbench", ["--version"]);
  } catch {
    return undefined;
  }
  const url = new URL(rootUrl);
  const database = `gw_pgbench_${process.pid}`;
  const admin = new pg.Client({ connectionString: rootUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${database}`);
    await admin.query(`create database ${database}`);
    const env = { ...process.env, PGHOST: url.hostname, PGPORT: url.port || "5432", PGUSER: decodeURIComponent(url.username), PGPASSWORD: decodeURIComponent(url.password), PGDATABASE: database };
    await run("pgbench", ["-i", "-q", "-s", String(scale)], { env });
    const { stdout } = await run("pgbench", ["-b", "tpcb-like", "-n", "-c", String(clients), "-j", "2", "-T", String(seconds)], { env });
    const tps = Number(/tps = ([0-9.]+)/.exec(stdout)?.[1]);
    return { tps, scale, seconds };
  } finally {
    await admin.query(`drop database if exists ${database} with (force)`).catch(() => undefined);
    await admin.end();
  }
}

export async function benchLedger(
  db: TestDatabase,
  { transfers = 20_000, accounts = 10_000, rounds = 3, clients: clientCount = 16, batchSize = 100, pgbenchSeconds = 10, pgbenchScale = 16 } = {},
) {
  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  const clients = await Promise.all(
    Array.from({ length: clientCount }, async () => {
      const client = new pg.Client({ connectionString: db.ownerUrl });
      await client.connect();
      return client;
    }),
  );
  /** Per side, per round: random-account and hot-account rates, CPU per transfer; bytes and transfers over all rounds. */
  const newSide = () => ({ single: [] as number[], hot: [] as number[], cpu: [] as number[], bytes: 0, transfers: 0 });
  const measured = { ledger: newSide(), baseline: newSide() };
  const withRow = { single: [] as number[], cpu: [] as number[] };
  const batches: number[] = [];
  try {
    const { ledgerIds, baselineIds } = await setUp(root, accounts);
    // What each side runs: its call, its accounts, its 2 hot accounts, the tables whose growth is its bytes on disk.
    const sides = {
      ledger: { call: ledgerCall, ids: ledgerIds, tables: ["ledger.transactions", "ledger.entries"] },
      baseline: { call: (ids: string[]) => baselineCall(ids), ids: baselineIds, tables: ["bench_ledger.entries"] },
    };
    // Warm-up (not measured): plans, caches.
    await drive(clients, clientCount * 50, ledgerCall(ledgerIds), 1);
    await drive(clients, clientCount * 50, baselineCall(baselineIds), 1);
    await drive(clients, clientCount * 50, baselineCall(baselineIds, true), 1);
    await drive(clients, clientCount * 2, batchCall(ledgerIds, batchSize), 1);
    // Statistics of the tables as they are now, not empty: what autovacuum keeps
    // up to date (the CI service runs with autovacuum = off). ANALYZE also
    // invalidates the sessions' cached plans. Without it each session keeps the
    // generic plan it made while ledger.transactions was empty: the foreign-key
    // check of every entry then scans the whole table (a seq scan that grows
    // with it), and a run's ratio decays round after round (0.19 … 0.04).
    await root.query("analyze bench_ledger.accounts, bench_ledger.entries, bench_ledger.transactions, ledger.accounts, ledger.transactions, ledger.entries");

    for (let round = 0; round < rounds; round++) {
      const seed = 100 + round;
      const order: Array<"ledger" | "baseline"> = round % 2 === 0 ? ["ledger", "baseline"] : ["baseline", "ledger"];
      for (const name of order) {
        const { call, ids, tables } = sides[name];
        const side = measured[name];
        const before = await relationBytes(root, tables);
        const single = await drive(clients, transfers, call(ids), seed);
        side.single.push(single.perSecond);
        side.cpu.push(single.cpuUsPerCall);
        side.hot.push((await drive(clients, transfers, call(ids.slice(0, 2)), seed)).perSecond);
        side.bytes += (await relationBytes(root, tables)) - before;
        side.transfers += 2 * Math.ceil(transfers / clientCount) * clientCount;
        if (name === "baseline") {
          const row = await drive(clients, transfers, baselineCall(baselineIds, true), seed);
          withRow.single.push(row.perSecond);
          withRow.cpu.push(row.cpuUsPerCall);
        }
      }
      batches.push((await drive(clients, Math.max(clientCount, Math.round(transfers / batchSize)), batchCall(ledgerIds, batchSize), seed)).perSecond * batchSize);
    }
    const { rows: problems } = await root.query("select * from ledger.verify()");
    const { rows: totals } = await root.query<{ net: string }>("select net from ledger.currency_totals()");
    const { ledger, baseline } = measured;
    const single = median(ledger.single);
    const baselineSingle = median(baseline.single);
    const hot = median(ledger.hot);
    const hotBaseline = median(baseline.hot);
    const batch = median(batches);
    const perRound = (values: number[], over: number[]) => values.map((value, round) => value / over[round]!);
    const reference = await pgbench(db.rootUrl, clientCount, pgbenchSeconds, pgbenchScale);
    return {
      transfers,
      accounts,
      rounds,
      clients: clientCount,
      batchSize,
      single: {
        transfersPerSecond: single,
        baselinePerSecond: baselineSingle,
        ratio: single / baselineSingle,
        roundRatios: perRound(ledger.single, baseline.single),
        cpuUsPerTransfer: median(ledger.cpu),
        baselineCpuUsPerTransfer: median(baseline.cpu),
        cpuRatio: median(baseline.cpu) / median(ledger.cpu),
      },
      baselineWithRow: {
        transfersPerSecond: median(withRow.single),
        ratio: median(withRow.single) / baselineSingle,
        cpuUsPerTransfer: median(withRow.cpu),
        cpuRatio: median(baseline.cpu) / median(withRow.cpu),
      },
      hot: { transfersPerSecond: hot, baselinePerSecond: hotBaseline, ratio: hot / hotBaseline, roundRatios: perRound(ledger.hot, baseline.hot) },
      batch: { transfersPerSecond: batch, singlePerSecond: single, ratio: batch / single, roundRatios: perRound(batches, ledger.single) },
      bytesPerTransfer: ledger.bytes / ledger.transfers,
      baselineBytesPerTransfer: baseline.bytes / baseline.transfers,
      pgbench: reference,
      consistent: problems.length === 0 && totals.every((row) => row.net === "0"),
    };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
    await root.end();
  }
}
