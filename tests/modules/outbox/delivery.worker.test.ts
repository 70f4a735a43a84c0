import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLogger } from "../../../src/logger.ts";
import { startWorker, type Worker } from "../../../src/worker/runner.ts";
import type { HeartbeatTiming } from "../../../src/worker/heartbeat.ts";
import { defaultTaskOptions } from "../../../src/config.ts";
import { Webhook } from "standardwebhooks";
import { verifySignature, verifyStandard } from "../../../src/signature.ts";
import { codesOf, registerWithRole, registerUser, useTestApi } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";
import { until } from "../../helpers/until.ts";
import { useReceiver, type Received } from "../../helpers/receiver.ts";

/**
 * The outbox end to end: SQL publish → fan-out trigger → graphile-worker job →
 * signed HTTP POST to a local receiver. Only this file runs outbox_deliver
 * workers, so no other test's worker takes these jobs.
 */
const receiver = useReceiver();
const api = useTestApi();
const retryPolicy = { timeoutMs: 2_000, maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 400 };
let worker: Worker | undefined;
let organizationId = "";
let subscription = { id: "", secret: "" };
let tag = 0;

async function startDeliveryWorker(): Promise<Worker> {
  return startWorker({
    ownerUrl: inject("testDatabase").ownerUrl,
    concurrency: 4,
    logger: createLogger(process.env.LOG_LEVEL ?? "silent", "outbox-test-worker"),
    tasks: { ...defaultTaskOptions, webhooks: retryPolicy },
    only: ["outbox_deliver"],
  });
}

/** A marker no other test uses, carried in the payload so the receiver can tell events apart. */
const marker = (label: string) => `${label}-${process.pid}-${++tag}`;
const ofMarker = (value: string) => (request: Received) => request.body.data.marker === value;

async function publish(markerValue: string, aggregateId = markerValue): Promise<string> {
  const { rows } = await rootDb().query<{ event_id: string }>(
    "select outbox.publish('test.ping', jsonb_build_object('marker', $1::text), 'thing', $2, $3) as event_id",
    [markerValue, aggregateId, organizationId],
  );
  return rows[0]!.event_id;
}

async function dispatchOf(eventId: string) {
  const { rows } = await rootDb().query<{ dispatch_id: string; status: string; attempts: number }>(
    "select dispatch_id, status, attempts from outbox.dispatches where event_id = $1",
    [eventId],
  );
  return rows[0];
}

beforeAll(async () => {
  const root = rootDb();
  await root.query(
    "insert into registry.types (namespace, code, label) values ('outbox_topic', 'test.ping', 'Test ping') on conflict do nothing",
  );
  const slug = `outbox-${process.pid}`;
  const { rows } = await root.query<{ organization_id: string }>(
    "insert into auth.organizations (name, slug) values ('Outbox test', $1) returning organization_id",
    [slug],
  );
  organizationId = rows[0]!.organization_id;
  const created = await root.query<{ subscription_id: string; secret: string }>(
    "insert into outbox.webhook_subscriptions (organization_id, url, topics) values ($1, $2, '{test.ping}') returning subscription_id, secret",
    [organizationId, `${receiver.url}/hook`],
  );
  subscription = { id: created.rows[0]!.subscription_id, secret: created.rows[0]!.secret };
  worker = await startDeliveryWorker();
});

afterAll(async () => {
  await worker?.stop();
});

