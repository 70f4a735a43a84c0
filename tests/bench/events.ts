/**
 * Events benchmarks (issue 18).
 *
 * * Anonymous listing: "the next 20 public events, with category and
 *   organization name", 10,000 published public events of 100 organizations.
 *   Groundwork (`groundwork serve`, production mode, rate limits off) answering
 *   `eventsSearchEvents(first: 20) { nodes { … categoryName organizerName } }`
 *   against the minimal express + pg handler of raw-server.ts (`/events`)
 *   running the same SQL as gw_anonymous in a transaction. Same harness as
 *   api.ts: warm-up per server, then rounds of baseline and Groundwork back to
 *   back, the median round's ratio reported, both answers checked equal first.
 * * Text search over 100,000 events: events.search_events(query) as
 *   gw_anonymous, first 20, one and two words from the generator's vocabulary;
 *   p50 and p99 of the statement, and the plan (EXPLAIN ANALYZE) of one.
 *
 * Events are seeded as superuser with triggers off (session_replication_role
 * replica): the figures are about reads. The search vector is a generated
 * column, so it is computed all the same.
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import type { TestDatabase } from "../setup/testDatabase.ts";
import { seededRandom } from "../helpers/random.ts";
import { cannon, type CannonFigures } from "./api.ts";
import { benchSecret, groundworkEnv, startServer, type ServerProcess } from "./apiSetup.ts";

export const upcomingQuery =
  "query Upcoming { eventsSearchEvents(first: 20) { nodes { eventId title startsAt categoryName organizerName } } }";

/** Words titles and descriptions are made of (english, so stemming applies). */
const vocabulary = (
  "jazz blues soul funk gospel choir orchestra symphony opera ballet theatre comedy poetry film cinema festival carnival market " +
  "food street wine beer coffee tea chocolate cooking tasting dinner brunch picnic garden park river lagoon beach island mountain " +
  "hiking running cycling football basketball tennis chess yoga dance salsa tango afrobeats highlife reggae hiphop rock indie " +
  "electronic techno house vinyl records book reading writing library history heritage museum gallery painting photography design " +
  "fashion craft pottery textile weaving startup founders investors hackathon coding robotics science astronomy climate energy " +
  "health wellness meditation family kids children parents school university lecture workshop seminar conference summit expo " +
  "networking career charity fundraiser community neighbourhood culture language french yoruba swahili arabic spanish portuguese " +
  "night morning evening weekend summer winter harvest moon sunset rooftop courtyard warehouse stadium arena hall chapel cathedral"
).split(/\s+/);

