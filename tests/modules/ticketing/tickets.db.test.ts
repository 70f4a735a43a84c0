import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { addMember, countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { actingIn } from "../events/fixtures.ts";
import { balance, checkout, createBuyer, createShop, createTenant, footprint, inDays, verify } from "./fixtures.ts";

// The ticket state machine (issued -> redeemed | transferred | refunded |
// cancelled), enforced by the registry trigger, and the functions that move
// it: every allowed move, every refused one, with its code.

async function ticketsOf(tx: Parameters<Parameters<typeof withTransaction>[0]>[0], userId: string) {
  return tx.asRoot(async () =>
    (await tx.query<{ ticket_id: string; code: string; status: string }>(
      "select ticket_id, code, status from ticketing.tickets where owner_user_id = $1 order by created_at, ticket_id", [userId])).rows);
}

describe("the ticket state machine", () => {
  it("allows exactly the seed's moves from issued, and none from the end states", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tksm");
      const buyer = await createBuyer(tx, "tksmb");
      await checkout(tx, buyer.claims, shop.tierId, 1);
      const [ticket] = await ticketsOf(tx, buyer.userId);
      const move = (to: string) => tx.asRoot(() => tx.errorCode(() => tx.query("update ticketing.tickets set status = $2 where ticket_id = $1", [ticket!.ticket_id, to])));
      for (const to of ["redeemed", "transferred", "refunded", "cancelled"]) {
        await tx.query("savepoint s");
        expect(await move(to)).toBeUndefined();
        for (const next of ["issued", "redeemed", "transferred", "refunded", "cancelled"].filter((s) => s !== to)) {
          expect(await move(next)).toBe("RGTRN");
        }
        await tx.query("rollback to savepoint s");
      }
      // A new ticket starts issued, nothing else.
      const start = await tx.asRoot(() => tx.errorCode(() => tx.query(
        `insert into ticketing.tickets (event_id, tier_id, order_item_id, organization_id, owner_user_id, status)
         select event_id, tier_id, order_item_id, organization_id, owner_user_id, 'redeemed' from ticketing.tickets where ticket_id = $1`, [ticket!.ticket_id])));
      expect(start).toBe("RGTRN");
    });
  });

  it("redeems a ticket once, by a member acting in the event's organization, and refuses another organization and a forged code", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkred");
      const other = await createTenant(tx, "tkredo");
      const door = await createUser(tx, "tkdoor");
      await addMember(tx, shop.tenant.owner, shop.tenant.organization, door, "member");
      const buyer = await createBuyer(tx, "tkredb");
      await checkout(tx, buyer.claims, shop.tierId, 1);
      const [ticket] = await ticketsOf(tx, buyer.userId);
      const scan = async (claims: Record<string, unknown>, code: string) => {
        await tx.become(claims as never);
        return tx.errorCode(() => tx.query("select ticketing.redeem_ticket($1)", [code]));
      };
      expect(await scan(other.claims, ticket!.code)).toBe("DNIED");
      expect(await scan(door.claims, ticket!.code)).toBe("DNIED"); // not acting in the organization
      expect(await scan(buyer.claims, ticket!.code)).toBe("DNIED");
      expect(await scan(actingIn(door, shop.tenant.organization), "0".repeat(32))).toBe("TKCOD");
      expect(await scan(actingIn(door, shop.tenant.organization), "not a code")).toBe("TKCOD");
      expect(await countAsRoot(tx, "ticketing.tickets where ticket_id = $1 and status = 'issued'", [ticket!.ticket_id])).toBe(1);
      expect(await scan(actingIn(door, shop.tenant.organization), ticket!.code)).toBeUndefined();
      expect(await scan(actingIn(door, shop.tenant.organization), ticket!.code)).toBe("TKRED");
      expect(await countAsRoot(tx, "ticketing.tickets where ticket_id = $1 and status = 'redeemed' and redeemed_by = $2", [ticket!.ticket_id, door.userId])).toBe(1);
      expect(await countAsRoot(tx, "outbox.events where topic = 'ticket.redeemed' and aggregate_id = $1", [ticket!.ticket_id])).toBe(1);
    });
  });

  it("transfers a ticket by username or e-mail with a new code, keeping the chain of owners", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tktr");
      const buyer = await createBuyer(tx, "tktrb");
      const friend = await createUser(tx, "tktrf");
      const third = await createUser(tx, "tktrt");
      await checkout(tx, buyer.claims, shop.tierId, 1);
      const [ticket] = await ticketsOf(tx, buyer.userId);
      await tx.become(buyer.claims);
      const second = await one<{ ticket_id: string; code: string; previous_ticket_id: string }>(tx,
        "select ticket_id, code, previous_ticket_id from ticketing.transfer_ticket($1, $2)", [ticket!.ticket_id, friend.username.toUpperCase()]);
      expect(second.previous_ticket_id).toBe(ticket!.ticket_id);
      expect(second.code).not.toBe(ticket!.code);
      expect(await tx.errorCode(() => tx.query("select ticketing.transfer_ticket($1, $2)", [ticket!.ticket_id, third.email]))).toBe("TKRED");
      await tx.become(friend.claims);
      const last = await one<{ ticket_id: string }>(tx, "select ticket_id from ticketing.transfer_ticket($1, $2)", [second.ticket_id, third.email]);
      await tx.become(third.claims);
      expect(await tx.errorCode(() => tx.query("select ticketing.transfer_ticket($1, $2)", [last.ticket_id, "nobody-here"]))).toBe("TKUSR");
      expect(await tx.errorCode(() => tx.query("select ticketing.transfer_ticket($1, $2)", [last.ticket_id, third.username]))).toBe("BADIN");
      expect(await tx.errorCode(() => tx.query("select ticketing.transfer_ticket($1, $2)", [ticket!.ticket_id, friend.username]))).toBe("NTFND");
      const chain = await tx.asRoot(() => tx.query<{ owner_user_id: string; status: string }>(
        `with recursive c as (select t.*, 0 as depth from ticketing.tickets t where ticket_id = $1
           union all select p.*, c.depth + 1 from ticketing.tickets p join c on p.ticket_id = c.previous_ticket_id)
         select owner_user_id, status from c order by depth desc`, [last.ticket_id]));
      expect(chain.rows).toEqual([
        { owner_user_id: buyer.userId, status: "transferred" },
        { owner_user_id: friend.userId, status: "transferred" },
        { owner_user_id: third.userId, status: "issued" },
      ]);
      // The old code no longer gets anyone in.
      await tx.become(actingIn(shop.tenant.owner, shop.tenant.organization));
      expect(await tx.errorCode(() => tx.query("select ticketing.redeem_ticket($1)", [ticket!.code]))).toBe("TKRED");
      expect(await countAsRoot(tx, "outbox.notifications where user_id = $1 and topic = 'ticket.transferred'", [third.userId])).toBe(1);
    });
  });

  it("refunds per ticket, then the rest, mirroring the sale exactly, with credit notes", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkrf", { price: 3333 });
      const buyer = await createBuyer(tx, "tkrfb", 100000);
      const order = await checkout(tx, buyer.claims, shop.tierId, 3);
      expect(order).toMatchObject({ total: "9999", fee: "500" });
      const tickets = await ticketsOf(tx, buyer.userId);
      await tx.become(shop.tenant.claims);
      const partial = await one<{ status: string; refunded_amount: string; refunded_fee: string }>(tx,
        "select status, refunded_amount, refunded_fee from ticketing.refund_order($1, $2)", [order.order_id, [tickets[0]!.ticket_id]]);
      expect(partial).toEqual({ status: "partially_refunded", refunded_amount: "3333", refunded_fee: "167" });
      expect(await balance(tx, buyer.walletId)).toBe(100000 - 9999 + 3333);
      expect(await tx.errorCode(() => tx.query("select ticketing.refund_order($1, $2)", [order.order_id, [tickets[0]!.ticket_id]]))).toBe("TKRED");
      const full = await one<{ status: string; refunded_amount: string; refunded_fee: string }>(tx,
        "select status, refunded_amount, refunded_fee from ticketing.refund_order($1)", [order.order_id]);
      expect(full).toEqual({ status: "refunded", refunded_amount: "9999", refunded_fee: "500" });
      expect(await balance(tx, buyer.walletId)).toBe(100000);
      expect(await tx.errorCode(() => tx.query("select ticketing.refund_order($1)", [order.order_id]))).toBe("TKRED");
      // The organization's receivable and the platform's revenue are back to zero; seats are for sale again.
      const shares = await tx.asRoot(() => tx.query<{ balance: string }>(
        "select balance from ledger.accounts where organization_id = $1 or code = 'payments.revenue.' || $1 || '.usd'", [shop.tenant.organization.organizationId]));
      expect(shares.rows.map((r) => r.balance)).toEqual(["0", "0"]);
      expect(await countAsRoot(tx, "ticketing.ticket_tiers where tier_id = $1 and sold = 0", [shop.tierId])).toBe(1);
      const notes = await tx.asRoot(() => tx.query<{ number: number; total: string; kind: string; status: string }>(
        "select number, total, kind, status from payments.invoices where organization_id = $1 order by number", [shop.tenant.organization.organizationId]));
      expect(notes.rows).toEqual([
        { number: 1, total: "3333", kind: "credit_note", status: "issued" },
        { number: 2, total: "6666", kind: "credit_note", status: "issued" },
      ]);
      expect(await countAsRoot(tx, "ticketing.tickets where owner_user_id = $1 and status = 'refunded'", [buyer.userId])).toBe(3);
      expect(await tx.asRoot(() => verify(tx))).toEqual([]);
    });
  });

  it("refuses refunds by members who are not admins, by other organizations, and after the start without the override", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkrs", {}, { startsAt: inDays(0, 1) });
      const other = await createTenant(tx, "tkrso");
      const member = await createUser(tx, "tkrsm");
      await addMember(tx, shop.tenant.owner, shop.tenant.organization, member, "member");
      const buyer = await createBuyer(tx, "tkrsb");
      const order = await checkout(tx, buyer.claims, shop.tierId, 1);
      await tx.asRoot(() => tx.query("update events.events set starts_at = now() - interval '1 minute' where event_id = $1", [shop.eventId]));
      const before = await footprint(tx);
      const refund = async (claims: Record<string, unknown>, afterStart = false) => {
        await tx.become(claims as never);
        return tx.errorCode(() => tx.query("select ticketing.refund_order($1, null, $2)", [order.order_id, afterStart]));
      };
      expect(await refund(other.claims, true)).toBe("NTFND");
      expect(await refund(buyer.claims, true)).toBe("NTFND");
      expect(await refund(actingIn(member, shop.tenant.organization), true)).toBe("DNIED");
      expect(await refund(shop.tenant.claims)).toBe("TKSTA");
      expect(await footprint(tx)).toEqual(before);
      expect(await refund(shop.tenant.claims, true)).toBeUndefined();
      expect(await balance(tx, buyer.walletId)).toBe(100000);
    });
  });

  it("moves orders only paid -> partially_refunded -> refunded, or paid -> refunded", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkom");
      const buyer = await createBuyer(tx, "tkomb");
      const order = await checkout(tx, buyer.claims, shop.tierId, 1);
      const move = (to: string) => tx.asRoot(() => tx.errorCode(() => tx.query("update ticketing.orders set status = $2 where order_id = $1", [order.order_id, to])));
      await tx.query("savepoint o");
      expect(await move("refunded")).toBeUndefined();
      expect(await move("paid")).toBe("RGTRN");
      expect(await move("partially_refunded")).toBe("RGTRN");
      await tx.query("rollback to savepoint o");
      expect(await move("partially_refunded")).toBeUndefined();
      expect(await move("paid")).toBe("RGTRN");
      expect(await move("refunded")).toBeUndefined();
      expect(await move("unknown")).toBe("RTYPE");
    });
  });

  it("cancels an issued ticket without money, by an admin, once", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "tkcn");
      const buyer = await createBuyer(tx, "tkcnb");
      await checkout(tx, buyer.claims, shop.tierId, 1);
      const [ticket] = await ticketsOf(tx, buyer.userId);
      await tx.become(buyer.claims);
      expect(await tx.errorCode(() => tx.query("select ticketing.cancel_ticket($1)", [ticket!.ticket_id]))).toBe("NTFND");
      await tx.become(shop.tenant.claims);
      await tx.query("select ticketing.cancel_ticket($1)", [ticket!.ticket_id]);
      expect(await tx.errorCode(() => tx.query("select ticketing.cancel_ticket($1)", [ticket!.ticket_id]))).toBe("TKRED");
      expect(await countAsRoot(tx, "ticketing.tickets where ticket_id = $1 and status = 'cancelled'", [ticket!.ticket_id])).toBe(1);
      expect(await countAsRoot(tx, "ticketing.ticket_tiers where tier_id = $1 and sold = 0", [shop.tierId])).toBe(1);
      expect(await balance(tx, buyer.walletId)).toBe(100000 - 10000);
    });
  });
});
