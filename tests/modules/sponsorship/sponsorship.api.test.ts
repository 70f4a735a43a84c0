import { beforeAll, describe, expect, it } from "vitest";
import { codesOf, registerWithRole, useTestApi } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";
import { organizationToken } from "./api-fixtures.ts";
import { fundOrganization } from "./fixtures.ts";

/** Sponsorship over GraphQL: proposal to release, with the ledger checked; coded errors. */
const api = useTestApi();
const tag = `spapi${process.pid}${Date.now().toString(36)}`;

let organizer: { token: string; organizationId: string };
let sponsor: { token: string; organizationId: string; userToken: string };
let third: { token: string };
let operatorToken = "";
let eventId = "";
let sponsorId = "";

beforeAll(async () => {
  organizer = await organizationToken(api, `${tag}g`);
  sponsor = await organizationToken(api, `${tag}s`);
  third = await organizationToken(api, `${tag}t`);
  operatorToken = (await registerWithRole(api, "gw_admin", "spapiop")).roleToken;
  const event = await api.graphql(
    `mutation($input: EventsCreateEventInput!) { eventsCreateEvent(input: $input) { event { eventId } } }`,
    { input: { title: `${tag} gala`, startsAt: new Date(Date.now() + 5 * 86400e3).toISOString(), endsAt: new Date(Date.now() + 5 * 86400e3 + 3600e3).toISOString() } },
    organizer.token);
  eventId = event.body.data?.eventsCreateEvent.event.eventId;
  await api.graphql(`mutation($input: EventsPublishEventInput!) { eventsPublishEvent(input: $input) { event { status } } }`, { input: { eventId } }, organizer.token);
  const created = await api.graphql(
    `mutation($input: CreateSponsorshipSponsorInput!) { createSponsorshipSponsor(input: $input) { sponsorshipSponsor { sponsorId } } }`,
    { input: { sponsorshipSponsor: { name: `${tag} Co`, interests: ["music"] } } }, sponsor.token);
  expect(created.body.errors).toBeUndefined();
  sponsorId = created.body.data?.createSponsorshipSponsor.sponsorshipSponsor.sponsorId;
});

const call = (name: string, input: Record<string, unknown>, token: string, selection = "order { orderId status fee }") =>
  api.graphql(`mutation($input: ${name[0]!.toUpperCase()}${name.slice(1)}Input!) { ${name}(input: $input) { ${selection} } }`, { input }, token);

describe("sponsorship over GraphQL", () => {
  it("takes a proposal to a released order, each party seeing its side; refuses with codes and writes nothing", async () => {
    const drafted = await call("sponsorshipCreateProposal", { eventId, sponsorId, amount: "200000", terms: "Headline sponsor" }, organizer.token, "proposal { proposalId status proposedBy }");
    expect(drafted.body.errors).toBeUndefined();
    const proposalId = drafted.body.data?.sponsorshipCreateProposal.proposal.proposalId;
    expect(codesOf(await call("sponsorshipCreateProposal", { eventId, sponsorId, amount: "-1", terms: "x" }, organizer.token, "proposal { proposalId }"))).toEqual(["SPAMT"]);
    expect(codesOf(await call("sponsorshipSendProposal", { proposalId }, sponsor.token, "proposal { status }"))).toEqual(["DNIED"]);
    await call("sponsorshipSendProposal", { proposalId }, organizer.token, "proposal { status }");
    expect(codesOf(await call("sponsorshipViewProposal", { proposalId }, third.token, "proposal { status }"))).toEqual(["NTFND"]);
    await call("sponsorshipViewProposal", { proposalId }, sponsor.token, "proposal { status }");
    const accepted = await call("sponsorshipAcceptProposal", { proposalId }, sponsor.token);
    const orderId = accepted.body.data?.sponsorshipAcceptProposal.order.orderId;
    expect(accepted.body.data?.sponsorshipAcceptProposal.order.status).toBe("pending");

    // An empty wallet: LFUND, nothing moves.
    expect(codesOf(await call("sponsorshipFundOrder", { orderId }, sponsor.token))).toEqual(["LFUND"]);
    await fundOrganization(rootDb(), sponsor.organizationId, 500_000);
    expect((await call("sponsorshipFundOrder", { orderId }, sponsor.token)).body.data?.sponsorshipFundOrder.order.status).toBe("funded");
    expect(codesOf(await call("sponsorshipFundOrder", { orderId }, sponsor.token))).toEqual(["SPSTA"]);
    expect(codesOf(await call("sponsorshipLockOrder", { orderId }, sponsor.token))).toEqual(["DNIED"]);
    await call("sponsorshipLockOrder", { orderId }, organizer.token);
    const released = await call("sponsorshipApproveOrder", { orderId }, sponsor.token);
    expect(released.body.data?.sponsorshipApproveOrder.order).toMatchObject({ status: "released", fee: "10000" });
    expect(codesOf(await call("sponsorshipApproveOrder", { orderId }, sponsor.token))).toEqual(["SPSTA"]);
    expect(codesOf(await call("sponsorshipResolveDispute", { orderId, outcome: "refunded", resolution: "no" }, operatorToken))).toEqual(["SPSTA"]);

    // Each party reads the order acting as itself; a third organization does not.
    const read = (token: string) => api.graphql(`{ sponsorshipOrders { nodes { orderId status } } }`, {}, token);
    expect((await read(organizer.token)).body.data?.sponsorshipOrders.nodes).toEqual([{ orderId, status: "released" }]);
    expect((await read(sponsor.token)).body.data?.sponsorshipOrders.nodes).toEqual([{ orderId, status: "released" }]);
    expect((await read(third.token)).body.data?.sponsorshipOrders.nodes).toEqual([]);
    expect((await read(sponsor.userToken)).body.data?.sponsorshipOrders.nodes).toEqual([]);

    const { rows } = await rootDb().query<{ kind: string; n: number }>(
      "select kind, count(*)::int as n from ledger.transactions where metadata ->> 'orderId' = $1 group by kind order by kind", [orderId]);
    expect(rows).toEqual([{ kind: "sponsorship.escrow_fund", n: 1 }, { kind: "sponsorship.escrow_release", n: 1 }]);
    expect((await rootDb().query("select * from ledger.verify()")).rows).toEqual([]);
  });
});
