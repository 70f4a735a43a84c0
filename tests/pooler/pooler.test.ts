import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { createClient } from "graphql-ws";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { freePort } from "../../src/db/embedded.ts";
import { provisionDatabase } from "../../src/db/provision.ts";
import { withDatabase } from "../../src/db/urls.ts";
import { createTokenService } from "../../src/server/jwt.ts";
import { loadLocalSecrets } from "../../src/state.ts";
import { projectRoot } from "../../src/paths.ts";
import { testJwt } from "../helpers/api.ts";
import { probeTopic, untilLive } from "../helpers/realtime.ts";
import { useReceiver } from "../helpers/receiver.ts";
import { until } from "../helpers/until.ts";
import { createTestDatabase, type TestDatabaseHandle } from "../setup/testDatabase.ts";
import { startPgbouncer, type Pgbouncer } from "./pgbouncer.ts";
import { groundwork, type GroundworkProcess } from "./processes.ts";

/**
 * A pooled deployment (docs/scaling.md): PgBouncer in transaction pooling mode
 * in front of a fresh database; two `groundwork serve` and one `groundwork
 * worker` through it, with prepared statements off (subscriptions included:
 * their feed polls, it does not LISTEN), migrations on a direct connection.
 * Every process is a real one.
 */
const receiver = useReceiver();
const tokens = createTokenService(testJwt, testJwt.secret);
/** docs/operations.md#crash-recovery: 30 s stale + 10 s sweep + 2 s poll, rounded up to the documented bound. */
const recoveryBoundMs = 60_000;

let db: TestDatabaseHandle;
let bouncer: Pgbouncer;
let root: pg.Pool;
let stateDir: string;
const running: GroundworkProcess[] = [];

function deploymentEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: "test",
    GROUNDWORK_STATE_DIR: stateDir,
    DATABASE_URL: db.ownerUrl,
    AUTH_DATABASE_URL: bouncer.through(db.authenticatorUrl),
    WORKER_DATABASE_URL: bouncer.through(db.ownerUrl),
    DATABASE_PREPARED_STATEMENTS: "off",
    JWT_SECRET: testJwt.secret,
    JWT_ISSUER: testJwt.issuer,
    JWT_AUDIENCE: testJwt.audience,
    WORKER_CONCURRENCY: "4",
    DATABASE_POOL_SIZE: "8",
    ...extra,
  };
}

function start(command: string, extra: Record<string, string> = {}): GroundworkProcess {
  const process = groundwork(command, deploymentEnv(extra));
  running.push(process);
  return process;
}

async function serve(): Promise<{ process: GroundworkProcess; url: string }> {
  const port = await freePort();
  const process = start("serve", { PORT: String(port), HOST: "127.0.0.1" });
  return { process, url: `http://127.0.0.1:${port}` };
}

/** A user, a session and an access token, made as root (no mail round trip). */
async function signedIn(label: string): Promise<{ userId: string; token: string }> {
  const name = `${label}${randomBytes(4).toString("hex")}`;
  const { rows } = await root.query<{ user_id: string }>("insert into auth.users (username, email) values ($1, $2) returning user_id", [name, `${name}@example.com`]);
  const userId = rows[0]!.user_id;
  const { rows: sessions } = await root.query<{ session_id: string }>("select session_id from auth_private.create_development_session($1, 'gw_user', null)", [userId]);
  const { token } = await tokens.sign({ sub: userId, role: "gw_user", sid: sessions[0]!.session_id, org_id: null });
  return { userId, token };
}

async function graphql<D = Record<string, any>>(url: string, query: string, variables: Record<string, unknown> = {}, token?: string) {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: D; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(tmpdir(), "gw-pooler-state-"));
  db = await createTestDatabase("pooler");
  const secrets = await loadLocalSecrets(path.join(projectRoot, ".groundwork"));
  bouncer = await startPgbouncer(db.ownerUrl, { gw_owner: secrets.ownerPassword, gw_authenticator: secrets.authenticatorPassword });
  root = new pg.Pool({ connectionString: db.rootUrl, max: 4 });
  root.on("error", () => undefined);
  await root.query("insert into registry.types (namespace, code, label) values ('outbox_topic', 'test.ping', 'Test ping') on conflict do nothing");
});

afterAll(async () => {
  await Promise.all(running.map((process) => process.stop().catch(() => undefined)));
  await root?.end();
  await bouncer?.stop();
  await db?.drop();
  rmSync(stateDir, { recursive: true, force: true });
});

