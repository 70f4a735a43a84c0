import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openAccount, openWorld, transfer, type Queryable } from "./fixtures.ts";
import { seededRandom } from "../../helpers/random.ts";

// 16 concurrent clients (trusted server connections, autocommit, READ
// COMMITTED) post thousands of random transfers, some of them in small
// batches, and the books must come out exact: every balance equals the sum
// of its entries and what the successful transfers imply, each currency sums
// to zero, no flag is broken, and no error other than LFUND (insufficient
// funds, by design of the random amounts) ever reaches a client: no deadlock,
// no serialization failure, no lost update.

const clients = 16;
const accounts = 20;
const transfers = Number(process.env.LEDGER_CONCURRENCY_TRANSFERS ?? 4_000);
const initial = 10_000;

let pool: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: inject("testDatabase").ownerUrl, max: clients });
});
afterAll(() => pool.end());

interface Move {
  from: string;
  to: string;
  amount: number;
}

async function openBooks(db: Queryable, label: string) {
  const world = await openWorld(db);
  const ids: string[] = [];
  for (let i = 0; i < accounts; i++) {
    const id = await openAccount(db, `${label}_${i}`);
    await transfer(db, world, id, initial);
    ids.push(id);
  }
  return { world, ids };
}

/** Runs the moves from `clients` connections; returns the moves that committed and every unexpected error. */
async function hammer(plan: (client: number, step: number, pick: (n: number) => number) => Move, perClient: number) {
  const committed: Move[] = [];
  const unexpected: string[] = [];
  let refused = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const pick = seededRandom(0xc0ffee + c);
      const client = await pool.connect();
      try {
        for (let step = 0; step < perClient; step++) {
          // Every tenth step is a batch of five: it locks up to ten accounts at once.
          const moves = step % 10 === 9 ? Array.from({ length: 5 }, (_, k) => plan(c, step * 5 + k, pick)) : [plan(c, step, pick)];
          try {
            if (moves.length === 1) {
              const [move] = moves as [Move];
              await client.query({ name: "transfer", text: "select ledger.post_transfer($1, $2, $3, 'USD')", values: [move.from, move.to, move.amount] });
            } else {
              await client.query({
                name: "batch",
                text: "select count(*) from ledger.post_batch(array(select row(f, t, a, 'USD', null, null)::ledger.transfer_input from unnest($1::bigint[], $2::bigint[], $3::bigint[]) as u (f, t, a)))",
                values: [moves.map((m) => m.from), moves.map((m) => m.to), moves.map((m) => m.amount)],
              });
            }
            committed.push(...moves);
          } catch (error) {
            const code = (error as { code?: string }).code;
            if (code === "LFUND") refused++;
            else unexpected.push(`${code}: ${(error as Error).message}`);
          }
        }
      } finally {
        client.release();
      }
    }),
  );
  return { committed, unexpected, refused };
}

async function assertBooks(world: string, ids: string[], committed: Move[]) {
  const expected = new Map<string, number>(ids.map((id) => [id, initial]));
  for (const move of committed) {
    expected.set(move.from, expected.get(move.from)! - move.amount);
    expected.set(move.to, expected.get(move.to)! + move.amount);
  }
  const { rows } = await pool.query<{ account_id: string; balance: string; version: string; entries: string; total: string }>(
    `select a.account_id, a.balance, a.version, count(e.*) as entries, coalesce(sum(e.amount), 0) as total
       from ledger.accounts a left join ledger.entries e on e.account_id = a.account_id
      where a.account_id = any ($1::bigint[])
      group by a.account_id`,
    [[world, ...ids]],
  );
  expect(rows).toHaveLength(ids.length + 1);
  let grand = 0n;
  for (const row of rows) {
    expect(row.balance).toBe(row.total);
    expect(row.version).toBe(row.entries);
    grand += BigInt(row.balance);
    if (row.account_id !== world) {
      expect(Number(row.balance)).toBe(expected.get(row.account_id));
      expect(Number(row.balance)).toBeGreaterThanOrEqual(0);
    }
  }
  expect(grand).toBe(0n);
  const totals = await pool.query<{ net: string }>("select net from ledger.currency_totals()");
  for (const total of totals.rows) expect(total.net).toBe("0");
  expect((await pool.query("select * from ledger.verify()")).rows).toEqual([]);
}

describe("ledger under concurrency", () => {
  it(`keeps exact books with ${clients} clients posting ${transfers} random transfers among ${accounts} accounts`, async () => {
    const { world, ids } = await openBooks(pool, "conc");
    const { committed, unexpected, refused } = await hammer((_c, _s, pick) => {
      const from = pick(accounts);
      const to = (from + 1 + pick(accounts - 1)) % accounts;
      return { from: ids[from]!, to: ids[to]!, amount: 1 + pick(4_000) };
    }, Math.ceil(transfers / clients / 1.4));
    expect(unexpected).toEqual([]);
    expect(committed.length).toBeGreaterThan(transfers / 2);
    expect(refused).toBeGreaterThan(0);
    await assertBooks(world, ids, committed);
  });

  it(`keeps exact books when every transfer touches one hot account`, async () => {
    const { world, ids } = await openBooks(pool, "hot");
    const hot = ids[0]!;
    const { committed, unexpected } = await hammer((_c, step, pick) => {
      const other = ids[1 + pick(accounts - 1)]!;
      const amount = 1 + pick(2_000);
      return step % 2 === 0 ? { from: hot, to: other, amount } : { from: other, to: hot, amount };
    }, Math.ceil(transfers / clients / 1.4));
    expect(unexpected).toEqual([]);
    expect(committed.length).toBeGreaterThan(transfers / 2);
    expect(committed.every((move) => move.from === hot || move.to === hot)).toBe(true);
    await assertBooks(world, ids, committed);
  });
});
