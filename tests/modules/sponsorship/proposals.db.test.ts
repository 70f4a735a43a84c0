import { describe, expect, it } from "vitest";
import { withTransaction, type Claims, type TestTransaction } from "../../helpers/db.ts";
import { one } from "../../helpers/fixtures.ts";
import { createTenant } from "../events/fixtures.ts";
import { createParties, draftProposal, footprint, step, verify, type OrderRow, type Parties, type ProposalRow } from "./fixtures.ts";

type State = "draft" | "sent" | "viewed" | "counter_offer" | "accepted" | "rejected" | "expired";
type Step = "send" | "view" | "counter" | "accept" | "reject" | "expire";

/** Who takes each step on a proposal the organizer wrote (after a counter offer, the organizer answers). */
const by = (p: Parties, name: Step, state: State): Claims =>
  name === "send" ? p.organizer.claims : (name === "accept" || name === "reject") && state === "counter_offer" ? p.organizer.claims : p.sponsor.claims;

const sql: Record<Exclude<Step, "expire">, string> = {
  send: "select status from sponsorship.send_proposal($1)",
  view: "select status from sponsorship.view_proposal($1)",
  counter: "select status from sponsorship.counter_proposal($1, 90000, 'Logo only.')",
  accept: "select status from sponsorship.accept_proposal($1)",
  reject: "select status from sponsorship.reject_proposal($1)",
};

/** The seed's proposal machine. */
const allowed: Record<State, Partial<Record<Step, State>>> = {
  draft: { send: "sent" },
  sent: { view: "viewed", expire: "expired" },
  viewed: { counter: "counter_offer", accept: "accepted", reject: "rejected" },
  counter_offer: { accept: "accepted", reject: "rejected" },
  accepted: {},
  rejected: {},
  expired: {},
};
const path: Record<State, Step[]> = {
  draft: [],
  sent: ["send"],
  viewed: ["send", "view"],
  counter_offer: ["send", "view", "counter"],
  accepted: ["send", "view", "accept"],
  rejected: ["send", "view", "reject"],
  expired: ["send", "expire"],
};

const statusOf = async (tx: TestTransaction, id: string) =>
  (await tx.asRoot(() => one<{ status: string }>(tx, "select status from sponsorship.proposals where proposal_id = $1", [id]))).status;

async function take(tx: TestTransaction, parties: Parties, name: Step, id: string, state: State): Promise<string> {
  if (name === "expire") {
    // The job, at a time past the expiry (time by parameter).
    await tx.asRoot(() => tx.query("select sponsorship_private.expire_proposals(now() + interval '15 days')"));
    return statusOf(tx, id);
  }
  await step(tx, by(parties, name, state), sql[name], [id]);
  return statusOf(tx, id);
}

async function proposalIn(tx: TestTransaction, parties: Parties, state: State): Promise<string> {
  const { proposal_id: id } = await draftProposal(tx, parties);
  let current: State = "draft";
  for (const name of path[state]) current = (await take(tx, parties, name, id, current)) as State;
  expect(current).toBe(state);
  return id;
}

