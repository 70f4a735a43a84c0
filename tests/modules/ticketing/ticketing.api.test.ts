import { beforeAll, describe, expect, it } from "vitest";
import { codesOf, registerUser, useTestApi, type SignedIn } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";
import { fund } from "./fixtures.ts";

/** Ticketing over GraphQL: a tier by the organization, checkout by a buyer, scan at the door; coded errors with their HTTP class. */
const api = useTestApi();
const tag = `tkapi${process.pid}${Date.now().toString(36)}`;
let admin: SignedIn;
let adminToken = "";
let buyer: SignedIn;
let tierId = "";

beforeAll(async () => {
  admin = await registerUser(api, "tkapiadm");
  const created = await api.graphql(
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId } } }`,
    { input: { name: `Org ${tag}`, slug: tag.toLowerCase() } }, admin.accessToken);
  const organizationId = created.body.data?.createOrganization.organization.organizationId;
  const switched = await api.graphql(
    `mutation($input: SwitchOrganizationInput!) { switchOrganization(input: $input) { accessToken } }`,
    { input: { organizationId } }, admin.accessToken);
  adminToken = switched.body.data?.switchOrganization.accessToken;
  const event = await api.graphql(
    `mutation($input: EventsCreateEventInput!) { eventsCreateEvent(input: $input) { event { eventId } } }`,
    { input: { title: `${tag} gig`, startsAt: new Date(Date.now() + 5 * 86400e3).toISOString(), endsAt: new Date(Date.now() + 5 * 86400e3 + 3600e3).toISOString() } },
    adminToken);
  const eventId = event.body.data?.eventsCreateEvent.event.eventId;
  await api.graphql(`mutation($input: EventsPublishEventInput!) { eventsPublishEvent(input: $input) { event { status } } }`, { input: { eventId } }, adminToken);
  const tier = await api.graphql(
    `mutation($input: CreateTicketingTicketTierInput!) { createTicketingTicketTier(input: $input) { ticketingTicketTier { tierId available } } }`,
    { input: { ticketingTicketTier: { eventId, name: "GA", price: "2500", currency: "USD", capacity: 2 } } }, adminToken);
  expect(tier.body.errors).toBeUndefined();
  expect(tier.body.data?.createTicketingTicketTier.ticketingTicketTier.available).toBe(2);
  tierId = tier.body.data?.createTicketingTicketTier.ticketingTicketTier.tierId;
  buyer = await registerUser(api, "tkapibuy");
  await fund(rootDb(), buyer.userId, 10_000);
});

const buy = (token: string, variables: Record<string, unknown>) =>
  api.graphql(
    `mutation($input: TicketingCheckoutInput!) { ticketingCheckout(input: $input) { order { orderId total fee status items { nodes { quantity unitPrice } } } } }`,
    { input: variables }, token);

describe("ticketing over GraphQL", () => {
  it("sells a ticket, replays the same key, and scans it once at the door", async () => {
    const first = await buy(buyer.accessToken, { clientKey: "api-1", tierId, quantity: 1 });
    expect(first.body.errors).toBeUndefined();
    const order = first.body.data?.ticketingCheckout.order;
    expect(order).toMatchObject({ total: "2500", fee: "125", status: "paid", items: { nodes: [{ quantity: 1, unitPrice: "2500" }] } });
    const again = await buy(buyer.accessToken, { clientKey: "api-1", tierId, quantity: 1 });
    expect(again.body.data?.ticketingCheckout.order.orderId).toBe(order.orderId);

    const mine = await api.graphql(`{ ticketingTickets { nodes { ticketId code status } } }`, {}, buyer.accessToken);
    const [ticket] = mine.body.data?.ticketingTickets.nodes;
    expect(ticket.status).toBe("issued");
    const scan = (token: string, code: string) =>
      api.graphql(`mutation($input: TicketingRedeemTicketInput!) { ticketingRedeemTicket(input: $input) { ticket { status } } }`, { input: { code } }, token);
    expect((await scan(adminToken, ticket.code)).body.data?.ticketingRedeemTicket.ticket.status).toBe("redeemed");
    const second = await scan(adminToken, ticket.code);
    expect(codesOf(second)).toEqual(["TKRED"]);
    expect(codesOf(await scan(adminToken, "f".repeat(32)))).toEqual(["TKCOD"]);
    expect(codesOf(await scan(buyer.accessToken, ticket.code))).toEqual(["DNIED"]);
  });

  it("answers bad input with codes, and nothing is bought", async () => {
    expect(codesOf(await buy(buyer.accessToken, { clientKey: "api-2", tierId, quantity: 0 }))).toEqual(["BADIN"]);
    expect(codesOf(await buy(buyer.accessToken, { clientKey: "api-3", tierId, quantity: 100000 }))).toEqual(["TKLIM"]);
    expect(codesOf(await buy(buyer.accessToken, { clientKey: "api-4", tierId, quantity: 2 }))).toEqual(["TKSLD"]);
    expect(codesOf(await buy(buyer.accessToken, { clientKey: "api-5", tierId: "00000000-0000-0000-0000-000000000000", quantity: 1 }))).toEqual(["NTFND"]);
    expect(codesOf(await buy(admin.accessToken, { clientKey: "api-6", tierId, quantity: 1 }))).toEqual(["LFUND"]);
    const anonymous = await buy("", { clientKey: "api-7", tierId, quantity: 1 });
    expect(codesOf(anonymous)).toEqual(["LOGIN"]);
    const fraction = await api.graphql(
      `mutation($input: CreateTicketingTicketTierInput!) { createTicketingTicketTier(input: $input) { ticketingTicketTier { tierId } } }`,
      { input: { ticketingTicketTier: { eventId: "00000000-0000-0000-0000-000000000000", name: "Bad", price: "10.5", currency: "USD", capacity: 1 } } }, adminToken);
    expect(codesOf(fraction)).toEqual(["22P02"]);
    const { rows } = await rootDb().query("select count(*)::int as n from ticketing.orders where user_id = $1", [buyer.userId]);
    expect(rows[0].n).toBe(1);
    expect((await rootDb().query("select * from ledger.verify()")).rows).toEqual([]);
  });
});
