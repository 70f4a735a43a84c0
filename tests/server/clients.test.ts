import { beforeAll, describe, expect, it } from "vitest";
import { codesOf, registerUser, testLimits, useTestApi, type GraphQLResponse, type SignedIn } from "../helpers/api.ts";
import { rootDb } from "../helpers/db.ts";
import { openAccount, openWorld, transfer } from "../modules/ledger/fixtures.ts";

/**
 * What GraphQL clients get (docs/clients.md): filters, ordering and aggregates
 * under RLS, default page sizes, cost errors that say what to change, and
 * coded refusals of bad filters. Two users, each with data of their own; the
 * other's rows exist (checked as root) and are never returned or counted.
 */
const api = useTestApi();
const tight = useTestApi({}, { limits: testLimits({ maxCost: 2_000, defaultPageSize: 3 }) });

let alice: SignedIn;
let bob: SignedIn;
let aliceWallet = "";
let bobWallet = "";

const ok = <D>(response: GraphQLResponse<D>) => {
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
  expect(response.status).toBe(200);
  return response.body.data as D & Record<string, any>;
};

async function notify(userId: string, topic: string, minutesAgo: number, read: boolean): Promise<void> {
  await rootDb().query(
    `insert into outbox.notifications (user_id, topic, message, created_at, read_at)
     values ($1, $2, 'Something happened.', now() - make_interval(mins => $3), case when $4 then now() end)`,
    [userId, topic, minutesAgo, read],
  );
}

beforeAll(async () => {
  alice = await registerUser(api, "clialice");
  bob = await registerUser(api, "clibob");
  // Alice: 3 unread, 2 read. Bob: 4 unread (never counted for Alice).
  for (const [minutes, read] of [[50, true], [40, false], [30, true], [20, false], [10, false]] as const) await notify(alice.userId, "test.alice", minutes, read);
  for (const minutes of [5, 4, 3, 2]) await notify(bob.userId, "test.bob", minutes, false);

  const db = rootDb();
  const world = await openWorld(db);
  aliceWallet = await openAccount(db, "cli_alice", { ownerUserId: alice.userId });
  bobWallet = await openAccount(db, "cli_bob", { ownerUserId: bob.userId });
  for (const amount of [100, 250, 400, 1000]) await transfer(db, world, aliceWallet, amount);
  for (const amount of [7, 9]) await transfer(db, world, bobWallet, amount);
  await transfer(db, aliceWallet, bobWallet, 50);
});

