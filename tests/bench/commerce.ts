/**
 * Commerce benchmarks (issue 21), in the same run and on the same database:
 *
 * * Renewals: `subscriptions` subscriptions (one merchant, one monthly plan,
 *   funded customers) all due at the same instant. Their renewal jobs
 *   (commerce_renew_subscription, one per subscription, keyed, as SQL
 *   schedules them) are added in one statement while a graphile-worker
 *   runner (concurrency 4, its own pool) waits; renewals per second from that
 *   commit to the last renewal ÷ bare graphile-worker no-op jobs per second
 *   (as many jobs, one add_jobs, same concurrency, same database). Then every
 *   subscription must have been renewed exactly once (period 2, one renewal
 *   charge each, the jobs run again change nothing) and have its next
 *   renewal scheduled exactly once: a renewal calendar row at the new period
 *   end, no keyed job (the renewal's commit adds no job, so it notifies
 *   nothing).
 * * Checkout with a promotion code and points at 16 clients (random funded
 *   customers holding points, on gw_authenticator connections becoming gw_user
 *   with claims as the API does, one round trip: begin,
 *   claims, commerce.checkout, commit) ÷ ledger.post_transfer at 16 clients
 *   between random accounts; rounds alternate the two, the median round's
 *   ratio is reported. A checkout is an order, an item, an atomic redemption,
 *   a points ledger transaction (lots consumed), a sale of three entries, an
 *   outbox event and the points it earns (a credit lot from the merchant's
 *   issuing account, in the same transaction: no job, no notification).
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import { taskList } from "../../src/worker/tasks/index.ts";
import { bareWorker, timeJobs, workerConcurrency } from "./workerJobs.ts";
import type { TestDatabase } from "../setup/testDatabase.ts";
import { seededRandom } from "../helpers/random.ts";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;

async function renewals(db: TestDatabase, root: pg.Client, subscriptions: number) {
  const tag = `cmb${process.pid}`;
  // 100 merchants with one monthly plan each: renewals of different merchants do not queue on one receivable.
  const { rows: plans } = await root.query<{ organization_id: string; price_id: string }>(
    `with o as (insert into auth.organizations (name, slug) select $1 || '-renew-' || g, $1 || '-renew-' || g from generate_series(1, 100) g returning organization_id),
          p as (insert into commerce.products (organization_id, name) select organization_id, 'Plan' from o returning product_id, organization_id)
     insert into commerce.prices (product_id, organization_id, currency, amount, recurring_interval)
     select product_id, organization_id, 'USD', 990, '1 month' from p returning organization_id, price_id`, [tag]);
  const organizationIds = plans.map((p) => p.organization_id);
  const { rows: users } = await root.query<{ user_id: string }>(
    "insert into auth.users (username, email) select $1 || 'r' || g, $1 || 'r' || g || '@example.com' from generate_series(1, $2::int) g returning user_id", [tag, subscriptions]);
  const userIds = users.map((u) => u.user_id);
  await root.query(
    `select ledger_private.transfer(payments_private.system_account('payments.clearing.bench', 'Clearing: bench', 'USD', 'asset', true),
              payments_private.user_wallet(u, 'USD'), 100000, 'USD', null, 'payments.funding', null, null, null, null, false)
       from unnest($1::uuid[]) u`, [userIds]);
  // Paid for period 1, which ends at one instant a second ago.
  await root.query(
    `insert into commerce.subscriptions (organization_id, customer_id, price_id, client_key, currency, period_rate, current_period_start, current_period_end, period_number, status)
     select ($1::uuid[])[1 + i % 100], u, ($2::uuid[])[1 + i % 100], 'bench', 'USD', 990, date_trunc('second', now()) - interval '1 month' - interval '1 second',
            date_trunc('second', now()) - interval '1 second', 1, 'active'
       from unnest($3::uuid[]) with ordinality as x (u, i)`, [organizationIds, plans.map((p) => p.price_id), userIds]);
  await root.query("vacuum analyze commerce.subscriptions, ledger.accounts");

  const bare = await bareWorker(db, root, subscriptions, 600_000);
  const addRenewals = () =>
    root.query(
      `select count(*) from graphile_worker.add_jobs(array(
         select row('commerce_renew_subscription', json_build_object('id', s.subscription_id), null, s.current_period_end, 5,
                    'commerce_renew:' || s.subscription_id, null, null)::graphile_worker.job_spec
           from commerce.subscriptions s where s.organization_id = any ($1::uuid[])))`, [organizationIds]);
  const renew = await timeJobs(db, "commerce_renew_subscription", taskList.commerce_renew_subscription!, subscriptions, addRenewals, 600_000);
  // Exactly once: every subscription in period 2 with one renewal charge; running every job again changes nothing.
  // The next period's renewal of each: one calendar row at its period end (a month ahead, beyond the hand-off
  // horizon), and no keyed job left: exactly one scheduled renewal per subscription.
  const check = async () => (await root.query<{ renewed: number; charges: number; distinct_subs: number; in_calendar: number; keyed_jobs: number }>(
    `select (select count(*)::int from commerce.subscriptions where organization_id = any ($1::uuid[]) and period_number = 2 and status = 'active') as renewed,
            (select count(*)::int from commerce.subscription_charges where organization_id = any ($1::uuid[]) and reason = 'renewal') as charges,
            (select count(distinct subscription_id)::int from commerce.subscription_charges where organization_id = any ($1::uuid[]) and reason = 'renewal') as distinct_subs,
            (select count(*)::int from commerce.subscriptions s join commerce_private.renewal_calendar c using (subscription_id)
              where s.organization_id = any ($1::uuid[]) and c.run_at = s.current_period_end) as in_calendar,
            (select count(*)::int from graphile_worker.jobs j where j.key like 'commerce_renew:%') as keyed_jobs`,
    [organizationIds])).rows[0]!;
  const first = await check();
  const duplicated = await timeJobs(db, "commerce_renew_subscription", taskList.commerce_renew_subscription!, subscriptions, () =>
    root.query(
      `select count(*) from graphile_worker.add_jobs(array(
         select row('commerce_renew_subscription', json_build_object('id', s.subscription_id), null, null, 5, null, null, null)::graphile_worker.job_spec
           from commerce.subscriptions s where s.organization_id = any ($1::uuid[])))`, [organizationIds]), 600_000);
  const again = await check();
  // Diagnostic, not the figure: jobs that do only a renewal's money movement (payments.post_sale of the period's
  // price, the same three entries on the same wallets and merchants), at the same concurrency on the same
  // database. Renewals ÷ these is what the lifecycle engine costs on top of the charge it must make.
  const chargeJobs = await timeJobs(db, "bench_charge", async (payload, helpers) => {
    const { customer, organization, key } = payload as { customer: string; organization: string; key: string };
    await helpers.withPgClient((client) =>
      client.query("select payments.post_sale($1, $2, 990, 'USD', $3, 'Bench charge', '{}'::jsonb)", [customer, organization, key]));
  }, subscriptions, () =>
    root.query(
      `select count(*) from graphile_worker.add_jobs(array(
         select row('bench_charge', json_build_object('customer', s.customer_id, 'organization', s.organization_id, 'key', 'bench.charge:' || s.subscription_id),
                    null, null, 5, null, null, null)::graphile_worker.job_spec
           from commerce.subscriptions s where s.organization_id = any ($1::uuid[])))`, [organizationIds]), 600_000);
  const exactlyOnce = first.renewed === subscriptions && first.charges === subscriptions && first.distinct_subs === subscriptions
    && again.charges === subscriptions && again.renewed === subscriptions && duplicated.complete
    && first.in_calendar === subscriptions && first.keyed_jobs === 0 && again.in_calendar === subscriptions && again.keyed_jobs === 0;
  return {
    subscriptions,
    concurrency: workerConcurrency,
    bareJobsPerSecond: bare.jobsPerSecond,
    renewalsPerSecond: renew.jobsPerSecond,
    renewalWallMs: renew.wallMs,
    ratio: renew.jobsPerSecond / bare.jobsPerSecond,
    chargeJobsPerSecond: chargeJobs.jobsPerSecond,
    ratioToChargeJobs: renew.jobsPerSecond / chargeJobs.jobsPerSecond,
    complete: renew.complete && bare.complete && chargeJobs.complete,
    exactlyOnce,
    afterFirstRun: first,
    afterDuplicatedJobs: again,
  };
}

async function drive(clients: pg.Client[], total: number, call: (client: pg.Client, pick: (n: number) => number, i: number) => Promise<unknown>, seed: number) {
  const perClient = Math.ceil(total / clients.length);
  const started = performance.now();
  let errors = 0;
  let firstError: string | undefined;
  await Promise.all(clients.map(async (client, c) => {
    const pick = seededRandom(seed * 1000 + c);
    for (let i = 0; i < perClient; i++) {
      try {
        await call(client, pick, c * perClient + i);
      } catch (error) {
        errors++;
        firstError ??= `${(error as { code?: string }).code}: ${(error as Error).message}`;
        await client.query("rollback").catch(() => undefined);
      }
    }
  }));
  const calls = perClient * clients.length;
  return { perSecond: (calls / (performance.now() - started)) * 1000, errors, firstError };
}

async function checkouts(db: TestDatabase, root: pg.Client, { calls, customers, accounts, rounds, clientCount }: { calls: number; customers: number; accounts: number; rounds: number; clientCount: number }) {
  const tag = `cmc${process.pid}`;
  const { rows: orgs } = await root.query<{ organization_id: string }>(
    "insert into auth.organizations (name, slug) select $1 || '-' || g, $1 || '-' || g from generate_series(1, 100) g returning organization_id", [tag]);
  const orgIds = orgs.map((o) => o.organization_id);
  const { rows: prices } = await root.query<{ price_id: string }>(
    `with p as (insert into commerce.products (organization_id, name) select unnest($1::uuid[]), 'Item' returning product_id, organization_id)
     insert into commerce.prices (product_id, organization_id, currency, amount) select product_id, organization_id, 'USD', 5000 from p returning price_id`, [orgIds]);
  await root.query("insert into commerce.promotions (organization_id, code, percent_off) select unnest($1::uuid[]), 'BENCH', 10", [orgIds]);
  await root.query("insert into commerce.loyalty_rules (organization_id, currency, points_per_100) select unnest($1::uuid[]), 'USD', 5", [orgIds]);
  const { rows: users } = await root.query<{ user_id: string }>(
    "insert into auth.users (username, email) select $1 || 'u' || g, $1 || 'u' || g || '@example.com' from generate_series(1, $2::int) g returning user_id", [tag, customers]);
  const userIds = users.map((u) => u.user_id);
  await root.query(
    `select ledger_private.transfer(payments_private.system_account('payments.clearing.bench', 'Clearing: bench', 'USD', 'asset', true),
              payments_private.user_wallet(u, 'USD'), 1000000000, 'USD', null, 'payments.funding', null, null, null, null, false)
       from unnest($1::uuid[]) u`, [userIds]);
  await root.query("select payments.grant_credits(u, null, 1000000, 'XLP', now() + interval '1 year') from unnest($1::uuid[]) u", [userIds]);
  const { rows: acc } = await root.query<{ account_id: string }>(
    "select (ledger.create_account('cmbench-' || g, 'Bench ' || g, 'USD', 'liability', null, null, true, true)).account_id from generate_series(1, $1::int) g", [accounts]);
  const accountIds = acc.map((a) => a.account_id);
  await root.query("vacuum analyze ledger.accounts, ledger.transactions, ledger.entries, commerce.orders, commerce.promotions, payments.credit_lots");

  const connect = (url: string) => Promise.all(Array.from({ length: clientCount }, async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return client;
  }));
  // post_transfer as trusted code (the ledger bench's way); checkouts as the API runs them: gw_authenticator becoming gw_user.
  const clients = await connect(db.ownerUrl);
  const apiClients = await connect(db.authenticatorUrl);
  try {
    const transfer = (client: pg.Client, pick: (n: number) => number) => {
      const from = pick(accountIds.length);
      const to = (from + 1 + pick(accountIds.length - 1)) % accountIds.length;
      return client.query({ name: "cm_transfer", text: "select transaction_id from ledger.post_transfer($1, $2, $3, 'USD')", values: [accountIds[from], accountIds[to], 1 + pick(1000)] });
    };
    let runTag = 0;
    const checkout = (tag: number) => async (client: pg.Client, pick: (n: number) => number, i: number) => {
      const user = userIds[pick(userIds.length)]!;
      const price = prices[pick(prices.length)]!.price_id;
      const claims = JSON.stringify({ role: "gw_user", sub: user, iat: Math.floor(Date.now() / 1000) });
      await client.query(`begin; select set_config('role', 'gw_user', true), set_config('request.jwt.claims', ${quote(claims)}, true);
        select order_id from commerce.checkout(${quote(`b${tag}-${i}`)}, ${quote(JSON.stringify([{ priceId: price, quantity: 1 }]))}, 'BENCH', ${1 + pick(100)}); commit;`);
    };
    await drive(clients, clientCount * 30, transfer, 1);
    await drive(apiClients, clientCount * 30, checkout(++runTag), 1);
    const checkoutRates: number[] = [];
    const transferRates: number[] = [];
    const ratios: number[] = [];
    let checkoutErrors = 0;
    let firstError: string | undefined;
    for (let round = 0; round < rounds; round++) {
      const t = await drive(clients, calls, transfer, 10 + round);
      const c = await drive(apiClients, calls, checkout(++runTag), 20 + round);
      checkoutErrors += c.errors;
      firstError ??= c.firstError;
      transferRates.push(t.perSecond);
      checkoutRates.push(c.perSecond);
      ratios.push(c.perSecond / t.perSecond);
    }
    return {
      clients: clientCount,
      callsPerRound: calls,
      customers,
      rounds,
      checkoutsPerSecond: median(checkoutRates),
      transfersPerSecond: median(transferRates),
      ratio: median(ratios),
      roundRatios: ratios,
      checkoutErrors,
      firstError,
    };
  } finally {
    await Promise.all([...clients, ...apiClients].map((client) => client.end()));
  }
}

export async function benchCommerce(
  db: TestDatabase,
  { subscriptions = 10_000, calls = 4_000, customers = 2_000, accounts = 10_000, rounds = 3, clients = 16 } = {},
) {
  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  try {
    const renewal = subscriptions > 0 ? await renewals(db, root, subscriptions) : undefined;
    const checkout = await checkouts(db, root, { calls, customers, accounts, rounds, clientCount: clients });
    const verify = await root.query("select * from ledger.verify()");
    const totals = await root.query<{ net: string }>("select net from ledger.currency_totals()");
    return { renewal, checkout, consistent: verify.rowCount === 0 && totals.rows.every((t) => t.net === "0") };
  } finally {
    await root.end();
  }
}
