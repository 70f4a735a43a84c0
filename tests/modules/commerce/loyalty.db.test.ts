import { describe, expect, it } from "vitest";
import type { TestTransaction } from "../../helpers/db.ts";
import { withTransaction } from "../../helpers/db.ts";
import { countAsRoot, one } from "../../helpers/fixtures.ts";
import { balance, checkout, createCustomer, createProduct, createPrice, createShop, footprint, points, verify, type Merchant } from "./fixtures.ts";

// Loyalty points: earned on paid orders by the merchant's rules (credit lots
// in the customer's XLP wallet, granted in the paying transaction from the
// merchant's issuing account), spent at checkout first-expiring-first, expired
// through the credit-lot breakage, every movement a ledger transaction in
// XLP, the books balanced after each.

async function rule(tx: TestTransaction, merchant: Merchant, fields: Record<string, unknown> = {}): Promise<string> {
  await tx.become(merchant.claims);
  const all = { currency: "USD", points_per_100: 10, ...fields };
  const columns = Object.keys(all);
  return (await one<{ rule_id: string }>(
    tx,
    `insert into commerce.loyalty_rules (${columns.join(", ")}) values (${columns.map((_, i) => `$${i + 1}`).join(", ")}) returning rule_id`,
    Object.values(all),
  )).rule_id;
}

/** Runs the award's SQL again for an order as trusted code (what a job queued before split 7330 does); returns the points granted now. */
async function award(tx: TestTransaction, orderId: string): Promise<number> {
  return tx.asRoot(async () => Number((await one<{ p: string }>(tx, "select commerce_private.award_points($1) as p", [orderId])).p));
}

