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
  options: {
    path: string;
    body: (i: number) => string;
    tokens: string[];
    seconds: number;
    connections: number;
    server?: ServerProcess;
    /** A fixed request rate (req/s over all connections) instead of as fast as the server answers. */
    overallRate?: number;
  },
): Promise<CannonFigures> {
  let i = 0;
  const cpuBefore = options.server?.cpuMs() ?? NaN;
  const result = await autocannon({
    url: url + options.path,
    connections: options.connections,
    duration: options.seconds,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
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
  /** The round with the median ratio (each round: baseline, Groundwork, Groundwork with rate limits, back to back). */
  raw: CannonFigures;
  postgraphile: CannonFigures;
  postgraphileRateLimited: CannonFigures;
  /** Median over rounds of Groundwork req/s / baseline req/s (rate limits off). */
  ratio: number;
  /** Every round's ratio, in order. */
  roundRatios: number[];
  /** Median over rounds of Groundwork CPU per request / baseline CPU per request. */
  cpuRatio: number;
  /** Median over rounds of Groundwork with rate limits on req/s / baseline req/s. */
  rateLimitedRatio: number;
  rateLimitedRoundRatios: number[];
  /** Median over rounds of CPU per request with rate limits on / baseline. */
  rateLimitedCpuRatio: number;
  /** Latency at a stated load: every server at half the baseline's saturated rate (median round), not saturated. */
  fixedRate: { rate: number; raw: CannonFigures; postgraphile: CannonFigures; postgraphileRateLimited: CannonFigures };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

/**
 * "A signed-in user's own memberships, first 20, with their organization":
 * Groundwork (`groundwork serve`, production mode) against a minimal express +
 * pg handler running the same SQL with the same role, claims and
 * statement_timeout in a transaction. All are child processes with pools of
 * 20; autocannon drives 32 connections from this process. Three servers:
 * the baseline, Groundwork with rate limits off, and Groundwork with rate
 * limits on (per IP and per user, budgets high enough never to refuse: every
 * request spends from both, from chunks reserved in PostgreSQL). Each round
 * runs the three back to back; then all three at a fixed rate, half the
 * baseline's saturated throughput.
 */
export async function benchApi(
  db: TestDatabase,
  { seconds = 10, users = 50, connections = 32, rounds = 3, warmupSeconds = 10 } = {},
): Promise<ApiBench> {
  const { users: seeded } = await seed(db, users);
  const tokens = seeded.map((u) => u.token);
  const off = { RATE_LIMIT_PER_IP: "0", RATE_LIMIT_PER_USER: "0", RATE_LIMIT_SIGN_IN_PER_IP: "0" };
  const on = { RATE_LIMIT_PER_IP: "10000000", RATE_LIMIT_PER_USER: "10000000" };
  const servers: ServerProcess[] = [];
  try {
    const raw = await startServer("tests/bench/raw-server.ts", [], { AUTH_DATABASE_URL: db.authenticatorUrl, JWT_SECRET: benchSecret });
    servers.push(raw);
    const gql = await startServer("src/cli.ts", ["serve"], groundworkEnv(db, off), "/healthz");
    servers.push(gql);
    const limited = await startServer("src/cli.ts", ["serve"], groundworkEnv(db, { ...on, MIGRATE_ON_START: "false" }), "/healthz");
    servers.push(limited);
    const gqlBody = () => JSON.stringify({ query: mineQuery });
    // The same rows both ways, or the comparison means nothing.
    const auth = { authorization: `Bearer ${tokens[0]}`, "content-type": "application/json" };
    const a = (await (await fetch(`${raw.url}/mine`, { method: "POST", headers: auth, body: "{}" })).json()) as any;
    const names = (r: any) => r.data.currentUser.memberships.nodes.map((n: any) => n.organization.slug);
    for (const server of [gql, limited]) {
      const b = (await (await fetch(`${server.url}/graphql`, { method: "POST", headers: auth, body: gqlBody() })).json()) as any;
      if (names(a).length !== 20 || JSON.stringify(names(a)) !== JSON.stringify(names(b))) {
        throw new Error(`baseline and GraphQL disagree: ${JSON.stringify(a).slice(0, 300)} / ${JSON.stringify(b).slice(0, 300)}`);
      }
    }
    const run = (server: ServerProcess, path: string, body: () => string, s: number, overallRate?: number) =>
      cannon(server.url, { path, body, tokens, seconds: s, connections, server, ...(overallRate ? { overallRate } : {}) });
    const runRaw = (s: number, rate?: number) => run(raw, "/mine", () => "{}", s, rate);
    const runGql = (server: ServerProcess, s: number, rate?: number) => run(server, "/graphql", gqlBody, s, rate);
    // Warm-up: long enough for V8 to optimise each server's hot path. With 3 s, the
    // first measured round still ran Groundwork's (much larger) code half-optimised:
    // 983 µs of CPU per request against 740-800 µs in later rounds (2026-11-22).
    await runRaw(warmupSeconds);
    await runGql(gql, warmupSeconds);
    await runGql(limited, warmupSeconds);
    // Rounds, the three servers back to back: on a shared machine the load drifts
    // within seconds, so one pair of runs can differ by ±30 %; the median round is reported.
    const triples: Array<{ raw: CannonFigures; gql: CannonFigures; limited: CannonFigures; ratio: number; limitedRatio: number }> = [];
    for (let round = 0; round < rounds; round++) {
      const r = await runRaw(seconds);
      const g = await runGql(gql, seconds);
      const l = await runGql(limited, seconds);
      triples.push({ raw: r, gql: g, limited: l, ratio: g.requestsPerSecond / r.requestsPerSecond, limitedRatio: l.requestsPerSecond / r.requestsPerSecond });
    }
    const middle = [...triples].sort((x, y) => x.ratio - y.ratio)[Math.floor((triples.length - 1) / 2)]!;
    const middleLimited = [...triples].sort((x, y) => x.limitedRatio - y.limitedRatio)[Math.floor((triples.length - 1) / 2)]!;
    // Latency at a stated load: half the baseline's saturated rate, the same for every server.
    const rate = Math.max(1, Math.round(middle.raw.requestsPerSecond / 2));
    const fixedRaw = await runRaw(seconds, rate);
    const fixedGql = await runGql(gql, seconds, rate);
    const fixedLimited = await runGql(limited, seconds, rate);
    return {
      connections,
      seconds,
      users,
      rounds,
      warmupSeconds,
      raw: middle.raw,
      postgraphile: middle.gql,
      postgraphileRateLimited: middleLimited.limited,
      ratio: middle.ratio,
      roundRatios: triples.map((t) => t.ratio),
      cpuRatio: median(triples.map((t) => t.gql.cpuUsPerRequest / t.raw.cpuUsPerRequest)),
      rateLimitedRatio: middleLimited.limitedRatio,
      rateLimitedRoundRatios: triples.map((t) => t.limitedRatio),
      rateLimitedCpuRatio: median(triples.map((t) => t.limited.cpuUsPerRequest / t.raw.cpuUsPerRequest)),
      fixedRate: { rate, raw: fixedRaw, postgraphile: fixedGql, postgraphileRateLimited: fixedLimited },
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}
