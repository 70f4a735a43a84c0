import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/db/embedded.ts";
import { chooseLogFormat, formatRecord } from "../../src/logger.ts";
import { modules } from "../../src/modules.ts";
import { crontab } from "../../src/worker/crontab.ts";
import { projectRoot } from "../../src/paths.ts";
import { testJwt } from "../helpers/api.ts";
import { createTestDatabase, type TestDatabaseHandle } from "../setup/testDatabase.ts";

type Line = Record<string, any>;

describe("groundwork start's log (JSON, LOG_LEVEL=info)", () => {
  let db: TestDatabaseHandle;
  let lines: Line[] = [];
  let requestIds: string[] = [];

  beforeAll(async () => {
    // Its own database: the process runs a full worker (every task, the schedule).
    db = await createTestDatabase("logs");
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(projectRoot, "src", "bin.mjs"), "start"], {
      cwd: projectRoot,
      env: {
        ...process.env,
        NODE_ENV: "test",
        PORT: String(port),
        DATABASE_URL: db.ownerUrl,
        AUTH_DATABASE_URL: db.authenticatorUrl,
        JWT_SECRET: testJwt.secret,
        LOG_LEVEL: "info",
        LOG_FORMAT: "",
        RATE_LIMIT_PER_IP: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.stdout.resume();
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; !(await fetch(`${url}/healthz`).then((r) => r.ok, () => false)); i++) {
      if (i > 600 || child.exitCode !== null) throw new Error(`groundwork start did not come up:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const ask = async (body: Record<string, unknown>) => {
      const response = await fetch(`${url}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      await response.text();
      return response.headers.get("x-request-id")!;
    };
    requestIds = [await ask({ query: "query Greeting { __typename }" }), await ask({ query: "{ nope }" })];
    for (let i = 0; i < 5; i++) await fetch(`${url}/healthz`).then((r) => r.text());
    child.kill("SIGTERM");
    await exited;
    // Not a terminal: JSON, one object per line.
    lines = stderr.trim().split("\n").map((line) => JSON.parse(line) as Line);
  });
  afterAll(async () => {
    await db?.drop();
  });

  const info = () => lines.filter((line) => line.level === 30).map((line) => line.msg as string);

  it("says at start-up where the database is, what the migrations did, what the worker runs and where the API listens", () => {
    const url = new URL(db.ownerUrl);
    expect(info()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^database: PostgreSQL \\d+\\.\\d+.* at ${url.hostname}:${url.port || 5432}/${db.database} as gw_owner \\(DATABASE_URL\\)$`)),
        // A working copy (migrations/current/ not empty) also runs current/.
        expect.stringMatching(/^migrations: none to apply \(\d+ committed\)(; migrations\/current\/ run)?$/),
        `worker started: ${modules.flatMap((module) => module.tasks).length} tasks, ${crontab.split("\n").filter((line) => line.trim() !== "" && !line.trim().startsWith("#")).length} cron entries, 4 jobs at a time`,
        expect.stringMatching(/^API listening on http:\/\/127\.0\.0\.1:\d+\/graphql/),
      ]),
    );
    expect(JSON.stringify(lines)).not.toContain(db.ownerUrl.replace(/^.*:(.*)@.*$/, "$1"));
  });

  it("writes one info line per GraphQL request: method, operation, status, duration, request id", () => {
    const requests = lines.filter((line) => line.msg === "request" && line.path === "/graphql");
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({ level: 30, method: "POST", operationName: "Greeting", status: 200, requestId: requestIds[0] });
    expect(requests[0]!.ms).toEqual(expect.any(Number));
    expect(requests[1]).toMatchObject({ level: 30, method: "POST", status: 200, requestId: requestIds[1], errors: ["GRAPHQL_VALIDATION_FAILED"] });
  });

  it("keeps idle traffic out of info: health checks, and graphile-worker's routine lines", () => {
    expect(lines.filter((line) => line.msg === "request" && line.path === "/healthz" && line.level >= 30)).toEqual([]);
    expect(info().filter((msg) => /^(Worker connected|Completed task)/.test(msg))).toEqual([]);
    expect(info()).toEqual(expect.arrayContaining(["shut down cleanly"]));
  });
});

describe("readable log lines (LOG_FORMAT=pretty, the default on a terminal)", () => {
  const time = new Date(2026, 0, 2, 3, 4, 5, 67).getTime();

  it("are chosen on a terminal outside production, JSON otherwise, unless LOG_FORMAT says", () => {
    expect(chooseLogFormat("auto", "development", true)).toBe("pretty");
    expect(chooseLogFormat("auto", "development", false)).toBe("json");
    expect(chooseLogFormat("auto", "production", true)).toBe("json");
    expect(chooseLogFormat("json", "development", true)).toBe("json");
    expect(chooseLogFormat("pretty", "production", false)).toBe("pretty");
  });

  it("put time, level, component and message first, the other fields after", () => {
    const line = formatRecord({ level: 40, time, pid: 1, hostname: "h", name: "groundwork", component: "worker", msg: "dispatch 7 is dead", dispatchId: 7, topic: "member.added" });
    expect(line).toBe("03:04:05.067 WARN  [worker] dispatch 7 is dead  dispatchId=7 topic=member.added\n");
  });

  it("read the access log as a sentence", () => {
    const line = formatRecord({ level: 30, time, msg: "request", requestId: "r-1", method: "POST", path: "/graphql", status: 200, ms: 12, operationName: "Login", errors: ["CREDS"] });
    expect(line).toBe("03:04:05.067 INFO  POST /graphql Login 200 12 ms  requestId=r-1 errors=CREDS\n");
  });

  it("show an error's stack under its line", () => {
    const line = formatRecord({ level: 50, time, msg: "stopping the API", err: { type: "Error", message: "boom", stack: "Error: boom\n    at here" } });
    expect(line).toBe("03:04:05.067 ERROR stopping the API\n    Error: boom\n        at here\n");
  });
});
