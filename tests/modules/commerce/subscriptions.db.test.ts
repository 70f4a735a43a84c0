import { describe, expect, it } from "vitest";
import type { TestTransaction } from "../../helpers/db.ts";
import { withTransaction } from "../../helpers/db.ts";
import { countAsRoot, one } from "../../helpers/fixtures.ts";
import { balance, createCustomer, createMerchant, createPrice, createProduct, days, footprint, fund, scheduledRenewal, setClock, verify } from "./fixtures.ts";

// The subscription lifecycle engine with the clock under the test's control
// (commerce.now): renewals scheduled at the period end (in 2030: far beyond
// the real clock, so as renewal calendar rows), exactly-once renewal,
// dunning on 1/3/7 days then cancellation, pause/resume, cancel at period
// end or now, every transition allowed and refused.

type Subscription = {
  subscription_id: string;
  status: string;
  current_period_start: Date;
  current_period_end: Date;
  period_number: number;
  dunning_attempt: number;
  next_retry_at: Date | null;
  cancel_at_period_end: boolean;
};

const t0 = new Date("2030-01-15T10:00:00Z");

async function plan(tx: TestTransaction, label: string, amount = 1000, extra: { trialDays?: number; count?: number | null } = {}) {
  const merchant = await createMerchant(tx, label);
  const productId = await createProduct(tx, merchant, "Pro plan", "subscription");
  const priceId = await createPrice(tx, merchant, productId, { amount, interval: "1 month", trialDays: extra.trialDays ?? 0, count: extra.count ?? null });
  return { merchant, productId, priceId };
}

async function subscribe(tx: TestTransaction, claims: Parameters<TestTransaction["become"]>[0], priceId: string, key = `s-${Math.random()}`, code: string | null = null) {
  await tx.become(claims);
  return one<Subscription>(tx, "select * from commerce.subscribe($1, $2, $3)", [key, priceId, code]);
}

async function read(tx: TestTransaction, id: string): Promise<Subscription> {
  return tx.asRoot(() => one<Subscription>(tx, "select * from commerce.subscriptions where subscription_id = $1", [id]));
}

async function renew(tx: TestTransaction, id: string, at: Date): Promise<string> {
  return tx.asRoot(async () => {
    await setClock(tx, at);
    return (await one<{ r: string }>(tx, "select commerce_private.renew($1) as r", [id])).r;
  });
}

/** The subscription's scheduled renewal, wherever it is (calendar row or job). */
async function scheduled(tx: TestTransaction, id: string) {
  return tx.asRoot(() => scheduledRenewal(tx, id));
}

