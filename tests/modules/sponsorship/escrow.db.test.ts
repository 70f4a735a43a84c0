import { describe, expect, it } from "vitest";
import { withTransaction, type Claims, type TestTransaction } from "../../helpers/db.ts";
import { addMember, createUser, one } from "../../helpers/fixtures.ts";
import { createTenant } from "../events/fixtures.ts";
import {
  balance,
  createParties,
  entriesOf,
  footprint,
  pendingOrder,
  revenueOf,
  step,
  verify,
  walletOf,
  type OrderRow,
  type Parties,
} from "./fixtures.ts";

type State = "pending" | "funded" | "locked" | "disputed" | "released" | "refunded";
type Step = "fund" | "lock" | "approve" | "refund" | "dispute" | "resolve_release" | "resolve_refund";

const steps: Record<Step, { sql: string; by: (p: Parties) => Claims; extra: unknown[] }> = {
  fund: { sql: "select * from sponsorship.fund_order($1)", by: (p) => p.sponsor.claims, extra: [] },
  lock: { sql: "select * from sponsorship.lock_order($1)", by: (p) => p.organizer.claims, extra: [] },
  approve: { sql: "select * from sponsorship.approve_order($1)", by: (p) => p.sponsor.claims, extra: [] },
  refund: { sql: "select * from sponsorship.refund_order($1)", by: (p) => p.sponsor.claims, extra: [] },
  dispute: { sql: "select * from sponsorship.dispute_order($1, $2)", by: (p) => p.sponsor.claims, extra: ["The banner was never hung."] },
  resolve_release: { sql: "select * from sponsorship.resolve_dispute($1, $2, $3)", by: (p) => p.operator, extra: ["released", "Photos show the banner."] },
  resolve_refund: { sql: "select * from sponsorship.resolve_dispute($1, $2, $3)", by: (p) => p.operator, extra: ["refunded", "No banner in any photo."] },
};

/** The seed's escrow machine: the steps allowed from each state and where they lead. */
const allowed: Record<State, Partial<Record<Step, State>>> = {
  pending: { fund: "funded", refund: "refunded" },
  funded: { lock: "locked", refund: "refunded" },
  locked: { approve: "released", dispute: "disputed" },
  disputed: { resolve_release: "released", resolve_refund: "refunded" },
  released: {},
  refunded: {},
};

/** How to reach each state from a new order. */
const path: Record<State, Step[]> = {
  pending: [],
  funded: ["fund"],
  locked: ["fund", "lock"],
  disputed: ["fund", "lock", "dispute"],
  released: ["fund", "lock", "approve"],
  refunded: ["refund"],
};

async function take(tx: TestTransaction, parties: Parties, name: Step, orderId: string): Promise<OrderRow> {
  const { sql, by, extra } = steps[name];
  return step<OrderRow>(tx, by(parties), sql, [orderId, ...extra]);
}

async function orderIn(tx: TestTransaction, parties: Parties, state: State): Promise<OrderRow> {
  let order = await pendingOrder(tx, parties);
  for (const name of path[state]) order = await take(tx, parties, name, order.order_id);
  expect(order.status).toBe(state);
  return order;
}

