import { runOnce } from "graphile-worker";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { taskList } from "../../../src/worker/tasks/index.ts";
import { rootDb, workerPool } from "../../helpers/db.ts";
import { uniqueName } from "../../helpers/fixtures.ts";
import { fund } from "./fixtures.ts";

// The renewal engine through graphile-worker on committed data: a
// subscription whose period ended a minute ago has exactly one job, keyed by
// the subscription and due at its period end; running it renews once, a
// duplicated job and a renewal whose connection was killed mid-transaction
// change nothing more; the award job grants points once.

const ownerPool = workerPool();
const run = () =>
  runOnce({
    pgPool: ownerPool,
    taskList: { commerce_renew_subscription: taskList.commerce_renew_subscription!, commerce_award_points: taskList.commerce_award_points! },
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
  await rootDb().query("select graphile_worker.remove_job('commerce_renew:' || subscription_id) from commerce.subscriptions where organization_id = $1", [organizationId]);
  await ownerPool.end();
});

describe("commerce_renew_subscription", () => {
  it("is one job per subscription, due at its period end, that renews it once even when run again", async () => {
    const c = await customer(5000);
    const s = await dueSubscription(c.userId);
    const { rows: jobs } = await rootDb().query<{ run_at: Date; task_identifier: string }>(
      "select run_at, task_identifier from graphile_worker.jobs where key = $1", [`commerce_renew:${s.id}`]);
    expect(jobs).toEqual([{ run_at: s.periodEnd, task_identifier: "commerce_renew_subscription" }]);
    expect(s.periodEnd.getTime()).toBeLessThan(Date.now());
    // A duplicated job (another key, same subscription) is queued beside it.
    await rootDb().query("select graphile_worker.add_job('commerce_renew_subscription', json_build_object('id', $1::text))", [s.id]);
    await run();
    await run();
    expect(await state(s.id)).toEqual({ status: "active", period_number: 2, charges: 2 });
    const { rows: wallet } = await rootDb().query<{ balance: string }>("select balance from ledger.accounts where account_id = $1", [c.walletId]);
    expect(wallet[0]!.balance).toBe("3000");
    // The next renewal is one job at the new period end, in a month.
    const { rows: next } = await rootDb().query<{ run_at: Date; n: number }>(
      "select run_at, count(*) over ()::int as n from graphile_worker.jobs where key = $1", [`commerce_renew:${s.id}`]);
    expect(next[0]!.n).toBe(1);
    expect(next[0]!.run_at.getTime()).toBeGreaterThan(Date.now() + 27 * 24 * 3600 * 1000);
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
    await run();
    expect(await state(s.id)).toEqual({ status: "payment_failed", period_number: 1, charges: 1 });
    const { rows } = await rootDb().query<{ run_at: Date }>("select run_at from graphile_worker.jobs where key = $1", [`commerce_renew:${s.id}`]);
    expect(rows[0]!.run_at.getTime()).toBe(s.periodEnd.getTime() + 24 * 3600 * 1000);
  });
});

describe("commerce_award_points", () => {
  it("grants a paid order's points once, however often the job runs", async () => {
    const c = await customer(5000);
    const client = await rootDb().connect();
    let orderId = "";
    try {
      await client.query("begin");
      await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [
        JSON.stringify({ role: "gw_user", sub: c.userId, iat: Math.floor(Date.now() / 1000) }),
      ]);
      const { rows } = await client.query<{ order_id: string }>("select order_id from commerce.checkout($1, $2)", [`a-${Math.random()}`, JSON.stringify([{ priceId: oneTimePriceId }])]);
      orderId = rows[0]!.order_id;
      await client.query("commit");
    } finally {
      client.release();
    }
    await rootDb().query("select graphile_worker.add_job('commerce_award_points', json_build_object('id', $1::text))", [orderId]);
    await run();
    await run();
    const { rows } = await rootDb().query<{ points: string; n: number }>(
      "select sum(points)::text as points, count(*)::int as n from commerce.point_awards where order_id = $1", [orderId]);
    expect(rows[0]).toEqual({ points: "200", n: 1 });
    const { rows: wallet } = await rootDb().query<{ balance: string }>("select balance from ledger.accounts where owner_user_id = $1 and code = 'payments.wallet.xlp'", [c.userId]);
    expect(wallet[0]!.balance).toBe("200");
  });
});
