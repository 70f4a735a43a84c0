import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLogger } from "../../../src/logger.ts";
import { startWorker, type Worker } from "../../../src/worker/runner.ts";
import { Webhook } from "standardwebhooks";
import { signPayload, signStandard } from "../../../src/signature.ts";
import { defaultTaskOptions } from "../../../src/config.ts";
import { codesOf, registerWithRole, registerUser, useTestApi } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";
import { until } from "../../helpers/until.ts";

/**
 * POST /webhooks/:source end to end: Standard Webhooks signatures (made by the
 * standardwebhooks library, as a sender's would be), store-once, processing
 * by the worker (only inbox_process, so other files' jobs are left alone),
 * retries, dead letters and replay; issue 15's replays and relabelling.
 */
const api = useTestApi();
const policy = { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 200 };
const suffix = `${process.pid}`;
const schema = `gwtest_inbox_${suffix}`;
const sources = { recorded: `rec-${suffix}`, flaky: `flaky-${suffix}`, plain: `plain-${suffix}`, legacy: `legacy-${suffix}` };
const secrets: Record<string, string> = {};
let worker: Worker | undefined;
let counter = 0;

beforeAll(async () => {
  const root = rootDb();
  // Handlers run as gw_owner in the worker; created as it, so it owns them.
  await root.query(`
    set role gw_owner;
    create schema ${schema};
    create table ${schema}.effects (message_id bigint primary key, external_id text not null);
    alter table ${schema}.effects enable row level security;
    create table ${schema}.health (healthy boolean not null);
    alter table ${schema}.health enable row level security;
    insert into ${schema}.health values (false);
    create function ${schema}.record(m inbox.messages) returns void language sql
      as $$ insert into ${schema}.effects values (m.message_id, m.external_id) $$;
    create function ${schema}.flaky(m inbox.messages) returns void language plpgsql as $$
    begin
      if not (select healthy from ${schema}.health) then
        raise exception 'downstream unavailable';
      end if;
      insert into ${schema}.effects values (m.message_id, m.external_id);
    end $$;
    reset role;`);
  for (const [name, handler, legacy] of [
    [sources.recorded, `${schema}.record`, false],
    [sources.flaky, `${schema}.flaky`, false],
    [sources.plain, null, false],
    [sources.legacy, `${schema}.record`, true],
  ] as const) {
    const { rows } = await root.query<{ secret: string }>(
      "insert into inbox.sources (source, handler, accepts_legacy_signatures) values ($1, $2, $3) returning secret",
      [name, handler, legacy],
    );
    secrets[name] = rows[0]!.secret;
  }
  worker = await startWorker({
    ownerUrl: inject("testDatabase").ownerUrl,
    concurrency: 2,
    logger: createLogger(process.env.LOG_LEVEL ?? "silent", "inbox-test-worker"),
    tasks: { ...defaultTaskOptions, inbox: policy },
    only: ["inbox_process"],
  });
});

afterAll(async () => {
  await worker?.stop();
  await rootDb().query("delete from inbox.sources where source = any($1)", [Object.values(sources)]);
  await rootDb().query(`drop schema if exists ${schema} cascade`);
});

