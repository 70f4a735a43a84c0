import pg from "pg";
import type { TestDatabase } from "../setup/testDatabase.ts";
import { cannon, type CannonFigures } from "./api.ts";
import { benchSecret, groundworkEnv, seed, startServer, type ServerProcess } from "./apiSetup.ts";

/** A filtered, ordered page of 20 with one aggregate: the unread list and counter of docs/clients.md. */
export const unreadQuery = `query Unread {
  outboxNotifications(first: 20, filter: { readAt: { isNull: true } }, orderBy: CREATED_AT_DESC) {
    aggregates { distinctCount { notificationId } }
    nodes { notificationId topic message createdAt }
  }
}`;

export interface ClientsBench {
  seconds: number;
  rounds: number;
  users: number;
  notificationsPerUser: number;
  connections: number;
  raw: CannonFigures;
  postgraphile: CannonFigures;
  /** Median over rounds of GraphQL req/s ÷ baseline req/s (each round: baseline, then GraphQL). */
  ratio: number;
  roundRatios: number[];
}

/**
 * Every user has `perUser` notifications, every other one unread; a few
 * thousand more belong to other users (RLS hides them). Groundwork
 * (`groundwork serve`, production) against the minimal express + pg handler of
 * the API bench running the same two statements (page, count) in one
 * transaction as the caller.
 */
export async function benchClients(db: TestDatabase, { seconds = 10, rounds = 3, users = 50, perUser = 200, connections = 32, warmupSeconds = 5 } = {}): Promise<ClientsBench> {
  const { users: seeded } = await seed(db, users);
  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  try {
    await root.query(
      `insert into outbox.notifications (user_id, topic, message, created_at, read_at)
       select u.user_id, 'bench.topic', 'Something happened ' || i, now() - make_interval(secs => i), case when i % 2 = 0 then now() end
         from auth.users u cross join generate_series(1, $2) i
        where u.user_id = any($1)`,
      [seeded.map((u) => u.userId), perUser],
    );
    await root.query("analyze outbox.notifications");
  } finally {
    await root.end();
  }
  const tokens = seeded.map((u) => u.token);
  const off = { RATE_LIMIT_PER_IP: "0", RATE_LIMIT_PER_USER: "0", RATE_LIMIT_SIGN_IN_PER_IP: "0" };
  const servers: ServerProcess[] = [];
  try {
    const raw = await startServer("tests/bench/raw-server.ts", [], { AUTH_DATABASE_URL: db.authenticatorUrl, JWT_SECRET: benchSecret });
    servers.push(raw);
    const gql = await startServer("src/cli.ts", ["serve"], groundworkEnv(db, off), "/healthz");
    servers.push(gql);
    const body = () => JSON.stringify({ query: unreadQuery });
    // The same rows and count both ways, or the ratio means nothing.
    const auth = { authorization: `Bearer ${tokens[0]}`, "content-type": "application/json" };
    const a = (await (await fetch(`${raw.url}/unread`, { method: "POST", headers: auth, body: "{}" })).json()) as any;
    const b = (await (await fetch(`${gql.url}/graphql`, { method: "POST", headers: auth, body: body() })).json()) as any;
    const ids = (r: any) => r.data.outboxNotifications.nodes.map((n: any) => n.notificationId);
    const count = (r: any) => r.data.outboxNotifications.aggregates.distinctCount.notificationId;
    if (ids(a).length !== 20 || JSON.stringify(ids(a)) !== JSON.stringify(ids(b)) || count(a) !== count(b) || count(a) !== String(perUser / 2)) {
      throw new Error(`baseline and GraphQL disagree: ${JSON.stringify(a).slice(0, 300)} / ${JSON.stringify(b).slice(0, 300)}`);
    }
    const run = (server: ServerProcess, path: string, payload: () => string, s: number) => cannon(server.url, { path, body: payload, tokens, seconds: s, connections, server });
    await run(raw, "/unread", () => "{}", warmupSeconds);
    await run(gql, "/graphql", body, warmupSeconds);
    const pairs: Array<{ raw: CannonFigures; gql: CannonFigures; ratio: number }> = [];
    for (let round = 0; round < rounds; round++) {
      const r = await run(raw, "/unread", () => "{}", seconds);
      const g = await run(gql, "/graphql", body, seconds);
      pairs.push({ raw: r, gql: g, ratio: g.requestsPerSecond / r.requestsPerSecond });
    }
    const middle = [...pairs].sort((x, y) => x.ratio - y.ratio)[Math.floor((pairs.length - 1) / 2)]!;
    return {
      seconds,
      rounds,
      users,
      notificationsPerUser: perUser,
      connections,
      raw: middle.raw,
      postgraphile: middle.gql,
      ratio: middle.ratio,
      roundRatios: pairs.map((pair) => pair.ratio),
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}
