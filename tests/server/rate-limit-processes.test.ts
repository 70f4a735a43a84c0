import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/db/embedded.ts";
import { projectRoot } from "../../src/paths.ts";
import { maxChunk } from "../../src/server/quotas.ts";
import { testJwt } from "../helpers/api.ts";
import { rootDb } from "../helpers/db.ts";
import { until } from "../helpers/until.ts";

// Issue 24: two real API processes (`groundwork serve`) on one database, each
// spending rate-limit budgets from chunks it reserved there. Every client has
// its own address (X-Forwarded-For, trusted from loopback), so cases never
// share a budget, and windows of an hour, so none straddles two.
const limit = 2000;
const signInLimit = 20;
const margin = maxChunk(limit);

interface Server {
  url: string;
  child: ChildProcess;
  log(): string;
  exited: Promise<number | null>;
}

async function serve(): Promise<Server> {
  const db = inject("testDatabase");
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(projectRoot, "src", "cli.ts"), "serve"], {
    cwd: projectRoot,
    env: {
      ...process.env,
      NODE_ENV: "test",
      PORT: String(port),
      DATABASE_URL: db.ownerUrl,
      AUTH_DATABASE_URL: db.authenticatorUrl,
      ROOT_DATABASE_URL: db.rootUrl,
      // The test database is migrated already, and other test files use it meanwhile.
      MIGRATE_ON_START: "false",
      JWT_SECRET: testJwt.secret,
      LOG_LEVEL: "warn",
      TRUST_PROXY: "loopback",
      RATE_LIMIT_WINDOW_SECONDS: "3600",
      RATE_LIMIT_PER_IP: String(limit),
      RATE_LIMIT_PER_USER: "0",
      RATE_LIMIT_SIGN_IN_PER_IP: String(signInLimit),
      RATE_LIMIT_SIGN_IN_WINDOW_SECONDS: "3600",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (chunk) => (log = (log + chunk).slice(-8000)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  await until(
    () => fetch(`${url}/healthz`).then((response) => response.ok || child.exitCode !== null, () => child.exitCode !== null),
    (ready) => ready,
    { timeoutMs: 60_000, intervalMs: 100 },
  ).catch((error: Error) => {
    throw new Error(`groundwork serve did not start: ${error.message}\n${log}`);
  });
  if (child.exitCode !== null) throw new Error(`groundwork serve exited (${child.exitCode}):\n${log}`);
  return { url, child, log: () => log, exited };
}

interface Answer {
  status: number;
  codes: string[];
}

async function post(server: Server, ip: string, query: string): Promise<Answer> {
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", "x-forwarded-for": ip },
    body: JSON.stringify({ query }),
  });
  const payload = (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
  return { status: response.status, codes: (payload.errors ?? []).map((error) => error.extensions?.code ?? "") };
}

/** `total` requests from `ip`, `concurrency` at a time, each to the server `pick` names (round robin by default). */
async function drive(servers: Server[], ip: string, total: number, concurrency: number, query = "{ __typename }"): Promise<Answer[]> {
  const answers: Answer[] = [];
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const n = next++;
      answers.push(await post(servers[n % servers.length]!, ip, query));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return answers;
}

const admittedIn = (answers: Answer[]) => answers.filter((answer) => answer.status === 200).length;

async function reservationsOf(server: Server): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/^groundwork_rate_limit_reservations_total (\S+)$/m.exec(text)?.[1] ?? NaN);
}

async function reservedFor(key: string): Promise<number | undefined> {
  const { rows } = await rootDb().query<{ reserved: number }>("select reserved from ops_private.rate_limit_reservations where key = $1", [key]);
  return rows[0]?.reserved;
}

let clients = 0;
const freshIp = () => `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${++clients}`;

let a: Server;
let b: Server;
beforeAll(async () => {
  [a, b] = await Promise.all([serve(), serve()]);
}, 120_000);
afterAll(async () => {
  for (const server of [a, b]) {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  }
});

describe("rate limits across two API processes on one database (reserved chunks, no write per request)", () => {
  it(`admits at most the limit (${limit}) from one client spread over both processes, and at least the limit less one chunk (${margin})`, async () => {
    const ip = freshIp();
    const before = (await reservationsOf(a)) + (await reservationsOf(b));
    const answers = await drive([a, b], ip, limit + 600, 16);
    const reservations = (await reservationsOf(a)) + (await reservationsOf(b)) - before;
    const admitted = admittedIn(answers);
    const refused = answers.filter((answer) => answer.status === 429);
    console.info(`two processes, per-IP limit ${limit}: ${admitted} of ${answers.length} admitted, ${reservations} reservation round trips`);
    expect(admitted).toBeLessThanOrEqual(limit);
    expect(admitted).toBeGreaterThanOrEqual(limit - margin);
    expect(refused.length).toBe(answers.length - admitted);
    expect(refused.every((answer) => answer.codes.join() === "RATE_LIMITED")).toBe(true);
    // The database never granted more than the limit, and was asked far less often than once a request.
    expect(await reservedFor(`ip:${ip}`)).toBe(limit);
    expect(reservations).toBeLessThan(answers.length / 10);
  });

  it(`holds sign-in attempts to exactly ${signInLimit} per IP across both processes, however they interleave`, async () => {
    const ip = freshIp();
    const login = `mutation { login(input: { identifier: "nobody-${randomUUID()}", password: "not the password 1" }) { accessToken } }`;
    const answers = await drive([a, b], ip, signInLimit + 6, 8, login);
    // Each attempt that reached auth.login answers CREDS (the account does not exist).
    const attempts = answers.filter((answer) => answer.codes.includes("CREDS")).length;
    console.info(`two processes, sign-in limit ${signInLimit}: ${attempts} attempts of ${answers.length} reached auth.login`);
    expect(attempts).toBe(signInLimit);
    expect(answers.filter((answer) => answer.codes.join() === "RATE_LIMITED").length).toBe(6);
    expect(await reservedFor(`signin:${ip}`)).toBe(signInLimit);
  });

  it("loses at most the unspent chunk of a process that dies: the other admits the rest, never more than the limit", async () => {
    const ip = freshIp();
    const first = await drive([a, b], ip, 600, 8);
    a.child.kill("SIGKILL");
    await a.exited;
    const rest: Answer[] = [];
    // The survivor alone, until it refuses.
    while (rest.length < limit + 100 && !rest.some((answer) => answer.status === 429)) rest.push(...(await drive([b], ip, 50, 8)));
    const admitted = admittedIn(first) + admittedIn(rest);
    console.info(`two processes, one killed after 600 requests: ${admitted} admitted in all (limit ${limit})`);
    expect(admittedIn(first)).toBe(600);
    expect(admitted).toBeLessThanOrEqual(limit);
    expect(admitted).toBeGreaterThanOrEqual(limit - margin);
  });
});
