import { spawn } from "node:child_process";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { pino } from "pino";
import { buildSchema, parse } from "postgraphile/graphql";
import { describe, expect, it } from "vitest";
import { measure } from "../../src/server/limits.ts";
import { codesOf, testLimits, useTestApi, type GraphQLResponse } from "../helpers/api.ts";
import { until } from "../helpers/until.ts";

// Issue 15: a 970-byte anonymous query whose fragments each spread the previous
// one twice (2^24 spreads) froze the server for 11 s before it was refused, and
// /healthz waited behind it. The API under test runs in this process, so a
// request that holds the event loop holds the test too: the figures below are
// the server's own.
/** The access log of a test API, kept in memory: its `ms` is the server's own time for a request. */
function accessLog() {
  const lines: Array<{ msg?: string; path?: string; ms?: number }> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  /** The server's time for the last /graphql request answered. */
  const lastGraphqlMs = () => lines.findLast((line) => line.msg === "request" && line.path === "/graphql")?.ms;
  return { logger, lastGraphqlMs };
}
const apiLog = accessLog();
const api = useTestApi({}, { logger: apiLog.logger });
// Cost off (the largest budget allowed): the other limits must still refuse bombs fast.
const generousLog = accessLog();
const generous = useTestApi({}, { logger: generousLog.logger, limits: testLimits({ maxCost: 100_000_000, maxOperations: 1000, maxDepth: 100, maxListDepth: 20 }) });
const logOf = (target: typeof api) => (target === generous ? generousLog : apiLog);

/** `levels` fragments, each spreading the previous `fanout` times: fanout^levels copies of the leaf. */
export function fragmentBomb(levels: number, fanout: number, root = "currentUser", leaf = "userId"): string {
  const lines = [`query Bomb { ${root} { ...F${levels} } }`, `fragment F0 on User { ${leaf} }`];
  for (let i = 1; i <= levels; i++) lines.push(`fragment F${i} on User { ${Array.from({ length: fanout }, () => `...F${i - 1}`).join(" ")} }`);
  return lines.join("\n");
}

interface Timed {
  response: GraphQLResponse;
  /** Round trip of the request, ms. */
  ms: number;
  /** Longest the event loop was held while it ran, ms. */
  maxLoopDelayMs: number;
  /** Slowest /healthz answered while it ran, ms. */
  healthzMs: number;
  /** The server's time for the request, from its access log (whole ms). */
  serverMs: number | undefined;
}

/**
 * Another process that asks for /healthz back to back (a load balancer's probe,
 * but relentless) and reports the slowest answer once told to stop.
 */
async function startHealthProbe(url: string) {
  const script = `
    let stop = false, slowest = 0, count = 0;
    process.stdin.on("data", () => { stop = true; });
    (async () => {
      while (!stop) {
        const started = performance.now();
        // A keep-alive socket the server closed while blocked may reset: that answer counts as slow too.
        await fetch(${JSON.stringify(`${url}/healthz`)}).then((answer) => answer.arrayBuffer()).catch(() => undefined);
        slowest = Math.max(slowest, performance.now() - started);
        // The first answers pay for connecting and compiling: measure from the 20th on.
        if (++count === 20) { slowest = 0; process.stdout.write("ready\\n"); }
      }
      process.stdout.write(JSON.stringify({ slowest, count }) + "\\n");
      process.stdin.destroy();
    })();`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  let output = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => (output += chunk));
  await until(async () => output, (text) => text.includes("ready"), { what: "the /healthz probe to start", timeoutMs: 20_000 });
  return {
    async stop(): Promise<{ slowest: number; count: number }> {
      const exited = new Promise((resolve) => child.once("close", resolve));
      child.stdin.write("stop");
      await exited;
      return JSON.parse(output.trim().split("\n").pop()!) as { slowest: number; count: number };
    },
  };
}

/** Sends `query` while another process polls /healthz; measures both and this process's event-loop delay. */
async function timed(target: typeof api, query: string): Promise<Timed> {
  const probe = await startHealthProbe(target.url);
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const started = performance.now();
  const response = await target.graphql(query);
  const ms = performance.now() - started;
  // Let the probe get a few answers after the request, so a stall during it cannot hide.
  await new Promise((resolve) => setTimeout(resolve, 30));
  histogram.disable();
  const { slowest } = await probe.stop();
  return { response, ms, maxLoopDelayMs: histogram.max / 1e6, healthzMs: slowest, serverMs: logOf(target).lastGraphqlMs() };
}