describe("filtering, ordering and aggregates under RLS", () => {
  const unread = `query Unread($first: Int) {
    outboxNotifications(first: $first, filter: { readAt: { isNull: true } }, orderBy: CREATED_AT_DESC) {
      totalCount
      aggregates { distinctCount { notificationId } }
      nodes { topic createdAt readAt }
    }
  }`;

  it("counts and lists only the caller's unread notifications, newest first", async () => {
    const data = ok(await api.graphql(unread, { first: 2 }, alice.accessToken));
    const connection = data.outboxNotifications;
    expect(connection.totalCount).toBe(3);
    expect(connection.aggregates.distinctCount.notificationId).toBe("3");
    expect(connection.nodes).toHaveLength(2);
    expect(connection.nodes.every((n: { topic: string; readAt: null }) => n.topic === "test.alice" && n.readAt === null)).toBe(true);
    expect(Date.parse(connection.nodes[0].createdAt)).toBeGreaterThan(Date.parse(connection.nodes[1].createdAt));

    const bobs = ok(await api.graphql(unread, { first: 10 }, bob.accessToken)).outboxNotifications;
    expect(bobs.totalCount).toBe(4);
    expect(bobs.nodes.every((n: { topic: string }) => n.topic === "test.bob")).toBe(true);
    // Not vacuous: as root, both users' unread notifications exist.
    const { rows } = await rootDb().query<{ n: string }>("select count(*) as n from outbox.notifications where user_id = any($1) and read_at is null", [[alice.userId, bob.userId]]);
    expect(Number(rows[0]!.n)).toBe(7);
  });

  it("a filter naming another user's rows finds nothing", async () => {
    const data = ok(
      await api.graphql(
        `query($user: UUID!) { outboxNotifications(filter: { userId: { equalTo: $user } }) { totalCount aggregates { distinctCount { notificationId } } } }`,
        { user: bob.userId },
        alice.accessToken,
      ),
    );
    expect(data.outboxNotifications).toEqual({ totalCount: 0, aggregates: { distinctCount: { notificationId: "0" } } });
  });

  it("sums an account's entries under RLS, with cursor pages ordered by account version", async () => {
    const statement = `query Statement($account: BigInt!, $after: Cursor) {
      ledgerEntries(first: 2, after: $after, filter: { accountId: { equalTo: $account } }, orderBy: ACCOUNT_VERSION_ASC) {
        aggregates { sum { amount } }
        pageInfo { hasNextPage endCursor }
        nodes { amount accountVersion }
      }
    }`;
    const first = ok(await api.graphql(statement, { account: aliceWallet }, alice.accessToken)).ledgerEntries;
    expect(first.aggregates.sum.amount).toBe("1700");
    expect(first.nodes.map((n: { amount: string }) => n.amount)).toEqual(["100", "250"]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = ok(await api.graphql(statement, { account: aliceWallet, after: first.pageInfo.endCursor }, alice.accessToken)).ledgerEntries;
    expect(second.nodes.map((n: { amount: string }) => n.amount)).toEqual(["400", "1000"]);
    const third = ok(await api.graphql(statement, { account: aliceWallet, after: second.pageInfo.endCursor }, alice.accessToken)).ledgerEntries;
    expect(third.nodes.map((n: { amount: string }) => n.amount)).toEqual(["-50"]);
    expect(third.pageInfo.hasNextPage).toBe(false);

    // Bob's account exists (and received 50 from Alice), but Alice sums nothing there.
    const other = ok(await api.graphql(statement, { account: bobWallet }, alice.accessToken)).ledgerEntries;
    expect(other.aggregates.sum.amount).toBe("0");
    expect(other.nodes).toEqual([]);
    const bobs = ok(await api.graphql(statement, { account: bobWallet }, bob.accessToken)).ledgerEntries;
    expect(bobs.aggregates.sum.amount).toBe("66");
    // Without a filter, the sum covers only the caller's visible entries.
    const all = ok(await api.graphql(`{ ledgerEntries { aggregates { sum { amount } } } }`, {}, alice.accessToken)).ledgerEntries;
    expect(all.aggregates.sum.amount).toBe("1700");
  });

  it("offers text search only where a column opted in (country names), and index operators elsewhere", async () => {
    const countries = ok(await api.graphql(`{ refCountries(filter: { name: { startsWithInsensitive: "nether" } }) { nodes { code } } }`, {}, alice.accessToken));
    expect(countries.refCountries.nodes.map((c: { code: string }) => c.code)).toEqual(["NL"]);
    expect(codesOf(await api.graphql(`{ outboxNotifications(filter: { topic: { includes: "alice" } }) { totalCount } }`, {}, alice.accessToken))).toEqual([
      "GRAPHQL_VALIDATION_FAILED",
    ]);
  });
});

describe("bad filters are refused with a code, never a 500", () => {
  const refused = async (response: Promise<GraphQLResponse>, code: string) => {
    const answer = await response;
    expect(codesOf(answer)).toEqual([code]);
    expect(answer.status).toBe(400);
  };

  it("an unknown field, an operator of the wrong type, a null or an empty filter", async () => {
    await refused(api.graphql(`{ outboxNotifications(filter: { nope: { equalTo: 1 } }) { totalCount } }`, {}, alice.accessToken), "GRAPHQL_VALIDATION_FAILED");
    await refused(api.graphql(`{ outboxNotifications(filter: { readAt: { equalTo: 12 } }) { totalCount } }`, {}, alice.accessToken), "GRAPHQL_VALIDATION_FAILED");
    await refused(
      api.graphql(`query($f: OutboxNotificationFilter) { outboxNotifications(filter: $f) { totalCount } }`, { f: { readAt: { isNull: "yes" } } }, alice.accessToken),
      "GRAPHQL_VALIDATION_FAILED",
    );
    // A BigInt that is not a number reaches PostgreSQL, which refuses it with its own code.
    const notNumber = await api.graphql(`{ outboxNotifications(filter: { notificationId: { in: ["x"] } }) { totalCount } }`, {}, alice.accessToken);
    expect(codesOf(notNumber)).toEqual(["22P02"]);
    expect(notNumber.status).toBeLessThan(500);
    // Null literals and empty objects inside a filter (literal or variable): the plugin would refuse them while planning.
    for (const filter of [`{ readAt: null }`, `{ readAt: {} }`, `{ or: [{ readAt: { isNull: true } }, {}] }`]) {
      await refused(api.graphql(`{ outboxNotifications(filter: ${filter}) { totalCount } }`, {}, alice.accessToken), "GRAPHQL_VALIDATION_FAILED");
    }
    await refused(
      api.graphql(`query($f: OutboxNotificationFilter) { outboxNotifications(filter: $f) { totalCount } }`, { f: { readAt: {} } }, alice.accessToken),
      "GRAPHQL_VALIDATION_FAILED",
    );
  });

  it("an aggregate on a column that is not exposed, and aggregates on a table that has none", async () => {
    await refused(api.graphql(`{ outboxNotifications { aggregates { sum { secret } } } }`, {}, alice.accessToken), "GRAPHQL_VALIDATION_FAILED");
    await refused(api.graphql(`{ organizations { aggregates { distinctCount { name } } } }`, {}, alice.accessToken), "GRAPHQL_VALIDATION_FAILED");
  });

  it("a 10,000-item in list, literal or variable", async () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => String(i + 1));
    await refused(
      api.graphql(`query($ids: [BigInt!]) { outboxNotifications(filter: { notificationId: { in: $ids } }) { totalCount } }`, { ids }, alice.accessToken),
      "FILTER_TOO_COMPLEX",
    );
    // 600 literal items fit in the document but not in the filter budget.
    await refused(
      api.graphql(`{ outboxNotifications(filter: { notificationId: { in: [${ids.slice(0, 600).join(",")}] } }) { totalCount } }`, {}, alice.accessToken),
      "FILTER_TOO_COMPLEX",
    );
    // 400 is within it, and answers.
    const within = ok(await api.graphql(`query($ids: [BigInt!]) { outboxNotifications(filter: { notificationId: { in: $ids } }) { totalCount } }`, { ids: ids.slice(0, 400) }, alice.accessToken));
    expect(within.outboxNotifications.totalCount).toBeGreaterThanOrEqual(0);
  });

  it("and/or nested absurdly deep", async () => {
    let filter: Record<string, unknown> = { readAt: { isNull: true } };
    for (let i = 0; i < 40; i++) filter = i % 2 ? { and: [filter] } : { or: [filter, { notificationId: { equalTo: String(i) } }] };
    await refused(
      api.graphql(`query($f: OutboxNotificationFilter) { outboxNotifications(filter: $f) { totalCount } }`, { f: filter }, alice.accessToken),
      "FILTER_TOO_COMPLEX",
    );
    const literal = JSON.stringify(filter).replace(/"(\w+)":/g, "$1:");
    await refused(api.graphql(`{ outboxNotifications(filter: ${literal}) { totalCount } }`, {}, alice.accessToken), "FILTER_TOO_COMPLEX");
  });
});

