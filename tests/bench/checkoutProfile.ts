/**
 * Single-client CPU profile of a ticket checkout against ledger.post_transfer
 * (issue 19's ratio, without concurrency): the backend's CPU time per call,
 * read from /proc/<pid>/stat of each connection's server process (so the
 * server must run on this machine, as the PG15 service does), after a
 * warm-up, on the ticketing bench's data set. CPU per transfer ÷ CPU per
 * checkout is the ceiling of the checkouts ÷ transfers ratio on a CPU-bound
 * machine. With FUNCS=1 it also prints pg_stat_user_functions (track_functions
 * = all, wall time per checkout) for 300 more checkouts.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres N=1000 FUNCS=1 node tests/bench/checkoutProfile.ts
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { createTestDatabase } from "../setup/testDatabase.ts";
import { setUp } from "./ticketing.ts";
import { seededRandom } from "../helpers/random.ts";

const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;
/** utime + stime of a process in ms (clock ticks of 10 ms). */
const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const calls = Number(process.env.N ?? 1000);
const db = await createTestDatabase("ckprof");
const root = new pg.Client({ connectionString: db.rootUrl });
await root.connect();
try {
  const { tierIds, userIds, accountIds } = await setUp(root, 100, 1000, 2000, 10000);
  const owner = new pg.Client({ connectionString: db.ownerUrl });
  await owner.connect();
  let api = new pg.Client({ connectionString: db.authenticatorUrl });
  await api.connect();
  const pidOf = async (client: pg.Client) => (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
  const pick = seededRandom(7);
  const transfer = () => {
    const from = pick(accountIds.length);
    const to = (from + 1 + pick(accountIds.length - 1)) % accountIds.length;
    return owner.query({ name: "t", text: "select transaction_id from ledger.post_transfer($1, $2, $3, 'USD')", values: [accountIds[from], accountIds[to], 1 + pick(1000)] });
  };
  let key = 0;
  // As the bench and the API run it: one round trip of begin, role and claims, the call, commit.
  const checkout = () => {
    const claims = JSON.stringify({ role: "gw_user", sub: userIds[pick(userIds.length)]!, iat: Math.floor(Date.now() / 1000) });
    return api.query(`begin; select set_config('role', 'gw_user', true), set_config('request.jwt.claims', ${quote(claims)}, true);
        select order_id from ticketing.checkout(${quote(`p-${key++}`)}, null, ${quote(tierIds[pick(tierIds.length)]!)}, 1); commit;`);
  };
  for (let i = 0; i < 200; i++) {
    await transfer();
    await checkout();
  }
  const measure = async (pid: number, call: () => Promise<unknown>) => {
    const cpu = cpuMs(pid);
    const started = performance.now();
    for (let i = 0; i < calls; i++) await call();
    return { cpuMs: (cpuMs(pid) - cpu) / calls, wallMs: (performance.now() - started) / calls };
  };
  const transfers = await measure(await pidOf(owner), transfer);
  const checkouts = await measure(await pidOf(api), checkout);
  console.log(JSON.stringify({ calls, transfer: transfers, checkout: checkouts, cpuRatio: transfers.cpuMs / checkouts.cpuMs }));
  if (process.env.FUNCS === "1") {
    await root.query(`alter database ${db.database} set track_functions = 'all'`);
    await api.end();
    api = new pg.Client({ connectionString: db.authenticatorUrl });
    await api.connect();
    await checkout();
    await root.query("select pg_stat_reset()");
    for (let i = 0; i < 300; i++) await checkout();
    await api.query("select pg_stat_force_next_flush()");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const { rows } = await root.query(
      `select schemaname || '.' || funcname as function, calls, round(total_time::numeric / 300, 3) as total_ms, round(self_time::numeric / 300, 3) as self_ms
         from pg_stat_user_functions order by self_time desc limit 30`);
    console.table(rows);
  }
  await owner.end();
  await api.end();
} finally {
  await root.end();
  await db.drop();
}
