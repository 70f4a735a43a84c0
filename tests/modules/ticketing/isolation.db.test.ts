import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { addMember, anonymous, countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { actingIn } from "../events/fixtures.ts";
import { checkout, createBuyer, createShop, createTier, footprint, verify } from "./fixtures.ts";

// Who sees which orders, items, tickets and holds: buyers their own (the
// seed's own_tickets), members acting in the event's organization its own,
// nobody else; two organizations and two buyers. Every "cannot see" is
// checked against rows that exist (countAsRoot).

const ids = async (tx: Parameters<Parameters<typeof withTransaction>[0]>[0], claims: Record<string, unknown>, sql: string, values: unknown[] = []) => {
  await tx.become(claims as never);
  return (await tx.query<{ id: string }>(sql, values)).rows.map((r) => r.id).sort();
};

describe("who sees which orders and tickets", () => {
  it("isolates two buyers and two organizations", async () => {
    await withTransaction(async (tx) => {
      const acme = await createShop(tx, "tkiacme");
      const globex = await createShop(tx, "tkiglobex");
      const alice = await createBuyer(tx, "tkialice");
      const bob = await createBuyer(tx, "tkibob");
      const a1 = await checkout(tx, alice.claims, acme.tierId, 1);
      const b1 = await checkout(tx, bob.claims, acme.tierId, 1);
      const b2 = await checkout(tx, bob.claims, globex.tierId, 2);
      const member = await createUser(tx, "tkimember");
      await addMember(tx, acme.tenant.owner, acme.tenant.organization, member, "member");

      const orders = "select order_id as id from ticketing.orders";
      expect(await ids(tx, alice.claims, orders)).toEqual([a1.order_id]);
      expect(await ids(tx, bob.claims, orders)).toEqual([b1.order_id, b2.order_id].sort());
      expect(await ids(tx, acme.tenant.claims, orders)).toEqual([a1.order_id, b1.order_id].sort());
      expect(await ids(tx, actingIn(member, acme.tenant.organization), orders)).toEqual([a1.order_id, b1.order_id].sort());
      expect(await ids(tx, member.claims, orders)).toEqual([]); // not acting in it
      expect(await ids(tx, globex.tenant.claims, orders)).toEqual([b2.order_id]);
      expect(await countAsRoot(tx, "ticketing.orders where order_id = any($1::uuid[])", [[a1.order_id, b1.order_id, b2.order_id]])).toBe(3);

      const tickets = "select owner_user_id::text || ':' || organization_id::text as id from ticketing.tickets";
      const aliceTickets = await ids(tx, alice.claims, tickets);
      expect(aliceTickets).toEqual([`${alice.userId}:${acme.tenant.organization.organizationId}`]);
      expect((await ids(tx, globex.tenant.claims, tickets)).every((t) => t.endsWith(globex.tenant.organization.organizationId))).toBe(true);
      expect(await ids(tx, globex.tenant.claims, tickets)).toHaveLength(2);
      expect(await ids(tx, acme.tenant.claims, tickets)).toHaveLength(2);
      expect(await countAsRoot(tx, "ticketing.tickets where owner_user_id = any($1::uuid[])", [[alice.userId, bob.userId]])).toBe(4);

      const items = "select order_item_id::text as id from ticketing.order_items";
      expect(await ids(tx, alice.claims, items)).toHaveLength(1);
      expect(await ids(tx, globex.tenant.claims, items)).toHaveLength(1);

      // Ledger: the buyer sees their wallet, not the organization's receivable; the organization sees its own.
      const wallets = "select wallet_id::text as id from payments.wallets";
      expect(await ids(tx, alice.claims, wallets)).toEqual([alice.walletId]);
      expect(await ids(tx, acme.tenant.claims, wallets)).toEqual([]);
      await tx.become(acme.tenant.claims);
      expect(await one(tx, "select count(*)::int as n from ledger.accounts where organization_id = $1", [acme.tenant.organization.organizationId])).toEqual({ n: 1 });
      await tx.become(globex.tenant.claims);
      expect(await one(tx, "select count(*)::int as n from ledger.accounts where organization_id = $1", [acme.tenant.organization.organizationId])).toEqual({ n: 0 });
      expect(await countAsRoot(tx, "ledger.accounts where organization_id = $1", [acme.tenant.organization.organizationId])).toBe(1);
    });
  });

  it("shows holds only to their owner, and tiers with their event", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkih");
      const draft = await createShop(tx, "tkihd");
      await tx.asRoot(() => tx.query("update events.events set status = 'cancelled' where event_id = $1", [draft.eventId]));
      const alice = await createBuyer(tx, "tkiha");
      const bob = await createBuyer(tx, "tkihb");
      await tx.become(alice.claims);
      const hold = await one<{ hold_id: string }>(tx, "select hold_id from ticketing.hold_tickets($1, 1)", [shop.tierId]);
      expect(await ids(tx, alice.claims, "select hold_id::text as id from ticketing.ticket_holds")).toEqual([hold.hold_id]);
      expect(await ids(tx, bob.claims, "select hold_id::text as id from ticketing.ticket_holds")).toEqual([]);
      expect(await ids(tx, shop.tenant.claims, "select hold_id::text as id from ticketing.ticket_holds")).toEqual([]);
      expect(await countAsRoot(tx, "ticketing.ticket_holds where hold_id = $1", [hold.hold_id])).toBe(1);
      // Another buyer cannot check out Alice's hold.
      await tx.become(bob.claims);
      const before = await footprint(tx);
      expect(await tx.errorCode(() => tx.query("select ticketing.checkout('steal', $1)", [hold.hold_id]))).toBe("NTFND");
      expect(await footprint(tx)).toEqual(before);
      // Tiers: visible with their (public, published) event, to anonymous callers too.
      expect(await ids(tx, anonymous, "select tier_id::text as id from ticketing.ticket_tiers where tier_id = any($1::uuid[])", [[shop.tierId, draft.tierId]])).toEqual([shop.tierId, draft.tierId].sort());
      expect(await tx.asRoot(() => verify(tx))).toEqual([]);
    });
  });

  it("lets only owners and admins acting in the event's organization add and edit tiers", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkit");
      const other = await createShop(tx, "tkito");
      const member = await createUser(tx, "tkitm");
      await addMember(tx, shop.tenant.owner, shop.tenant.organization, member, "member");
      const insert = async (claims: Record<string, unknown>) => {
        await tx.become(claims as never);
        return tx.errorCode(() => tx.query("insert into ticketing.ticket_tiers (event_id, name, price, currency, capacity) values ($1, 'X', 100, 'USD', 5)", [shop.eventId]));
      };
      expect(await insert(other.tenant.claims)).toBe("42501");
      expect(await insert(actingIn(member, shop.tenant.organization))).toBe("42501");
      expect(await insert(anonymous)).toBe("42501");
      expect(await insert(shop.tenant.claims)).toBeUndefined();
      await tx.become(other.tenant.claims);
      const updated = await tx.query("update ticketing.ticket_tiers set capacity = 1 where tier_id = $1", [shop.tierId]);
      expect(updated.rowCount).toBe(0);
      expect(await countAsRoot(tx, "ticketing.ticket_tiers where tier_id = $1 and capacity = 100", [shop.tierId])).toBe(1);
      await tx.become(shop.tenant.claims);
      expect(await tx.errorCode(() => tx.query("update ticketing.ticket_tiers set sold = 0 where tier_id = $1", [shop.tierId]))).toBe("42501");
      await createTier(tx, shop.tenant, shop.eventId, { name: "VIP" });
    });
  });
});
