import { runOnce } from "graphile-worker";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { taskList } from "../../../src/worker/tasks/index.ts";
import { rootDb, workerPool } from "../../helpers/db.ts";
import { uniqueName } from "../../helpers/fixtures.ts";
import { until } from "../../helpers/until.ts";
import { fund, scheduledRenewal } from "./fixtures.ts";

// The renewal engine through graphile-worker on committed data: a
// subscription whose period ended a minute ago has exactly one job (due
// within the hand-off horizon, so a job at once), keyed by the subscription
// and due at its period end; running it renews once and leaves the next
// period in the renewal calendar, not as a job; a duplicated job and a
// renewal whose connection was killed mid-transaction change nothing more;
// the renewal's commit sends no jobs:insert notification; the scheduler task
// hands due-soon calendar rows over as jobs, and two schedulers at once hand
// each row exactly once; a checkout grants its points itself and its commit
// sends no jobs:insert notification; an award job queued before that change
// grants nothing more; two checkouts of one customer, one spending points and
// one earning them, lock the two wallets in one order (no deadlock).

const ownerPool = workerPool();
const run = () =>
  runOnce({
    pgPool: ownerPool,
    taskList: {
      commerce_renew_subscription: taskList.commerce_renew_subscription!,
      commerce_schedule_renewals: taskList.commerce_schedule_renewals!,
      commerce_award_points: taskList.commerce_award_points!,
    },
    noHandleSignals: true,
  });

let organizationId = "";
let priceId = "";
let oneTimePriceId = "";
const users: string[] = [];

async function customer(amount: number): Promise<{ userId: string; walletId: string }> {
  const name = uniqueName("cmw").replace(/_/g, "");
  const { rows } = await rootDb().query<{ user_id: string }>("insert into auth.users (username, email) values ($1, $1 || '@example.com') returning user_id", [name]);
  const userId = rows[0]!.user_id;
  users.push(userId);
  return { userId, walletId: await fund(rootDb(), userId, amount) };
}

/** Subscribes as the customer with the clock a month and a minute back (committed): the renewal is due now. */
async function dueSubscription(userId: string): Promise<{ id: string; periodEnd: Date }> {
  const client = await rootDb().connect();
  try {
    await client.query("begin");
    await client.query("select set_config('commerce.now', (now() - interval '1 month' - interval '1 minute')::text, true)");
    await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [
      JSON.stringify({ role: "gw_user", sub: userId, iat: Math.floor(Date.now() / 1000) }),
    ]);
    const { rows } = await client.query<{ subscription_id: string; current_period_end: Date }>(
      "select subscription_id, current_period_end from commerce.subscribe($1, $2)", [`w-${Math.random()}`, priceId]);
    await client.query("commit");
    return { id: rows[0]!.subscription_id, periodEnd: rows[0]!.current_period_end };
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}

async function state(id: string) {
  const { rows } = await rootDb().query<{ status: string; period_number: number; charges: number }>(
    `select s.status, s.period_number, (select count(*)::int from commerce.subscription_charges c where c.subscription_id = s.subscription_id) as charges
       from commerce.subscriptions s where s.subscription_id = $1`, [id]);
  return rows[0];
}

beforeAll(async () => {
  const db = rootDb();
  const slug = uniqueName("cmwork", "-").toLowerCase();
  const { rows: [org] } = await db.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id", [slug]);
  organizationId = org!.organization_id;
  const { rows: [product] } = await db.query<{ product_id: string }>("insert into commerce.products (organization_id, name) values ($1, 'Plan') returning product_id", [organizationId]);
  const { rows: [price] } = await db.query<{ price_id: string }>(
    "insert into commerce.prices (product_id, organization_id, currency, amount, recurring_interval) values ($1, $2, 'USD', 1000, '1 month') returning price_id",
    [product!.product_id, organizationId]);
  priceId = price!.price_id;
  const { rows: [once] } = await db.query<{ price_id: string }>(
    "insert into commerce.prices (product_id, organization_id, currency, amount) values ($1, $2, 'USD', 2000) returning price_id", [product!.product_id, organizationId]);
  oneTimePriceId = once!.price_id;
  await db.query("insert into commerce.loyalty_rules (organization_id, currency, points_per_100) values ($1, 'USD', 10)", [organizationId]);
});

