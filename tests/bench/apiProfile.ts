/**
 * `npm run bench:profile`: where the API bench's request spends Groundwork's
 * CPU (issue 24). Starts `groundwork serve` in production mode with rate
 * limits on (as tests/bench/api.ts's third server) under the inspector, drives
 * the bench's query (own memberships, first 20 + organization, 32
 * connections, 50 users) for a warm-up, then records a CPU profile of the
 * steady state only (Profiler.start/stop over the inspector protocol), and
 * sorts the server's busy time (idle excluded) by where it ran: our code
 * (by file), PostGraphile's engine (grafast, @dataplan/pg, pg-sql2, grafserv,
 * graphql-js), pg, express and its middleware, JSON, sockets, GC.
 *
 * PROFILE_SECONDS (default 15), PROFILE_WARMUP_SECONDS (10),
 * PROFILE_RATE_LIMITS=off, PROFILE_OUT (a path to keep the .cpuprofile).
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import WebSocket from "ws";
import { freePort } from "../../src/db/embedded.ts";
import { projectRoot } from "../../src/paths.ts";
import { createTestDatabase } from "../setup/testDatabase.ts";
import { cannon } from "./api.ts";
import { groundworkEnv, mineQuery, seed, startServer } from "./apiSetup.ts";

process.env.GRAPHILE_ENV ??= "production";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
async function inspector(port: number) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl, { maxPayload: 1024 * 1024 * 1024 });
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  let id = 0;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.on("message", (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: unknown };
    if (message.id !== undefined) waiting.get(message.id)?.(message.error ? Promise.reject(new Error(JSON.stringify(message.error))) : message.result);
  });
  return {
    send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
      const n = ++id;
      return new Promise<T>((resolve) => {
        waiting.set(n, resolve as (result: unknown) => void);
        socket.send(JSON.stringify({ id: n, method, params }));
      });
    },
    close: () => socket.close(),
  };
}

/** Where a frame's code lives, for the table. */
export function categoryOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === "(idle)") return "(idle)";
    if (functionName === "(garbage collector)") return "garbage collector";
    if (functionName === "(program)") return "V8/native, unattributed ((program))";
    if (functionName === "(root)") return "(root)";
    if (/^(stringify|parse)$/.test(functionName)) return "JSON (built-ins)";
    if (/^(writev|writeBuffer|writeUtf8String|writeLatin1String)$/.test(functionName)) return "socket writes (native)";
    return "V8/native built-ins";
  }
  const file = url.replace(/^file:\/\//, "");
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)\//g;
  let pkg: string | undefined;
  for (let match = modules.exec(file); match; match = modules.exec(file)) pkg = match[1];
  if (pkg) {
    if (pkg === "grafast") return "engine: grafast (planning, execution)";
    if (pkg === "@dataplan/pg") return "engine: @dataplan/pg";
    if (pkg === "pg-sql2") return "engine: pg-sql2";
    if (pkg === "grafserv") return "engine: grafserv";
    if (pkg === "graphql") return "engine: graphql-js (parse, validate)";
    if (["postgraphile", "graphile-build", "graphile-build-pg", "graphile-config", "@graphile/lru", "tamedevil", "@graphile/pg-aggregates", "postgraphile-plugin-connection-filter"].includes(pkg)) {
      return "engine: postgraphile, graphile-build, plugins";
    }
    if (["pg", "pg-protocol", "pg-pool", "pg-types", "pg-connection-string", "postgres-array", "postgres-date", "postgres-interval", "postgres-bytea"].includes(pkg)) return "pg (driver)";
    if (pkg === "jose") return "ours: JWT (jose)";
    if (pkg === "pino" || pkg.startsWith("pino-") || pkg === "sonic-boom") return "ours: logging (pino)";
    if (pkg === "prom-client") return "ours: metrics (prom-client)";
    return `express and middleware (${["express", "body-parser", "router", "helmet", "raw-body", "iconv-lite", "type-is", "content-type", "qs", "finalhandler", "send", "on-finished", "depd", "mime-types", "negotiator", "accepts", "cookie", "cors", "vary", "statuses", "http-errors", "etag", "fresh", "parseurl", "proxy-addr", "ipaddr.js", "path-to-regexp", "utils-merge", "merge-descriptors", "encodeurl", "escape-html", "media-typer", "safe-buffer", "setprototypeof", "forwarded", "range-parser", "destroy", "unpipe", "bytes", "ee-first", "mime", "methods", "array-flatten", "content-disposition", "serve-static", "inherits", "toidentifier", "side-channel", "call-bind", "get-intrinsic", "object-inspect", "debug", "ms"].includes(pkg) ? "express" : pkg})`;
  }
  if (file.startsWith("node:")) {
    if (/^node:(internal\/)?(net|stream|http|_http|internal\/http|internal\/stream|internal\/streams|buffer|string_decoder|tls|dns|internal\/net|internal\/dns)/.test(file)) return "Node: http, net, streams";
    if (/^node:internal\/(process\/task_queues|timers|async_hooks)|^node:timers/.test(file)) return "Node: event loop, timers, promises";
    return "Node: other internals";
  }
  const relative = path.relative(projectRoot, file);
  if (!relative.startsWith("..")) {
    if (/^src\/server\/(quotas|rateLimit)\.ts$/.test(relative)) return "ours: rate limit";
    if (/^src\/server\/(authenticate|jwt)\.ts$/.test(relative)) return "ours: auth";
    if (/^src\/server\/(app|requestContext|metrics)\.ts$/.test(relative) || relative === "src/logger.ts") return "ours: request record, access log, metrics";
    if (relative.startsWith("plugins/")) return "ours: plugins (limits, errors, auth, realtime)";
    if (/^src\/server\/(transactions|preset)\.ts$/.test(relative) || relative === "src/db/pool.ts") return "ours: transactions, pgSettings, pool";
    return `ours: ${relative}`;
  }
  return "other";
}