describe("outbox delivery", () => {
  it("publishes nothing from a rolled-back transaction", async () => {
    const rolledBack = marker("rolledback");
    const committed = marker("committed");
    const client = await rootDb().connect();
    try {
      await client.query("begin");
      await client.query("select outbox.publish('test.ping', jsonb_build_object('marker', $1::text), 'thing', $1, $2)", [
        rolledBack,
        organizationId,
      ]);
      await client.query("rollback");
    } finally {
      client.release();
    }
    await publish(committed);
    // The committed event published after it arrives, so the pipeline ran past the rolled-back one.
    await receiver.waitFor((received) => received.some(ofMarker(committed)));
    expect(receiver.received.filter(ofMarker(rolledBack))).toEqual([]);
    const { rows } = await rootDb().query("select count(*)::int as n from outbox.events where payload ->> 'marker' = $1", [rolledBack]);
    expect(rows[0].n).toBe(0);
  });

  it("delivers a committed event as JSON signed with the subscription's secret", async () => {
    const value = marker("signed");
    const eventId = await publish(value);
    const [request] = (await receiver.waitFor((received) => received.some(ofMarker(value)))).filter(ofMarker(value));
    expect(verifySignature(subscription.secret, request!.rawBody, request!.headers["x-groundwork-signature"] as string)).toBe(true);
    expect(verifySignature("another secret entirely", request!.rawBody, request!.headers["x-groundwork-signature"] as string)).toBe(false);
    // Standard Webhooks: the receiver's usual library verifies it as it is, and the id is signed.
    const standard = {
      "webhook-id": request!.headers["webhook-id"] as string,
      "webhook-timestamp": request!.headers["webhook-timestamp"] as string,
      "webhook-signature": request!.headers["webhook-signature"] as string,
    };
    expect(standard["webhook-id"]).toBe(eventId);
    expect(new Webhook(subscription.secret).verify(request!.rawBody, standard)).toMatchObject({ id: eventId });
    expect(() => new Webhook(subscription.secret).verify(request!.rawBody, { ...standard, "webhook-id": `${eventId}0` })).toThrow();
    expect(verifyStandard(subscription.secret, request!.rawBody, { id: standard["webhook-id"], timestamp: standard["webhook-timestamp"], signature: standard["webhook-signature"] })).toBe("ok");
    expect(request!.headers["x-groundwork-event-id"]).toBe(eventId);
    expect(request!.headers["idempotency-key"]).toBe(eventId);
    expect(request!.body).toMatchObject({ id: eventId, topic: "test.ping", organizationId, aggregate: { type: "thing", id: value } });
    const dispatch = await until(() => dispatchOf(eventId), (d) => d?.status === "delivered");
    expect(dispatch).toMatchObject({ status: "delivered", attempts: 1 });
    const { rows } = await rootDb().query("select attempt, status, http_status, latency_ms from outbox.deliveries where dispatch_id = $1", [
      dispatch!.dispatch_id,
    ]);
    expect(rows).toEqual([{ attempt: 1, status: "succeeded", http_status: 204, latency_ms: expect.any(Number) }]);
  });

  it("retries after 500s with growing delays, then succeeds", async () => {
    const value = marker("flaky");
    let failures = 0;
    receiver.respond = (request) => (request.body.data.marker === value && failures++ < 2 ? 500 : 204);
    try {
      const eventId = await publish(value);
      const dispatch = await until(() => dispatchOf(eventId), (d) => d?.status === "delivered");
      const { rows } = await rootDb().query<{ attempt: number; status: string; http_status: number; attempted_at: Date }>(
        "select attempt, status, http_status, attempted_at from outbox.deliveries where dispatch_id = $1 order by attempt",
        [dispatch!.dispatch_id],
      );
      expect(rows.map((row) => [row.attempt, row.status, row.http_status])).toEqual([
        [1, "failed", 500],
        [2, "failed", 500],
        [3, "succeeded", 204],
      ]);
      // Equal jitter: at least half of 100 ms, then of 200 ms.
      expect(rows[1]!.attempted_at.getTime() - rows[0]!.attempted_at.getTime()).toBeGreaterThanOrEqual(45);
      expect(rows[2]!.attempted_at.getTime() - rows[1]!.attempted_at.getTime()).toBeGreaterThanOrEqual(95);
    } finally {
      receiver.respond = () => 204;
    }
  });

  it("keeps the order of one aggregate's events when the first one is retried", async () => {
    const aggregate = marker("ordered");
    const values = [marker("first"), marker("second"), marker("third")];
    let failedFirst = false;
    receiver.respond = (request) => {
      if (request.body.data.marker === values[0] && !failedFirst) {
        failedFirst = true;
        return 503;
      }
      return 204;
    };
    try {
      const client = await rootDb().connect();
      try {
        // One transaction: all three are pending before the first attempt runs.
        await client.query("begin");
        for (const value of values) {
          await client.query("select outbox.publish('test.ping', jsonb_build_object('marker', $1::text), 'thing', $2, $3)", [
            value,
            aggregate,
            organizationId,
          ]);
        }
        await client.query("commit");
      } finally {
        client.release();
      }
      const received = await receiver.waitFor((all) => values.every((value) => all.some((r) => r.status === 204 && ofMarker(value)(r))));
      const accepted = received.filter((r) => r.status === 204 && values.includes(r.body.data.marker as string));
      expect(accepted.map((r) => r.body.data.marker)).toEqual(values);
      expect(failedFirst).toBe(true);
    } finally {
      receiver.respond = () => 204;
    }
  });

  it("dead-letters an event after the last attempt, and an operator replays it", async () => {
    const value = marker("dead");
    let healthy = false;
    receiver.respond = (request) => (request.body.data.marker === value && !healthy ? 500 : 204);
    try {
      const eventId = await publish(value);
      const dead = await until(() => dispatchOf(eventId), (d) => d?.status === "dead");
      expect(dead).toMatchObject({ status: "dead", attempts: retryPolicy.maxAttempts });

      const adminToken = (await registerWithRole(api, "gw_admin", "opsadm")).roleToken;

      const listed = await api.graphql(
        `query { outboxDispatches(condition: { status: "dead" }) { nodes { dispatchId eventId lastHttpStatus } } }`,
        {},
        adminToken,
      );
      expect(listed.body.errors).toBeUndefined();
      expect(listed.body.data?.outboxDispatches.nodes).toContainEqual({ dispatchId: dead!.dispatch_id, eventId, lastHttpStatus: 500 });

      // A plain user may neither list nor replay dead letters.
      const user = await registerUser(api, "opsusr");
      const hidden = await api.graphql(`query { outboxDispatches(condition: { status: "dead" }) { totalCount } }`, {}, user.accessToken);
      expect(hidden.body.data?.outboxDispatches.totalCount).toBe(0);
      const refused = await api.graphql(
        `mutation($ids: [BigInt]) { outboxReplayDeadLetters(input: { dispatchIds: $ids }) { replayedCount } }`,
        { ids: [dead!.dispatch_id] },
        user.accessToken,
      );
      expect(codesOf(refused)).toEqual(["42501"]);
      expect((await dispatchOf(eventId))!.status).toBe("dead");

      healthy = true;
      const replayed = await api.graphql(
        `mutation($ids: [BigInt]) { outboxReplayDeadLetters(input: { dispatchIds: $ids }) { replayedCount } }`,
        { ids: [dead!.dispatch_id] },
        adminToken,
      );
      expect(replayed.body.data?.outboxReplayDeadLetters.replayedCount).toBe(1);
      const delivered = await until(() => dispatchOf(eventId), (d) => d?.status === "delivered");
      expect(delivered).toMatchObject({ status: "delivered", attempts: 1 });
      expect(receiver.received.filter(ofMarker(value)).map((r) => r.status)).toEqual([500, 500, 500, 204]);
    } finally {
      receiver.respond = () => 204;
    }
  });

  /** A worker in a child process; resolves with it and its pool id once it takes jobs. */
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "worker-process.ts");
  const spawnWorker = async (heartbeat: HeartbeatTiming): Promise<{ child: ChildProcess; poolId: string }> => {
    const child = spawn(process.execPath, [script, inject("testDatabase").ownerUrl, "outbox_deliver"], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, GW_TEST_HEARTBEAT: `${heartbeat.beatMs},${heartbeat.sweepMs},${heartbeat.staleMs}` },
    });
    const [line] = (await Promise.race([
      once(child.stdout!, "data"),
      once(child, "exit").then(() => {
        throw new Error("worker process exited before it was ready");
      }),
    ])) as [Buffer];
    const poolId = /^ready (pool-[0-9a-f]+)/.exec(line.toString())?.[1];
    expect(poolId, "the worker process names its pool").toBeDefined();
    return { child, poolId: poolId! };
  };
  const lockedBy = async (poolId: string) =>
    (await rootDb().query<{ n: number }>("select count(*)::int as n from graphile_worker.jobs where locked_by = $1", [poolId])).rows[0]!.n;

  /** Publishes a burst over 30 streams; resolves once `inFlight` of them have arrived. */
  const burstOf = async (size: number, label: string) => {
    const values = Array.from({ length: size }, (_, i) => marker(`${label}${i}`));
    const set = new Set(values);
    await rootDb().query(
      `select outbox.publish('test.ping', jsonb_build_object('marker', m), 'thing', '${label}-' || (i % 30), $2)
         from unnest($1::text[]) with ordinality as t(m, i)`,
      [values, organizationId],
    );
    const arrived = () => new Set(receiver.received.filter((r) => set.has(r.body.data.marker as string)).map((r) => r.body.data.marker));
    const allDelivered = async () => {
      await receiver.waitFor(() => arrived().size === size, 60_000);
      // The receiver answers before the worker records the answer: wait for the last records.
      return until(
        async () =>
          (
            await rootDb().query<{ status: string; n: number }>(
              `select d.status, count(*)::int as n from outbox.dispatches d join outbox.events e using (event_id)
                where e.payload ->> 'marker' = any($1) group by d.status`,
              [values],
            )
          ).rows,
        (rows) => rows.length === 1 && rows[0]!.status === "delivered",
        { timeoutMs: 20_000, what: "every dispatch of the burst recorded as delivered" },
      );
    };
    return { arrived, allDelivered };
  };

  it("loses no event when a worker process is killed in the middle of a burst, and the next worker frees its jobs by itself", async () => {
    // This test owns the queue: stop the in-process worker, run them in child processes.
    await worker?.stop();
    worker = undefined;
    // Short heartbeats so the sweep happens within the test; the defaults give 30 s + 10 s.
    const heartbeat = { beatMs: 200, sweepMs: 500, staleMs: 2_000 };
    const burst = 300;
    // Slow answers keep deliveries in flight when the kill lands.
    receiver.respond = async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return 204;
    };
    const first = await spawnWorker(heartbeat);
    try {
      const { arrived, allDelivered } = await burstOf(burst, "burst");
      await receiver.waitFor(() => arrived().size >= 40);
      first.child.kill("SIGKILL");
      await once(first.child, "exit");
      expect(arrived().size).toBeLessThan(burst);
      // The killed pool still holds jobs (and their partitions' queues): nobody else may take them yet.
      expect(await lockedBy(first.poolId)).toBeGreaterThan(0);

      // No operator: the new worker's sweeper releases the dead pool's jobs once its heartbeat is stale.
      const second = await spawnWorker(heartbeat);
      try {
        expect(await allDelivered()).toEqual([{ status: "delivered", n: burst }]);
        expect(await lockedBy(first.poolId)).toBe(0);
        const { rows } = await rootDb().query("select pool_id from ops_private.worker_pools where pool_id = $1", [first.poolId]);
        expect(rows, "the dead pool is forgotten").toEqual([]);
      } finally {
        second.child.kill("SIGTERM");
        await once(second.child, "exit");
      }
    } finally {
      receiver.respond = () => 204;
      if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill("SIGKILL");
    }
  });

  it("leaves no lock when a worker process is stopped with SIGINT in the middle of a burst", async () => {
    await worker?.stop();
    worker = undefined;
    // Long heartbeats: nothing here may be released by a sweep, only by the stop itself.
    const heartbeat = { beatMs: 5_000, sweepMs: 600_000, staleMs: 600_000 };
    receiver.respond = async () => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      return 204;
    };
    try {
      for (let round = 0; round < 3; round++) {
        const running = await spawnWorker(heartbeat);
        const { arrived, allDelivered } = await burstOf(200, `sigint${round}-`);
        await receiver.waitFor(() => arrived().size >= 20 * (round + 1));
        running.child.kill("SIGINT");
        const [code] = await once(running.child, "exit");
        expect(code, "the worker stopped cleanly").toBe(0);
        expect(await lockedBy(running.poolId), "jobs locked by the stopped pool").toBe(0);
        const { rows } = await rootDb().query("select pool_id from ops_private.worker_pools where pool_id = $1", [running.poolId]);
        expect(rows, "a pool that stopped cleanly takes its heartbeat row away").toEqual([]);
        const next = await spawnWorker(heartbeat);
        try {
          expect((await allDelivered())[0]).toMatchObject({ status: "delivered" });
        } finally {
          next.child.kill("SIGTERM");
          await once(next.child, "exit");
        }
      }
    } finally {
      receiver.respond = () => 204;
    }
  });
});
