import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { createBuyer, createShop, footprint, verify } from "./fixtures.ts";

// Bad input gets a coded 4xx-class error, writes nothing, and leaves the books balanced.

describe("bad input to ticketing", () => {
  it("refuses bad quantities, unknown tiers, huge orders and missing keys with codes, writing nothing", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkbad");
      const buyer = await createBuyer(tx, "tkbadb", 10_000_000_000);
      const before = await footprint(tx);
      await tx.become(buyer.claims);
      const attempt = (key: string | null, tier: string | null, quantity: unknown) =>
        tx.errorCode(() => tx.query("select ticketing.checkout($1, null, $2, $3)", [key, tier, quantity]));
      expect(await attempt("a", shop.tierId, 0)).toBe("BADIN");
      expect(await attempt("b", shop.tierId, -3)).toBe("BADIN");
      expect(await attempt("c", shop.tierId, 100_000)).toBe("TKLIM");
      expect(await attempt("d", "00000000-0000-0000-0000-000000000000", 1)).toBe("NTFND");
      expect(await attempt(null, shop.tierId, 1)).toBe("BADIN");
      expect(await attempt("x".repeat(201), shop.tierId, 1)).toBe("BADIN");
      expect(await attempt("e", shop.tierId, "1.5")).toBe("22P02");
      expect(await tx.errorCode(() => tx.query("select ticketing.checkout('f')"))).toBe("BADIN");
      expect(await tx.errorCode(() => tx.query("select ticketing.hold_tickets($1, 0)", [shop.tierId]))).toBe("BADIN");
      expect(await tx.errorCode(() => tx.query("select ticketing.hold_tickets($1, 100000)", [shop.tierId]))).toBe("TKLIM");
      expect(await tx.errorCode(() => tx.query("select ticketing.release_hold('00000000-0000-0000-0000-000000000000')"))).toBe("NTFND");
      expect(await footprint(tx)).toEqual(before);
      expect(await tx.asRoot(() => verify(tx))).toEqual([]);
    });
  });

  it("refuses prices with fractions of a minor unit, negative prices, unknown currencies and capacities below sales", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkbadp");
      await tx.become(shop.tenant.claims);
      const tier = (price: unknown, currency = "USD", capacity: unknown = 10) =>
        tx.errorCode(() => tx.query("insert into ticketing.ticket_tiers (event_id, name, price, currency, capacity) values ($1, 'T', $2, $3, $4)", [shop.eventId, price, currency, capacity]));
      expect(await tier("10.5")).toBe("22P02");
      expect(await tier("-1")).toBe("TKPRC");
      expect(await tier("100", "ZZZ")).toBe("TKCUR");
      expect(await tier("100", "USD", 0)).toBe("BADIN");
      expect(await tier("100", "USD", 2_000_000)).toBe("BADIN");
      const buyer = await createBuyer(tx, "tkbadpb");
      await tx.become(buyer.claims);
      await tx.query("select ticketing.checkout('k', null, $1, 3)", [shop.tierId]);
      await tx.become(shop.tenant.claims);
      expect(await tx.errorCode(() => tx.query("update ticketing.ticket_tiers set capacity = 2 where tier_id = $1", [shop.tierId]))).toBe("TKCAP");
      expect(await tx.errorCode(() => tx.query("delete from ticketing.ticket_tiers where tier_id = $1", [shop.tierId]).then((r) => { if (r.rowCount) throw Object.assign(new Error("deleted"), { code: "DELETED" }); }))).toBeUndefined();
      expect(await tx.asRoot(() => verify(tx))).toEqual([]);
    });
  });
});
