import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { one } from "../../helpers/fixtures.ts";
import { inDays } from "../events/fixtures.ts";
import { balance, createParties, entriesOf, footprint, pendingOrder, step, verify, walletOf, type OrderRow } from "./fixtures.ts";

const add = "select * from sponsorship.add_deliverable($1, $2, $3)";
const submit = "select * from sponsorship.submit_deliverable($1, $2)";
const review = "select * from sponsorship.review_deliverable($1, $2, $3)";

describe("sponsorship deliverables", () => {
  it("releases the escrow when the last deliverable of a locked order is approved, after a rejection and a resubmission", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "dlv");
      const order = await pendingOrder(tx, parties);
      const banner = await step<{ deliverable_id: string; status: string }>(tx, parties.organizer.claims, add, [order.order_id, "Stage banner", inDays(7)]);
      const booth = await step<{ deliverable_id: string }>(tx, parties.sponsor.claims, add, [order.order_id, "Two booth passes", inDays(7)]);
      expect(banner.status).toBe("pending");
      // Submitting before the order is locked is refused.
      expect(await tx.errorCode(() => step(tx, parties.organizer.claims, submit, [banner.deliverable_id, { photo: "https://x/1.jpg" }]))).toBe("SPSTA");
      await step(tx, parties.sponsor.claims, "select * from sponsorship.fund_order($1)", [order.order_id]);
      await step(tx, parties.organizer.claims, "select * from sponsorship.lock_order($1)", [order.order_id]);
      // The list is fixed once locked.
      expect(await tx.errorCode(() => step(tx, parties.sponsor.claims, add, [order.order_id, "One more thing", inDays(7)]))).toBe("SPSTA");
      // Only the sponsor approves, and only with the deliverables approved.
      expect(await tx.errorCode(() => step(tx, parties.sponsor.claims, "select * from sponsorship.approve_order($1)", [order.order_id]))).toBe("SPDLV");

      expect(await tx.errorCode(() => step(tx, parties.sponsor.claims, submit, [banner.deliverable_id, { photo: "x" }]))).toBe("DNIED");
      expect(await tx.errorCode(() => step(tx, parties.organizer.claims, submit, [banner.deliverable_id, "[1]"]))).toBe("BADIN");
      expect(await tx.errorCode(() => step(tx, parties.sponsor.claims, review, [banner.deliverable_id, true, null]))).toBe("SPSTA");
      await step(tx, parties.organizer.claims, submit, [banner.deliverable_id, { photo: "https://x/1.jpg" }]);
      expect(await tx.errorCode(() => step(tx, parties.organizer.claims, review, [banner.deliverable_id, true, null]))).toBe("DNIED");
      const rejected = await step<{ status: string }>(tx, parties.sponsor.claims, review, [banner.deliverable_id, false, "The logo is cut off."]);
      expect(rejected.status).toBe("rejected");
      await step(tx, parties.organizer.claims, submit, [banner.deliverable_id, { photo: "https://x/2.jpg" }]);
      await step(tx, parties.sponsor.claims, review, [banner.deliverable_id, true, "Good."]);
      let status = await tx.asRoot(() => one<{ status: string }>(tx, "select status from sponsorship.orders where order_id = $1", [order.order_id]));
      expect(status.status).toBe("locked");

      await step(tx, parties.organizer.claims, submit, [booth.deliverable_id, { passes: 2 }]);
      await step(tx, parties.sponsor.claims, review, [booth.deliverable_id, true, null]);
      const released = await tx.asRoot(() => one<OrderRow>(tx, "select * from sponsorship.orders where order_id = $1", [order.order_id]));
      expect(released.status).toBe("released");
      const txn = await entriesOf(tx, released.release_transaction_id);
      expect(txn.sum).toBe(0);
      expect(txn.kind).toBe("sponsorship.escrow_release");
      expect(await balance(tx, released.escrow_account_id)).toBe(0);
      expect(await balance(tx, await walletOf(tx, parties.organizer.organization.organizationId))).toBe(95_000);
      expect(await verify(tx)).toEqual([]);
      // A review after the release is refused, and writes nothing.
      const before = await footprint(tx);
      expect(await tx.errorCode(() => step(tx, parties.sponsor.claims, review, [booth.deliverable_id, true, null]))).toBe("SPSTA");
      expect(await footprint(tx)).toEqual(before);
      status = await tx.asRoot(() => one<{ status: string }>(tx, "select status from sponsorship.deliverables where deliverable_id = $1", [booth.deliverable_id]));
      expect(status.status).toBe("approved");
    });
  });

  it("refuses bad deliverables with codes and writes nothing", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "dlb");
      const order = await pendingOrder(tx, parties);
      const before = await footprint(tx);
      expect(await tx.errorCode(() => step(tx, parties.organizer.claims, add, [order.order_id, "", inDays(1)]))).toBe("BADIN");
      expect(await tx.errorCode(() => step(tx, parties.organizer.claims, add, [order.order_id, "x".repeat(201), inDays(1)]))).toBe("BADIN");
      expect(await tx.errorCode(() => step(tx, parties.organizer.claims, add, [order.order_id, "Banner", null]))).toBe("BADIN");
      expect(await tx.errorCode(() => step(tx, parties.organizer.claims, add, ["00000000-0000-0000-0000-000000000001", "Banner", inDays(1)]))).toBe("NTFND");
      expect(await footprint(tx)).toEqual(before);
    });
  });
});
