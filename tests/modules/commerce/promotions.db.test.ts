import { describe, expect, it } from "vitest";
import type { TestTransaction } from "../../helpers/db.ts";
import { withTransaction } from "../../helpers/db.ts";
import { countAsRoot, one } from "../../helpers/fixtures.ts";
import { checkout, createCustomer, createPrice, createProduct, createShop, footprint, setClock, verify, type Merchant } from "./fixtures.ts";

// Promotion codes: percent or fixed per currency, window, limits, minimum
// order, products, periods of a subscription; bad definitions and bad codes
// are coded errors with nothing written.

async function promotion(tx: TestTransaction, merchant: Merchant, fields: Record<string, unknown>): Promise<string> {
  await tx.become(merchant.claims);
  const columns = Object.keys(fields);
  const row = await one<{ promotion_id: string }>(
    tx,
    `insert into commerce.promotions (${columns.join(", ")}) values (${columns.map((_, i) => `$${i + 1}`).join(", ")}) returning promotion_id`,
    Object.values(fields).map((v) => (v !== null && typeof v === "object" && !(v instanceof Date) && !Array.isArray(v) ? JSON.stringify(v) : v)),
  );
  return row.promotion_id;
}

describe("promotions", () => {
  it("takes a percent off the eligible products and a fixed amount in the order's currency", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmpr", 1000);
      const other = await createProduct(tx, shop.merchant, "Other");
      const otherPrice = await createPrice(tx, shop.merchant, other, { amount: 3000 });
      await promotion(tx, shop.merchant, { code: "TEN", percent_off: "12.5", product_ids: [shop.productId] });
      await promotion(tx, shop.merchant, { code: "FIVER", amounts_off: { USD: 500, EUR: 450 }, min_order: { USD: 2000 } });
      const customer = await createCustomer(tx, "cmprc");
      const pct = await checkout(tx, customer.claims, [{ priceId: shop.priceId, quantity: 3 }, { priceId: otherPrice }], { code: "ten" });
      expect(pct).toMatchObject({ subtotal: "6000", discount: "375", total: "5625" }); // 12.5 % of 3000
      const fixed = await checkout(tx, customer.claims, [{ priceId: otherPrice }], { code: "FIVER" });
      expect(fixed).toMatchObject({ subtotal: "3000", discount: "500", total: "2500" });
      await tx.become(customer.claims);
      expect((await tx.query("select discount from commerce.promotion_redemptions where customer_id = $1 order by discount", [customer.userId])).rows).toEqual([{ discount: "375" }, { discount: "500" }]);
      expect(await countAsRoot(tx, "commerce.promotions where organization_id = $1 and redeemed = 1", [shop.merchant.organization.organizationId])).toBe(2);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("refuses a percent over 100, no kind or both, bad amounts, writing nothing", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmprb");
      const before = await footprint(tx);
      const attempt = (fields: Record<string, unknown>) => tx.errorCode(() => promotion(tx, shop.merchant, { code: "BAD", ...fields }));
      expect(await attempt({ percent_off: "100.01" })).toBe("CMPCT");
      expect(await attempt({ percent_off: "0" })).toBe("CMPCT");
      expect(await attempt({})).toBe("CMPCT");
      expect(await attempt({ percent_off: "10", amounts_off: { USD: 1 } })).toBe("CMPCT");
      expect(await attempt({ amounts_off: { USD: 1.5 } })).toBe("CMPCT");
      expect(await attempt({ amounts_off: { ZZZ: 100 } })).toBe("CMPCT");
      expect(await attempt({ amounts_off: {} })).toBe("CMPCT");
      expect(await attempt({ percent_off: "10", min_order: { USD: -1 } })).toBe("CMPCT");
      expect(await attempt({ percent_off: "10", starts_at: new Date("2030-01-02"), ends_at: new Date("2030-01-01") })).toBe("BADIN");
      expect(await footprint(tx)).toEqual(before);
    });
  });

  it("refuses expired, future, unknown and foreign codes, a short order and used-up limits, writing nothing", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmpre", 1000);
      const other = await createShop(tx, "cmpro", 1000);
      await promotion(tx, shop.merchant, { code: "OLD", percent_off: "10", starts_at: new Date("2030-01-01"), ends_at: new Date("2030-02-01") });
      await promotion(tx, shop.merchant, { code: "BIG", percent_off: "10", min_order: { USD: 5000 } });
      await promotion(tx, shop.merchant, { code: "ONCE", percent_off: "10", max_per_customer: 1 });
      await promotion(tx, shop.merchant, { code: "TWO", percent_off: "10", max_redemptions: 2 });
      await promotion(tx, shop.merchant, { code: "OFF", percent_off: "10", active: false });
      await promotion(tx, shop.merchant, { code: "EURO", amounts_off: { EUR: 100 } });
      await promotion(tx, other.merchant, { code: "THEIRS", percent_off: "50" });
      const customer = await createCustomer(tx, "cmprec");
      const second = await createCustomer(tx, "cmpre2");
      await checkout(tx, customer.claims, [{ priceId: shop.priceId }], { code: "ONCE" });
      await checkout(tx, customer.claims, [{ priceId: shop.priceId }], { code: "TWO" });
      await checkout(tx, second.claims, [{ priceId: shop.priceId }], { code: "TWO" });
      const before = await footprint(tx);
      const attempt = async (code: string, at?: Date) => {
        await tx.become(customer.claims);
        if (at) await setClock(tx, at);
        const result = await tx.errorCode(() => tx.query("select commerce.checkout($1, $2, $3)", [`x-${Math.random()}`, JSON.stringify([{ priceId: shop.priceId }]), code]));
        await tx.query("select set_config('commerce.now', '', true)");
        return result;
      };
      expect(await attempt("OLD", new Date("2030-02-01"))).toBe("CMEXP");
      expect(await attempt("OLD", new Date("2029-12-31"))).toBe("CMEXP");
      expect(await attempt("OLD")).toBe("CMEXP");
      expect(await attempt("NOPE")).toBe("CMCOD");
      expect(await attempt("THEIRS")).toBe("CMCOD");
      expect(await attempt("OFF")).toBe("CMCOD");
      expect(await attempt("BIG")).toBe("CMMIN");
      expect(await attempt("EURO")).toBe("CMMIN");
      expect(await attempt("ONCE")).toBe("CMUSD");
      expect(await attempt("TWO")).toBe("CMUSD");
      expect(await footprint(tx)).toEqual(before);
      // Inside its window, the old code works.
      expect(await attempt("OLD", new Date("2030-01-15"))).toBeUndefined();
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("lets only owner sessions move the clock: an API session's commerce.now is ignored", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmclk");
      // Valid only in January 2030: redeemable now only by moving the clock there.
      await promotion(tx, shop.merchant, { code: "LATER", percent_off: "10", starts_at: new Date("2030-01-01"), ends_at: new Date("2030-02-01") });
      const customer = await createCustomer(tx, "cmclkc");
      const at2030 = async () => {
        await tx.become(customer.claims);
        await setClock(tx, new Date("2030-01-15"));
        return tx.errorCode(() => tx.query("select commerce.checkout($1, $2, $3)", [`c-${Math.random()}`, JSON.stringify([{ priceId: shop.priceId }]), "LATER"]));
      };
      // As the API logs in (gw_authenticator, then gw_user with claims): the setting is there, the clock does not move.
      await tx.query("set local session authorization gw_authenticator");
      expect(await at2030()).toBe("CMEXP");
      expect((await one<{ clock: string }>(tx, "select current_setting('commerce.now') as clock")).clock).toMatch(/^2030-01-15/);
      await tx.query("reset role");
      await tx.query("set local session authorization default");
      expect(await countAsRoot(tx, "commerce.promotions where code = 'LATER' and redeemed = 0")).toBe(1);
      // The same call in a session of the owner (here the tests' superuser) redeems the code in 2030.
      expect(await at2030()).toBeUndefined();
      expect(await countAsRoot(tx, "commerce.promotions where code = 'LATER' and redeemed = 1")).toBe(1);
    });
  });

  it("discounts only the promotion's number of subscription periods", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmprs");
      const monthly = await createPrice(tx, shop.merchant, shop.productId, { amount: 1000, interval: "1 month" });
      await promotion(tx, shop.merchant, { code: "TWOMONTHS", percent_off: "50", duration_periods: 2 });
      const customer = await createCustomer(tx, "cmprsc", 10000);
      await setClock(tx, new Date("2030-01-01T00:00:00Z"));
      await tx.become(customer.claims);
      const s = await one<{ subscription_id: string }>(tx, "select * from commerce.subscribe('s', $1, 'TWOMONTHS')", [monthly]);
      for (const at of ["2030-02-01", "2030-03-01", "2030-04-01"]) {
        await tx.asRoot(async () => {
          await setClock(tx, new Date(`${at}T00:00:00Z`));
          expect(await one(tx, "select commerce_private.renew($1) as r", [s.subscription_id])).toEqual({ r: "renewed" });
        });
      }
      const charges = await tx.asRoot(() => tx.query<{ amount: string }>("select amount::text from commerce.subscription_charges where subscription_id = $1 order by period_number", [s.subscription_id]));
      expect(charges.rows.map((r) => r.amount)).toEqual(["500", "500", "1000", "1000"]);
      expect(await countAsRoot(tx, "commerce.promotion_redemptions where customer_id = $1", [customer.userId])).toBe(1);
    });
  });

  it("keeps codes to the merchant's members and redemptions to their customer and merchant", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmprl");
      const other = await createShop(tx, "cmprlo");
      const id = await promotion(tx, shop.merchant, { code: "SECRET", percent_off: "5" });
      const customer = await createCustomer(tx, "cmprlc");
      await checkout(tx, customer.claims, [{ priceId: shop.priceId }], { code: "SECRET" });
      await tx.become(customer.claims);
      expect((await tx.query("select 1 from commerce.promotions where promotion_id = $1", [id])).rowCount).toBe(0);
      expect((await tx.query("select 1 from commerce.promotion_redemptions where promotion_id = $1", [id])).rowCount).toBe(1);
      await tx.become(other.merchant.claims);
      expect((await tx.query("select 1 from commerce.promotions where promotion_id = $1", [id])).rowCount).toBe(0);
      expect((await tx.query("select 1 from commerce.promotion_redemptions where promotion_id = $1", [id])).rowCount).toBe(0);
      expect((await tx.query("update commerce.promotions set active = false where promotion_id = $1", [id])).rowCount).toBe(0);
      await tx.become(shop.merchant.owner.claims);
      expect((await tx.query("select 1 from commerce.promotions where promotion_id = $1", [id])).rowCount).toBe(1);
      expect(await countAsRoot(tx, "commerce.promotions where promotion_id = $1 and active", [id])).toBe(1);
    });
  });
});
