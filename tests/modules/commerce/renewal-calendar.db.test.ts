import { describe, expect, it } from "vitest";
import type { TestTransaction } from "../../helpers/db.ts";
import { withTransaction } from "../../helpers/db.ts";
import { one } from "../../helpers/fixtures.ts";
import { createCustomer, createMerchant, createPrice, createProduct, scheduledRenewal, setClock } from "./fixtures.ts";

// The renewal calendar: a renewal due beyond the hand-off horizon (10 minutes
// of the real clock) waits as a row of commerce_private.renewal_calendar, not
// as a graphile-worker job (whose add_jobs would notify in the scheduling
// transaction's commit); one due sooner is a job at once; the scheduler
// (hand_over_renewals) turns due-soon rows into jobs at their exact run_at.
// Every test runs in one rolled-back transaction: its rows are invisible to
// other files' schedulers.

const t0 = new Date("2030-01-15T10:00:00Z");

async function subscription(tx: TestTransaction, label: string) {
  const merchant = await createMerchant(tx, label);
  const productId = await createProduct(tx, merchant, "Plan", "subscription");
  const priceId = await createPrice(tx, merchant, productId, { amount: 500, interval: "1 month" });
  const customer = await createCustomer(tx, `${label}c`, 10_000);
  await setClock(tx, t0);
  await tx.become(customer.claims);
  const s = await one<{ subscription_id: string; current_period_end: Date }>(
    tx, "select subscription_id, current_period_end from commerce.subscribe($1, $2)", [`k-${Math.random()}`, priceId]);
  return { id: s.subscription_id, periodEnd: s.current_period_end, customer };
}

const scheduled = (tx: TestTransaction, id: string) => tx.asRoot(() => scheduledRenewal(tx, id));

/** The subscription's job (as root): run_at, payload, max_attempts, identifier. */
async function job(tx: TestTransaction, id: string) {
  return tx.asRoot(async () => (await tx.query<{ run_at: Date; task_identifier: string; max_attempts: number; payload: unknown }>(
    `select j.run_at, j.task_identifier, j.max_attempts, p.payload
       from graphile_worker.jobs j join graphile_worker._private_jobs p using (id) where j.key = $1`,
    [`commerce_renew:${id}`])).rows);
}

/** Moves the subscription's calendar row to `sql` (an expression of now()) and returns its new run_at. */
async function moveRow(tx: TestTransaction, id: string, sql: string): Promise<Date> {
  return tx.asRoot(async () => (await one<{ run_at: Date }>(tx,
    `update commerce_private.renewal_calendar set run_at = ${sql} where subscription_id = $1 returning run_at`, [id])).run_at);
}

/** The job's run_at as PostgreSQL prints it (microseconds, which a Date drops). */
async function jobRunAtText(tx: TestTransaction, id: string): Promise<string | undefined> {
  return tx.asRoot(async () => (await tx.query<{ t: string }>("select run_at::text as t from graphile_worker.jobs where key = $1", [`commerce_renew:${id}`])).rows[0]?.t);
}