describe("sponsorship proposals", () => {
  const states = Object.keys(allowed) as State[];
  for (const state of states) {
    it(`from ${state}, allows exactly ${Object.keys(allowed[state]).join(", ") || "nothing"} and refuses the rest, writing nothing`, async () => {
      await withTransaction(async (tx) => {
        const parties = await createParties(tx, "pm");
        for (const name of ["send", "view", "counter", "accept", "reject", "expire"] as Step[]) {
          const id = await proposalIn(tx, parties, state);
          const target = allowed[state][name];
          if (target) {
            expect(await take(tx, parties, name, id, state), `${state} -${name}->`).toBe(target);
          } else if (name === "expire") {
            expect(await take(tx, parties, name, id, state), `${state} is not expired by the job`).toBe(state);
          } else if (name === "view" && ["viewed", "counter_offer", "accepted", "rejected"].includes(state)) {
            // Opening a proposal again is harmless: nothing moves.
            expect(await take(tx, parties, name, id, state)).toBe(state);
          } else {
            const before = await footprint(tx);
            const code = await tx.errorCode(() => take(tx, parties, name, id, state));
            expect(code, `${state} -${name}-> refused`).toBe("SPSTA");
            expect(await footprint(tx)).toEqual(before);
            expect(await statusOf(tx, id)).toBe(state);
          }
        }
      });
    });
  }

  it("refuses a counter offer on an expired proposal, and any step on a sent one past its expiry before the job ran", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "exp");
      const expired = await proposalIn(tx, parties, "expired");
      const before = await footprint(tx);
      expect(await tx.errorCode(() => step(tx, parties.sponsor.claims, sql.counter, [expired]))).toBe("SPSTA");
      expect(await footprint(tx)).toEqual(before);

      const soon = await draftProposal(tx, parties, { expiresAt: new Date(Date.now() + 1000) });
      await step(tx, parties.organizer.claims, sql.send, [soon.proposal_id]);
      await tx.asRoot(() => tx.query("update sponsorship.proposals set expires_at = now() - interval '1 minute' where proposal_id = $1", [soon.proposal_id]));
      expect(await tx.errorCode(() => step(tx, parties.sponsor.claims, sql.view, [soon.proposal_id]))).toBe("SPEXP");
      // The job marks it; it publishes the expiry to both parties.
      const n = await tx.asRoot(() => one<{ n: number }>(tx, "select sponsorship_private.expire_proposals(now()) as n"));
      expect(n.n).toBe(1);
      expect(await statusOf(tx, soon.proposal_id)).toBe("expired");
      const events = await tx.asRoot(() =>
        tx.query("select organization_id from outbox.events where topic = 'sponsorship.proposal.expired' and aggregate_id = $1", [soon.proposal_id]),
      );
      expect(events.rowCount).toBe(2);
    });
  });

  it("accepting creates the sponsorship order for the agreed amount and takes a package slot; the last slot goes once", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "acc");
      await tx.become(parties.organizer.claims);
      const { package_id: packageId } = await one<{ package_id: string }>(
        tx,
        "insert into sponsorship.packages (event_id, title, price, slots, benefits) values ($1, 'Gold', 100000, 1, '[\"stage banner\"]') returning package_id",
        [parties.eventId],
      );
      const first = await draftProposal(tx, parties, { packageId });
      const second = await draftProposal(tx, parties, { packageId });
      for (const p of [first, second]) {
        await step(tx, parties.organizer.claims, sql.send, [p.proposal_id]);
        await step(tx, parties.sponsor.claims, sql.view, [p.proposal_id]);
      }
      await step(tx, parties.sponsor.claims, "select * from sponsorship.counter_proposal($1, 80000, 'Gold, without the booth.')", [first.proposal_id]);
      // After the counter offer, the organizer (who proposed) answers.
      expect(await tx.errorCode(() => step(tx, parties.sponsor.claims, sql.accept, [first.proposal_id]))).toBe("DNIED");
      const order = await step<OrderRow>(tx, parties.organizer.claims, "select * from sponsorship.accept_proposal($1)", [first.proposal_id]);
      expect(order.status).toBe("pending");
      expect(order.amount).toBe("80000");
      expect(order.package_id).toBe(packageId);
      expect(order.proposal_id).toBe(first.proposal_id);
      const before = await footprint(tx);
      expect(await tx.errorCode(() => step(tx, parties.sponsor.claims, sql.accept, [second.proposal_id]))).toBe("SPSLT");
      expect(await footprint(tx)).toEqual(before);
      expect(await statusOf(tx, second.proposal_id)).toBe("viewed");
    });
  });

  it("lets a sponsor propose on a published public event, and refuses bad input with codes and nothing written", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "bin");
      const fromSponsor = await draftProposal(tx, parties, { by: parties.sponsor.claims });
      expect(fromSponsor.proposed_by).toBe("sponsor");
      await step(tx, parties.sponsor.claims, sql.send, [fromSponsor.proposal_id]);
      expect(await tx.errorCode(() => step(tx, parties.sponsor.claims, sql.view, [fromSponsor.proposal_id]))).toBe("DNIED");
      expect((await step<ProposalRow>(tx, parties.organizer.claims, "select * from sponsorship.view_proposal($1)", [fromSponsor.proposal_id])).status).toBe("viewed");

      const third = await createTenant(tx, "bint");
      const before = await footprint(tx);
      for (const [input, code] of [
        [{ amount: -5 }, "SPAMT"],
        [{ amount: 0 }, "SPAMT"],
        [{ currency: "ZZZ" }, "SPCUR"],
        [{ expiresAt: new Date(Date.now() - 60_000) }, "SPEXP"],
        [{ packageId: "00000000-0000-0000-0000-000000000001" }, "SPPKG"],
      ] as const) {
        expect(await tx.errorCode(() => draftProposal(tx, parties, input)), JSON.stringify(input)).toBe(code);
      }
      expect(await tx.errorCode(() => draftProposal(tx, parties, { by: third.claims }))).toBe("NTFND");
      expect(await footprint(tx)).toEqual(before);
      expect(await verify(tx)).toEqual([]);
    });
  });
});
