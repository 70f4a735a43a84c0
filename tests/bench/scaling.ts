import { createServer } from "node:http";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { freePort } from "../../src/db/embedded.ts";
import { loadLocalSecrets } from "../../src/state.ts";
import { projectRoot } from "../../src/paths.ts";
import type { TestDatabase } from "../setup/testDatabase.ts";
import { startPgbouncer } from "../pooler/pgbouncer.ts";
import { groundwork, type GroundworkProcess } from "../pooler/processes.ts";
import { cannon, type CannonFigures } from "./api.ts";
import { benchSecret, groundworkEnv, mineQuery, seed, startServer, type ServerProcess } from "./apiSetup.ts";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

export interface PooledBench {
  seconds: number;
  rounds: number;
  connections: number;
  /** One `groundwork serve`, direct connections: the baseline. */
  direct: CannonFigures;
  /** One `groundwork serve` through PgBouncer (transaction pooling, prepared statements off). */
  pooledOne: CannonFigures;
  /** Two `groundwork serve` through PgBouncer, half the connections each; req/s summed. */
  pooledTwo: { requestsPerSecond: number; p50Ms: number; p99Ms: number; non2xx: number; errors: number };
  pooledOneRatio: number;
  pooledTwoRatio: number;
}

/**
 * The API bench's query ("own memberships, first 20, with their organization"),
 * 32 connections: one process on direct connections against one and two
 * processes through PgBouncer. Rounds alternate the three; medians are reported.
 */
export async function benchPooled(db: TestDatabase, { seconds = 10, rounds = 3, warmupSeconds = 5, users = 50, connections = 32 } = {}): Promise<PooledBench> {
  const { users: seeded } = await seed(db, users);
  const tokens = seeded.map((u) => u.token);
  const secrets = await loadLocalSecrets(path.join(projectRoot, ".groundwork"));
  const bouncer = await startPgbouncer(db.ownerUrl, { gw_owner: secrets.ownerPassword, gw_authenticator: secrets.authenticatorPassword });
  const off = { RATE_LIMIT_PER_IP: "0", RATE_LIMIT_PER_USER: "0", RATE_LIMIT_SIGN_IN_PER_IP: "0" };
  const pooledEnv = groundworkEnv(db, {
    ...off,
    AUTH_DATABASE_URL: bouncer.through(db.authenticatorUrl),
    DATABASE_PREPARED_STATEMENTS: "off",
    MIGRATE_ON_START: "false",
  });
  const servers: ServerProcess[] = [];
  try {
    const direct = await startServer("src/cli.ts", ["serve"], groundworkEnv(db, off), "/healthz");
    servers.push(direct);
    const p1 = await startServer("src/cli.ts", ["serve"], pooledEnv, "/healthz");
    servers.push(p1);
    const p2 = await startServer("src/cli.ts", ["serve"], pooledEnv, "/healthz");
    servers.push(p2);
    const body = () => JSON.stringify({ query: mineQuery });
    const run = (server: ServerProcess, s: number, clients = connections) => cannon(server.url, { path: "/graphql", body, tokens, seconds: s, connections: clients, server });
    const runTwo = async (s: number) => {
      const [x, y] = await Promise.all([run(p1, s, connections / 2), run(p2, s, connections / 2)]);
      return {
        requestsPerSecond: x.requestsPerSecond + y.requestsPerSecond,
        p50Ms: Math.max(x.p50Ms, y.p50Ms),
        p99Ms: Math.max(x.p99Ms, y.p99Ms),
        non2xx: x.non2xx + y.non2xx,
        errors: x.errors + y.errors,
      };
    };
    await run(direct, warmupSeconds);
    await runTwo(warmupSeconds);
    const results: Array<{ direct: CannonFigures; one: CannonFigures; two: PooledBench["pooledTwo"] }> = [];
    for (let round = 0; round < rounds; round++) {
      const d = await run(direct, seconds);
      const one = await run(p1, seconds);
      const two = await runTwo(seconds);
      results.push({ direct: d, one, two });
    }
    const middle = [...results].sort((a, b) => a.two.requestsPerSecond / a.direct.requestsPerSecond - b.two.requestsPerSecond / b.direct.requestsPerSecond)[Math.floor((rounds - 1) / 2)]!;
    return {
      seconds,
      rounds,
      connections,
      direct: middle.direct,
      pooledOne: middle.one,
      pooledTwo: middle.two,
      pooledOneRatio: median(results.map((r) => r.one.requestsPerSecond / r.direct.requestsPerSecond)),
      pooledTwoRatio: median(results.map((r) => r.two.requestsPerSecond / r.direct.requestsPerSecond)),
    };
  } finally {
    for (const server of servers) await server.stop();
    await bouncer.stop();
  }
}

/** A webhook receiver that answers after `delayMs`. */
async function slowReceiver(delayMs: number) {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => setTimeout(() => res.writeHead(204).end(), delayMs));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, close: () => server.close() };
}

async function subscribe(root: pg.Pool, hook: string): Promise<string> {
  await root.query("insert into registry.types (namespace, code, label) values ('outbox_topic', 'test.ping', 'Test ping') on conflict do nothing");
  const { rows } = await root.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ('Recovery', 'recovery-' || gen_random_uuid()) returning organization_id");
  const org = rows[0]!.organization_id;
  await root.query("insert into outbox.webhook_subscriptions (organization_id, url, topics) values ($1, $2, '{test.ping}')", [org, hook]);
  return org;
}

const publish = (root: pg.Pool, org: string, events: number) =>
  root.query("select outbox.publish('test.ping', jsonb_build_object('n', i), 'thing', 'r-' || (i % 30), $1) from generate_series(1, $2) i", [org, events]);
