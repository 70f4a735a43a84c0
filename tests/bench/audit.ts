/**
 * Audit overhead: the same inserts into two identical tables, one tracked by
 * audit.enable_tracking (a row trigger writing audit.change_log) and one not,
 * in two shapes: single-row INSERT statements in autocommit from 4 concurrent
 * clients, and one multi-row INSERT … SELECT. Each round alternates which table
 * goes first; the median of the rounds is reported. After each round the
 * sealer, audit_private.seal(100000), chains the round's committed rows.
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import type { TestDatabase } from "../setup/testDatabase.ts";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const tables = { tracked: "bench.items_tracked", plain: "bench.items_plain" } as const;
type Kind = keyof typeof tables;

const columns = `
  id bigint generated always as identity primary key,
  name text not null,
  quantity integer not null,
  price numeric(10, 2) not null,
  tags text[] not null default '{}',
  created_at timestamptz not null default now()`;

async function setUp(root: pg.Client): Promise<void> {
  await root.query("create schema if not exists bench");
  for (const table of Object.values(tables)) await root.query(`create table ${table} (${columns})`);
  await root.query("select audit.enable_tracking($1)", [tables.tracked]);
}

/** Single-row INSERTs, each its own transaction, from `clients` connections at once. */
async function singleRows(clients: pg.Client[], table: string, rows: number): Promise<number> {
  const perClient = Math.ceil(rows / clients.length);
  const started = performance.now();
  await Promise.all(
    clients.map(async (client, c) => {
      const statement = { name: `insert_${table}`, text: `insert into ${table} (name, quantity, price, tags) values ($1, $2, $3, $4)` };
      for (let i = 0; i < perClient && c * perClient + i < rows; i++) {
        const n = c * perClient + i;
        await client.query({ ...statement, values: [`item ${n}`, n % 100, (n % 1000) / 10, ["bench", `c${c}`]] });
      }
    }),
  );
  return performance.now() - started;
}

/** One INSERT … SELECT of `rows` rows. */
async function multiRow(client: pg.Client, table: string, rows: number): Promise<number> {
  const started = performance.now();
  await client.query(
    `insert into ${table} (name, quantity, price, tags)
     select 'item ' || g, g % 100, (g % 1000) / 10.0, array['bench', 'multi'] from generate_series(1, $1::int) g`,
    [rows],
  );
  return performance.now() - started;
}

export async function benchAudit(db: TestDatabase, { rows = 20_000, rounds = 3, clients: clientCount = 4 } = {}) {
  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  const clients = await Promise.all(
    Array.from({ length: clientCount }, async () => {
      const client = new pg.Client({ connectionString: db.rootUrl });
      await client.connect();
      return client;
    }),
  );
  const times = {
    single: { tracked: [] as number[], plain: [] as number[] },
    multi: { tracked: [] as number[], plain: [] as number[] },
  };
  const seals: { rows: number; ms: number }[] = [];
  try {
    await setUp(root);
    // Rows written before the bench (fixtures, migrations) are sealed first, unmeasured.
    await root.query("select audit_private.seal(1000000)");
    for (let round = 0; round < rounds; round++) {
      await root.query(`truncate ${tables.tracked}, ${tables.plain}`);
      await root.query(`vacuum (analyze) ${tables.tracked}, ${tables.plain}, audit.change_log`);
      const order: Kind[] = round % 2 === 0 ? ["tracked", "plain"] : ["plain", "tracked"];
      for (const kind of order) times.single[kind].push(await singleRows(clients, tables[kind], rows));
      for (const kind of [...order].reverse()) times.multi[kind].push(await multiRow(root, tables[kind], rows));
      const started = performance.now();
      const { rows: sealed } = await root.query<{ n: number }>("select audit_private.seal(100000) as n");
      seals.push({ rows: sealed[0]!.n, ms: performance.now() - started });
    }
    const { rows: broken } = await root.query("select * from audit.verify_chain()");
    const rate = (ms: number) => (rows / ms) * 1000;
    const figure = (shape: "single" | "multi") => {
      const tracked = rate(median(times[shape].tracked));
      const plain = rate(median(times[shape].plain));
      return { trackedRowsPerSecond: tracked, plainRowsPerSecond: plain, ratio: tracked / plain };
    };
    const sealMs = median(seals.map((seal) => seal.ms));
    const sealRows = seals.find((seal) => seal.ms === sealMs)!.rows;
    return {
      rows,
      rounds,
      clients: clientCount,
      singleRow: figure("single"),
      multiRow: figure("multi"),
      seal: { rows: sealRows, ms: sealMs, rowsPerSecond: (sealRows / sealMs) * 1000 },
      chainIntact: broken.length === 0,
    };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
    await root.end();
  }
}
