import { beforeAll, describe, expect, it } from "vitest";
import { codesOf, registerUser, useTestApi, type SignedIn } from "../../helpers/api.ts";

/** The events platform's main flows over GraphQL: create as an organization's admin, publish, list as anonymous, comment. */
const api = useTestApi();
const tag = `evapi${process.pid}${Date.now().toString(36)}`;
let admin: SignedIn;
let adminToken = "";
let organization = { organizationId: "", name: "", slug: "" };

const createEvent = (token: string, input: Record<string, unknown>) =>
  api.graphql(
    `mutation($input: EventsCreateEventInput!) { eventsCreateEvent(input: $input) { event { eventId status ownerContextId } } }`,
    {
      input: {
        title: `${tag} night`,
        startsAt: new Date(Date.now() + 5 * 86400e3).toISOString(),
        endsAt: new Date(Date.now() + 5 * 86400e3 + 3 * 3600e3).toISOString(),
        categoryCode: "music.jazz",
        countryCode: "NG",
        timezone: "Africa/Lagos",
        venue: "Freedom Park",
        ...input,
      },
    },
    token,
  );

beforeAll(async () => {
  admin = await registerUser(api, "evapiadm");
  const created = await api.graphql(
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId name slug } } }`,
    { input: { name: `Org ${tag}`, slug: tag.toLowerCase() } },
    admin.accessToken,
  );
  organization = created.body.data?.createOrganization.organization;
  const switched = await api.graphql(
    `mutation($input: SwitchOrganizationInput!) { switchOrganization(input: $input) { accessToken } }`,
    { input: { organizationId: organization.organizationId } },
    admin.accessToken,
  );
  adminToken = switched.body.data?.switchOrganization.accessToken;
  expect(typeof adminToken).toBe("string");
});

describe("events over GraphQL", () => {
  it("creates a draft as the organization's admin, publishes it, and anonymous callers then find it with its category and organizer", async () => {
    const created = await createEvent(adminToken, { description: "<b>Bring</b> friends & <script>alert(1)</script>" });
    expect(created.body.errors).toBeUndefined();
    const event = created.body.data?.eventsCreateEvent.event;
    expect(event).toMatchObject({ status: "draft", ownerContextId: organization.organizationId });

    const byId = `query($id: UUID!) { eventsEvent(eventId: $id) { title status description } }`;
    expect((await api.graphql(byId, { id: event.eventId })).body.data?.eventsEvent).toBeNull();

    const published = await api.graphql(
      `mutation($input: EventsPublishEventInput!) { eventsPublishEvent(input: $input) { event { status publishedAt } } }`,
      { input: { eventId: event.eventId } },
      adminToken,
    );
    expect(published.body.errors).toBeUndefined();
    expect(published.body.data?.eventsPublishEvent.event.status).toBe("published");

    expect((await api.graphql(byId, { id: event.eventId })).body.data?.eventsEvent).toEqual({
      title: `${tag} night`,
      status: "published",
      description: "<b>Bring</b> friends & <script>alert(1)</script>",
    });
    const listed = await api.graphql(
      `query($q: String!) { eventsSearchEvents(query: $q, categoryCode: "music", first: 20) {
         nodes { eventId title categoryName organizerName organizerSlug category { code parent { name } } country { displayName } }
         pageInfo { hasNextPage } } }`,
      { q: tag },
    );
    expect(listed.body.errors).toBeUndefined();
    expect(listed.body.data?.eventsSearchEvents.nodes).toEqual([
      {
        eventId: event.eventId,
        title: `${tag} night`,
        categoryName: "Jazz and blues",
        organizerName: organization.name,
        organizerSlug: organization.slug,
        category: { code: "music.jazz", parent: { name: "Music" } },
        country: { displayName: "Nigeria" },
      },
    ]);
  });

  it("lets signed-in people comment on the organization's posts, never anonymous callers, and shows the thread to everyone", async () => {
    const event = (await createEvent(adminToken, { title: `${tag} talk` })).body.data?.eventsCreateEvent.event;
    await api.graphql(`mutation($input: EventsPublishEventInput!) { eventsPublishEvent(input: $input) { event { status } } }`, { input: { eventId: event.eventId } }, adminToken);
    const posted = await api.graphql(
      `mutation($input: CreateEventsEventPostInput!) { createEventsEventPost(input: $input) { eventsEventPost { postId } } }`,
      { input: { eventsEventPost: { eventId: event.eventId, body: "Doors at seven." } } },
      adminToken,
    );
    expect(posted.body.errors).toBeUndefined();
    const postId = posted.body.data?.createEventsEventPost.eventsEventPost.postId;

    const comment = `mutation($input: CreateEventsEventCommentInput!) { createEventsEventComment(input: $input) { eventsEventComment { commentId author { handle } } } }`;
    const fan = await registerUser(api, "evapifan");
    const said = await api.graphql(comment, { input: { eventsEventComment: { postId, body: "Can't wait!" } } }, fan.accessToken);
    expect(said.body.errors).toBeUndefined();
    expect(said.body.data?.createEventsEventComment.eventsEventComment.author).toEqual({ handle: fan.username });
    expect(codesOf(await api.graphql(comment, { input: { eventsEventComment: { postId, body: "Anon" } } }))).toEqual(["42501"]);

    const thread = await api.graphql(
      `query($id: UUID!) { eventsEvent(eventId: $id) { posts(first: 10) { nodes { body comments(first: 20) { nodes { body author { handle } } } } } } }`,
      { id: event.eventId },
    );
    expect(thread.body.errors).toBeUndefined();
    expect(thread.body.data?.eventsEvent.posts.nodes).toEqual([{ body: "Doors at seven.", comments: { nodes: [{ body: "Can't wait!", author: { handle: fan.username } }] } }]);
  });

  it("answers bad input with its code and stores nothing", async () => {
    const start = new Date(Date.now() + 86400e3);
    expect(codesOf(await createEvent(adminToken, { startsAt: start.toISOString(), endsAt: new Date(start.getTime() - 1).toISOString() }))).toEqual(["EVDAT"]);
    expect(codesOf(await createEvent(adminToken, { countryCode: "XX" }))).toEqual(["EVCTY"]);
    expect(codesOf(await createEvent(adminToken, { categoryCode: "music.polka" }))).toEqual(["EVCAT"]);
    expect(codesOf(await createEvent(admin.accessToken, {}))).toEqual(["DNIED"]);
    expect(codesOf(await createEvent("", {}))).toEqual(["LOGIN"]);
    // A 1 MB description does not get past the request body limit.
    const huge = await createEvent(adminToken, { description: "x".repeat(1024 * 1024) });
    expect(huge.status).toBe(413);
    expect(codesOf(huge)).toEqual(["PAYLOAD_TOO_LARGE"]);
    // Just under the limit, it reaches the database, which refuses it.
    expect(codesOf(await createEvent(adminToken, { description: "x".repeat(900 * 1024) }))).toEqual(["BADIN"]);
    const mine = await api.graphql(`query($org: UUID!) { eventsEvents(condition: { ownerContextId: $org }) { totalCount } }`, { org: organization.organizationId }, adminToken);
    expect(mine.body.data?.eventsEvents.totalCount).toBe(2);
  });

  it("has one way to create an event and no duplicate types from the compatibility layer in public", async () => {
    const introspected = await api.graphql(`{ __schema { types { name } mutationType { fields { name } } } }`);
    const types = introspected.body.data?.__schema.types.map((type: { name: string }) => type.name);
    const mutations = introspected.body.data?.__schema.mutationType.fields.map((field: { name: string }) => field.name);
    expect(types).toContain("EventsEvent");
    expect(types.filter((name: string) => /^Public/.test(name) || name === "Event")).toEqual([]);
    expect(types).not.toContain("RefCurrency");
    expect(mutations.filter((name: string) => name.toLowerCase().endsWith("createevent") || name === "createEventsEvent")).toEqual(["eventsCreateEvent"]);
  });
});