export interface EventsBench {
  events: number;
  organizations: number;
  listing: {
    connections: number;
    seconds: number;
    rounds: number;
    warmupSeconds: number;
    raw: CannonFigures;
    postgraphile: CannonFigures;
    ratio: number;
    roundRatios: number[];
    cpuRatio: number;
  };
  search: {
    events: number;
    queries: number;
    p50Ms: number;
    p99Ms: number;
    p50TwoWordsMs: number;
    p99TwoWordsMs: number;
    plan: string[];
    twoWordPlan: string[];
  };
  seedMs: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;

/** `count` published public events spread over the next year, among the organizations. */
export async function seedEvents(root: pg.Client, count: number, organizationIds: string[], seed: number): Promise<void> {
  await root.query("begin");
  await root.query("set local session_replication_role = replica");
  await root.query(
    `insert into events.events (owner_context_id, title, description, category_code, country_code, timezone, venue,
                                starts_at, ends_at, visibility, status, published_at)
     select o.id,
            initcap(w[1 + (h % n)]) || ' ' || initcap(w[1 + ((h / 7) % n)]) || ' ' || w[1 + ((h / 49) % n)],
            (select string_agg(w[1 + ((h / (k + 3) + k * 131) % n)], ' ') from generate_series(1, 12) k),
            c.code, co.code, 'Africa/Lagos', 'Hall ' || (h % 97),
            t.starts_at, t.starts_at + interval '3 hours', 'public', 'published', now()
       from generate_series(1, $1::int) g
       cross join lateral (select (hashtext($2::text || g::text) & 2147483647) as h) x
       cross join lateral (select $3::text[] as w, cardinality($3::text[]) as n) v
       cross join lateral (select now() + make_interval(mins => x.h % (365 * 24 * 60)) as starts_at) t
       cross join lateral (select ($4::uuid[])[1 + (x.h % cardinality($4::uuid[]))] as id) o
       cross join lateral (select code from ref.event_categories where parent_code is not null order by md5(code || x.h::text) limit 1) c
       cross join lateral (select code from ref.countries where code in ('NG', 'GH', 'KE', 'ZA', 'SN', 'EG', 'GB', 'US', 'FR', 'BR') order by md5(code || x.h::text) limit 1) co`,
    [count, seed, vocabulary, organizationIds],
  );
  await root.query("commit");
  await root.query("vacuum analyze events.events");
}

/** The anonymous listing: Groundwork against the minimal handler. */
async function benchListing(db: TestDatabase, options: { seconds: number; rounds: number; warmupSeconds: number; connections: number }): Promise<EventsBench["listing"]> {
  const servers: ServerProcess[] = [];
  try {
    const raw = await startServer("tests/bench/raw-server.ts", [], { AUTH_DATABASE_URL: db.authenticatorUrl, JWT_SECRET: benchSecret });
    servers.push(raw);
    const off = { RATE_LIMIT_PER_IP: "0", RATE_LIMIT_PER_USER: "0", RATE_LIMIT_SIGN_IN_PER_IP: "0" };
    const gql = await startServer("src/cli.ts", ["serve"], groundworkEnv(db, off), "/healthz");
    servers.push(gql);
    const gqlBody = () => JSON.stringify({ query: upcomingQuery });
    const headers = { "content-type": "application/json" };
    const a = (await (await fetch(`${raw.url}/events`, { method: "POST", headers, body: "{}" })).json()) as any;
    const b = (await (await fetch(`${gql.url}/graphql`, { method: "POST", headers, body: gqlBody() })).json()) as any;
    const ids = (r: any) => r.data.eventsSearchEvents.nodes.map((n: any) => `${n.eventId} ${n.categoryName} ${n.organizerName}`);
    if (ids(a).length !== 20 || JSON.stringify(ids(a)) !== JSON.stringify(ids(b))) {
      throw new Error(`baseline and GraphQL disagree: ${JSON.stringify(a).slice(0, 400)} / ${JSON.stringify(b).slice(0, 400)}`);
    }
    const run = (server: ServerProcess, path: string, body: () => string, seconds: number) =>
      cannon(server.url, { path, body, tokens: [], seconds, connections: options.connections, server });
    await run(raw, "/events", () => "{}", options.warmupSeconds);
    await run(gql, "/graphql", gqlBody, options.warmupSeconds);
    const pairs: Array<{ raw: CannonFigures; gql: CannonFigures; ratio: number; cpuRatio: number }> = [];
    for (let round = 0; round < options.rounds; round++) {
      const r = await run(raw, "/events", () => "{}", options.seconds);
      const g = await run(gql, "/graphql", gqlBody, options.seconds);
      pairs.push({ raw: r, gql: g, ratio: g.requestsPerSecond / r.requestsPerSecond, cpuRatio: g.cpuUsPerRequest / r.cpuUsPerRequest });
    }
    const middle = [...pairs].sort((x, y) => x.ratio - y.ratio)[Math.floor((pairs.length - 1) / 2)]!;
    return {
      ...options,
      raw: middle.raw,
      postgraphile: middle.gql,
      ratio: middle.ratio,
      roundRatios: pairs.map((pair) => pair.ratio),
      cpuRatio: median(pairs.map((pair) => pair.cpuRatio)),
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}

/** events.search_events(query) as gw_anonymous, first 20: one statement per query, timed in this process. */
async function benchSearch(db: TestDatabase, queries: number): Promise<Omit<EventsBench["search"], "events">> {
  const client = new pg.Client({ connectionString: db.authenticatorUrl });
  await client.connect();
  const pick = seededRandom(18);
  const sql = "select event_id, title from events.search_events(query => $1) limit 20";
  try {
    await client.query("begin");
    await client.query("select set_config('role', 'gw_anonymous', true), set_config('request.jwt.claims', '{\"role\":\"gw_anonymous\"}', true)");
    const time = async (words: number) => {
      const samples: number[] = [];
      for (let i = 0; i < queries; i++) {
        const query = Array.from({ length: words }, () => vocabulary[pick(vocabulary.length)]).join(" ");
        const started = performance.now();
        await client.query(sql, [query]);
        samples.push(performance.now() - started);
      }
      return samples;
    };
    await time(1); // warm-up: plans, caches
    const one = await time(1);
    const two = await time(2);
    const explain = async (query: string) =>
      (await client.query<{ "QUERY PLAN": string }>(`explain (analyze, costs off, timing off, summary off) ${sql}`, [query])).rows.map((row) => row["QUERY PLAN"]);
    const plan = await explain("jazz");
    const twoWordPlan = await explain("jazz festival");
    await client.query("commit");
    return {
      queries,
      p50Ms: percentile(one, 50),
      p99Ms: percentile(one, 99),
      p50TwoWordsMs: percentile(two, 50),
      p99TwoWordsMs: percentile(two, 99),
      plan,
      twoWordPlan,
    };
  } finally {
    await client.end();
  }
}

export async function benchEvents(
  db: TestDatabase,
  { events = 10_000, organizations = 100, searchEvents = 100_000, seconds = 10, rounds = 3, warmupSeconds = 10, connections = 32, queries = 500 } = {},
): Promise<EventsBench> {
  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  try {
    const started = performance.now();
    const tag = Date.now().toString(36);
    const { rows } = await root.query<{ organization_id: string }>(
      "insert into auth.organizations (name, slug) select 'Organizer ' || i, 'bench-events-' || $1 || '-' || i from generate_series(1, $2::int) i returning organization_id",
      [tag, organizations],
    );
    const organizationIds = rows.map((row) => row.organization_id);
    await seedEvents(root, events, organizationIds, 1);
    const seedMs = performance.now() - started;
    const listing = await benchListing(db, { seconds, rounds, warmupSeconds, connections });
    await seedEvents(root, searchEvents - events, organizationIds, 2);
    const search = await benchSearch(db, queries);
    return { events, organizations, listing, search: { events: searchEvents, ...search }, seedMs };
  } finally {
    await root.end();
  }
}
