import { beforeAll, describe, expect, it } from "vitest";
import { readMarkdown } from "../../helpers/markdown.ts";
import { codesOf, registerWithRole, registerUser, useTestApi, type SignedIn } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";

/** The platform primitives through GraphQL, as each kind of caller sees them. */
const api = useTestApi();
const slug = (label: string) => `${label}-${process.pid}-${Date.now().toString(36)}`.toLowerCase();
let adminToken = "";

async function createOrganization(owner: SignedIn, label: string): Promise<string> {
  const result = await api.graphql(
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId } } }`,
    { input: { name: `Org ${label}`, slug: slug(label) } },
    owner.accessToken,
  );
  return result.body.data?.createOrganization.organization.organizationId;
}

async function addMember(by: SignedIn, organizationId: string, user: SignedIn, role = "member") {
  const result = await api.graphql(
    `mutation($input: AddMemberInput!) { addMember(input: $input) { membership { membershipId } } }`,
    { input: { organizationId, userId: user.userId, role } },
    by.accessToken,
  );
  expect(result.body.errors).toBeUndefined();
}

const createSubscription = (token: string, organizationId: string, url = "https://example.com/hooks") =>
  api.graphql(
    `mutation($input: CreateOutboxWebhookSubscriptionInput!) {
       createOutboxWebhookSubscription(input: $input) { outboxWebhookSubscription { subscriptionId secret topics isActive } } }`,
    { input: { outboxWebhookSubscription: { organizationId, url, topics: ["member.added", "member.removed"] } } },
    token,
  );

beforeAll(async () => {
  adminToken = (await registerWithRole(api, "gw_admin", "platadm")).roleToken;
});

describe("webhook subscriptions", () => {
  it("are created and seen by the organization's owners and admins only", async () => {
    const owner = await registerUser(api, "whown");
    const member = await registerUser(api, "whmem");
    const outsider = await registerUser(api, "whout");
    const organizationId = await createOrganization(owner, "hooks");
    await addMember(owner, organizationId, member);

    const created = await createSubscription(owner.accessToken, organizationId);
    expect(created.body.errors).toBeUndefined();
    const subscription = created.body.data?.createOutboxWebhookSubscription.outboxWebhookSubscription;
    expect(subscription).toMatchObject({ topics: ["member.added", "member.removed"], isActive: true });
    // The Standard Webhooks form: whsec_ and the base64 of 32 random bytes.
    expect(subscription.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    expect(codesOf(await createSubscription(member.accessToken, organizationId))).toEqual(["42501"]);
    expect(codesOf(await createSubscription(outsider.accessToken, organizationId))).toEqual(["42501"]);
    const list = `query { outboxWebhookSubscriptions { nodes { subscriptionId } } }`;
    expect((await api.graphql(list, {}, member.accessToken)).body.data?.outboxWebhookSubscriptions.nodes).toEqual([]);
    expect((await api.graphql(list, {}, outsider.accessToken)).body.data?.outboxWebhookSubscriptions.nodes).toEqual([]);
    expect((await api.graphql(list, {}, owner.accessToken)).body.data?.outboxWebhookSubscriptions.nodes).toEqual([
      { subscriptionId: subscription.subscriptionId },
    ]);
    const { rows } = await rootDb().query("select count(*)::int as n from outbox.webhook_subscriptions where organization_id = $1", [
      organizationId,
    ]);
    expect(rows[0].n).toBe(1);
  });

  it("refuse a topic that is not a registered outbox topic, and a URL that is not http(s)", async () => {
    const owner = await registerUser(api, "whbad");
    const organizationId = await createOrganization(owner, "badhooks");
    const unknownTopic = await api.graphql(
      `mutation($input: CreateOutboxWebhookSubscriptionInput!) { createOutboxWebhookSubscription(input: $input) { clientMutationId } }`,
      { input: { outboxWebhookSubscription: { organizationId, url: "https://example.com/x", topics: ["no.such.topic"] } } },
      owner.accessToken,
    );
    expect(codesOf(unknownTopic)).toEqual(["RTYPE"]);
    expect(codesOf(await createSubscription(owner.accessToken, organizationId, "ftp://example.com/x"))).toEqual(["BADIN"]);
  });

  it("get a new secret from rotateWebhookSecret, and strangers get NTFND", async () => {
    const owner = await registerUser(api, "whrot");
    const stranger = await registerUser(api, "whstr");
    const organizationId = await createOrganization(owner, "rotate");
    const before = (await createSubscription(owner.accessToken, organizationId)).body.data?.createOutboxWebhookSubscription
      .outboxWebhookSubscription;
    const rotate = `mutation($id: UUID!) { outboxRotateWebhookSecret(input: { subscriptionId: $id }) { webhookSubscription { secret } } }`;
    expect(codesOf(await api.graphql(rotate, { id: before.subscriptionId }, stranger.accessToken))).toEqual(["NTFND"]);
    const rotated = await api.graphql(rotate, { id: before.subscriptionId }, owner.accessToken);
    const secret = rotated.body.data?.outboxRotateWebhookSecret.webhookSubscription.secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(secret).not.toBe(before.secret);
  });

  it("receive member.added and member.removed events of their organization, published in the same transaction", async () => {
    const owner = await registerUser(api, "whev");
    const joiner = await registerUser(api, "whjoin");
    const organizationId = await createOrganization(owner, "events");
    const subscriptionId = (await createSubscription(owner.accessToken, organizationId)).body.data?.createOutboxWebhookSubscription
      .outboxWebhookSubscription.subscriptionId;
    await addMember(owner, organizationId, joiner);
    const events = await api.graphql(
      `query($org: UUID) { outboxEvents(condition: { organizationId: $org }, orderBy: EVENT_ID_ASC) { nodes { topic actorId payload } } }`,
      { org: organizationId },
      owner.accessToken,
    );
    const topics = events.body.data?.outboxEvents.nodes.map((event: { topic: string }) => event.topic);
    expect(topics).toEqual(["member.added", "member.added"]);
    expect(events.body.data?.outboxEvents.nodes[1]).toMatchObject({ actorId: owner.userId, payload: { userId: joiner.userId, role: "member" } });
    const { rows } = await rootDb().query(
      "select count(*)::int as n from outbox.dispatches where subscription_id = $1 and status = 'pending'",
      [subscriptionId],
    );
    // The owner's own membership was created before the subscription: only the second event is dispatched.
    expect(rows[0].n).toBe(1);
    // A plain member sees no events (they are for owners and admins).
    const asJoiner = await api.graphql(`query { outboxEvents { totalCount } }`, {}, joiner.accessToken);
    expect(asJoiner.body.data?.outboxEvents.totalCount).toBe(0);
    await rootDb().query("update outbox.webhook_subscriptions set is_active = false where subscription_id = $1", [subscriptionId]);
    const cancelled = await rootDb().query("select status from outbox.dispatches where subscription_id = $1", [subscriptionId]);
    expect(cancelled.rows).toEqual([{ status: "cancelled" }]);
  });
  it("send a test event to one subscription only, whatever its topics", async () => {
    const owner = await registerUser(api, "whtest");
    const organizationId = await createOrganization(owner, "testhook");
    const created = await Promise.all([createSubscription(owner.accessToken, organizationId), createSubscription(owner.accessToken, organizationId)]);
    const [target, bystander] = created.map((result) => result.body.data?.createOutboxWebhookSubscription.outboxWebhookSubscription.subscriptionId);
    const sent = await api.graphql(
      `mutation($id: UUID!) { outboxSendTestWebhook(input: { subscriptionId: $id }) { eventId } }`,
      { id: target },
      owner.accessToken,
    );
    const eventId = sent.body.data?.outboxSendTestWebhook.eventId;
    expect(eventId).toEqual(expect.any(String));
    const { rows } = await rootDb().query("select subscription_id from outbox.dispatches where event_id = $1", [eventId]);
    expect(rows).toEqual([{ subscription_id: target }]);
    expect(bystander).not.toBe(target);
  });
});

describe("outbox safety net", () => {
  it("re-enqueues a delivery partition whose job was lost", async () => {
    const owner = await registerUser(api, "whorph");
    const organizationId = await createOrganization(owner, "orphan");
    const client = await rootDb().connect();
    try {
      // One transaction, rolled back: no worker ever sees these rows.
      await client.query("begin");
      await client.query("insert into outbox.webhook_subscriptions (organization_id, url, topics) values ($1, 'http://127.0.0.1:9/', '{*}')", [
        organizationId,
      ]);
      const { rows: events } = await client.query<{ event_id: string }>(
        "select outbox.publish('webhook.test', '{}'::jsonb, 'thing', 'orphan', $1) as event_id",
        [organizationId],
      );
      const { rows: dispatches } = await client.query<{ partition: number }>("select partition from outbox.dispatches where event_id = $1", [
        events[0]!.event_id,
      ]);
      const key = `outbox:${dispatches[0]!.partition}`;
      const jobsWithKey = async () => (await client.query("select count(*)::int as n from graphile_worker.jobs where key = $1", [key])).rows[0].n;
      expect(await jobsWithKey()).toBe(1);
      await client.query("select graphile_worker.remove_job($1)", [key]);
      await client.query("update outbox.dispatches set next_attempt_at = now() - interval '1 minute' where event_id = $1", [events[0]!.event_id]);
      expect(await jobsWithKey()).toBe(0);
      const { rows } = await client.query("select outbox_private.requeue_orphans() as n");
      expect(rows[0].n).toBeGreaterThanOrEqual(1);
      expect(await jobsWithKey()).toBe(1);
    } finally {
      await client.query("rollback");
      client.release();
    }
  });
});

describe("notifications and activity", () => {
  it("tell the added member, show the history to the organization, and hide it from outsiders", async () => {
    const alice = await registerUser(api, "acta");
    const bob = await registerUser(api, "actb");
    const outsider = await registerUser(api, "actc");
    const organizationId = await createOrganization(alice, "history");
    await addMember(alice, organizationId, bob);

    const notifications = `query { outboxNotifications { nodes { notificationId topic message readAt } } }`;
    const bobs = (await api.graphql(notifications, {}, bob.accessToken)).body.data?.outboxNotifications.nodes;
    expect(bobs).toEqual([
      { notificationId: expect.any(String), topic: "member.added", message: `${alice.username} added you to Org history as member`, readAt: null },
    ]);
    expect((await api.graphql(notifications, {}, alice.accessToken)).body.data?.outboxNotifications.nodes).toEqual([]);
    const read = await api.graphql(
      `mutation($id: BigInt!) { updateOutboxNotification(input: { notificationId: $id, patch: { readAt: "2026-11-21T00:00:00Z" } }) { outboxNotification { readAt } } }`,
      { id: bobs[0].notificationId },
      bob.accessToken,
    );
    expect(read.body.errors).toBeUndefined();

    const activity = `query($org: UUID) { auditActivities(condition: { organizationId: $org }) { nodes { verb summary actorId subjectId } } }`;
    const expected = { verb: "member.added", summary: `${alice.username} added ${bob.username} to Org history`, actorId: alice.userId, subjectId: bob.userId };
    expect((await api.graphql(activity, { org: organizationId }, alice.accessToken)).body.data?.auditActivities.nodes).toContainEqual(expected);
    expect((await api.graphql(activity, { org: organizationId }, bob.accessToken)).body.data?.auditActivities.nodes).toContainEqual(expected);
    expect((await api.graphql(activity, { org: organizationId }, outsider.accessToken)).body.data?.auditActivities.nodes).toEqual([]);
    const { rows } = await rootDb().query("select count(*)::int as n from audit.activity where organization_id = $1", [organizationId]);
    expect(rows[0].n).toBeGreaterThanOrEqual(2);
  });
});

describe("type registry", () => {
  it("is readable by signed-in users and written by operators only", async () => {
    const user = await registerUser(api, "regu");
    const code = `status-${process.pid}-${Date.now().toString(36)}`;
    const create = `mutation($input: CreateRegistryTypeInput!) { createRegistryType(input: $input) { registryType { namespace code isActive } } }`;
    const input = { registryType: { namespace: "gw_test_status", code, label: "A test status" } };
    expect(codesOf(await api.graphql(create, { input }, user.accessToken))).toEqual(["42501"]);
    const created = await api.graphql(create, { input }, adminToken);
    expect(created.body.data?.createRegistryType.registryType).toEqual({ namespace: "gw_test_status", code, isActive: true });
    const read = await api.graphql(
      `query($ns: String) { registryTypes(condition: { namespace: $ns }) { nodes { code label } } }`,
      { ns: "gw_test_status" },
      user.accessToken,
    );
    expect(read.body.data?.registryTypes.nodes).toContainEqual({ code, label: "A test status" });
    const anonymous = await api.graphql(`query { registryTypes { totalCount } }`);
    expect(codesOf(anonymous)).toEqual(["42501"]);
    await rootDb().query("delete from registry.types where namespace = 'gw_test_status' and code = $1", [code]);
  });
});

describe("audit log", () => {
  it("shows a user the entries of their own records, operators all of them, and verifies the chain for operators only", async () => {
    const user = await registerUser(api, "audu");
    const other = await registerUser(api, "audo");
    const entries = `query { auditChangeLogs(condition: { tableName: "users" }) { nodes { recordId action changedBy } } }`;
    const mine = (await api.graphql(entries, {}, user.accessToken)).body.data?.auditChangeLogs.nodes;
    expect(mine).toEqual([{ recordId: user.userId, action: "insert", changedBy: expect.any(String) }]);
    // Operators see every user's entries; asked by record, since the whole log can be longer than a default page (100).
    const byRecord = `query($id: String!) { auditChangeLogs(condition: { tableName: "users", recordId: $id }) { nodes { recordId action changedBy } } }`;
    const others = (await api.graphql(byRecord, { id: other.userId }, adminToken)).body.data?.auditChangeLogs.nodes;
    expect(others).toEqual([expect.objectContaining({ recordId: other.userId, action: "insert" })]);
    const hidden = (await api.graphql(byRecord, { id: other.userId }, user.accessToken)).body.data?.auditChangeLogs.nodes;
    expect(hidden).toEqual([]);

    const verify = `query { auditVerifyChain { nodes { auditId problem } } }`;
    expect(codesOf(await api.graphql(verify, {}, user.accessToken))).toEqual(["42501"]);
    const verified = await api.graphql(verify, {}, adminToken);
    expect(verified.body.errors).toBeUndefined();
    expect(verified.body.data?.auditVerifyChain.nodes).toEqual([]);
  });
});

describe("the operators' queries printed in docs/modules/outbox.md", () => {
  it("DeadLetters runs within the default limits (cost included)", async () => {
    const document = /```graphql\n(query DeadLetters \{[\s\S]*?\n\})\n/.exec(readMarkdown("docs/modules/outbox.md"))?.[1];
    expect(document, "the DeadLetters query is printed").toBeDefined();
    const result = await api.graphql(document!, {}, adminToken);
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data?.outboxDispatches.nodes).toBeInstanceOf(Array);
  });
});