afterAll(async () => {
  await rootDb().query("select commerce_private.unschedule_renewal(subscription_id) from commerce.subscriptions where organization_id = $1", [organizationId]);
  await ownerPool.end();
});

describe("commerce_renew_subscription", () => {
  it("is one job per subscription, due at its period end, that renews it once even when run again and leaves the next period in the calendar", async () => {
    const c = await customer(5000);
    const s = await dueSubscription(c.userId);
    const { rows: jobs } = await rootDb().query<{ run_at: Date; task_identifier: string }>(
      "select run_at, task_identifier from graphile_worker.jobs where key = $1", [`commerce_renew:${s.id}`]);
    expect(jobs).toEqual([{ run_at: s.periodEnd, task_identifier: "commerce_renew_subscription" }]);
    expect(await scheduledRenewal(rootDb(), s.id)).toEqual({ run_at: s.periodEnd, place: "job", n: 1 });
    expect(s.periodEnd.getTime()).toBeLessThan(Date.now());
    // A duplicated job (another key, same subscription) is queued beside it.
    await rootDb().query("select graphile_worker.add_job('commerce_renew_subscription', json_build_object('id', $1::text))", [s.id]);
    await run();
    await run();
    expect(await state(s.id)).toEqual({ status: "active", period_number: 2, charges: 2 });
    const { rows: wallet } = await rootDb().query<{ balance: string }>("select balance from ledger.accounts where account_id = $1", [c.walletId]);
    expect(wallet[0]!.balance).toBe("3000");
    // The next renewal is scheduled once, at the new period end in a month: a calendar row, no job.
    const { rows: [end] } = await rootDb().query<{ current_period_end: Date }>(
      "select current_period_end from commerce.subscriptions where subscription_id = $1", [s.id]);
    const next = await scheduledRenewal(rootDb(), s.id);
    expect(next).toEqual({ run_at: end!.current_period_end, place: "calendar", n: 1 });
    expect(next!.run_at.getTime()).toBeGreaterThan(Date.now() + 27 * 24 * 3600 * 1000);
    expect((await rootDb().query("select * from ledger.verify()")).rows).toEqual([]);
  });

  it("renews once when the renewal's connection was killed mid-transaction and the job runs after", async () => {
    const c = await customer(5000);
    const s = await dueSubscription(c.userId);
    const victim = new pg.Client({ connectionString: inject("testDatabase").ownerUrl });
    victim.on("error", () => undefined);
    await victim.connect();
    const { rows: [pid] } = await victim.query<{ pid: number }>("select pg_backend_pid() as pid");
    await victim.query("begin");
    expect((await victim.query("select commerce_private.renew($1) as r", [s.id])).rows[0]).toEqual({ r: "renewed" });
    // The worker dies before committing: its transaction is rolled back with the connection.
    await rootDb().query("select pg_terminate_backend($1)", [pid!.pid]);
    await victim.end().catch(() => undefined);
    expect(await state(s.id)).toEqual({ status: "active", period_number: 1, charges: 1 });
    await run();
    expect(await state(s.id)).toEqual({ status: "active", period_number: 2, charges: 2 });
    await run();
    expect(await state(s.id)).toEqual({ status: "active", period_number: 2, charges: 2 });
    expect((await rootDb().query("select * from ledger.verify()")).rows).toEqual([]);
  });

  it("moves a failed renewal to payment_failed with its retry job a day after the period end", async () => {
    const c = await customer(1000); // the first period only
    const s = await dueSubscription(c.userId);
    const { rows: due } = await rootDb().query<{ id: string }>("select id from graphile_worker.jobs where key = $1", [`commerce_renew:${s.id}`]);
    expect(due).toHaveLength(1);
    await run();
    // Another file's runner may have taken the job: wait until whoever ran it has completed it (its row gone),
    // so what is scheduled next is read alone.
    await until(async () => (await rootDb().query("select 1 from graphile_worker.jobs where id = $1", [due[0]!.id])).rowCount, (n) => n === 0, { what: "the due job to complete" });
    expect(await state(s.id)).toEqual({ status: "payment_failed", period_number: 1, charges: 1 });
    const retry = await scheduledRenewal(rootDb(), s.id);
    expect(retry).toMatchObject({ place: "calendar", n: 1 });
    expect(retry!.run_at.getTime()).toBe(s.periodEnd.getTime() + 24 * 3600 * 1000);
  });
  it("commits a renewal without a jobs:insert notification: the next period goes to the calendar, not to add_job", async () => {
    const c = await customer(5000);
    const s = await dueSubscription(c.userId);
    // The worker would hold the job locked while it renews; here the renewal runs
    // by hand, so its waiting job goes first (a waiting job is removed by the
    // renewal's schedule_renewal, and remove_job notifies).
    await rootDb().query("select graphile_worker.remove_job($1)", [`commerce_renew:${s.id}`]);
    const listener = new pg.Client({ connectionString: inject("testDatabase").rootUrl });
    const renewer = new pg.Client({ connectionString: inject("testDatabase").ownerUrl });
    await Promise.all([listener.connect(), renewer.connect()]);
    try {
      // Other files add jobs at the same time: only notifications sent by the renewer's backend count.
      const senders: number[] = [];
      listener.on("notification", (message) => senders.push(message.processId));
      await listener.query('listen "jobs:insert"');
      const pid = (await renewer.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
      await renewer.query("begin");
      expect((await renewer.query("select commerce_private.renew($1) as r", [s.id])).rows[0]).toEqual({ r: "renewed" });
      await renewer.query("commit");
      // The control: a renewal due within the horizon is added at once and notifies. Notifications
      // arrive in commit order, so when the control's has arrived, the renewal's would have too.
      await renewer.query("select commerce_private.schedule_renewal($1, now() + interval '1 minute')", [s.id]);
      await until(async () => senders.filter((sender) => sender === pid).length, (n) => n >= 1, { what: "the control's notification" });
      expect(senders.filter((sender) => sender === pid)).toEqual([pid]);
      expect(await state(s.id)).toEqual({ status: "active", period_number: 2, charges: 2 });
      // Back to the period end (a calendar row again): no job of this test runs in the next minute.
      const { rows: [end] } = await rootDb().query<{ current_period_end: Date }>(
        "select current_period_end from commerce.subscriptions where subscription_id = $1", [s.id]);
      await rootDb().query("select commerce_private.schedule_renewal($1, $2)", [s.id, end!.current_period_end]);
      expect(await scheduledRenewal(rootDb(), s.id)).toEqual({ run_at: end!.current_period_end, place: "calendar", n: 1 });
    } finally {
      await Promise.all([listener.end(), renewer.end()]);
    }
  });
});

/** `count` subscriptions of the test merchant (committed, inserted as root) with calendar rows `offset` ahead, a millisecond apart; returns ids and run_at texts. */
async function calendarRows(count: number, offset: string): Promise<{ ids: string[]; runAts: string[] }> {
  const tag = uniqueName("cmcr").replace(/_/g, "");
  const { rows } = await rootDb().query<{ subscription_id: string; run_at: string }>(
    `with u as (insert into auth.users (username, email) select $1 || 'u' || g, $1 || 'u' || g || '@example.com' from generate_series(1, $3::int) g returning user_id),
          s as (insert into commerce.subscriptions (organization_id, customer_id, price_id, client_key, currency, period_rate, current_period_start, current_period_end, period_number, status)
                select $2, user_id, $4, 'calendar', 'USD', 1000, now(), now() + interval '1 month', 1, 'active' from u returning subscription_id),
          n as (select subscription_id, row_number() over (order by subscription_id) as i from s)
     insert into commerce_private.renewal_calendar (subscription_id, run_at)
     select subscription_id, now() + $5::interval + i * interval '1 millisecond' from n
     returning subscription_id, run_at::text`,
    [tag, organizationId, count, priceId, offset]);
  return { ids: rows.map((r) => r.subscription_id), runAts: rows.map((r) => r.run_at) };
}

/** How the rows' renewals stand: jobs at the exact run_at never replaced (revision 0), any job, calendar rows left. */
async function handedOver(rows: { ids: string[]; runAts: string[] }) {
  const { rows: [counts] } = await rootDb().query<{ exact: number; jobs: number; left: number }>(
    `select (select count(*)::int from unnest($1::uuid[], $2::timestamptz[]) x (id, at)
               join graphile_worker.jobs j on j.key = 'commerce_renew:' || x.id and j.run_at = x.at and j.revision = 0
              where j.task_identifier = 'commerce_renew_subscription') as exact,
            (select count(*)::int from graphile_worker.jobs j where j.key = any (select 'commerce_renew:' || id from unnest($1::uuid[]) id)) as jobs,
            (select count(*)::int from commerce_private.renewal_calendar c where c.subscription_id = any ($1::uuid[])) as left`,
    [rows.ids, rows.runAts]);
  return counts;
}

describe("commerce_schedule_renewals", () => {
  it("hands a calendar row due within 10 minutes to graphile-worker as its renewal job at the exact run_at", async () => {
    const rows = await calendarRows(3, "5 minutes");
    await rootDb().query("select graphile_worker.add_job('commerce_schedule_renewals')");
    await run();
    expect(await handedOver(rows)).toEqual({ exact: 3, jobs: 3, left: 0 });
    // Rows due later than the horizon stay.
    const later = await calendarRows(2, "30 minutes");
    await rootDb().query("select graphile_worker.add_job('commerce_schedule_renewals')");
    await run();
    expect(await handedOver(later)).toEqual({ exact: 0, jobs: 0, left: 2 });
    // Unscheduled, so that the next test's schedulers (up to two hours ahead) find only their own rows.
    await rootDb().query("select commerce_private.unschedule_renewal(id) from unnest($1::uuid[]) id", [later.ids]);
  });

  it("hands each row exactly once when two schedulers run at once", async () => {
    // An hour ahead: no other scheduler of the test run (due within 10 minutes) reaches these rows.
    const upTo = "select commerce_private.hand_over_renewals($1, now() + interval '2 hours') as n";
    const a = new pg.Client({ connectionString: inject("testDatabase").ownerUrl });
    const b = new pg.Client({ connectionString: inject("testDatabase").ownerUrl });
    await Promise.all([a.connect(), b.connect()]);
    try {
      // Held: A's batch stays locked in its open transaction; B skips it at once
      // (it would wait, and the test time out, without skip locked) and hands the rest.
      const held = await calendarRows(60, "1 hour");
      await a.query("begin");
      const first = (await a.query<{ n: number }>(upTo, [20])).rows[0]!.n;
      const second = (await b.query<{ n: number }>(upTo, [1000])).rows[0]!.n;
      expect(await handedOver(held)).toMatchObject({ left: 20 }); // A's 20 rows: deleted, but not committed
      await a.query("commit");
      expect([first, second]).toEqual([20, 40]);
      expect(await handedOver(held)).toEqual({ exact: 60, jobs: 60, left: 0 });
      // Free-running: both loop with small batches over 300 rows until neither finds any.
      const raced = await calendarRows(300, "1 hour 1 minute");
      const loop = async (client: pg.Client) => {
        let total = 0;
        for (;;) {
          const n = (await client.query<{ n: number }>(upTo, [7])).rows[0]!.n;
          total += n;
          if (n === 0) return total;
        }
      };
      const totals = await Promise.all([loop(a), loop(b)]);
      expect(totals[0]! + totals[1]!).toBe(300);
      // A row handed twice would show as a replaced job (revision 1); none is.
      expect(await handedOver(raced)).toEqual({ exact: 300, jobs: 300, left: 0 });
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });
});

/** Checks out the one-time price as the customer on `client` (gw_user with claims, committed); returns the order id. */
async function committedCheckout(client: pg.ClientBase, userId: string): Promise<string> {
  await client.query("begin");
  try {
    await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [
      JSON.stringify({ role: "gw_user", sub: userId, iat: Math.floor(Date.now() / 1000) }),
    ]);
    const { rows } = await client.query<{ order_id: string }>("select order_id from commerce.checkout($1, $2)", [`a-${Math.random()}`, JSON.stringify([{ priceId: oneTimePriceId }])]);
    await client.query("commit");
    return rows[0]!.order_id;
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
}

async function awarded(orderId: string, userId: string) {
  const { rows: [award] } = await rootDb().query<{ points: string; n: number }>(
    "select sum(points)::text as points, count(*)::int as n from commerce.point_awards where order_id = $1", [orderId]);
  const { rows: [wallet] } = await rootDb().query<{ balance: string }>(
    "select balance from ledger.accounts where owner_user_id = $1 and code = 'payments.wallet.xlp'", [userId]);
  return { ...award, wallet: wallet?.balance };
}

describe("points at checkout (commerce_award_points)", () => {
  it("grants a paid order's points in the checkout's commit; an award job queued before grants nothing more, however often it runs", async () => {
    const c = await customer(5000);
    const client = await rootDb().connect();
    let orderId = "";
    try {
      orderId = await committedCheckout(client, c.userId);
    } finally {
      client.release();
    }
    // There as soon as the checkout committed: no job was queued for it.
    expect(await awarded(orderId, c.userId)).toEqual({ points: "200", n: 1, wallet: "200" });
    expect((await rootDb().query("select 1 from graphile_worker.jobs where key = $1", [`commerce_award_points:${orderId}`])).rowCount).toBe(0);
    // A job of the task as pay queued it before split 7330 (and a duplicate): the task still runs, granting nothing.
    const { rows: queued } = await rootDb().query<{ id: string }>(
      `select (graphile_worker.add_job('commerce_award_points', json_build_object('id', $1::text), job_key => 'commerce_award_points:' || $1)).id
       union all
       select (graphile_worker.add_job('commerce_award_points', json_build_object('id', $1::text))).id`, [orderId]);
    expect(queued).toHaveLength(2);
    await run();
    await run();
    // Both ran and completed, here or on another file's runner that took them: their rows are gone.
    await until(async () => (await rootDb().query("select 1 from graphile_worker.jobs where id = any($1::bigint[])", [queued.map((job) => job.id)])).rowCount,
      (n) => n === 0, { what: "both award jobs to complete" });
    expect(await awarded(orderId, c.userId)).toEqual({ points: "200", n: 1, wallet: "200" });
    expect((await rootDb().query("select * from ledger.verify()")).rows).toEqual([]);
  });

  it("commits a checkout that earns points without a jobs:insert notification", async () => {
    const c = await customer(5000);
    const listener = new pg.Client({ connectionString: inject("testDatabase").rootUrl });
    const buyer = new pg.Client({ connectionString: inject("testDatabase").rootUrl });
    await Promise.all([listener.connect(), buyer.connect()]);
    const controlKey = `award-control:${c.userId}`;
    try {
      // Other files add jobs at the same time: only notifications sent by the buyer's backend count.
      const senders: number[] = [];
      listener.on("notification", (message) => senders.push(message.processId));
      await listener.query('listen "jobs:insert"');
      const pid = (await buyer.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
      const orderId = await committedCheckout(buyer, c.userId);
      // The control: an add_job from the same backend notifies. Notifications arrive in commit
      // order, so when the control's has arrived, the checkout's would have too.
      await buyer.query("select graphile_worker.add_job('commerce_award_points', json_build_object('id', $1::text), job_key => $2, run_at => now() + interval '1 hour')", [orderId, controlKey]);
      await until(async () => senders.filter((sender) => sender === pid).length, (n) => n >= 1, { what: "the control's notification" });
      expect(senders.filter((sender) => sender === pid)).toEqual([pid]);
      expect(await awarded(orderId, c.userId)).toEqual({ points: "200", n: 1, wallet: "200" });
    } finally {
      await rootDb().query("select graphile_worker.remove_job($1)", [controlKey]);
      await Promise.all([listener.end(), buyer.end()]);
    }
  });
});

describe("points at checkout: lock order", () => {
  it("runs two checkouts of one customer at once, one spending points and one only earning them, without a deadlock", async () => {
    // The customer's money wallet is opened before the second merchant's receivable, so a sale
    // locks the wallet first and waits on the receivable while holding it.
    const c = await customer(10000);
    await rootDb().query("select payments.grant_credits($1, null, 100, 'XLP', now() + interval '1 year')", [c.userId]);
    const slug = uniqueName("cmlock", "-").toLowerCase();
    const { rows: [org] } = await rootDb().query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id", [slug]);
    const other = org!.organization_id;
    const { rows: [product] } = await rootDb().query<{ product_id: string }>("insert into commerce.products (organization_id, name) values ($1, 'Item') returning product_id", [other]);
    const { rows: [price] } = await rootDb().query<{ price_id: string }>(
      "insert into commerce.prices (product_id, organization_id, currency, amount) values ($1, $2, 'USD', 2000) returning price_id", [product!.product_id, other]);
    await rootDb().query("insert into commerce.loyalty_rules (organization_id, currency, points_per_100) values ($1, 'USD', 10)", [other]);
    const { rows: [receivable] } = await rootDb().query<{ id: string }>("select payments.organization_account($1, 'receivable', 'USD') as id", [other]);
    expect(BigInt(receivable!.id)).toBeGreaterThan(BigInt(c.walletId));

    const url = inject("testDatabase").rootUrl;
    const [holder, earner, spender] = [new pg.Client({ connectionString: url }), new pg.Client({ connectionString: url }), new pg.Client({ connectionString: url })];
    await Promise.all([holder.connect(), earner.connect(), spender.connect()]);
    const asCustomer = async (client: pg.Client) => {
      await client.query("begin");
      await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [
        JSON.stringify({ role: "gw_user", sub: c.userId, iat: Math.floor(Date.now() / 1000) }),
      ]);
    };
    const waiting = (client: pg.Client) => async () => {
      const pid = (client as unknown as { processID: number }).processID;
      return (await rootDb().query<{ w: string | null }>("select wait_event_type as w from pg_stat_activity where pid = $1", [pid])).rows[0]?.w;
    };
    try {
      // A third session holds the second merchant's receivable: the earning checkout stops in its sale.
      await holder.query("begin");
      await holder.query("select 1 from ledger.accounts where account_id = $1 for update", [receivable!.id]);
      await asCustomer(earner);
      const earning = earner.query("select order_id from commerce.checkout($1, $2)", [`e-${Math.random()}`, JSON.stringify([{ priceId: price!.price_id }])]);
      await until(waiting(earner), (w) => w === "Lock", { what: "the earning checkout waiting on the receivable" });
      // The spending checkout (another merchant) now waits on the earning one's locks.
      await asCustomer(spender);
      const spending = spender.query("select order_id from commerce.checkout($1, $2, null, 10)", [`s-${Math.random()}`, JSON.stringify([{ priceId: oneTimePriceId }])]);
      await until(waiting(spender), (w) => w === "Lock", { what: "the spending checkout waiting on the earning one" });
      await holder.query("commit");
      // Had the earning checkout locked its XLP wallet only for the award (after the money), each would
      // now wait on the other's wallet, and PostgreSQL would abort one (40P01).
      const results = await Promise.allSettled([earning.then(() => earner.query("commit")), spending.then(() => spender.query("commit"))]);
      expect(results.map((r) => (r.status === "fulfilled" ? "ok" : (r.reason as { code?: string }).code))).toEqual(["ok", "ok"]);
      // 100 held - 10 spent + 200 earned (2000 at 10 %) + 199 earned (1990 at 10 %)
      const { rows: [wallet] } = await rootDb().query<{ balance: string }>(
        "select balance::text from ledger.accounts where owner_user_id = $1 and code = 'payments.wallet.xlp'", [c.userId]);
      expect(wallet!.balance).toBe(String(100 - 10 + 200 + 199));
      expect((await rootDb().query("select * from ledger.verify()")).rows).toEqual([]);
    } finally {
      await Promise.all([holder, earner, spender].map((client) => client.query("rollback").catch(() => undefined).then(() => client.end())));
    }
  });
});