const undelivered = async (root: pg.Pool, org: string) =>
  (await root.query<{ n: number }>("select count(*)::int as n from outbox.dispatches where organization_id = $1 and status <> 'delivered'", [org])).rows[0]!.n;

async function untilDelivered(root: pg.Pool, org: string, timeoutMs: number): Promise<boolean> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if ((await undelivered(root, org).catch(() => -1)) === 0) return true;
    await sleep(100);
  }
  return false;
}

export interface RecoveryRun {
  /** From the signal to every event of the burst delivered, the restart included. */
  ms: number;
  delivered: boolean;
}

export interface RecoveryBench {
  events: number;
  /** Separate `groundwork worker` processes on a direct connection: one killed, a new one started. */
  multi: { graceful: RecoveryRun; killed: RecoveryRun; ratio: number };
  /** `groundwork start` with its embedded PostgreSQL, the whole process group stopped, then started again. */
  embedded: { graceful: RecoveryRun; killed: RecoveryRun; ratio: number };
}

/**
 * Recovery after SIGKILL with jobs in flight, against a graceful stop (SIGTERM)
 * of the same setup in the same run: a burst of outbox events to a slow
 * receiver, the worker stopped once 10 % have arrived, a new one started at
 * once; the time from the signal until every event is delivered.
 */
export async function benchRecovery(db: TestDatabase, { events = 300 } = {}): Promise<RecoveryBench> {
  const receiver = await slowReceiver(20);
  try {
    // Several worker processes, one of which dies.
    const root = new pg.Pool({ connectionString: db.rootUrl, max: 3 });
    root.on("error", () => undefined);
    const multiRun = async (signal: NodeJS.Signals): Promise<RecoveryRun> => {
      const org = await subscribe(root, receiver.url);
      const env = groundworkEnv(db, { LOG_LEVEL: "info", LOG_FORMAT: "json", MIGRATE_ON_START: "false" });
      const first = groundwork("worker", env);
      await first.waitFor(/worker started/);
      await publish(root, org, events);
      while ((await undelivered(root, org)) > events * 0.9) await sleep(20);
      first.child.kill(signal);
      const at = Date.now();
      await once(first.child, "exit");
      const second = groundwork("worker", env);
      try {
        await second.waitFor(/worker started/);
        const delivered = await untilDelivered(root, org, 120_000);
        return { ms: Date.now() - at, delivered };
      } finally {
        await second.stop();
      }
    };
    const multiGraceful = await multiRun("SIGTERM");
    const multiKilled = await multiRun("SIGKILL");
    await root.end();

    // One process with its embedded PostgreSQL: the whole group dies.
    const stateDir = mkdtempSync(path.join(tmpdir(), "gw-recovery-"));
    const port = await freePort();
    const env = { NODE_ENV: "test", GROUNDWORK_STATE_DIR: stateDir, EMBEDDED_PG_PORT: String(port), PORT: String(await freePort()), HOST: "127.0.0.1", JWT_SECRET: benchSecret, DATABASE_URL: "", AUTH_DATABASE_URL: "", ROOT_DATABASE_URL: "" };
    const startDetached = (): GroundworkProcess => groundwork("start", env);
    try {
      let current = startDetached();
      await current.waitFor(/API listening/);
      const secrets = JSON.parse(readFileSync(path.join(stateDir, "secrets.json"), "utf8")) as { postgresPassword: string };
      const rootUrl = `postgres://postgres:${encodeURIComponent(secrets.postgresPassword)}@127.0.0.1:${port}/groundwork`;
      const embeddedRun = async (signal: NodeJS.Signals): Promise<RecoveryRun> => {
        const embeddedRoot = new pg.Pool({ connectionString: rootUrl, max: 2 });
        embeddedRoot.on("error", () => undefined);
        const org = await subscribe(embeddedRoot, receiver.url);
        await publish(embeddedRoot, org, events);
        while ((await undelivered(embeddedRoot, org)) > events * 0.9) await sleep(20);
        const pids = [current.child.pid!, ...(await postmasterPids(stateDir))];
        if (signal === "SIGKILL") for (const pid of pids) process.kill(pid, "SIGKILL");
        else current.child.kill(signal);
        const at = Date.now();
        await embeddedRoot.end();
        if (current.child.exitCode === null && current.child.signalCode === null) await once(current.child, "exit");
        // A killed postmaster's children notice and exit within moments; the next start recovers the cluster.
        await sleep(signal === "SIGKILL" ? 500 : 0);
        current = startDetached();
        await current.waitFor(/API listening/);
        const after = new pg.Pool({ connectionString: rootUrl, max: 2 });
        after.on("error", () => undefined);
        try {
          const delivered = await untilDelivered(after, org, 120_000);
          return { ms: Date.now() - at, delivered };
        } finally {
          await after.end();
        }
      };
      const embeddedGraceful = await embeddedRun("SIGTERM");
      const embeddedKilled = await embeddedRun("SIGKILL");
      await current.stop();
      return {
        events,
        multi: { graceful: multiGraceful, killed: multiKilled, ratio: multiKilled.ms / multiGraceful.ms },
        embedded: { graceful: embeddedGraceful, killed: embeddedKilled, ratio: embeddedKilled.ms / embeddedGraceful.ms },
      };
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  } finally {
    receiver.close();
  }
}

/** The embedded postmaster's pid, from its postmaster.pid. */
async function postmasterPids(stateDir: string): Promise<number[]> {
  try {
    const first = readFileSync(path.join(stateDir, "pgdata", "postmaster.pid"), "utf8").split("\n")[0];
    return first ? [Number(first)] : [];
  } catch {
    return [];
  }
}