function report(what: string, result: Timed) {
  console.info(
    `${what}: ${result.response.status} ${codesOf(result.response).join(",")} in ${result.ms.toFixed(1)} ms (server ${result.serverMs} ms); ` +
      `event loop held at most ${result.maxLoopDelayMs.toFixed(1)} ms; slowest /healthz ${result.healthzMs.toFixed(1)} ms`,
  );
}

describe("fragment bombs (linear-time measurement)", () => {
  it("refuses the 970-byte 2^24 bomb with COST_LIMIT_EXCEEDED at once, and /healthz is not held up", async () => {
    const bomb = fragmentBomb(24, 2);
    expect(Buffer.byteLength(bomb)).toBeLessThan(1000);
    // Warm up the paths of an accepted and a refused document, then time a trivial request as the baseline.
    await api.graphql(fragmentBomb(3, 2));
    await api.graphql("{ organizations(first: 101) { totalCount } }");
    report("baseline { __typename }", await timed(api, "{ __typename }"));
    const result = await timed(api, bomb);
    report("2^24 bomb", result);
    expect(codesOf(result.response)).toEqual(["COST_LIMIT_EXCEEDED"]);
    expect(result.response.status).toBe(400);
    expect(result.serverMs).toBeLessThan(500);
    // Target < 10 ms; the bounds leave room for a busy 2-core machine.
    expect(result.ms).toBeLessThan(500);
    expect(result.maxLoopDelayMs).toBeLessThan(500);
    expect(result.healthzMs).toBeLessThan(500);
  });

  it("refuses 2^40 and 10^10 (each fragment spreading the previous ten times) just as fast", async () => {
    for (const [what, query] of [
      ["2^40 bomb", fragmentBomb(40, 2)],
      ["10^10 bomb", fragmentBomb(10, 10)],
      ["10^30 bomb", fragmentBomb(30, 10)],
    ] as const) {
      const result = await timed(api, query);
      report(what, result);
      expect(codesOf(result.response)).toEqual(["COST_LIMIT_EXCEEDED"]);
      expect(result.ms).toBeLessThan(500);
      expect(result.maxLoopDelayMs).toBeLessThan(500);
    }
  });

  it("refuses a bomb below first: 0 (a page of 0 still has its selection planned, every spread of it)", async () => {
    const bomb = fragmentBomb(24, 2).replace("query Bomb { currentUser { ...F24 } }", "query Bomb { currentUser { memberships(first: 0) { nodes { user { ...F24 } } } } }");
    const result = await timed(api, bomb);
    report("2^24 bomb below first: 0", result);
    expect(codesOf(result.response)).toEqual(["COST_LIMIT_EXCEEDED"]);
    expect(result.maxLoopDelayMs).toBeLessThan(500);
  });

  it("refuses bombs of __typename and inside introspection (not priced as data, but counted spread by spread)", async () => {
    const rootTypename = [`query { ...Q24 }`, `fragment Q0 on Query { __typename }`]
      .concat(Array.from({ length: 24 }, (_, i) => `fragment Q${i + 1} on Query { ...Q${i} ...Q${i} }`))
      .join("\n");
    const introspection = [`query { __schema { types { ...T24 } } }`, `fragment T0 on __Type { name }`]
      .concat(Array.from({ length: 24 }, (_, i) => `fragment T${i + 1} on __Type { ...T${i} ...T${i} }`))
      .join("\n");
    for (const [what, query] of [
      ["2^24 bomb of __typename", fragmentBomb(24, 2, "currentUser", "__typename")],
      ["2^24 bomb of __typename at the root", rootTypename],
      ["2^24 bomb inside __schema", introspection],
    ] as const) {
      const result = await timed(api, query);
      report(what, result);
      expect(codesOf(result.response)).toEqual(["COST_LIMIT_EXCEEDED"]);
      expect(result.maxLoopDelayMs).toBeLessThan(500);
    }
  });

  it("refuses a bomb at the root with TOO_MANY_OPERATIONS, and one under a large cost budget, as fast", async () => {
    const rootBomb = [`query { ...F30 }`, `fragment F0 on Query { __typename currentUser { userId } }`]
      .concat(Array.from({ length: 30 }, (_, i) => `fragment F${i + 1} on Query { ...F${i} ...F${i} }`))
      .join("\n");
    // F0 spread 2^30 times at the root: root fields count every spread, as aliases do.
    const root = await timed(api, rootBomb);
    report("2^30 bomb at the root", root);
    expect(codesOf(root.response)).toEqual(["TOO_MANY_OPERATIONS"]);
    expect(root.ms).toBeLessThan(500);
    expect(root.maxLoopDelayMs).toBeLessThan(500);
    await generous.graphql(fragmentBomb(3, 2)); // a new server's first request warms its own code paths
    const generousResult = await timed(generous, fragmentBomb(60, 2));
    report("2^60 bomb, cost budget 10^8", generousResult);
    expect(codesOf(generousResult.response)).toEqual(["COST_LIMIT_EXCEEDED"]);
    expect(generousResult.maxLoopDelayMs).toBeLessThan(500);
  });

});

