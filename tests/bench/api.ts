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
          return {
            ...request,
            headers: { ...request.headers, authorization: `Bearer ${options.tokens[n % options.tokens.length]}` },
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
  raw: CannonFigures;
  postgraphile: CannonFigures;
  postgraphileRateLimited: CannonFigures;
  ratio: number;
  rateLimitedRatio: number;
}

/**
 * "A signed-in user's own memberships, first 20, with their organization":
 * Groundwork (`groundwork serve`, production mode) against a minimal express +
 * pg handler running the same SQL with the same role, claims and
 * statement_timeout in a transaction. Both are child processes with pools of
 * 20; autocannon drives 32 connections from this process. Order: warm both,
 * then raw, Groundwork, Groundwork with rate limiting on (one upsert per request).
 */
export async function benchApi(db: TestDatabase, { seconds = 10, users = 50, connections = 32 } = {}): Promise<ApiBench> {
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
    const run = (server: ServerProcess, path: string, body: () => string, s: number) =>
      cannon(server.url, { path, body, tokens, seconds: s, connections, server });
    await run(raw, "/mine", () => "{}", 3);
    await run(gql, "/graphql", gqlBody, 3);
    const rawFigures = await run(raw, "/mine", () => "{}", seconds);
    const gqlFigures = await run(gql, "/graphql", gqlBody, seconds);
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
      raw: rawFigures,
      postgraphile: gqlFigures,
      postgraphileRateLimited: limitedFigures,
      ratio: gqlFigures.requestsPerSecond / rawFigures.requestsPerSecond,
      rateLimitedRatio: limitedFigures.requestsPerSecond / rawFigures.requestsPerSecond,
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}