describe("the start-up check", () => {
  it("refuses a pooled connection while prepared statements are on, naming DATABASE_PREPARED_STATEMENTS=off", async () => {
    const refused = start("worker", { DATABASE_PREPARED_STATEMENTS: "on", MIGRATE_ON_START: "false" });
    const [code] = await new Promise<[number | null]>((resolve) => refused.child.once("exit", (exitCode) => resolve([exitCode])));
    expect(code).toBe(1);
    expect(refused.log()).toMatch(/WORKER_DATABASE_URL .*DATABASE_PREPARED_STATEMENTS=off/);
  });
});

describe("two API processes and a worker through PgBouncer (transaction pooling)", () => {
  let a: { process: GroundworkProcess; url: string };
  let b: { process: GroundworkProcess; url: string };
  let worker: GroundworkProcess;

  beforeAll(async () => {
    // All three start at once and migrate one after another (the migration lock).
    [a, b] = await Promise.all([serve(), serve()]);
    worker = start("worker");
    await Promise.all([a.process.waitFor(/API listening/), b.process.waitFor(/API listening/), worker.waitFor(/worker started/)]);
  });

  it("answers every request as its caller: two users and anonymous, spread over both processes", async () => {
    const alice = await signedIn("pa");
    const bob = await signedIn("pb");
    const callers = [
      { token: alice.token, expected: alice.userId },
      { token: bob.token, expected: bob.userId },
      { token: undefined, expected: null },
    ];
    const wrong: unknown[] = [];
    let next = 0;
    const total = 600;
    const lane = async () => {
      while (next < total) {
        const i = next++;
        const caller = callers[i % 3]!;
        const target = i % 2 === 0 ? a.url : b.url;
        const result = await graphql<{ currentUser: { userId: string } | null }>(target, "{ currentUser { userId } }", {}, caller.token);
        const got = result.data?.currentUser?.userId ?? null;
        if (result.errors || got !== caller.expected) wrong.push({ i, expected: caller.expected, got, errors: result.errors });
      }
    };
    await Promise.all(Array.from({ length: 16 }, lane));
    expect(wrong).toEqual([]);
  });

  it("leaves no session setting on the pooler's server connections (jit set per transaction)", async () => {
    const through = new pg.Pool({ connectionString: bouncer.through(db.authenticatorUrl), max: 4 });
    try {
      const values = await Promise.all(Array.from({ length: 12 }, async () => (await through.query<{ v: string }>("select current_setting('jit_optimize_above_cost') as v")).rows[0]!.v));
      // The server's own value (a direct session has it), never @dataplan/pg's -1 left behind by a request.
      const { rows } = await root.query<{ v: string }>("select boot_val as v from pg_settings where name = 'jit_optimize_above_cost'");
      expect(rows[0]!.v).not.toBe("-1");
      expect(new Set(values)).toEqual(new Set([rows[0]!.v]));
    } finally {
      await through.end();
    }
  });

  it("delivers a subscription event triggered through the other process, and the outbox webhook through the worker", async () => {
    const owner = await signedIn("po");
    const member = await signedIn("pm");
    const created = await graphql<{ createOrganization: { organization: { organizationId: string } } }>(
      a.url,
      "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId } } }",
      { input: { name: "Pooled", slug: `pooled-${randomBytes(4).toString("hex")}` } },
      owner.token,
    );
    expect(created.errors).toBeUndefined();
    const organizationId = created.data!.createOrganization.organization.organizationId;
    await root.query("insert into outbox.webhook_subscriptions (organization_id, url, topics) values ($1, $2, '{member.added}')", [organizationId, `${receiver.url}/hook`]);

    // The member listens on B.
    const client = createClient({ url: `${b.url.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${member.token}` }, retryAttempts: 0 });
    const events: Array<{ event: string; notification: { topic: string } | null }> = [];
    client.subscribe<{ notificationAdded: { event: string; notification: { topic: string } | null } }>(
      { query: "subscription { notificationAdded { event notification { topic } } }" },
      { next: (result) => result.data && events.push(result.data.notificationAdded), error: (error) => events.push({ event: `error ${JSON.stringify(error)}`, notification: null }), complete: () => undefined },
    );
    try {
      // The subscription is registered after the subscribe message: probe until a probe comes back.
      await untilLive(root, member.userId, () => events.some((event) => event.notification?.topic === probeTopic));
      // The owner adds the member through A.
      const added = await graphql(a.url, "mutation($input: AddMemberInput!) { addMember(input: $input) { membership { membershipId } } }", { input: { organizationId, userId: member.userId, role: "member" } }, owner.token);
      expect(added.errors).toBeUndefined();
      await until(async () => events.find((event) => event.notification?.topic === "member.added"), Boolean, { timeoutMs: 15_000, what: "member.added over the subscription on B" });
      const delivered = await receiver.waitFor((received) => received.some((r) => r.body.topic === "member.added" && r.body.organizationId === organizationId), 30_000);
      expect(delivered.length).toBeGreaterThan(0);
    } finally {
      await client.dispose();
    }
  });

  it(`recovers a SIGKILLed worker's jobs without an operator within the documented bound (${recoveryBoundMs / 1000} s)`, async () => {
    const { rows } = await root.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ('Crash', $1) returning organization_id", [`crash-${randomBytes(4).toString("hex")}`]);
    const organizationId = rows[0]!.organization_id;
    await root.query("insert into outbox.webhook_subscriptions (organization_id, url, topics) values ($1, $2, '{test.ping}')", [organizationId, `${receiver.url}/crash`]);
    // Slow answers keep deliveries in flight when the kill lands.
    receiver.respond = async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return 204;
    };
    try {
      const burst = 200;
      await root.query(
        `select outbox.publish('test.ping', jsonb_build_object('n', i), 'thing', 'crash-' || (i % 30), $1)
           from generate_series(1, $2) i`,
        [organizationId, burst],
      );
      const arrived = () => receiver.received.filter((r) => r.body.organizationId === organizationId).length;
      await receiver.waitFor(() => arrived() >= 20, 30_000);
      worker.child.kill("SIGKILL");
      const killedAt = Date.now();
      await new Promise((resolve) => worker.child.once("exit", resolve));
      const { rows: locked } = await root.query<{ n: number }>("select count(*)::int as n from graphile_worker.jobs where locked_by is not null");
      expect(locked[0]!.n, "the killed worker left jobs locked").toBeGreaterThan(0);

      worker = start("worker");
      await worker.waitFor(/worker started/);
      const pending = async () =>
        (await root.query<{ n: number }>("select count(*)::int as n from outbox.dispatches where organization_id = $1 and status <> 'delivered'", [organizationId])).rows[0]!.n;
      await until(pending, (n) => n === 0, { timeoutMs: recoveryBoundMs, intervalMs: 250, what: "every committed event delivered after the crash" });
      const recoveredMs = Date.now() - killedAt;
      console.log(`pooler: SIGKILL of the worker with jobs in flight → all ${burst} events delivered ${(recoveredMs / 1000).toFixed(1)} s later (restart included)`);
      expect(worker.log()).toMatch(/released \d+ jobs of worker pool pool-[0-9a-f]+, which stopped beating/);
    } finally {
      receiver.respond = () => 204;
    }
  });
});