export interface ProfileTable {
  busyMs: number;
  rows: Array<{ category: string; ms: number; share: number }>;
  /** Our own functions with the most self time. */
  ours: Array<{ where: string; ms: number; share: number }>;
}

export function summarise(profile: Profile): ProfileTable {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    // The delta before sample i+1 is the time sample i stood for.
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, delta));
  }
  const byCategory = new Map<string, number>();
  const ours = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const category = categoryOf(node.callFrame);
    byCategory.set(category, (byCategory.get(category) ?? 0) + us);
    if (category.startsWith("ours: ") && node.callFrame.url && !node.callFrame.url.includes("node_modules")) {
      const where = `${path.relative(projectRoot, node.callFrame.url.replace(/^file:\/\//, ""))}:${node.callFrame.lineNumber + 1} ${node.callFrame.functionName || "(anonymous)"}`;
      ours.set(where, (ours.get(where) ?? 0) + us);
    }
  }
  byCategory.delete("(root)");
  const idle = byCategory.get("(idle)") ?? 0;
  byCategory.delete("(idle)");
  const busyUs = [...byCategory.values()].reduce((sum, us) => sum + us, 0);
  void idle;
  const rows = [...byCategory.entries()]
    .map(([category, us]) => ({ category, ms: us / 1000, share: us / busyUs }))
    .sort((a, b) => b.ms - a.ms);
  const top = [...ours.entries()]
    .map(([where, us]) => ({ where, ms: us / 1000, share: us / busyUs }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 15);
  return { busyMs: busyUs / 1000, rows, ours: top };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const seconds = Number(process.env.PROFILE_SECONDS ?? 15);
  const warmupSeconds = Number(process.env.PROFILE_WARMUP_SECONDS ?? 10);
  const rateLimits = process.env.PROFILE_RATE_LIMITS !== "off";
  const db = await createTestDatabase("profile");
  try {
    const { users } = await seed(db, 50);
    const tokens = users.map((user) => user.token);
    const inspectPort = await freePort();
    const limits: Record<string, string> = rateLimits
      ? { RATE_LIMIT_PER_IP: "10000000", RATE_LIMIT_PER_USER: "10000000" }
      : { RATE_LIMIT_PER_IP: "0", RATE_LIMIT_PER_USER: "0", RATE_LIMIT_SIGN_IN_PER_IP: "0" };
    const server = await startServer("src/cli.ts", ["serve"], groundworkEnv(db, limits), "/healthz", [`--inspect=127.0.0.1:${inspectPort}`]);
    try {
      const body = () => JSON.stringify({ query: mineQuery });
      await cannon(server.url, { path: "/graphql", body, tokens, seconds: warmupSeconds, connections: 32, server });
      const cdp = await inspector(inspectPort);
      await cdp.send("Profiler.enable");
      await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
      await cdp.send("Profiler.start");
      const figures = await cannon(server.url, { path: "/graphql", body, tokens, seconds, connections: 32, server });
      const { profile } = await cdp.send<{ profile: Profile }>("Profiler.stop");
      cdp.close();
      if (process.env.PROFILE_OUT) writeFileSync(process.env.PROFILE_OUT, JSON.stringify(profile));
      const table = summarise(profile);
      const wallMs = (profile.endTime - profile.startTime) / 1000;
      console.log(
        `\nGroundwork under the API bench's load (rate limits ${rateLimits ? "on" : "off"}, 32 connections, ${seconds} s after ${warmupSeconds} s of warm-up): ` +
          `${Math.round(figures.requestsPerSecond)} req/s, CPU ${Math.round(figures.cpuUsPerRequest)} µs/req (from /proc), profiled busy ${(table.busyMs / 1000).toFixed(1)} s of ${(wallMs / 1000).toFixed(1)} s wall`,
      );
      console.log("\n| where | self time | share of busy CPU |\n|---|---|---|");
      for (const row of table.rows) console.log(`| ${row.category} | ${Math.round(row.ms)} ms | ${(row.share * 100).toFixed(1)} % |`);
      const sum = (prefix: string) => table.rows.filter((row) => row.category.startsWith(prefix)).reduce((total, row) => total + row.share, 0);
      console.log(`\nours ${(sum("ours: ") * 100).toFixed(1)} %, engine ${(sum("engine: ") * 100).toFixed(1)} %, pg ${(sum("pg ") * 100).toFixed(1)} %`);
      console.log("\nOur functions with the most self time:");
      for (const row of table.ours) console.log(`  ${(row.share * 100).toFixed(2)} %  ${row.where}`);
      console.log(JSON.stringify({ apiProfile: { figures, rateLimits, seconds, warmupSeconds, table } }));
    } finally {
      await server.stop();
    }
  } finally {
    await db.drop();
  }
}
