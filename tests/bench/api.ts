import autocannon from "autocannon";
import type { TestDatabase } from "../setup/testDatabase.ts";
import { benchSecret, groundworkEnv, mineQuery, seed, startServer, type ServerProcess } from "./apiSetup.ts";

export interface CannonFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  /** Requests answered in the measured window. */
  requests: number;
  /** CPU time the server process spent per request in that window (user + system, µs); NaN when not measured. */
  cpuUsPerRequest: number;
}

export async function cannon(
  url: string,
  options: { path: string; body: (i: number) => string; tokens: string[]; seconds: number; connections: number; server?: ServerProcess },
): Promise<CannonFigures> {
  let i = 0;
  const cpuBefore = options.server?.cpuMs() ?? NaN;
  const result = await autocannon({
    url: url + options.path,
    connections: options.connections,
    duration: options.seconds,
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    requests: [
      {
        setupRequest(request) {
          const n = i++;
          // No tokens: anonymous requests, without an Authorization header.
          const token = options.tokens.length > 0 ? options.tokens[n % options.tokens.length] : undefined;
          return {
            ...request,
            headers: { ...request.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
            body: options.body(n),
          };
        },
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    requests: result.requests.total,
    cpuUsPerRequest: (((options.server?.cpuMs() ?? NaN) - cpuBefore) * 1000) / result.requests.total,
  };
}

export interface ApiBench {
  connections: number;
  seconds: number;
  users: number;
  rounds: number;
  /** Seconds each server was driven at full load before the measured rounds. */
  warmupSeconds: number;
  /** The round with the median ratio (each round: baseline, then Groundwork, back to back). */
  raw: CannonFigures;
  postgraphile: CannonFigures;
  postgraphileRateLimited: CannonFigures;
  /** Median over rounds of Groundwork req/s / baseline req/s. */
  ratio: number;
  /** Every round's ratio, in order. */
  roundRatios: number[];
  /** Median over rounds of Groundwork CPU per request / baseline CPU per request. */
  cpuRatio: number;
  rateLimitedRatio: number;
  /** Latency without queueing: one connection, one request at a time, each server in turn. */
  unloaded: { raw: CannonFigures; postgraphile: CannonFigures };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

/**
 * "A signed-in user's own memberships, first 20, with their organization":
 * Groundwork (`groundwork serve`, production mode) against a minimal express +
 * pg handler running the same SQL with the same role, claims and
 * statement_timeout in a transaction. Both are child processes with pools of
 * 20; autocannon drives 32 connections from this process. Order: warm both,
 * then raw, Groundwork, Groundwork with rate limiting on (one upsert per request).
 */
export async function benchApi(
  db: TestDatabase,
  { seconds = 10, users = 50, connections = 32, rounds = 3, warmupSeconds = 10 } = {},
): Promise<ApiBench> {
  const { users: seeded } = await seed(db, users);
  const tokens = seeded.map((u) => u.token);
  const off = { RATE_LIMIT_PER_IP: "0", RATE_LIMIT_PER_USER: "0", RATE_LIMIT_SIGN_IN_PER_IP: "0" };
  const servers: ServerProcess[] = [];
  try {
    const raw = await startServer("tests/bench/raw-server.ts", [], { AUTH_DATABASE_URL: db.authenticatorUrl, JWT_SECRET: benchSecret });
    servers.push(raw);
    const gql = await startServer("src/cli.ts", ["serve"], groundworkEnv(db, off), "/healthz");
    servers.push(gql);
    const gqlBody = () => JSON.stringify({ query: mineQuery });
    // The same rows both ways, or the comparison means nothing.
    const auth = { authorization: `Bearer ${tokens[0]}`, "content-type": "application/json" };
    const a = (await (await fetch(`${raw.url}/mine`, { method: "POST", headers: auth, body: "{}" })).json()) as any;
    const b = (await (await fetch(`${gql.url}/graphql`, { method: "POST", headers: auth, body: gqlBody() })).json()) as any;
    const names = (r: any) => r.data.currentUser.memberships.nodes.map((n: any) => n.organization.slug);
    if (names(a).length !== 20 || JSON.stringify(names(a)) !== JSON.stringify(names(b))) {
      throw new Error(`baseline and GraphQL disagree: ${JSON.stringify(a).slice(0, 300)} / ${JSON.stringify(b).slice(0, 300)}`);
    }
    const run = (server: ServerProcess, path: string, body: () => string, s: number, clients = connections) =>
      cannon(server.url, { path, body, tokens, seconds: s, connections: clients, server });
    // Warm-up: long enough for V8 to optimise each server's hot path. With 3 s, the
    // first measured round still ran Groundwork's (much larger) code half-optimised:
    // 983 µs of CPU per request against 740-800 µs in later rounds (2026-11-22).
    await run(raw, "/mine", () => "{}", warmupSeconds);
    await run(gql, "/graphql", gqlBody, warmupSeconds);
    // Rounds, baseline and Groundwork back to back: on a shared machine the load drifts
    // within seconds, so one pair of runs can differ by ±30 %; the median round is reported.
    const pairs: Array<{ raw: CannonFigures; gql: CannonFigures; ratio: number; cpuRatio: number }> = [];
    for (let round = 0; round < rounds; round++) {
      const r = await run(raw, "/mine", () => "{}", seconds);
      const g = await run(gql, "/graphql", gqlBody, seconds);
      pairs.push({ raw: r, gql: g, ratio: g.requestsPerSecond / r.requestsPerSecond, cpuRatio: g.cpuUsPerRequest / r.cpuUsPerRequest });
    }
    const middle = [...pairs].sort((a, b) => a.ratio - b.ratio)[Math.floor((pairs.length - 1) / 2)]!;
    const rawFigures = middle.raw;
    const gqlFigures = middle.gql;
    // Latency without queueing. At 32 connections a saturated server answers in
    // connections / throughput on average (Little's law), whatever it does per request:
    // p99 < 25 ms there would need well over 1,300 req/s.
    const unloadedRaw = await run(raw, "/mine", () => "{}", seconds, 1);
    const unloadedGql = await run(gql, "/graphql", gqlBody, seconds, 1);
    await gql.stop();
    servers.pop();
    const limited = await startServer("src/cli.ts", ["serve"], groundworkEnv(db, { RATE_LIMIT_PER_IP: "10000000", RATE_LIMIT_PER_USER: "10000000" }), "/healthz");
    servers.push(limited);
    await run(limited, "/graphql", gqlBody, 3);
    const limitedFigures = await run(limited, "/graphql", gqlBody, seconds);
    return {
      connections,
      seconds,
      users,
      rounds,
      warmupSeconds,
      raw: rawFigures,
      postgraphile: gqlFigures,
      postgraphileRateLimited: limitedFigures,
      ratio: middle.ratio,
      roundRatios: pairs.map((pair) => pair.ratio),
      cpuRatio: median(pairs.map((pair) => pair.cpuRatio)),
      rateLimitedRatio: limitedFigures.requestsPerSecond / rawFigures.requestsPerSecond,
      unloaded: { raw: unloadedRaw, postgraphile: unloadedGql },
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}