describe("sponsorship escrow", () => {
  it("funds, locks and releases along the seed's path, one balanced ledger transaction per money step, escrow empty at the end", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "esc");
      const sponsorWallet = parties.sponsor.walletId;
      const organizerWallet = await walletOf(tx, parties.organizer.organization.organizationId);
      const revenue = await revenueOf(tx, parties.organizer.organization.organizationId);
      const order = await pendingOrder(tx, parties, 100_000);
      expect(order.status).toBe("pending");
      expect(order.escrow_account_id).toBeNull();

      const funded = await take(tx, parties, "fund", order.order_id);
      expect(funded.status).toBe("funded");
      const txn1 = await entriesOf(tx, funded.fund_transaction_id);
      expect(txn1.kind).toBe("sponsorship.escrow_fund");
      // The seed's txn_1: sponsor cash -100000 (our sign: money leaves), escrow +100000.
      expect(txn1.entries).toEqual([[sponsorWallet, -100_000], [funded.escrow_account_id, 100_000]]);
      expect(txn1.sum).toBe(0);
      expect(await balance(tx, funded.escrow_account_id)).toBe(100_000);
      expect(await balance(tx, sponsorWallet)).toBe(900_000);
      expect(await verify(tx)).toEqual([]);

      const locked = await take(tx, parties, "lock", order.order_id);
      expect(locked.status).toBe("locked");
      expect(await balance(tx, funded.escrow_account_id)).toBe(100_000);
      expect(await verify(tx)).toEqual([]);

      const released = await take(tx, parties, "approve", order.order_id);
      expect(released.status).toBe("released");
      expect(released.fee).toBe("5000");
      const txn2 = await entriesOf(tx, released.release_transaction_id);
      expect(txn2.kind).toBe("sponsorship.escrow_release");
      // The seed's txn_2: escrow -100000, organizer +95000 (95 %), platform revenue +5000 (5 %).
      expect(txn2.entries).toEqual([[funded.escrow_account_id, -100_000], [organizerWallet, 95_000], [revenue, 5_000]]);
      expect(txn2.sum).toBe(0);
      expect(await balance(tx, funded.escrow_account_id)).toBe(0);
      expect(await balance(tx, organizerWallet)).toBe(95_000);
      expect(await balance(tx, revenue)).toBe(5_000);
      expect(await verify(tx)).toEqual([]);
      // The commit-time checks (the ledger's balance, the order's money columns) pass.
      await tx.asRoot(() => tx.query("set constraints all immediate"));
    });
  });

  it("refuses at commit an order whose ledger transactions disagree with its state, whoever writes it", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "mny");
      const order = await pendingOrder(tx, parties);
      await tx.asRoot(() => tx.query("set constraints all immediate"));
      const code = await tx.asRoot(() =>
        tx.errorCode(async () => {
          await tx.query("update sponsorship.orders set status = 'funded' where order_id = $1", [order.order_id]);
          await tx.query("set constraints all immediate");
        }),
      );
      expect(code).toBe("SPMNY");
    });
  });

  it("refuses a move outside the seed's machine by any writer, the owner included (the registry trigger)", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "rg");
      const order = await pendingOrder(tx, parties);
      for (const target of ["locked", "released", "disputed"]) {
        const code = await tx.asRoot(() => tx.errorCode(() => tx.query("update sponsorship.orders set status = $2 where order_id = $1", [order.order_id, target])));
        expect(code, `pending -> ${target}`).toBe("RGTRN");
      }
      expect(await tx.asRoot(() => tx.errorCode(() => tx.query("update sponsorship.orders set status = 'pending' where order_id = $1", [order.order_id])))).toBeUndefined();
    });
  });

  it("takes the organizer's configured fee rate on release", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "fee");
      await tx.asRoot(() =>
        tx.query("insert into payments.organization_fees (organization_id, fee_rate) values ($1, 0.1)", [parties.organizer.organization.organizationId]),
      );
      const order = await orderIn(tx, parties, "released");
      expect(order.fee).toBe("10000");
      const organizerWallet = await walletOf(tx, parties.organizer.organization.organizationId);
      expect(await balance(tx, organizerWallet)).toBe(90_000);
      expect(await balance(tx, order.escrow_account_id)).toBe(0);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("refunds a pending order without moving money and a funded one back to the sponsor's wallet, escrow empty", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "ref");
      const before = await footprint(tx);
      const pending = await orderIn(tx, parties, "refunded");
      expect(pending.fund_transaction_id).toBeNull();
      expect(pending.refund_transaction_id).toBeNull();
      expect((await footprint(tx)).transactions).toBe(before.transactions);

      const order = await orderIn(tx, parties, "funded");
      const refunded = await step<OrderRow>(tx, parties.organizer.claims, "select * from sponsorship.refund_order($1)", [order.order_id]);
      expect(refunded.status).toBe("refunded");
      const txn = await entriesOf(tx, refunded.refund_transaction_id);
      expect(txn.kind).toBe("sponsorship.escrow_refund");
      expect(txn.entries).toEqual([[order.escrow_account_id, -100_000], [parties.sponsor.walletId, 100_000]]);
      expect(await balance(tx, order.escrow_account_id)).toBe(0);
      expect(await balance(tx, parties.sponsor.walletId)).toBe(1_000_000);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("resolves a dispute both ways: released to the organizer, or refunded to the sponsor", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "dsp");
      const organizerWallet = await walletOf(tx, parties.organizer.organization.organizationId);
      const a = await orderIn(tx, parties, "disputed");
      expect(a.dispute_reason).toBe("The banner was never hung.");
      const released = await take(tx, parties, "resolve_release", a.order_id);
      expect(released.status).toBe("released");
      expect(released.resolution).toBe("Photos show the banner.");
      expect(await balance(tx, a.escrow_account_id)).toBe(0);
      expect(await balance(tx, organizerWallet)).toBe(95_000);

      const b = await orderIn(tx, parties, "disputed");
      const refunded = await take(tx, parties, "resolve_refund", b.order_id);
      expect(refunded.status).toBe("refunded");
      expect((await entriesOf(tx, refunded.refund_transaction_id)).entries).toEqual([[b.escrow_account_id, -100_000], [parties.sponsor.walletId, 100_000]]);
      expect(await balance(tx, b.escrow_account_id)).toBe(0);
      // 1,000,000 - 100,000 (a, released) - 100,000 (b, back again)
      expect(await balance(tx, parties.sponsor.walletId)).toBe(900_000);
      expect(await verify(tx)).toEqual([]);
    });
  });

  const states: State[] = ["pending", "funded", "locked", "disputed", "released", "refunded"];
  for (const state of states) {
    it(`from ${state}, allows exactly ${Object.keys(allowed[state]).join(", ") || "nothing"} and refuses every other step, writing nothing`, async () => {
      await withTransaction(async (tx) => {
        const parties = await createParties(tx, "mx");
        for (const name of Object.keys(steps) as Step[]) {
          const order = await orderIn(tx, parties, state);
          const target = allowed[state][name];
          if (target) {
            const moved = await take(tx, parties, name, order.order_id);
            expect(moved.status, `${state} -${name}->`).toBe(target);
          } else {
            const before = await footprint(tx);
            const code = await tx.errorCode(() => take(tx, parties, name, order.order_id));
            expect(code, `${state} -${name}-> refused`).toBe("SPSTA");
            expect(await footprint(tx), `${state} -${name}-> wrote nothing`).toEqual(before);
            const still = await tx.asRoot(() => one<{ status: string }>(tx, "select status from sponsorship.orders where order_id = $1", [order.order_id]));
            expect(still.status).toBe(state);
          }
        }
        expect(await verify(tx)).toEqual([]);
      });
    });
  }

  it("refuses releasing twice and funding from an empty wallet, writing nothing and keeping the books balanced", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "bad", 50_000);
      const order = await pendingOrder(tx, parties, 100_000);
      let before = await footprint(tx);
      expect(await tx.errorCode(() => take(tx, parties, "fund", order.order_id))).toBe("LFUND");
      expect(await footprint(tx)).toEqual(before);
      expect(await balance(tx, parties.sponsor.walletId)).toBe(50_000);

      const small = await pendingOrder(tx, parties, 40_000);
      for (const name of ["fund", "lock", "approve"] as Step[]) await take(tx, parties, name, small.order_id);
      before = await footprint(tx);
      expect(await tx.errorCode(() => take(tx, parties, "approve", small.order_id))).toBe("SPSTA");
      expect(await tx.errorCode(() => take(tx, parties, "resolve_release", small.order_id))).toBe("SPSTA");
      expect(await footprint(tx)).toEqual(before);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("lets each side take only its steps: members who are not admins, the other side, a third organization and operators are refused", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "who");
      const third = await createTenant(tx, "whot");
      const member = await createUser(tx, "whom");
      await addMember(tx, parties.sponsor.owner, parties.sponsor.organization, member, "member");
      const memberClaims = { ...member.claims, org_id: parties.sponsor.organization.organizationId };
      const order = await pendingOrder(tx, parties);
      const attempt = (claims: Claims, sql: string, extra: unknown[] = []) => tx.errorCode(() => step(tx, claims, sql, [order.order_id, ...extra]));
      // fund: the sponsor's admins only
      expect(await attempt(parties.organizer.claims, steps.fund.sql)).toBe("DNIED");
      expect(await attempt(memberClaims, steps.fund.sql)).toBe("DNIED");
      expect(await attempt(third.claims, steps.fund.sql)).toBe("NTFND");
      expect(await attempt(parties.operator, steps.fund.sql)).toBe("DNIED");
      expect(await attempt(parties.sponsor.owner.claims, steps.fund.sql)).toBe("NTFND"); // not acting in the organization
      await take(tx, parties, "fund", order.order_id);
      // lock: the organizer's admins or operators
      expect(await attempt(parties.sponsor.claims, steps.lock.sql)).toBe("DNIED");
      expect(await attempt(third.claims, steps.lock.sql)).toBe("NTFND");
      await step(tx, parties.operator, steps.lock.sql, [order.order_id]);
      // approve: the sponsor's admins or operators
      expect(await attempt(parties.organizer.claims, steps.approve.sql)).toBe("DNIED");
      expect(await attempt(memberClaims, steps.approve.sql)).toBe("DNIED");
      expect(await attempt(third.claims, steps.approve.sql)).toBe("NTFND");
      // dispute: either side's admins, not operators
      expect(await attempt(parties.operator, steps.dispute.sql, ["x"])).toBe("DNIED");
      expect(await attempt(third.claims, steps.dispute.sql, ["x"])).toBe("NTFND");
      expect(await attempt(parties.organizer.claims, steps.dispute.sql, [""])).toBe("BADIN");
      await step(tx, parties.organizer.claims, steps.dispute.sql, [order.order_id, "The sponsor will not approve."]);
      // resolve: operators only
      expect(await attempt(parties.sponsor.claims, steps.resolve_refund.sql, ["refunded", "mine"])).toBe("DNIED");
      expect(await attempt(parties.organizer.claims, steps.resolve_release.sql, ["released", "mine"])).toBe("DNIED");
      expect(await attempt(parties.operator, steps.resolve_release.sql, ["kept", "why"])).toBe("BADIN");
      const resolved = await step<OrderRow>(tx, parties.operator, steps.resolve_release.sql, [order.order_id, "released", "Delivered."]);
      expect(resolved.status).toBe("released");
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("publishes every escrow transition to both parties and notifies both sides' admins", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "pub");
      const order = await orderIn(tx, parties, "released");
      const { rows } = await tx.asRoot(() =>
        tx.query<{ topic: string; organization_id: string }>(
          "select topic, organization_id from outbox.events where aggregate_type = 'sponsorship_order' and aggregate_id = $1 order by event_id",
          [order.order_id],
        ),
      );
      const organizer = parties.organizer.organization.organizationId;
      const sponsor = parties.sponsor.organization.organizationId;
      expect(rows.map((row) => [row.topic, row.organization_id])).toEqual(
        ["created", "funded", "locked", "released"].flatMap((t) => [[`sponsorship.order.${t}`, organizer], [`sponsorship.order.${t}`, sponsor]]),
      );
      const notified = await tx.asRoot(() =>
        tx.query<{ user_id: string }>("select distinct user_id from outbox.notifications where topic = 'sponsorship.order.released' and payload ->> 'orderId' = $1", [order.order_id]),
      );
      expect(notified.rows.map((row) => row.user_id).sort()).toEqual([parties.organizer.owner.userId, parties.sponsor.owner.userId].sort());
    });
  });
});