describe("loyalty points", () => {
  it("earns points at checkout by every matching rule, once, even when the checkout or the award is replayed", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmloy", 2000);
      const bonus = await createProduct(tx, shop.merchant, "Bonus item");
      const bonusPrice = await createPrice(tx, shop.merchant, bonus, { amount: 1000 });
      await rule(tx, shop.merchant, { points_per_100: 10 });
      await rule(tx, shop.merchant, { points_per_100: 50, product_id: bonus });
      await rule(tx, shop.merchant, { points_per_100: 1000, min_order: 100000 }); // not reached
      const customer = await createCustomer(tx, "cmloc");
      const items = [{ priceId: shop.priceId }, { priceId: bonusPrice }];
      const order = await checkout(tx, customer.claims, items, { key: "loyal-1" });
      // Granted by the checkout itself: no job queued, the points there when it returns.
      expect(await points(tx, customer.userId)).toBe(300 + 500);
      expect(await countAsRoot(tx, "graphile_worker.jobs where task_identifier = 'commerce_award_points'")).toBe(0);
      // The same checkout again (a client retry) is the same order and grants nothing more; nor does the award run again.
      expect((await checkout(tx, customer.claims, items, { key: "loyal-1" })).order_id).toBe(order.order_id);
      expect(await award(tx, order.order_id)).toBe(0);
      expect(await points(tx, customer.userId)).toBe(800);
      expect(await countAsRoot(tx, "commerce.point_awards where order_id = $1", [order.order_id])).toBe(2);
      // Issued from the merchant's own XLP account (not one platform-wide row every checkout would lock).
      const issued = await tx.asRoot(() => one<{ balance: string; grants: string }>(tx,
        `select a.balance::text, (select count(*)::text from ledger.entries e where e.account_id = a.account_id) as grants
           from ledger.accounts a where a.code = $1 and a.currency = 'XLP' and a.owner_user_id is null and a.organization_id is null`,
        [`commerce.points.issued.${shop.merchant.organization.organizationId}.xlp`]));
      expect(issued).toEqual({ balance: "-800", grants: "2" });
      await tx.become(customer.claims);
      expect((await tx.query("select points from commerce.point_awards where order_id = $1 order by points", [order.order_id])).rows).toEqual([{ points: "300" }, { points: "500" }]);
      expect((await tx.query("select points::text, kind from commerce.points_history order by points")).rows).toEqual([
        { points: "300", kind: "payments.credit_grant" },
        { points: "500", kind: "payments.credit_grant" },
      ]);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("spends points at checkout worth the merchant's point value, first-expiring lot first", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmspd", 5000);
      await tx.become(shop.merchant.claims);
      await tx.query("insert into commerce.merchant_settings (organization_id, point_value) values ($1, 2)", [shop.merchant.organization.organizationId]);
      await rule(tx, shop.merchant, { points_per_100: 10, expires_days: 30 });
      await rule(tx, shop.merchant, { points_per_100: 5, expires_days: 400 });
      const customer = await createCustomer(tx, "cmspc", 100000);
      const first = await checkout(tx, customer.claims, [{ priceId: shop.priceId }]); // earns 500 (30 days) + 250 (400 days)
      const order = await checkout(tx, customer.claims, [{ priceId: shop.priceId }], { points: 600 });
      expect(order).toMatchObject({ subtotal: "5000", points_spent: "600", points_value: "1200", total: "3800" });
      // 750 - 600 spent, + 380 + 190 earned on the 3800 paid.
      expect(await points(tx, customer.userId)).toBe(150 + 570);
      const lots = await tx.asRoot(() => tx.query<{ amount: string; remaining: string }>(
        "select l.amount::text, l.remaining::text from payments.credit_lots l join commerce.point_awards a on a.lot_id = l.lot_id where a.order_id = $1 order by l.expires_at", [first.order_id]));
      expect(lots.rows).toEqual([{ amount: "500", remaining: "0" }, { amount: "250", remaining: "150" }]);
      const spend = await tx.asRoot(() => one<{ kind: string; n: string; s: string }>(tx,
        "select t.kind, count(*)::text as n, sum(e.amount)::text as s from ledger.transactions t join ledger.entries e using (transaction_id) where t.transaction_id = $1 group by t.kind", [order.points_transaction_id]));
      expect(spend).toEqual({ kind: "commerce.points_spend", n: "2", s: "0" });
      expect(await balance(tx, customer.walletId)).toBe(100000 - 5000 - 3800);
      await tx.become(customer.claims);
      expect((await tx.query("select points::text from commerce.points_history where kind = 'commerce.points_spend'")).rows).toEqual([{ points: "-600" }]);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("refuses to spend more points than held or than the order is worth, writing nothing", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmover", 1000);
      await rule(tx, shop.merchant, { points_per_100: 10 });
      const customer = await createCustomer(tx, "cmovc");
      await checkout(tx, customer.claims, [{ priceId: shop.priceId }]); // earns 100 points
      const before = await footprint(tx);
      await tx.become(customer.claims);
      const attempt = (n: number) => tx.errorCode(() => tx.query("select commerce.checkout($1, $2, null, $3)", [`o-${n}`, JSON.stringify([{ priceId: shop.priceId }]), n]));
      expect(await attempt(101)).toBe("CMPTS");
      expect(await attempt(1001)).toBe("CMPTS");
      expect(await attempt(-1)).toBe("BADIN");
      expect(await footprint(tx)).toEqual(before);
      expect(await points(tx, customer.userId)).toBe(100);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("expires unspent points through the credit-lot breakage, as a ledger movement in XLP", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmexpp", 1000);
      await rule(tx, shop.merchant, { points_per_100: 10, expires_days: 7 });
      const customer = await createCustomer(tx, "cmexc");
      const order = await checkout(tx, customer.claims, [{ priceId: shop.priceId }]); // earns 100
      await checkout(tx, customer.claims, [{ priceId: shop.priceId }], { points: 40 }); // spends 40 of them, earns 96 on the 960 paid
      expect(await points(tx, customer.userId)).toBe(60 + 96);
      await tx.asRoot(() => tx.query("update payments.credit_lots set expires_at = now() - interval '1 second' where lot_id in (select lot_id from commerce.point_awards where order_id = $1)", [order.order_id]));
      await tx.asRoot(() => tx.query("select payments_private.expire_credit_lots(1000)"));
      expect(await points(tx, customer.userId)).toBe(96);
      await tx.become(customer.claims);
      expect((await tx.query("select points::text, kind from commerce.points_history order by created_at, points")).rows.map((r) => `${r.kind} ${r.points}`).sort()).toEqual(
        ["commerce.points_spend -40", "payments.breakage -60", "payments.credit_grant 100", "payments.credit_grant 96"]);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("shows customers only their own points history and awards", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmlrl", 1000);
      await rule(tx, shop.merchant);
      const customer = await createCustomer(tx, "cmlrc");
      const stranger = await createCustomer(tx, "cmlrs");
      const order = await checkout(tx, customer.claims, [{ priceId: shop.priceId }]);
      await tx.become(stranger.claims);
      expect((await tx.query("select 1 from commerce.points_history")).rowCount).toBe(0);
      expect((await tx.query("select 1 from commerce.point_awards")).rowCount).toBe(0);
      expect(await countAsRoot(tx, "commerce.point_awards where customer_id = $1", [customer.userId])).toBe(1);
      await tx.become(shop.merchant.owner.claims);
      expect((await tx.query("select 1 from commerce.point_awards where order_id = $1", [order.order_id])).rowCount).toBe(1);
      await tx.become(stranger.claims);
      expect(await tx.errorCode(() => tx.query("insert into commerce.loyalty_rules (organization_id, currency, points_per_100) values ($1, 'USD', 1)", [shop.merchant.organization.organizationId]))).toBe("42501");
    });
  });
});
