/**
 * Single-client CPU profile of a renewal (issue 21): commerce_private.renew, the
 * renewal job's SQL, on N due subscriptions of 100 merchants, one call at a
 * time on an owner connection (as the worker runs it, without the
 * worker's own get/complete). Prints the backend's CPU per renewal (from
 * /proc/<pid>/stat: the server must run on this machine) and, with FUNCS=1,
 * pg_stat_user_functions per renewal (wall time).
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres N=2000 FUNCS=1 node tests/bench/renewalProfile.ts
 */
import { performance } from "node:perf_hooks";
import { readFileSync } from "node:fs";
import pg from "pg";
import { createTestDatabase } from "../setup/testDatabase.ts";

const cpu = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" "); return (Number(f[11]) + Number(f[12])) * 10; };
const N = Number(process.env.N ?? 2000);
const db = await createTestDatabase("rprof");
const root = new pg.Client({ connectionString: db.rootUrl }); await root.connect();
try {
  const tag = `rp${process.pid}`;
  const { rows: plans } = await root.query<{ organization_id: string; price_id: string }>(
    `with o as (insert into auth.organizations (name, slug) select $1 || '-' || g, $1 || '-' || g from generate_series(1, 100) g returning organization_id),
          p as (insert into commerce.products (organization_id, name) select organization_id, 'Plan' from o returning product_id, organization_id)
     insert into commerce.prices (product_id, organization_id, currency, amount, recurring_interval)
     select product_id, organization_id, 'USD', 990, '1 month' from p returning organization_id, price_id`, [tag]);
  const { rows: users } = await root.query<{ user_id: string }>(
    "insert into auth.users (username, email) select $1 || 'r' || g, $1 || 'r' || g || '@example.com' from generate_series(1, $2::int) g returning user_id", [tag, N + 200]);
  const userIds = users.map((u) => u.user_id);
  await root.query(
    `select ledger_private.transfer(payments_private.system_account('payments.clearing.bench', 'Clearing: bench', 'USD', 'asset', true),
              payments_private.user_wallet(u, 'USD'), 100000, 'USD', null, 'payments.funding', null, null, null, null, false)
       from unnest($1::uuid[]) u`, [userIds]);
  const { rows: subs } = await root.query<{ subscription_id: string }>(
    `insert into commerce.subscriptions (organization_id, customer_id, price_id, client_key, currency, period_rate, current_period_start, current_period_end, period_number, status)
     select ($1::uuid[])[1 + i % 100], u, ($2::uuid[])[1 + i % 100], 'bench', 'USD', 990, date_trunc('second', now()) - interval '1 month' - interval '1 second',
            date_trunc('second', now()) - interval '1 second', 1, 'active'
       from unnest($3::uuid[]) with ordinality as x (u, i) returning subscription_id`, [plans.map((p) => p.organization_id), plans.map((p) => p.price_id), userIds]);
  await root.query("vacuum analyze commerce.subscriptions, ledger.accounts");
  if (process.env.FUNCS === "1") await root.query(`alter database ${db.database} set track_functions = 'all'`);
  const owner = new pg.Client({ connectionString: db.ownerUrl }); await owner.connect();
  const pid = (await owner.query("select pg_backend_pid() p")).rows[0].p as number;
  const renew = (id: string) => owner.query({ name: "r", text: "select commerce_private.renew($1) as r", values: [id] });
  for (const s of subs.slice(0, 200)) await renew(s.subscription_id);
  await root.query("select pg_stat_reset()");
  const c0 = cpu(pid); const t0 = performance.now();
  for (const s of subs.slice(200)) { const r = await renew(s.subscription_id); if (r.rows[0].r !== "renewed") throw new Error(r.rows[0].r); }
  const noop0 = cpu(pid);
  for (let i = 0; i < N; i++) await owner.query({ name: "n", text: "select 1" });
  console.log(JSON.stringify({ N, renewCpuMs: (noop0 - c0) / N, wallMs: (performance.now() - t0) / N, selectOneCpuMs: (cpu(pid) - noop0) / N }));
  if (process.env.FUNCS === "1") {
    await owner.query("select pg_stat_force_next_flush()"); await owner.query("select 1");
    await new Promise((r) => setTimeout(r, 1500));
    const { rows } = await root.query(`select schemaname||'.'||funcname f, calls, round(total_time::numeric/${N},3) total_per, round(self_time::numeric/${N},3) self_per from pg_stat_user_functions order by self_time desc limit 30`);
    console.table(rows);
  }
  await owner.end();
} finally {
  await root.end();
  await db.drop();
}