describe("list defaults and cost errors", () => {
  it("gives a nested connection without first the default page size instead of a cost error", async () => {
    const query = `{ organizations(first: 5) { nodes { memberships { totalCount nodes { userId } } } } }`;
    const created = await tight.graphql(
      `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId } } }`,
      { input: { name: "Defaults", slug: `defaults-${Date.now().toString(36)}` } },
      alice.accessToken,
    );
    const organizationId = ok(created).createOrganization.organization.organizationId;
    for (let i = 0; i < 4; i++) {
      const member = await registerUser(tight, `clidef${i}`);
      ok(await tight.graphql(`mutation($input: AddMemberInput!) { addMember(input: $input) { membership { userId } } }`, { input: { organizationId, userId: member.userId, role: "member" } }, alice.accessToken));
    }
    const data = ok(await tight.graphql(query, {}, alice.accessToken));
    const memberships = data.organizations.nodes[0].memberships;
    // 5 members (the owner and four), a default page of 3 (GRAPHQL_DEFAULT_PAGE_SIZE here).
    expect(memberships.totalCount).toBe(5);
    expect(memberships.nodes).toHaveLength(3);
  });

  it("names the list that makes a query expensive and the first: that fits", async () => {
    const answer = await tight.graphql(`{ organizations(first: 100) { nodes { memberships(first: 50) { nodes { userId role createdAt } } } } }`, {}, alice.accessToken);
    expect(codesOf(answer)).toEqual(["COST_LIMIT_EXCEEDED"]);
    const error = answer.body.errors![0]!;
    expect(error.extensions?.field).toBe("organizations");
    expect(error.message).toMatch(/`organizations`/);
    const fits = Number(/first: (\d+)/.exec(error.message)?.[1]);
    expect(fits).toBeGreaterThanOrEqual(1);
    // The advice is right: with that page the same query runs.
    ok(await tight.graphql(`{ organizations(first: ${fits}) { nodes { memberships(first: 50) { nodes { userId role createdAt } } } } }`, {}, alice.accessToken));
  });

  it("counts filter values and aggregates in the estimate", async () => {
    const ids = Array.from({ length: 450 }, (_, i) => String(i + 1));
    // 450 values × 5 aliases is over the 2,000 budget although each list is within GRAPHQL_MAX_FILTER_TERMS.
    const aliases = [1, 2, 3, 4, 5].map((i) => `a${i}: outboxNotifications(first: 1, filter: { notificationId: { in: $ids } }) { totalCount }`).join(" ");
    expect(codesOf(await tight.graphql(`query($ids: [BigInt!]) { ${aliases} }`, { ids }, alice.accessToken))).toEqual(["COST_LIMIT_EXCEEDED"]);
    // An aggregate costs a full page of what it aggregates: 20 of them are over the budget here.
    const aggregates = Array.from({ length: 20 }, (_, i) => `s${i}: sum { amount }`).join(" ");
    expect(codesOf(await tight.graphql(`{ ledgerEntries(first: 1) { aggregates { ${aggregates} } } }`, {}, alice.accessToken))).toEqual(["COST_LIMIT_EXCEEDED"]);
  });
});