function send(source: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${api.url}/webhooks/${source}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

/** The error code of a failed /webhooks answer. */
async function codeOf(response: Response): Promise<string | undefined> {
  const body = (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
  return body.errors?.[0]?.extensions?.code;
}

/** Headers a Standard Webhooks sender puts on a message, made by the standardwebhooks library. */
function standardHeaders(secret: string, id: string, body: string, timestamp = new Date()) {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(id, timestamp, body),
  };
}

/** A message signed the Standard Webhooks way; its id is the webhook-id (the body's id, when it has one). */
function signed(source: string, payload: Record<string, unknown>, timestamp?: Date, id = String(payload.id ?? `msg-${++counter}`)) {
  const body = JSON.stringify(payload);
  return send(source, body, standardHeaders(secrets[source]!, id, body, timestamp));
}

async function countOf(source: string, externalId?: string): Promise<number> {
  const { rows } = await rootDb().query(
    "select count(*)::int as n from inbox.messages where source = $1 and ($2::text is null or external_id = $2)",
    [source, externalId ?? null],
  );
  return rows[0].n;
}

async function messageOf(source: string, externalId: string) {
  const { rows } = await rootDb().query<{ message_id: string; status: string; attempts: number; last_error: string | null }>(
    "select message_id, status, attempts, last_error from inbox.messages where source = $1 and external_id = $2",
    [source, externalId],
  );
  return rows[0];
}

async function effectsOf(externalId: string): Promise<number> {
  const { rows } = await rootDb().query(`select count(*)::int as n from ${schema}.effects where external_id = $1`, [externalId]);
  return rows[0].n;
}

const nextId = (label: string) => `${label}-${suffix}-${++counter}`;

describe("POST /webhooks/:source", () => {
  it("answers 404 for a source nobody configured", async () => {
    const response = await send(`nobody-${suffix}`, "{}", standardHeaders("x".repeat(32), "m-1", "{}"));
    expect(response.status).toBe(404);
    expect(await codeOf(response)).toBe("NOT_FOUND");
  });

  it("refuses a wrong or missing signature with 401 and stores nothing", async () => {
    const id = nextId("forged");
    const body = JSON.stringify({ id });
    const forged = await send(sources.recorded, body, standardHeaders(`whsec_${Buffer.from("not the secret at all!").toString("base64")}`, id, body));
    expect(forged.status).toBe(401);
    expect(await codeOf(forged)).toBe("UNAUTHENTICATED");
    const unsigned = await send(sources.recorded, body);
    expect(unsigned.status).toBe(401);
    expect(await codeOf(unsigned)).toBe("UNAUTHENTICATED");
    // Tampered body under a signature made for another body.
    const tampered = await send(sources.recorded, JSON.stringify({ id, amount: 1e6 }), standardHeaders(secrets[sources.recorded]!, id, body));
    expect(tampered.status).toBe(401);
    expect(await codeOf(tampered)).toBe("UNAUTHENTICATED");
    expect(await messageOf(sources.recorded, id)).toBeUndefined();
    const { rows } = await rootDb().query("select count(*)::int as n from inbox.sources where source = $1", [sources.recorded]);
    expect(rows[0].n).toBe(1);
  });

  it("refuses a correctly signed message whose timestamp is more than five minutes off", async () => {
    const id = nextId("stale");
    const response = await signed(sources.recorded, { id }, new Date(Date.now() - 600_000));
    expect(response.status).toBe(401);
    expect(await codeOf(response)).toBe("UNAUTHENTICATED");
    expect(await messageOf(sources.recorded, id)).toBeUndefined();
  });

  it("refuses a body that is not JSON, and a message without an id", async () => {
    const notJson = "not json";
    const bad = await send(sources.recorded, notJson, standardHeaders(secrets[sources.recorded]!, nextId("nj"), notJson));
    expect(bad.status).toBe(400);
    expect(await codeOf(bad)).toBe("BAD_REQUEST");
    const body = JSON.stringify({ type: "x" });
    const { "webhook-id": _id, ...withoutId } = standardHeaders(secrets[sources.recorded]!, "x", body);
    const noId = await send(sources.recorded, body, withoutId);
    expect(noId.status).toBe(401);
    expect(await codeOf(noId)).toBe("UNAUTHENTICATED");
    const legacyNoId = await send(sources.legacy, body, { "x-groundwork-signature": signPayload(secrets[sources.legacy]!, body) });
    expect(legacyNoId.status).toBe(400);
    expect(await codeOf(legacyNoId)).toBe("BAD_REQUEST");
  });

  it("stores a signed message, answers 200 at once, and the worker processes it once", async () => {
    const id = nextId("ok");
    const response = await signed(sources.recorded, { id, type: "payment.succeeded", amount: 42 });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "accepted" });
    const processed = await until(() => messageOf(sources.recorded, id), (m) => m?.status === "processed");
    expect(processed).toMatchObject({ status: "processed", attempts: 1 });
    expect(await effectsOf(id)).toBe(1);
  });

  it("acknowledges a redelivery without processing it again", async () => {
    const id = nextId("dup");
    const first = await signed(sources.recorded, { id });
    expect(await first.json()).toEqual({ status: "accepted" });
    await until(() => messageOf(sources.recorded, id), (m) => m?.status === "processed");
    // The same message id, a fresh signature and timestamp: still the same message.
    const again = await signed(sources.recorded, { id }, new Date(Date.now() + 2000));
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ status: "duplicate" });
    const { rows } = await rootDb().query("select count(*)::int as n from inbox.messages where source = $1 and external_id = $2", [
      sources.recorded,
      id,
    ]);
    expect(rows[0].n).toBe(1);
    expect(await effectsOf(id)).toBe(1);
  });

  it("marks messages of a source without a handler ignored", async () => {
    const id = nextId("plain");
    expect((await signed(sources.plain, { id })).status).toBe(200);
    expect(await until(() => messageOf(sources.plain, id), (m) => m?.status === "ignored")).toMatchObject({ status: "ignored" });
  });

  it("retries a failing handler, dead-letters it after the last attempt, and an operator replays it", async () => {
    const id = nextId("flaky");
    expect((await signed(sources.flaky, { id })).status).toBe(200);
    const dead = await until(() => messageOf(sources.flaky, id), (m) => m?.status === "dead");
    expect(dead).toMatchObject({ status: "dead", attempts: policy.maxAttempts });
    expect(dead!.last_error).toMatch(/^P0001/);
    expect(await effectsOf(id)).toBe(0);

    const adminToken = (await registerWithRole(api, "gw_admin", "inboxadm")).roleToken;
    const listed = await api.graphql(
      `query($source: String) { inboxMessages(condition: { status: "dead", source: $source }) { nodes { messageId externalId attempts } } }`,
      { source: sources.flaky },
      adminToken,
    );
    expect(listed.body.data?.inboxMessages.nodes).toContainEqual({ messageId: dead!.message_id, externalId: id, attempts: policy.maxAttempts });

    const user = await registerUser(api, "inboxusr");
    const refused = await api.graphql(
      `mutation($ids: [BigInt]) { inboxReplayMessages(input: { messageIds: $ids }) { replayedCount } }`,
      { ids: [dead!.message_id] },
      user.accessToken,
    );
    expect(codesOf(refused)).toEqual(["42501"]);

    const processed = await api.graphql(`query { inboxMessages(condition: { status: "processed" }) { totalCount } }`, {}, adminToken);
    const processedId = (await rootDb().query("select message_id from inbox.messages where status = 'processed' limit 1")).rows[0]?.message_id;
    expect(processed.body.data?.inboxMessages.totalCount).toBeGreaterThan(0);
    const notDead = await api.graphql(
      `mutation($ids: [BigInt]) { inboxReplayMessages(input: { messageIds: $ids }) { replayedCount } }`,
      { ids: [processedId] },
      adminToken,
    );
    expect(codesOf(notDead)).toEqual(["BADST"]);

    await rootDb().query(`update ${schema}.health set healthy = true`);
    const replayed = await api.graphql(
      `mutation($ids: [BigInt]) { inboxReplayMessages(input: { messageIds: $ids }) { replayedCount } }`,
      { ids: [dead!.message_id] },
      adminToken,
    );
    expect(replayed.body.data?.inboxReplayMessages.replayedCount).toBe(1);
    await until(() => messageOf(sources.flaky, id), (m) => m?.status === "processed");
    expect(await effectsOf(id)).toBe(1);
  });
});

