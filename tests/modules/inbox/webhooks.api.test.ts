import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLogger } from "../../../src/logger.ts";
import { startWorker, type Worker } from "../../../src/worker/runner.ts";
import { signPayload } from "../../../src/signature.ts";
import { defaultTaskOptions } from "../../../src/config.ts";
import { codesOf, registerWithRole, registerUser, useTestApi } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";
import { until } from "../../helpers/until.ts";

/**
 * POST /webhooks/:source end to end: signature check, store-once, processing
 * by the worker (only inbox_process, so other files' jobs are left alone),
 * retries, dead letters and replay.
 */
const api = useTestApi();
const policy = { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 200 };
const suffix = `${process.pid}`;
const schema = `gwtest_inbox_${suffix}`;
const sources = { recorded: `rec-${suffix}`, flaky: `flaky-${suffix}`, plain: `plain-${suffix}` };
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
  for (const [name, handler] of [
    [sources.recorded, `${schema}.record`],
    [sources.flaky, `${schema}.flaky`],
    [sources.plain, null],
  ] as const) {
    const { rows } = await root.query<{ secret: string }>(
      "insert into inbox.sources (source, handler) values ($1, $2) returning secret",
      [name, handler],
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

function signed(source: string, payload: Record<string, unknown>, timestamp?: number) {
  const body = JSON.stringify(payload);
  return send(source, body, { "x-groundwork-signature": signPayload(secrets[source]!, body, timestamp) });
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
    const response = await send(`nobody-${suffix}`, "{}", { "x-groundwork-signature": signPayload("x".repeat(32), "{}") });
    expect(response.status).toBe(404);
    expect(await codeOf(response)).toBe("NOT_FOUND");
  });

  it("refuses a wrong or missing signature with 401 and stores nothing", async () => {
    const id = nextId("forged");
    const body = JSON.stringify({ id });
    const forged = await send(sources.recorded, body, { "x-groundwork-signature": signPayload("not the secret at all!", body) });
    expect(forged.status).toBe(401);
    expect(await codeOf(forged)).toBe("UNAUTHENTICATED");
    const unsigned = await send(sources.recorded, body);
    expect(unsigned.status).toBe(401);
    expect(await codeOf(unsigned)).toBe("UNAUTHENTICATED");
    // Tampered body under a signature made for another body.
    const tampered = await send(sources.recorded, JSON.stringify({ id, amount: 1e6 }), {
      "x-groundwork-signature": signPayload(secrets[sources.recorded]!, body),
    });
    expect(tampered.status).toBe(401);
    expect(await codeOf(tampered)).toBe("UNAUTHENTICATED");
    expect(await messageOf(sources.recorded, id)).toBeUndefined();
    const { rows } = await rootDb().query("select count(*)::int as n from inbox.sources where source = $1", [sources.recorded]);
    expect(rows[0].n).toBe(1);
  });

  it("refuses a correctly signed message whose timestamp is more than five minutes off", async () => {
    const id = nextId("stale");
    const response = await signed(sources.recorded, { id }, Math.floor(Date.now() / 1000) - 600);
    expect(response.status).toBe(401);
    expect(await codeOf(response)).toBe("UNAUTHENTICATED");
    expect(await messageOf(sources.recorded, id)).toBeUndefined();
  });

  it("refuses a body that is not JSON, and one without an id", async () => {
    const notJson = "not json";
    const bad = await send(sources.recorded, notJson, { "x-groundwork-signature": signPayload(secrets[sources.recorded]!, notJson) });
    expect(bad.status).toBe(400);
    expect(await codeOf(bad)).toBe("BAD_REQUEST");
    const noId = await signed(sources.recorded, { type: "x" });
    expect(noId.status).toBe(400);
    expect(await codeOf(noId)).toBe("BAD_REQUEST");
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
    // The same message id through the header, and a fresh signature: still the same message.
    const again = await send(sources.recorded, JSON.stringify({ id }), {
      "x-groundwork-signature": signPayload(secrets[sources.recorded]!, JSON.stringify({ id })),
      "x-groundwork-event-id": id,
    });
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
