import { spawn } from "node:child_process";
import { request } from "node:http";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/db/embedded.ts";
import { projectRoot } from "../../src/paths.ts";
import { testJwt, testLimits, useTestApi } from "../helpers/api.ts";
import { until } from "../helpers/until.ts";
import { createTestDatabase, type TestDatabaseHandle } from "../setup/testDatabase.ts";
import { sleepPreset } from "./fixtures/sleep-plugin.ts";

/** One POST on a fresh connection (no keep-alive), so a refused connection is told apart from a dropped request. */
function post(url: string, query: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ query });
    const req = request(`${url}/graphql`, { method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    });
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end(body);
  });
}

describe("stopping the API", () => {
  const api = useTestApi({}, { limits: testLimits({ shutdownTimeoutMs: 5000 }), extraPresets: [sleepPreset] });
  const bounded = useTestApi({}, { limits: testLimits({ shutdownTimeoutMs: 300 }), extraPresets: [sleepPreset] });

  it("finishes in-flight requests, then refuses new connections", async () => {
    const url = api.url;
    // Plan the operation once first: planning is synchronous and would hold back the others.
    expect(await post(url, "{ testSleep(seconds: 0) }")).toMatchObject({ status: 200 });
    const inFlight = Array.from({ length: 12 }, () => post(url, "{ testSleep(seconds: 1) }"));
    await until(async () => api.api().inFlight(), (n) => n === 12, { timeoutMs: 900, what: "12 requests in flight" });
    const stopped = api.api().stop();
    await sleep(50);
    expect(await post(url, "{ __typename }")).toEqual({ error: "ECONNREFUSED" });
    for (const result of await Promise.all(inFlight)) {
      expect(result).toMatchObject({ status: 200 });
      expect(JSON.parse((result as { body: string }).body).data.testSleep).toBe(1);
    }
    await stopped;
  });

  it("stops waiting after the shutdown timeout", async () => {
    expect(await post(bounded.url, "{ testSleep(seconds: 0) }")).toMatchObject({ status: 200 });
    const slow = post(bounded.url, "{ testSleep(seconds: 3) }");
    await until(async () => bounded.api().inFlight(), (n) => n === 1, { timeoutMs: 900, what: "1 request in flight" });
    const started = Date.now();
    await bounded.api().stop();
    expect(Date.now() - started).toBeLessThan(2500);
    expect(await slow).toHaveProperty("error");
  });
});

describe("groundwork serve on SIGTERM under load", () => {
  let db: TestDatabaseHandle;
  beforeAll(async () => {
    // Its own database: the process applies migrations when it starts.
    db = await createTestDatabase("shutdown");
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("stops accepting, answers every request it accepted, and exits 0", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(projectRoot, "src", "cli.ts"), "serve"], {
      env: {
        ...process.env,
        NODE_ENV: "test",
        PORT: String(port),
        DATABASE_URL: db.ownerUrl,
        AUTH_DATABASE_URL: db.authenticatorUrl,
        ROOT_DATABASE_URL: db.rootUrl,
        JWT_SECRET: testJwt.secret,
        LOG_LEVEL: "info",
        RATE_LIMIT_PER_IP: "0",
        SHUTDOWN_TIMEOUT_MS: "5000",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    child.stderr.on("data", (chunk) => (log += chunk));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    await until(() => post(url, "{ __typename }"), (result) => "status" in result, { timeoutMs: 30_000, intervalMs: 100 }).catch((error: Error) => {
      throw new Error(`server did not start: ${error.message}\n${log}`);
    });
    let stop = false;
    let signalledAt = 0;
    const results: Array<{ status: number } | { error: string; at: number }> = [];
    const worker = async () => {
      while (!stop) {
        const result = await post(url, "{ organizations(first: 20) { totalCount nodes { name } } }");
        results.push("error" in result ? { ...result, at: Date.now() } : result);
        if ("error" in result) await sleep(20);
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    await sleep(1000);
    signalledAt = Date.now();
    child.kill("SIGTERM");
    const code = await exited;
    stop = true;
    await Promise.all(workers);

    expect(code).toBe(0);
    expect(log).toContain("shut down cleanly");
    const answered = results.filter((r): r is { status: number } => "status" in r);
    expect(answered.length).toBeGreaterThan(16);
    expect(answered.every((r) => r.status === 200)).toBe(true);
    const failed = results.filter((r): r is { error: string; at: number } => "error" in r);
    // Only connections made after SIGTERM fail: refused, or reset while still waiting in the
    // kernel's accept queue when the listening socket closed. Requests the server took all got 200.
    expect(failed.every((f) => f.error === "ECONNREFUSED" || f.error === "ECONNRESET")).toBe(true);
    expect(failed.every((f) => f.at >= signalledAt)).toBe(true);
  });
});