describe("what decides a message is signed (issue 15)", () => {
  it("stores a captured request once, however many new ids it is replayed with", async () => {
    const id = nextId("captured");
    const body = JSON.stringify({ type: "wallet.funded", data: { amount: 500 } });
    const captured = standardHeaders(secrets[sources.recorded]!, id, body);
    expect((await send(sources.recorded, body, captured)).status).toBe(200);
    // Before: three new X-Groundwork-Event-Ids stored three more messages. Now
    // the id is inside the MAC: a new webhook-id fails the signature, and the
    // unsigned headers decide nothing.
    for (const replayedId of [nextId("replay"), nextId("replay"), nextId("replay")]) {
      const swapped = await send(sources.recorded, body, { ...captured, "webhook-id": replayedId });
      expect(swapped.status).toBe(401);
      expect(await codeOf(swapped)).toBe("UNAUTHENTICATED");
      const relabelled = await send(sources.recorded, body, { ...captured, "x-groundwork-event-id": replayedId, "idempotency-key": replayedId });
      expect(await relabelled.json()).toEqual({ status: "duplicate" });
    }
    expect(await countOf(sources.recorded, id)).toBe(1);
    const { rows } = await rootDb().query("select count(*)::int as n from inbox.messages where source = $1 and payload = $2::jsonb", [sources.recorded, body]);
    expect(rows[0].n).toBe(1);
    await until(() => messageOf(sources.recorded, id), (m) => m?.status === "processed");
    expect(await effectsOf(id)).toBe(1);
  });

  it("takes the topic from the signed body, never from a header", async () => {
    const id = nextId("topic");
    const body = JSON.stringify({ type: "payment.succeeded", data: { amount: 42 } });
    const response = await send(sources.recorded, body, { ...standardHeaders(secrets[sources.recorded]!, id, body), "x-groundwork-topic": "refund.created" });
    expect(response.status).toBe(200);
    const { rows } = await rootDb().query("select topic from inbox.messages where source = $1 and external_id = $2", [sources.recorded, id]);
    expect(rows).toEqual([{ topic: "payment.succeeded" }]);
  });

  it("accepts the legacy signature only from a source that opted in, with the id and topic of the signed body", async () => {
    const id = nextId("legacy");
    const body = JSON.stringify({ id, type: "payment.succeeded" });
    const legacy = { "x-groundwork-signature": signPayload(secrets[sources.legacy]!, body) };
    // A source that did not opt in refuses it, whatever the key.
    const refused = await send(sources.recorded, body, { "x-groundwork-signature": signPayload(secrets[sources.recorded]!, body) });
    expect(refused.status).toBe(401);
    expect(await countOf(sources.recorded, id)).toBe(0);
    expect(await (await send(sources.legacy, body, legacy)).json()).toEqual({ status: "accepted" });
    // Replayed with new ids and another topic in unsigned headers: the same message.
    for (const replayedId of [nextId("legacy-replay"), nextId("legacy-replay"), nextId("legacy-replay")]) {
      const again = await send(sources.legacy, body, { ...legacy, "x-groundwork-event-id": replayedId, "idempotency-key": replayedId, "x-groundwork-topic": "refund.created" });
      expect(await again.json()).toEqual({ status: "duplicate" });
    }
    const { rows } = await rootDb().query("select external_id, topic from inbox.messages where source = $1", [sources.legacy]);
    expect(rows).toEqual([{ external_id: id, topic: "payment.succeeded" }]);
  });

  it("answers a signed body holding \\u0000 with 400 and a code, so the sender stops retrying", async () => {
    const id = nextId("nul");
    const body = '{"type":"note","text":"a\\u0000b"}';
    const response = await send(sources.recorded, body, standardHeaders(secrets[sources.recorded]!, id, body));
    expect(response.status).toBe(400);
    expect(await codeOf(response)).toBe("22P05");
    expect(await countOf(sources.recorded, id)).toBe(0);
  });

  it("verifies what Groundwork's own signer makes, as the standardwebhooks library does", async () => {
    const id = nextId("interop");
    const body = JSON.stringify({ type: "interop" });
    const ours = signStandard(secrets[sources.recorded]!, id, body);
    expect(new Webhook(secrets[sources.recorded]!).verify(body, ours)).toEqual({ type: "interop" });
    expect((await send(sources.recorded, body, ours)).status).toBe(200);
  });
});