describe("processes starting at once", () => {
  it("ten worker processes started together on a fresh database all come up (one migrates, the others wait)", async () => {
    const secrets = await loadLocalSecrets(path.join(projectRoot, ".groundwork"));
    const database = `gw_pooler10_${randomBytes(4).toString("hex")}`;
    const serverRoot = withDatabase(db.rootUrl, "postgres");
    await provisionDatabase({ rootUrl: serverRoot, database, ownerPassword: secrets.ownerPassword, authenticatorPassword: secrets.authenticatorPassword });
    const fresh = { DATABASE_URL: withDatabase(db.ownerUrl, database), WORKER_DATABASE_URL: bouncer.through(withDatabase(db.ownerUrl, database)) };
    const ten = Array.from({ length: 10 }, () => start("worker", fresh));
    try {
      await Promise.all(ten.map((process) => process.waitFor(/worker started/, 170_000)));
      const codes = await Promise.all(ten.map((process) => process.stop()));
      expect(codes).toEqual(Array(10).fill(0));
    } finally {
      await Promise.all(ten.map((process) => process.stop().catch(() => undefined)));
      const admin = new pg.Client({ connectionString: serverRoot });
      await admin.connect();
      await admin.query(`drop database if exists ${database} with (force)`);
      await admin.end();
    }
  });
});
