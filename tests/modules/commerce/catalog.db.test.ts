import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { addMember, anonymous, countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { createMerchant, createPrice, createProduct, footprint } from "./fixtures.ts";

// The catalog: products and prices written by the merchant's owners and
// admins acting in it, read by anyone while active, by members always.

describe("catalog", () => {
  it("lets an owner acting in the merchant add products and prices, which anyone then sees", async () => {
    await withTransaction(async (tx) => {
      const merchant = await createMerchant(tx, "cmcat");
      const productId = await createProduct(tx, merchant, "Ebook", "digital");
      const once = await createPrice(tx, merchant, productId, { amount: 1999 });
      const monthly = await createPrice(tx, merchant, productId, { amount: 500, interval: "1 month", count: 12, trialDays: 14 });
      await tx.become(anonymous);
      const { rows } = await tx.query<{ price_id: string; amount: string; recurring_interval: unknown; trial_days: number }>(
        "select price_id, amount, recurring_interval, trial_days from commerce.prices where product_id = $1 order by amount",
        [productId],
      );
      expect(rows.map((r) => [r.price_id, r.amount, r.trial_days])).toEqual([
        [monthly, "500", 14],
        [once, "1999", 0],
      ]);
      expect(await one(tx, "select name, category from commerce.products where product_id = $1", [productId])).toEqual({ name: "Ebook", category: "digital" });
    });
  });

  it("hides inactive products and prices from customers but not from members", async () => {
    await withTransaction(async (tx) => {
      const merchant = await createMerchant(tx, "cmhide");
      const productId = await createProduct(tx, merchant);
      await createPrice(tx, merchant, productId);
      await tx.become(merchant.claims);
      await tx.query("update commerce.products set active = false where product_id = $1", [productId]);
      const customer = await createUser(tx, "cmhc");
      await tx.become(customer.claims);
      expect((await tx.query("select 1 from commerce.products where product_id = $1", [productId])).rowCount).toBe(0);
      expect((await tx.query("select 1 from commerce.prices where product_id = $1", [productId])).rowCount).toBe(0);
      expect(await countAsRoot(tx, "commerce.prices where product_id = $1", [productId])).toBe(1);
      await tx.become(merchant.owner.claims); // a member, even without acting in it
      expect((await tx.query("select 1 from commerce.prices where product_id = $1", [productId])).rowCount).toBe(1);
    });
  });

  it("refuses catalog writes by plain members, by owners not acting in the merchant and by other merchants", async () => {
    await withTransaction(async (tx) => {
      const merchant = await createMerchant(tx, "cmw");
      const other = await createMerchant(tx, "cmwo");
      const productId = await createProduct(tx, merchant);
      const member = await createUser(tx, "cmwm");
      await addMember(tx, merchant.owner, merchant.organization, member, "member");
      const memberActing = { ...member.claims, org_id: merchant.organization.organizationId };
      for (const claims of [memberActing, merchant.owner.claims, other.claims]) {
        await tx.become(claims);
        expect(await tx.errorCode(() => tx.query("insert into commerce.products (organization_id, name) values ($1, 'X')", [merchant.organization.organizationId]))).toBe("42501");
        const updated = await tx.query("update commerce.products set name = 'Hijacked' where product_id = $1", [productId]);
        expect(updated.rowCount).toBe(0);
        expect(await tx.errorCode(() => tx.query("select commerce.create_price($1, 'USD', 100)", [productId]))).toBe("NTFND");
      }
      expect(await countAsRoot(tx, "commerce.products where product_id = $1 and name = 'Widget'", [productId])).toBe(1);
      expect(await countAsRoot(tx, "commerce.prices where product_id = $1", [productId])).toBe(0);
    });
  });

  it("refuses a price with a fraction of a minor unit, a negative or huge amount, an unknown currency or bad recurrence, writing nothing", async () => {
    await withTransaction(async (tx) => {
      const merchant = await createMerchant(tx, "cmbad");
      const productId = await createProduct(tx, merchant);
      const before = await footprint(tx);
      await tx.become(merchant.claims);
      const attempt = (amount: string, currency = "USD", interval: string | null = null, count: number | null = null, trial = 0) =>
        tx.errorCode(() => tx.query("select commerce.create_price($1, $2, $3, $4::interval, $5, $6)", [productId, currency, amount, interval, count, trial]));
      expect(await attempt("10.5")).toBe("CMPRC");
      expect(await attempt("0.01")).toBe("CMPRC");
      expect(await attempt("-1")).toBe("CMPRC");
      expect(await attempt("100000000001")).toBe("CMPRC");
      expect(await attempt("100", "ZZZ")).toBe("CMCUR");
      expect(await attempt("100", "XLP")).toBe("CMCUR");
      expect(await attempt("100", "USD", "2 months")).toBe("CMINT");
      expect(await attempt("100", "USD", null, 3)).toBe("CMINT");
      expect(await attempt("100", "USD", null, null, 7)).toBe("CMINT");
      expect(await attempt("100", "USD", "1 month", 0)).toBe("CMINT");
      expect(await footprint(tx)).toEqual(before);
    });
  });

  it("keeps each merchant's settings to its members and refuses a bad dunning schedule", async () => {
    await withTransaction(async (tx) => {
      const merchant = await createMerchant(tx, "cmset");
      await tx.become(merchant.claims);
      await tx.query("insert into commerce.merchant_settings (organization_id, dunning_days, point_value) values ($1, '{2,4}', 5)", [merchant.organization.organizationId]);
      expect(await tx.errorCode(() => tx.query("update commerce.merchant_settings set dunning_days = '{3,1}'"))).toBe("CMDUN");
      expect(await tx.errorCode(() => tx.query("update commerce.merchant_settings set dunning_days = '{0}'"))).toBe("CMDUN");
      const stranger = await createUser(tx, "cmsets");
      await tx.become(stranger.claims);
      expect((await tx.query("select 1 from commerce.merchant_settings")).rowCount).toBe(0);
      expect(await countAsRoot(tx, "commerce.merchant_settings where organization_id = $1 and dunning_days = '{2,4}'", [merchant.organization.organizationId])).toBe(1);
    });
  });
});
