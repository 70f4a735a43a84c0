import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { countAsRoot, one } from "../../helpers/fixtures.ts";
import { balance, checkout, createBuyer, createShop, footprint, verify } from "./fixtures.ts";

// Checkout in one transaction: hold -> order -> one ledger transaction with
// three entries (buyer -total, receivable +(total - fee), revenue +fee) ->
// tickets. Every failure leaves nothing written and the books balanced.

describe("checkout", () => {
  it("pays from the buyer's wallet with the seed's three entries and issues the tickets", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkshop", { price: 10000 });
      const buyer = await createBuyer(tx, "tkbuyer", 50000);
      const order = await checkout(tx, buyer.claims, shop.tierId, 1);
      expect(order).toMatchObject({ total: "10000", fee: "500", status: "paid" });
      const entries = await tx.asRoot(() =>
        tx.query<{ amount: string; code: string; owner_user_id: string | null; organization_id: string | null }>(
          `select e.amount, a.code, a.owner_user_id, a.organization_id from ledger.entries e join ledger.accounts a using (account_id)
            where e.transaction_id = $1 order by e.line`,
          [order.transaction_id],
        ),
      );
      expect(entries.rows.map((r) => [r.amount, r.code.split(".").slice(0, 2).join(".")])).toEqual([
        ["-10000", "payments.wallet"],
        ["9500", "payments.receivable"],
        ["500", "payments.revenue"],
      ]);
      expect(entries.rows[0]!.owner_user_id).toBe(buyer.userId);
      expect(entries.rows[1]!.organization_id).toBe(shop.tenant.organization.organizationId);
      expect(await balance(tx, buyer.walletId)).toBe(40000);
      expect(await countAsRoot(tx, "ticketing.tickets where owner_user_id = $1 and status = 'issued'", [buyer.userId])).toBe(1);
      expect(await countAsRoot(tx, "ticketing.ticket_tiers where tier_id = $1 and sold = 1", [shop.tierId])).toBe(1);
      expect(await countAsRoot(tx, "outbox.events where topic in ('order.paid', 'ticket.issued') and aggregate_id in (select $1::text union select ticket_id::text from ticketing.tickets where owner_user_id = $2)", [order.order_id, buyer.userId])).toBe(2);
      expect(await countAsRoot(tx, "outbox.notifications where user_id = $1 and topic = 'order.paid'", [buyer.userId])).toBe(1);
      expect(await tx.asRoot(() => verify(tx))).toEqual([]);
    });
  });

  it("rounds the fee so that the entries still sum to zero, at the organization's own rate", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkround", { price: 333 });
      await tx.asRoot(() => tx.query("insert into payments.organization_fees (organization_id, fee_rate) values ($1, 0.075)", [shop.tenant.organization.organizationId]));
      const buyer = await createBuyer(tx, "tkrb", 5000);
      const order = await checkout(tx, buyer.claims, shop.tierId, 3);
      expect(order).toMatchObject({ total: "999", fee: "75" }); // 74.925 rounds to 75
      const sum = await tx.asRoot(() => one<{ s: string; n: string }>(tx, "select sum(amount) as s, count(*) as n from ledger.entries where transaction_id = $1", [order.transaction_id]));
      expect(sum).toEqual({ s: "0", n: "3" });
      expect(await tx.asRoot(() => verify(tx))).toEqual([]);
    });
  });

  it("returns the original order for a replayed client key, and refuses the key for other tickets", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkidem");
      const buyer = await createBuyer(tx, "tkib");
      const first = await checkout(tx, buyer.claims, shop.tierId, 2, "key-1");
      const before = await footprint(tx);
      const again = await checkout(tx, buyer.claims, shop.tierId, 2, "key-1");
      expect(again.order_id).toBe(first.order_id);
      expect(await footprint(tx)).toEqual(before);
      await tx.become(buyer.claims);
      expect(await tx.errorCode(() => tx.query("select ticketing.checkout('key-1', null, $1, 3)", [shop.tierId]))).toBe("TKKEY");
      expect(await footprint(tx)).toEqual(before);
      expect(await balance(tx, buyer.walletId)).toBe(100000 - 20000);
    });
  });

  it("checks out a hold taken before, once", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkhold", { capacity: 3 });
      const buyer = await createBuyer(tx, "tkhb");
      await tx.become(buyer.claims);
      const hold = await one<{ hold_id: string }>(tx, "select hold_id from ticketing.hold_tickets($1, 2, 'session-1')", [shop.tierId]);
      const available = await one<{ a: number }>(tx, "select ticketing.ticket_tiers_available(t) as a from ticketing.ticket_tiers t where tier_id = $1", [shop.tierId]);
      expect(available.a).toBe(1);
      const order = await one<{ order_id: string; total: string }>(tx, "select order_id, total from ticketing.checkout('h-1', $1)", [hold.hold_id]);
      expect(order.total).toBe("20000");
      expect(await countAsRoot(tx, "ticketing.ticket_holds where hold_id = $1 and status = 'converted'", [hold.hold_id])).toBe(1);
      await tx.become(buyer.claims);
      expect(await tx.errorCode(() => tx.query("select ticketing.checkout('h-2', $1)", [hold.hold_id]))).toBe("TKHEX");
      expect(await countAsRoot(tx, "ticketing.ticket_tiers where tier_id = $1 and sold = 2", [shop.tierId])).toBe(1);
    });
  });

  it("stops counting an expired hold at once and refuses to check it out", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkexp", { capacity: 2 });
      const buyer = await createBuyer(tx, "tkeb");
      const other = await createBuyer(tx, "tkeo");
      await tx.become(buyer.claims);
      const hold = await one<{ hold_id: string }>(tx, "select hold_id from ticketing.hold_tickets($1, 2)", [shop.tierId]);
      await tx.become(other.claims);
      expect(await tx.errorCode(() => tx.query("select ticketing.hold_tickets($1, 1)", [shop.tierId]))).toBe("TKSLD");
      await tx.asRoot(() => tx.query("update ticketing.ticket_holds set expires_at = now() - interval '1 second' where hold_id = $1", [hold.hold_id]));
      await tx.become(other.claims);
      await tx.query("select ticketing.hold_tickets($1, 1)", [shop.tierId]);
      const before = await footprint(tx);
      await tx.become(buyer.claims);
      expect(await tx.errorCode(() => tx.query("select ticketing.checkout('e-1', $1)", [hold.hold_id]))).toBe("TKHEX");
      expect(await footprint(tx)).toEqual(before);
      // The job marks it.
      expect(await tx.asRoot(() => one<{ n: number }>(tx, "select ticketing_private.expire_holds(1000) as n"))).toEqual({ n: 1 });
      expect(await countAsRoot(tx, "ticketing.ticket_holds where hold_id = $1 and status = 'expired'", [hold.hold_id])).toBe(1);
    });
  });

  it("writes nothing when the wallet is short, the sales window is closed, the limit is passed or the tier is sold out", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkfail", { capacity: 5, maxPerOrder: 4 });
      const closed = await createShop(tx, "tkclosed", { salesEndsAt: new Date(Date.now() - 60_000), salesStartsAt: new Date(Date.now() - 3600_000) });
      const later = await createShop(tx, "tklater", { salesStartsAt: new Date(Date.now() + 3600_000) });
      const poor = await createBuyer(tx, "tkpoor", 9999);
      const rich = await createBuyer(tx, "tkrich", 1_000_000);
      await checkout(tx, rich.claims, shop.tierId, 3);
      const before = await footprint(tx);
      const attempt = async (claims: typeof poor.claims, tier: string, quantity: number) => {
        await tx.become(claims);
        return tx.errorCode(() => tx.query("select ticketing.checkout($1, null, $2, $3)", [`x-${Math.random()}`, tier, quantity]));
      };
      expect(await attempt(poor.claims, shop.tierId, 1)).toBe("LFUND");
      expect(await attempt(rich.claims, closed.tierId, 1)).toBe("TKWIN");
      expect(await attempt(rich.claims, later.tierId, 1)).toBe("TKWIN");
      expect(await attempt(rich.claims, shop.tierId, 5)).toBe("TKLIM");
      expect(await attempt(rich.claims, shop.tierId, 3)).toBe("TKSLD");
      expect(await footprint(tx)).toEqual(before);
      expect(await balance(tx, poor.walletId)).toBe(9999);
      expect(await tx.asRoot(() => verify(tx))).toEqual([]);
    });
  });
});
