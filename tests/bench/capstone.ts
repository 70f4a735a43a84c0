/**
 * Capstone benchmarks, on a database loaded by `groundwork seed` (scaled by
 * BENCH_CAPSTONE_SCALE, default 1: 200,000 transactions over 13 months).
 *
 * Posting throughput: 16 clients, each posting credits in autocommit on its
 * own rotation of seeded accounts, through finance.post_transaction (locks the
 * account, computes balance_after, updates the balance, writes the ledger
 * record, audits three rows). Baseline in the same run: the raw equivalent,
 * one statement per posting that updates a plain copy of the account row and
 * inserts into a plain, unpartitioned, untriggered copy of the transactions
 * table. Ratio = post_transaction/s ÷ raw/s.
 *
 * Statement: finance.account_statement for one account over the 13 months,
 * first 50 rows, as the owner (no RLS), over a rotation of accounts; p50/p99.
 * Its plan (custom plan, as a prepared statement's first runs get) shows how
 * many partitions are scanned out of how many exist.
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import { scaledSeedSizes, seedCapstone } from "../../src/db/seed.ts";
import type { TestDatabase } from "../setup/testDatabase.ts";

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;

async function postingRun(url: string, clients: number, postings: number, accounts: string[], sql: string): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: clients });
  try {
    const perClient = Math.ceil(postings / clients);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        const client = await pool.connect();
        try {
          for (let i = 0; i < perClient; i++) {
            const account = accounts[(c * 7919 + i * clients + c) % accounts.length]!;
            await client.query({ name: "post", text: sql, values: [account, (1 + ((c + i) % 100)).toFixed(2)] });
          }
        } finally {
          client.release();
        }
      }),
    );
    return (perClient * clients * 1000) / (performance.now() - started);
  } finally {
    await pool.end();
  }
}

export async function benchCapstone(db: TestDatabase, { scale = 1, postings = 4000, clients = 16, statementRuns = 300 } = {}) {
  const sizes = scaledSeedSizes(scale);
  const seed = await seedCapstone({ ownerUrl: db.ownerUrl, sizes });

  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  try {
    const accounts = (await root.query<{ account_id: string }>("select account_id from finance.accounts order by account_id")).rows.map((r) => r.account_id);
    await root.query(`
      create schema bench_capstone;
      create table bench_capstone.accounts as select account_id, balance from finance.accounts;
      alter table bench_capstone.accounts add primary key (account_id);
      create table bench_capstone.transactions (
        tx_id bigint generated always as identity primary key,
        account_id uuid not null, tx_type text not null, amount numeric(18, 4) not null,
        posted_at timestamptz not null default now(), balance_after numeric(18, 4) not null);
      create index on bench_capstone.transactions (account_id, posted_at, tx_id);
      grant usage on schema bench_capstone to gw_owner;
      grant select, insert, update on all tables in schema bench_capstone to gw_owner;
      analyze;`);

    const post = "select finance.post_transaction($1, $2, 'credit')";
    const raw = `with a as (update bench_capstone.accounts set balance = balance + $2 where account_id = $1 returning balance)
                 insert into bench_capstone.transactions (account_id, tx_type, amount, balance_after) select $1, 'credit', $2, balance from a`;
    // Raw first, then post_transaction, then both again: the better of the two runs of each.
    const rawRates = [await postingRun(db.ownerUrl, clients, postings, accounts, raw)];
    const postRates = [await postingRun(db.ownerUrl, clients, postings, accounts, post)];
    rawRates.push(await postingRun(db.ownerUrl, clients, postings, accounts, raw));
    postRates.push(await postingRun(db.ownerUrl, clients, postings, accounts, post));
    const postPerSecond = Math.max(...postRates);
    const rawPerSecond = Math.max(...rawRates);
    const lostUpdates = Number(
      (await root.query<{ n: string }>(
        `select count(*) as n from finance.accounts a
          where a.balance <> (select balance_after from finance.transactions t where t.account_id = a.account_id order by tx_id desc limit 1)`,
      )).rows[0]!.n,
    );

    // Statement: 13 months, first 50 rows.
    const range = (await root.query<{ from_at: Date; to_at: Date }>(
      "select date_trunc('month', now() at time zone 'UTC') at time zone 'UTC' - make_interval(months => 12) as from_at, now() + interval '1 minute' as to_at",
    )).rows[0]!;
    const statement = "select * from finance.account_statement($1, $2, $3) limit 50";
    const owner = new pg.Client({ connectionString: db.ownerUrl });
    await owner.connect();
    const timings: number[] = [];
    let rows = 0;
    try {
      for (let i = 0; i < statementRuns; i++) {
        const account = accounts[(i * 37) % accounts.length]!;
        const started = performance.now();
        const result = await owner.query({ text: statement, values: [account, range.from_at, range.to_at] });
        timings.push(performance.now() - started);
        rows = Math.max(rows, result.rowCount ?? 0);
      }
    } finally {
      await owner.end();
    }
    timings.sort((a, b) => a - b);
    const explain = async (from: Date) =>
      (await root.query<{ "QUERY PLAN": string }>(`explain (costs off) ${statement}`, [accounts[0], from, range.to_at])).rows.map((r) => r["QUERY PLAN"]);
    const plan = await explain(range.from_at);
    const partitionsTotal = Number((await root.query<{ n: string }>("select count(*) as n from pg_inherits where inhparent = 'finance.transactions'::regclass")).rows[0]!.n);
    const scanned = (lines: string[]) => new Set(lines.join("\n").match(/transactions_y\d{4}m\d{2}/g) ?? []).size;
    // The postings scan alone (the statement also looks up the opening balance in the months before fromAt).
    const postingsScan = async (from: Date) =>
      scanned((await root.query<{ "QUERY PLAN": string }>(
        "explain (costs off) select * from finance.transactions where account_id = $1 and posted_at >= $2 and posted_at < $3 order by posted_at, tx_id limit 50",
        [accounts[0], from, range.to_at],
      )).rows.map((r) => r["QUERY PLAN"]));
    const oneMonth = await postingsScan(new Date(Date.now() - 20 * 86400_000));
    return {
      seed: { ms: seed.ms, seeded: seed.seeded, counts: seed.counts },
      posting: { clients, postings, postPerSecond, rawPerSecond, ratio: postPerSecond / rawPerSecond, lostUpdates },
      statement: {
        runs: statementRuns,
        rows,
        p50Ms: percentile(timings, 0.5),
        p99Ms: percentile(timings, 0.99),
        partitionsScanned: await postingsScan(range.from_at),
        statementPartitionsScanned: scanned(plan),
        partitionsTotal,
        oneMonthPartitionsScanned: oneMonth,
        plan,
      },
    };
  } finally {
    await root.end();
  }
}