describe("the renewal calendar", () => {
  it("schedules a renewal due beyond the horizon as one calendar row and no job", async () => {
    await withTransaction(async (tx) => {
      const s = await subscription(tx, "cmcal");
      expect(await scheduled(tx, s.id)).toEqual({ run_at: s.periodEnd, place: "calendar", n: 1 });
      expect(await job(tx, s.id)).toEqual([]);
    });
  });

  it("schedules a renewal due within the horizon as a job at once, and moving it far away leaves only the calendar row", async () => {
    await withTransaction(async (tx) => {
      const s = await subscription(tx, "cmcaln");
      const soon = await tx.asRoot(async () => {
        const { rows: [row] } = await tx.query<{ soon: Date }>(
          "select now() + interval '5 minutes' as soon, commerce_private.schedule_renewal($1, now() + interval '5 minutes')", [s.id]);
        return row!.soon;
      });
      expect(await scheduled(tx, s.id)).toEqual({ run_at: soon, place: "job", n: 1 });
      expect(await job(tx, s.id)).toEqual([{ run_at: soon, task_identifier: "commerce_renew_subscription", max_attempts: 5, payload: { id: s.id } }]);
      // Back to the period end: the waiting job goes, the row comes back.
      await tx.asRoot(() => tx.query("select commerce_private.schedule_renewal($1, $2)", [s.id, s.periodEnd]));
      expect(await scheduled(tx, s.id)).toEqual({ run_at: s.periodEnd, place: "calendar", n: 1 });
    });
  });

  it("hands rows due within the horizon to graphile-worker as jobs at their exact run_at, deletes them, and leaves later rows", async () => {
    await withTransaction(async (tx) => {
      const due = await subscription(tx, "cmcald");
      const later = await subscription(tx, "cmcall");
      const dueAt = await moveRow(tx, due.id, "now() + interval '5 minutes 12.345678 seconds'");
      const laterAt = await moveRow(tx, later.id, "now() + interval '20 minutes'");
      const dueAtText = await tx.asRoot(async () => (await one<{ t: string }>(tx,
        "select run_at::text as t from commerce_private.renewal_calendar where subscription_id = $1", [due.id])).t);
      const handed = await tx.asRoot(async () => (await one<{ n: number }>(tx, "select commerce_private.hand_over_renewals() as n")).n);
      expect(handed).toBeGreaterThanOrEqual(1);
      expect(await job(tx, due.id)).toEqual([{ run_at: dueAt, task_identifier: "commerce_renew_subscription", max_attempts: 5, payload: { id: due.id } }]);
      expect(await jobRunAtText(tx, due.id)).toBe(dueAtText);
      expect(await scheduled(tx, due.id)).toEqual({ run_at: dueAt, place: "job", n: 1 });
      expect(await scheduled(tx, later.id)).toEqual({ run_at: laterAt, place: "calendar", n: 1 });
      // Nothing of ours is left to hand over: a second run finds neither row again.
      await tx.asRoot(() => tx.query("select commerce_private.hand_over_renewals()"));
      expect(await scheduled(tx, due.id)).toEqual({ run_at: dueAt, place: "job", n: 1 });
      expect(await scheduled(tx, later.id)).toEqual({ run_at: laterAt, place: "calendar", n: 1 });
    });
  });

  it("removes the calendar row when the subscription is paused or canceled, and moves it when resumed or renewed", async () => {
    await withTransaction(async (tx) => {
      const s = await subscription(tx, "cmcalp");
      await setClock(tx, new Date(t0.getTime() + 24 * 3600 * 1000));
      await tx.become(s.customer.claims);
      await tx.query("select commerce.pause_subscription($1)", [s.id]);
      expect(await scheduled(tx, s.id)).toBeUndefined();
      await setClock(tx, new Date(t0.getTime() + 10 * 24 * 3600 * 1000));
      await tx.become(s.customer.claims);
      const resumed = await one<{ current_period_end: Date }>(tx, "select current_period_end from commerce.resume_subscription($1)", [s.id]);
      expect(resumed.current_period_end.getTime()).toBe(s.periodEnd.getTime() + 9 * 24 * 3600 * 1000);
      expect(await scheduled(tx, s.id)).toEqual({ run_at: resumed.current_period_end, place: "calendar", n: 1 });
      await tx.asRoot(async () => {
        await setClock(tx, resumed.current_period_end);
        expect((await one<{ r: string }>(tx, "select commerce_private.renew($1) as r", [s.id])).r).toBe("renewed");
      });
      const next = await tx.asRoot(() => one<{ current_period_end: Date }>(tx, "select current_period_end from commerce.subscriptions where subscription_id = $1", [s.id]));
      expect(await scheduled(tx, s.id)).toEqual({ run_at: next.current_period_end, place: "calendar", n: 1 });
      await tx.become(s.customer.claims);
      await tx.query("select commerce.cancel_subscription($1, false)", [s.id]);
      expect(await scheduled(tx, s.id)).toBeUndefined();
    });
  });

  it("removes a handed-over job when the subscription is canceled", async () => {
    await withTransaction(async (tx) => {
      const s = await subscription(tx, "cmcalc");
      const dueAt = await moveRow(tx, s.id, "now() + interval '3 minutes'");
      await tx.asRoot(() => tx.query("select commerce_private.hand_over_renewals()"));
      expect(await scheduled(tx, s.id)).toEqual({ run_at: dueAt, place: "job", n: 1 });
      await tx.become(s.customer.claims);
      await tx.query("select commerce.cancel_subscription($1, false)", [s.id]);
      expect(await scheduled(tx, s.id)).toBeUndefined();
    });
  });
});