describe("subscriptions", () => {
  it("charges the first period at once and schedules its renewal once, at the period end", async () => {
    await withTransaction(async (tx) => {
      const p = await plan(tx, "cmsub", 1500);
      const customer = await createCustomer(tx, "cmsc", 10000);
      await setClock(tx, t0);
      const s = await subscribe(tx, customer.claims, p.priceId);
      expect(s).toMatchObject({ status: "active", period_number: 1 });
      expect(s.current_period_end.toISOString()).toBe("2030-02-15T10:00:00.000Z");
      expect(await balance(tx, customer.walletId)).toBe(8500);
      expect(await scheduled(tx, s.subscription_id)).toEqual({ run_at: s.current_period_end, place: "calendar", n: 1 });
      expect(await countAsRoot(tx, "audit.activity where object_id = $1 and verb = 'subscription.active' and subject_id = $2", [s.subscription_id, customer.userId])).toBe(1);
      expect(await countAsRoot(tx, "outbox.events where topic = 'subscription.changed' and aggregate_id = $1", [s.subscription_id])).toBe(1);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("renews exactly once at the period end even when the job runs twice, and not before", async () => {
    await withTransaction(async (tx) => {
      const p = await plan(tx, "cmren", 1000);
      const customer = await createCustomer(tx, "cmrn", 10000);
      await setClock(tx, t0);
      const s = await subscribe(tx, customer.claims, p.priceId);
      expect(await renew(tx, s.subscription_id, new Date(s.current_period_end.getTime() - 1000))).toBe("not_due");
      expect(await renew(tx, s.subscription_id, s.current_period_end)).toBe("renewed");
      expect(await renew(tx, s.subscription_id, s.current_period_end)).toBe("not_due");
      const after = await read(tx, s.subscription_id);
      expect(after).toMatchObject({ status: "active", period_number: 2 });
      expect(after.current_period_start.toISOString()).toBe("2030-02-15T10:00:00.000Z");
      expect(after.current_period_end.toISOString()).toBe("2030-03-15T10:00:00.000Z");
      expect(await balance(tx, customer.walletId)).toBe(8000);
      expect(await countAsRoot(tx, "commerce.subscription_charges where subscription_id = $1", [s.subscription_id])).toBe(2);
      expect(await scheduled(tx, s.subscription_id)).toEqual({ run_at: after.current_period_end, place: "calendar", n: 1 });
      // Each move went through renewal_pending, in the activity log and on the outbox.
      const moves = await tx.asRoot(() => tx.query<{ v: string }>("select payload ->> 'from' || '>' || (payload ->> 'to') as v from outbox.events where aggregate_id = $1 and topic = 'subscription.changed' order by event_id", [s.subscription_id]));
      expect(moves.rows.map((r) => r.v)).toEqual([null, "active>renewal_pending", "renewal_pending>active"]);
      expect(await countAsRoot(tx, "audit.activity where object_id = $1", [s.subscription_id])).toBe(3);
      expect(await countAsRoot(tx, "outbox.events where topic = 'subscription.renewed' and aggregate_id = $1", [s.subscription_id])).toBe(1);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("starts a trial without charging and charges the first period when it ends", async () => {
    await withTransaction(async (tx) => {
      const p = await plan(tx, "cmtri", 700, { trialDays: 14 });
      const customer = await createCustomer(tx, "cmtc", 1000);
      await setClock(tx, t0);
      const s = await subscribe(tx, customer.claims, p.priceId);
      expect(s).toMatchObject({ status: "trialing", period_number: 0 });
      expect(s.current_period_end.getTime()).toBe(t0.getTime() + days(14));
      expect(await balance(tx, customer.walletId)).toBe(1000);
      expect(await renew(tx, s.subscription_id, s.current_period_end)).toBe("renewed");
      expect(await read(tx, s.subscription_id)).toMatchObject({ status: "active", period_number: 1 });
      expect(await balance(tx, customer.walletId)).toBe(300);
    });
  });

  it("retries a failed renewal after 1, 3 and 7 days, then cancels; a retry that succeeds recovers", async () => {
    await withTransaction(async (tx) => {
      const p = await plan(tx, "cmdun", 1000);
      const customer = await createCustomer(tx, "cmdc", 1000);
      const rich = await createCustomer(tx, "cmdr", 1000);
      await setClock(tx, t0);
      const s = await subscribe(tx, customer.claims, p.priceId);
      const r = await subscribe(tx, rich.claims, p.priceId);
      const end = s.current_period_end.getTime();
      expect(await renew(tx, s.subscription_id, new Date(end))).toBe("payment_failed");
      let now = await read(tx, s.subscription_id);
      expect(now).toMatchObject({ status: "payment_failed", dunning_attempt: 1 });
      const retries = [1, 3, 7].map((d) => new Date(end + days(d)).toISOString());
      expect(now.next_retry_at!.toISOString()).toBe(retries[0]);
      expect((await scheduled(tx, s.subscription_id))!.run_at.toISOString()).toBe(retries[0]);
      expect(await renew(tx, s.subscription_id, new Date(end + days(1) - 1000))).toBe("not_due");
      expect(await renew(tx, s.subscription_id, new Date(retries[0]!))).toBe("payment_failed");
      now = await read(tx, s.subscription_id);
      expect([now.dunning_attempt, now.next_retry_at!.toISOString()]).toEqual([2, retries[1]]);
      expect(await renew(tx, s.subscription_id, new Date(retries[1]!))).toBe("payment_failed");
      now = await read(tx, s.subscription_id);
      expect([now.dunning_attempt, now.next_retry_at!.toISOString()]).toEqual([3, retries[2]]);
      expect(await renew(tx, s.subscription_id, new Date(retries[2]!))).toBe("canceled");
      expect(await read(tx, s.subscription_id)).toMatchObject({ status: "canceled", next_retry_at: null });
      expect(await renew(tx, s.subscription_id, new Date(end + days(60)))).toBe("not_due");
      expect(await balance(tx, customer.walletId)).toBe(0);
      // The other customer fails once, funds the wallet, and the next retry recovers with a new period from then.
      expect(await renew(tx, r.subscription_id, new Date(end))).toBe("payment_failed");
      await tx.asRoot(() => fund(tx, rich.userId, 5000));
      expect(await renew(tx, r.subscription_id, new Date(retries[0]!))).toBe("renewed");
      const recovered = await read(tx, r.subscription_id);
      expect(recovered).toMatchObject({ status: "active", period_number: 2, dunning_attempt: 0, next_retry_at: null });
      expect(recovered.current_period_start.toISOString()).toBe(retries[0]);
      expect(await balance(tx, rich.walletId)).toBe(4000);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("follows the merchant's own dunning schedule", async () => {
    await withTransaction(async (tx) => {
      const p = await plan(tx, "cmdun2", 1000);
      await tx.become(p.merchant.claims);
      await tx.query("insert into commerce.merchant_settings (organization_id, dunning_days) values ($1, '{2}')", [p.merchant.organization.organizationId]);
      const customer = await createCustomer(tx, "cmd2c", 1000);
      await setClock(tx, t0);
      const s = await subscribe(tx, customer.claims, p.priceId);
      const end = s.current_period_end.getTime();
      expect(await renew(tx, s.subscription_id, new Date(end))).toBe("payment_failed");
      expect((await read(tx, s.subscription_id)).next_retry_at!.getTime()).toBe(end + days(2));
      expect(await renew(tx, s.subscription_id, new Date(end + days(2)))).toBe("canceled");
    });
  });

  it("pauses without renewing and resumes with the rest of the period", async () => {
    await withTransaction(async (tx) => {
      const p = await plan(tx, "cmpau", 1000);
      const customer = await createCustomer(tx, "cmpc", 5000);
      await setClock(tx, t0);
      const s = await subscribe(tx, customer.claims, p.priceId);
      const remaining = s.current_period_end.getTime() - (t0.getTime() + days(10));
      await setClock(tx, new Date(t0.getTime() + days(10)));
      await tx.become(customer.claims);
      expect((await one<Subscription>(tx, "select * from commerce.pause_subscription($1)", [s.subscription_id])).status).toBe("paused");
      expect(await scheduled(tx, s.subscription_id)).toBeUndefined();
      expect(await renew(tx, s.subscription_id, new Date(s.current_period_end.getTime() + days(5)))).toBe("not_due");
      const resumeAt = new Date(t0.getTime() + days(40));
      await setClock(tx, resumeAt);
      await tx.become(customer.claims);
      const resumed = await one<Subscription>(tx, "select * from commerce.resume_subscription($1)", [s.subscription_id]);
      expect(resumed.status).toBe("active");
      expect(resumed.current_period_end.getTime()).toBe(resumeAt.getTime() + remaining);
      expect((await scheduled(tx, s.subscription_id))!.run_at).toEqual(resumed.current_period_end);
      expect(await tx.errorCode(() => tx.query("select commerce.resume_subscription($1)", [s.subscription_id]))).toBe("CMSUB");
      expect(await balance(tx, customer.walletId)).toBe(4000);
    });
  });

  it("cancels at the period end or at once, and never renews a canceled subscription", async () => {
    await withTransaction(async (tx) => {
      const p = await plan(tx, "cmcan", 1000);
      const customer = await createCustomer(tx, "cmcc", 10000);
      await setClock(tx, t0);
      const later = await subscribe(tx, customer.claims, p.priceId);
      const now = await subscribe(tx, customer.claims, p.priceId);
      await tx.become(customer.claims);
      expect(await one(tx, "select status, cancel_at_period_end from commerce.cancel_subscription($1)", [later.subscription_id])).toEqual({ status: "active", cancel_at_period_end: true });
      expect(await renew(tx, later.subscription_id, later.current_period_end)).toBe("canceled");
      await tx.become(customer.claims);
      expect((await one<Subscription>(tx, "select * from commerce.cancel_subscription($1, false)", [now.subscription_id])).status).toBe("canceled");
      expect(await scheduled(tx, now.subscription_id)).toBeUndefined();
      const before = await footprint(tx);
      await tx.become(customer.claims);
      for (const id of [later.subscription_id, now.subscription_id]) {
        expect(await tx.errorCode(() => tx.query("select commerce.retry_subscription_payment($1)", [id]))).toBe("CMSUB");
        expect(await tx.errorCode(() => tx.query("select commerce.cancel_subscription($1)", [id]))).toBe("CMSUB");
        expect(await tx.errorCode(() => tx.query("select commerce.pause_subscription($1)", [id]))).toBe("CMSUB");
      }
      expect(await renew(tx, now.subscription_id, new Date(t0.getTime() + days(90)))).toBe("not_due");
      expect(await footprint(tx)).toEqual(before);
      expect(await balance(tx, customer.walletId)).toBe(8000);
    });
  });

  it("expires after the price's count of periods", async () => {
    await withTransaction(async (tx) => {
      const p = await plan(tx, "cmexp", 100, { count: 2 });
      const customer = await createCustomer(tx, "cmec", 1000);
      await setClock(tx, t0);
      const s = await subscribe(tx, customer.claims, p.priceId);
      expect(await renew(tx, s.subscription_id, s.current_period_end)).toBe("renewed");
      const second = await read(tx, s.subscription_id);
      expect(await renew(tx, s.subscription_id, second.current_period_end)).toBe("expired");
      expect(await read(tx, s.subscription_id)).toMatchObject({ status: "expired", period_number: 2 });
      expect(await balance(tx, customer.walletId)).toBe(800);
    });
  });

  it("allows exactly the registered moves of the lifecycle and refuses every other with RGTRN", async () => {
    await withTransaction(async (tx) => {
      const p = await plan(tx, "cmsm", 100);
      const customer = await createCustomer(tx, "cmsmc", 1000);
      const s = await subscribe(tx, customer.claims, p.priceId);
      const states = ["trialing", "active", "renewal_pending", "payment_failed", "paused", "canceled", "expired"];
      const allowed = new Set([
        "trialing>renewal_pending", "active>renewal_pending", "renewal_pending>active", "renewal_pending>payment_failed",
        "renewal_pending>canceled", "renewal_pending>expired", "payment_failed>active", "payment_failed>canceled",
        "active>paused", "paused>active", "trialing>canceled", "active>canceled", "paused>canceled",
      ]);
      let passed = 0;
      for (const from of states) {
        for (const to of states) {
          if (from === to) continue;
          const code = await tx.asRoot(() =>
            tx.errorCode(async () => {
              await tx.query("alter table commerce.subscriptions disable trigger _060_transition_status");
              await tx.query("update commerce.subscriptions set status = $2 where subscription_id = $1", [s.subscription_id, from]);
              await tx.query("alter table commerce.subscriptions enable trigger _060_transition_status");
              await tx.query("update commerce.subscriptions set status = $2 where subscription_id = $1", [s.subscription_id, to]);
            }),
          );
          expect([from, to, code ?? "ok"]).toEqual([from, to, allowed.has(`${from}>${to}`) ? "ok" : "RGTRN"]);
          if (!code) passed++;
        }
      }
      expect(passed).toBe(allowed.size);
      for (const start of ["renewal_pending", "payment_failed", "paused", "canceled", "expired"]) {
        expect(await tx.asRoot(() => tx.errorCode(() => tx.query(
          `insert into commerce.subscriptions (organization_id, customer_id, price_id, client_key, currency, period_rate, current_period_start, current_period_end, status)
           values ($1, $2, $3, 'k', 'USD', 0, now(), now() + interval '1 day', $4)`,
          [p.merchant.organization.organizationId, customer.userId, p.priceId, start],
        )))).toBe("RGTRN");
      }
    });
  });

  it("shows customers their subscriptions and members their merchant's, nobody another's", async () => {
    await withTransaction(async (tx) => {
      const p = await plan(tx, "cmsrl", 100);
      const other = await plan(tx, "cmsro", 100);
      const customer = await createCustomer(tx, "cmsrc");
      const stranger = await createCustomer(tx, "cmsrs");
      const s = await subscribe(tx, customer.claims, p.priceId);
      await tx.become(customer.claims);
      expect((await tx.query("select 1 from commerce.subscriptions where subscription_id = $1", [s.subscription_id])).rowCount).toBe(1);
      expect((await tx.query("select 1 from commerce.subscription_charges where subscription_id = $1", [s.subscription_id])).rowCount).toBe(1);
      await tx.become(p.merchant.owner.claims);
      expect((await tx.query("select 1 from commerce.subscriptions where subscription_id = $1", [s.subscription_id])).rowCount).toBe(1);
      for (const claims of [stranger.claims, other.merchant.claims]) {
        await tx.become(claims);
        expect((await tx.query("select 1 from commerce.subscriptions where subscription_id = $1", [s.subscription_id])).rowCount).toBe(0);
        expect((await tx.query("select 1 from commerce.subscription_charges where subscription_id = $1", [s.subscription_id])).rowCount).toBe(0);
        expect(await tx.errorCode(() => tx.query("select commerce.cancel_subscription($1, false)", [s.subscription_id]))).toBe("NTFND");
      }
      expect(await countAsRoot(tx, "commerce.subscriptions where subscription_id = $1 and status = 'active'", [s.subscription_id])).toBe(1);
      // The merchant (owner acting in it) may cancel it.
      await tx.become(p.merchant.claims);
      expect((await one<Subscription>(tx, "select * from commerce.cancel_subscription($1, false)", [s.subscription_id])).status).toBe("canceled");
    });
  });

  it("writes nothing for a one-time price, a short wallet, a plan change to another merchant's price or a reused key", async () => {
    await withTransaction(async (tx) => {
      const p = await plan(tx, "cmsbad", 5000);
      const other = await plan(tx, "cmsbo", 100);
      const yearly = await createPrice(tx, p.merchant, p.productId, { amount: 100, interval: "1 year" });
      const once = await createPrice(tx, p.merchant, p.productId, { amount: 100 });
      const customer = await createCustomer(tx, "cmsbc", 5000);
      const s = await subscribe(tx, customer.claims, p.priceId, "key-1");
      const poor = await createCustomer(tx, "cmsbp", 10);
      const before = await footprint(tx);
      await tx.become(customer.claims);
      expect(await tx.errorCode(() => tx.query("select commerce.subscribe('k2', $1)", [once]))).toBe("CMINT");
      expect(await tx.errorCode(() => tx.query("select commerce.subscribe('key-1', $1)", [other.priceId]))).toBe("CMKEY");
      for (const target of [other.priceId, yearly, once]) {
        expect(await tx.errorCode(() => tx.query("select commerce.change_plan($1, $2)", [s.subscription_id, target]))).toBe("CMPLN");
      }
      await tx.become(poor.claims);
      expect(await tx.errorCode(() => tx.query("select commerce.subscribe('k3', $1)", [p.priceId]))).toBe("LFUND");
      expect(await footprint(tx)).toEqual(before);
      expect(await verify(tx)).toEqual([]);
    });
  });
});