describe("measure() on a fragment bomb", () => {
  const schema = buildSchema(`
    type Query { currentUser: User }
    type User { userId: ID memberships(first: Int): MembershipsConnection }
    type MembershipsConnection { nodes: [Membership] pageInfo: PageInfo }
    type Membership { role: String user: User }
    type PageInfo { hasNextPage: Boolean }
  `);

  it("counts every spread (by multiplication) and composes depth and lists through fragments", () => {
    const shape = measure(schema, parse(fragmentBomb(24, 2)), undefined, {}, { maxPageSize: 100 });
    expect(shape.cost).toBe(1 + 2 ** 24);
    expect(shape.depth).toBe(2);
    expect(shape.rootFields).toBe(1);
    expect(measure(schema, parse(fragmentBomb(24, 2, "currentUser", "__typename")), undefined, {}, { maxPageSize: 100 }).cost).toBe(1 + 2 ** 24);
    // An unknown field is refused by validation, but only after measuring: what it selects counts too.
    const unknown = fragmentBomb(24, 2).replace("{ currentUser { ...F24 } }", "{ currentUser { noSuchField { ...F24 } } }");
    expect(measure(schema, parse(unknown), undefined, {}, { maxPageSize: 100 }).cost).toBe(2 + 2 ** 24);
    const listy = `{ currentUser { ...L2 } }
      fragment L0 on User { userId }
      fragment L1 on User { memberships(first: 3) { nodes { user { ...L0 } } } }
      fragment L2 on User { memberships(first: 5) { nodes { user { ...L1 ...L0 } } } }`;
    const nested = measure(schema, parse(listy), undefined, {}, { maxPageSize: 100 });
    // L1 = memberships 1 + 3 × (nodes 1 + user 1 + userId 1) = 10;
    // currentUser 1 + (memberships 1 + 5 × (nodes 1 + user 1 + L1 10 + L0 1)) = 1 + 66 = 67
    expect(nested.cost).toBe(67);
    expect(nested.listDepth).toBe(2);
    expect(nested.largestPage).toBe(5);
    // currentUser > memberships > nodes > user > memberships > nodes > user > userId
    expect(nested.depth).toBe(8);
  });

  it("parses and measures the 2^24 document in well under 10 ms, and 10^30 or 2^200 spreads as fast", () => {
    for (const [levels, fanout] of [[24, 2], [30, 10], [200, 2]] as const) {
      const text = fragmentBomb(levels, fanout);
      parse(text);
      // What the server does before refusing: parse (uncached: a new text each time) and measure.
      const runs = Array.from({ length: 5 }, (_, i) => {
        const started = performance.now();
        const shape = measure(schema, parse(`${text}\n# ${i}`, { noLocation: true }), undefined, {}, { maxPageSize: 100 });
        return { ms: performance.now() - started, shape };
      });
      const ms = runs.map((run) => run.ms).sort((a, b) => a - b);
      console.info(`parse + measure() of ${fanout}^${levels} spreads: median ${ms[2]!.toFixed(2)} ms (fastest ${ms[0]!.toFixed(2)}), cost ${runs[0]!.shape.cost}`);
      expect(runs[0]!.shape.cost).toBeGreaterThan(10_000_000);
      expect(ms[2]).toBeLessThan(50);
    }
  });
});
