/**
 * Analytics, messaging and ml benchmarks (issue 23).
 *
 * * Ingestion: impressions through POST /analytics/impressions of
 *   `groundwork serve` (production mode, rate limits off), batches of 500 from
 *   4 concurrent clients, every beacon a new client id, anonymous; against
 *   COPY of the same number of rows into the same partitioned table (routed to
 *   the same month's partition, same indexes), on one connection.
 * * Dashboard: 30 days of one event's daily stats, read as the organization
 *   through analytics.event_daily_stats (the materialized view), against the
 *   same aggregate over the raw impressions (security invoker would add RLS on
 *   top; the raw figure is the bare aggregate, run as superuser, so the ratio
 *   favours the raw side). `rows` impressions over 90 days and `events` events.
 * * Fan-out: a message job to `recipients` followers through the worker
 *   (concurrency 4, the messaging_fan_out task), notifications per second;
 *   against bare graphile-worker no-op jobs per second (outbox.ts's baseline).
 * * Similar events over `similarEvents` events embedded by hash-v1:
 *   ml.similar_events(id, 10) as gw_anonymous, p50/p99.
 */
import { performance } from "node:perf_hooks";
import { Logger as WorkerLogger, run } from "graphile-worker";
import pg from "pg";
import type { TestDatabase } from "../setup/testDatabase.ts";
import { seededRandom } from "../helpers/random.ts";
import { groundworkEnv, startServer } from "./apiSetup.ts";
import { bareWorker } from "./workerJobs.ts";
import { makeTaskList } from "../../src/worker/tasks/index.ts";
import { defaultTaskOptions } from "../../src/config.ts";

export interface AnalyticsBenchOptions {
  ingestRows?: number;
  rows?: number;
  events?: number;
  recipients?: number;
  similarEvents?: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** COPY … FROM STDIN through pg's protocol (pg has no API of its own for it). */
function copyFrom(client: pg.Client, text: string, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed: Error | undefined;
    const submittable = {
      submit(connection: { query(text: string): void }) {
        connection.query(text);
      },
      handleCopyInResponse(connection: { sendCopyFromChunk(chunk: Buffer): void; endCopyFrom(): void }) {
        const buffer = Buffer.from(data);
        for (let offset = 0; offset < buffer.length; offset += 1 << 20) connection.sendCopyFromChunk(buffer.subarray(offset, offset + (1 << 20)));
        connection.endCopyFrom();
      },
      handleCommandComplete() {},
      handleReadyForQuery() {
        if (failed) reject(failed);
        else resolve();
      },
      handleError(error: Error) {
        failed = error;
      },
    };
    client.query(submittable as never);
  });
}

async function seedOrganization(root: pg.Client, tag: string): Promise<{ organizationId: string; ownerId: string }> {
  const { rows: users } = await root.query<{ user_id: string }>("insert into auth.users (username, email) values ($1, $1 || '@example.com') returning user_id", [`${tag}own`]);
  const { rows } = await root.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id", [tag]);
  await root.query("insert into auth.memberships (organization_id, user_id, role) values ($1, $2, 'owner')", [rows[0]!.organization_id, users[0]!.user_id]);
  return { organizationId: rows[0]!.organization_id, ownerId: users[0]!.user_id };
}

async function publishedEvents(root: pg.Client, organizationId: string, count: number, random: (n: number) => number, words: string[]): Promise<string[]> {
  const titles = Array.from({ length: count }, () => `${words[random(words.length)]} ${words[random(words.length)]} ${words[random(words.length)]}`);
  const descriptions = Array.from({ length: count }, () => Array.from({ length: 12 }, () => words[random(words.length)]).join(" "));
  await root.query("begin");
  await root.query("set local session_replication_role = replica");
  const { rows } = await root.query<{ event_id: string }>(
    `insert into events.events (owner_context_id, title, description, category_code, starts_at, ends_at, status, published_at, visibility)
     select $1, t, d, (array['music', 'music.jazz', 'technology', 'food-drink', 'sports', 'film'])[1 + (i % 6)],
            now() + (i % 60) * interval '1 day', now() + (i % 60) * interval '1 day' + interval '3 hours', 'published', now(), 'public'
       from unnest($2::text[], $3::text[]) with ordinality u(t, d, i)
     returning event_id`,
    [organizationId, titles, descriptions],
  );
  await root.query("commit");
  return rows.map((row) => row.event_id);
}

const words = (
  "jazz blues soul funk gospel choir orchestra symphony opera ballet theatre comedy poetry film cinema festival carnival market " +
  "food street wine beer coffee tea chocolate cooking tasting dinner brunch picnic garden park river lagoon beach island mountain " +
  "hiking running cycling football basketball tennis chess yoga dance salsa tango afrobeats highlife reggae hiphop rock indie " +
  "startup founders investors hackathon coding robotics science astronomy climate energy health wellness meditation family kids"
).split(/\s+/);

/**
 * Loads `count` impressions spread over the last 90 days the way a bulk load is done: each month's partition is
 * detached, stripped of its indexes, filled by one insert … select generate_series (foreign keys not checked:
 * session_replication_role = replica, the event ids are the bench's own), and attached again, which builds the
 * partition's indexes (the seed's BRIN, B-trees, composite and GIN) in one pass each; then ANALYZE.
 */
async function bulkLoadImpressions(root: pg.Client, events: string[], count: number, clientPrefix: string) {
  const windowEnd = Date.now();
  const windowStart = windowEnd - 89 * 86_400_000;
  const { rows: parts } = await root.query<{ name: string; bound: string; lo: Date; hi: Date }>(
    `select p.relid::regclass::text as name, pg_get_expr(c.relpartbound, c.oid) as bound,
            (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz as lo,
            (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz as hi
       from pg_partition_tree('analytics.event_impressions') p join pg_class c on c.oid = p.relid
      where p.isleaf`,
  );
  const overlapping = parts
    .map((part) => ({ ...part, from: Math.max(part.lo.getTime(), windowStart), to: Math.min(part.hi.getTime(), windowEnd) }))
    .filter((part) => part.to > part.from);
  const span = overlapping.reduce((sum, part) => sum + (part.to - part.from), 0);
  let given = 0;
  const timings: Array<{ partition: string; rows: number; insertMs: number; attachMs: number }> = [];
  for (const [index, part] of overlapping.entries()) {
    const n = index === overlapping.length - 1 ? count - given : Math.round((count * (part.to - part.from)) / span);
    await root.query(`alter table analytics.event_impressions detach partition ${part.name}`);
    const { rows: indexes } = await root.query<{ name: string; constraint: string | null }>(
      `select i.indexrelid::regclass::text as name, con.conname as constraint
         from pg_index i left join pg_constraint con on con.conindid = i.indexrelid and con.conrelid = i.indrelid
        where i.indrelid = $1::regclass`,
      [part.name],
    );
    for (const idx of indexes) {
      if (idx.constraint) await root.query(`alter table ${part.name} drop constraint ${idx.constraint}`);
      else await root.query(`drop index ${idx.name}`);
    }
    const insertStarted = performance.now();
    await root.query("begin");
    await root.query("set local session_replication_role = replica");
    await root.query(
      `insert into ${part.name} (event_id, client_id, visitor_id, country_code, occurred_at)
       select ($1::uuid[])[1 + (g % $2)], $3 || g, 'v' || (g % 5000), (array['NG','GH','KE','ZA','FR'])[1 + (g % 5)],
              to_timestamp($6::double precision / 1000) + make_interval(secs => ($7::double precision / 1000) * ((g * 7919) % $5) / $5)
         from generate_series($4::bigint, $4::bigint + $5 - 1) g`,
      [events, events.length, clientPrefix, given + 1, n, part.from, part.to - part.from],
    );
    await root.query("commit");
    const insertMs = performance.now() - insertStarted;
    const attachStarted = performance.now();
    await root.query("set maintenance_work_mem = '256MB'");
    await root.query(`alter table analytics.event_impressions attach partition ${part.name} ${part.bound}`);
    await root.query("reset maintenance_work_mem");
    timings.push({ partition: part.name, rows: n, insertMs, attachMs: performance.now() - attachStarted });
    given += n;
  }
  await root.query("analyze analytics.event_impressions");
  return { partitions: timings };
}

export async function benchAnalytics(db: TestDatabase, options: AnalyticsBenchOptions = {}) {
  const ingestRows = options.ingestRows ?? 100_000;
  const rows = options.rows ?? 10_000_000;
  const eventCount = options.events ?? 1_000;
  const recipients = options.recipients ?? 10_000;
  const similarCount = options.similarEvents ?? 100_000;
  const random = seededRandom(23);
  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  const tag = `anb${Date.now().toString(36)}`;
  try {
    const { organizationId, ownerId } = await seedOrganization(root, tag);
    const events = await publishedEvents(root, organizationId, eventCount, random, words);
    const now = new Date().toISOString();

    // --- Ingestion: endpoint vs COPY --------------------------------------------------------
    const server = await startServer("src/cli.ts", ["serve"], groundworkEnv(db, { RATE_LIMIT_PER_IP: "0", RATE_LIMIT_PER_USER: "0", RATE_LIMIT_SIGN_IN_PER_IP: "0", INGEST_RATE_LIMIT_PER_MINUTE: "0" }), "/healthz");
    let endpoint: { rows: number; ms: number; rowsPerSecond: number; batch: number; clients: number };
    try {
      const batch = 500;
      const clients = 4;
      const batches = Math.ceil(ingestRows / batch);
      const body = (b: number) =>
        JSON.stringify(
          Array.from({ length: batch }, (_, i) => ({ stream: "event", clientId: `${tag}-e-${b}-${i}`, id: events[(b * batch + i) % events.length], occurredAt: now, visitorId: `v${i % 97}` })),
        );
      // Warm-up: one batch (plans, connections), not counted.
      await fetch(`${server.url}/analytics/impressions`, { method: "POST", headers: { "content-type": "application/json" }, body: body(-1) });
      let next = 0;
      let accepted = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          for (;;) {
            const b = next++;
            if (b >= batches) return;
            const response = await fetch(`${server.url}/analytics/impressions`, { method: "POST", headers: { "content-type": "application/json" }, body: body(b) });
            const answer = (await response.json()) as { accepted?: number };
            if (response.status !== 200) throw new Error(`ingest answered ${response.status}: ${JSON.stringify(answer)}`);
            accepted += answer.accepted ?? 0;
          }
        }),
      );
      const ms = performance.now() - started;
      endpoint = { rows: accepted, ms, rowsPerSecond: (accepted / ms) * 1000, batch, clients };
    } finally {
      await server.stop();
    }
    const copyLines: string[] = [];
    for (let i = 0; i < ingestRows; i++) copyLines.push(`${events[i % events.length]}\t${tag}-c-${i}\tv${i % 97}\tweb\t${now}\n`);
    const copyStarted = performance.now();
    await copyFrom(root, "copy analytics.event_impressions (event_id, client_id, visitor_id, source, occurred_at) from stdin", copyLines.join(""));
    const copyMs = performance.now() - copyStarted;
    const copy = { rows: ingestRows, ms: copyMs, rowsPerSecond: (ingestRows / copyMs) * 1000 };

    // --- Dashboard: MV vs raw ---------------------------------------------------------------
    for (let month = 0; month <= 3; month++) {
      await root.query("select analytics_private.ensure_month_partition('analytics.event_impressions', (now() - make_interval(months => $1))::date)", [month]);
    }
    const loadStarted = performance.now();
    const load = await bulkLoadImpressions(root, events, rows, `${tag}-r-`);
    const loadMs = performance.now() - loadStarted;
    const { rows: counted } = await root.query<{ n: string }>("select count(*) as n from analytics.event_impressions");
    // The first fill of the view from 10 million rows: the worker's own function (a concurrent refresh), with
    // room to sort in memory (the server's default work_mem is 4 MB).
    const refreshStarted = performance.now();
    await root.query("set work_mem = '256MB'");
    await root.query("select analytics_private.refresh_stats()");
    await root.query("reset work_mem");
    await root.query("analyze analytics.mv_event_daily_stats");
    const refreshMs = performance.now() - refreshStarted;
    const target = events[0]!;
    const claims = JSON.stringify({ role: "gw_user", sub: ownerId, org_id: organizationId });
    const mvSql = `select day, total_views, unique_viewers from analytics.event_daily_stats where event_id = $1 and day >= (now() - interval '30 days')::date order by day`;
    const rawSql = `select (occurred_at at time zone 'UTC')::date as day, count(*) as total_views, count(distinct coalesce(user_id::text, visitor_id, client_id)) as unique_viewers
                      from analytics.event_impressions where event_id = $1 and occurred_at >= (now() - interval '30 days')::date group by 1 order by 1`;
    const time = async (sql: string, asUser: boolean, runs: number) => {
      const samples: number[] = [];
      let result: unknown[] = [];
      for (let i = 0; i < runs; i++) {
        await root.query("begin");
        if (asUser) await root.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [claims]);
        const started = performance.now();
        result = (await root.query(sql, [target])).rows;
        samples.push(performance.now() - started);
        await root.query("rollback");
      }
      samples.sort((a, b) => a - b);
      return { p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), rows: result.length, result };
    };
    const mv = await time(mvSql, true, 50);
    const raw = await time(rawSql, false, 10);
    // The seed's own dashboard query: every event of the organization since a day, busiest days first.
    const orgMvSql = `select event_id, day, total_views from analytics.event_daily_stats where day >= (now() - interval '30 days')::date and $1::uuid is not null order by total_views desc, event_id, day limit 20`;
    const orgRawSql = `select i.event_id, (i.occurred_at at time zone 'UTC')::date as day, count(*) as total_views
                         from analytics.event_impressions i join events.events e on e.event_id = i.event_id
                        where e.owner_context_id = (select owner_context_id from events.events where event_id = $1)
                          and i.occurred_at >= (now() - interval '30 days')::date
                        group by 1, 2 order by 3 desc, 1, 2 limit 20`;
    const orgMv = await time(orgMvSql, true, 20);
    const orgRaw = await time(orgRawSql, false, 5);
    const same = JSON.stringify((mv.result as Array<{ day: Date; total_views: string }>).map((r) => [r.day, r.total_views])) ===
      JSON.stringify((raw.result as Array<{ day: Date; total_views: string }>).filter((r) => mv.result.length > 0 && r.day >= (mv.result[0] as { day: Date }).day).map((r) => [r.day, r.total_views]));
    const dashboard = {
      rows: Number(counted[0]!.n),
      events: events.length,
      loadMs,
      load,
      refreshMs,
      mv: { p50Ms: mv.p50Ms, p99Ms: mv.p99Ms, days: mv.rows },
      raw: { p50Ms: raw.p50Ms, p99Ms: raw.p99Ms, days: raw.rows },
      ratio: raw.p50Ms / mv.p50Ms,
      sameAnswer: same,
      organization: { mv: { p50Ms: orgMv.p50Ms, p99Ms: orgMv.p99Ms }, raw: { p50Ms: orgRaw.p50Ms, p99Ms: orgRaw.p99Ms }, ratio: orgRaw.p50Ms / orgMv.p50Ms },
    };

    // --- Fan-out: message job to N followers vs bare graphile-worker -------------------------
    const bare = await bareWorker(db, root, recipients);
    await root.query("begin");
    await root.query(
      `insert into auth.users (username, email) select $1 || 'f' || i, $1 || 'f' || i || '@example.com' from generate_series(1, $2) i`,
      [tag, recipients],
    );
    await root.query(
      `insert into users.follows (follower_id, followed_organization_id) select user_id, $2 from auth.users where username like $1 || 'f%'`,
      [tag, organizationId],
    );
    const { rows: templates } = await root.query<{ template_id: string }>(
      `insert into messaging.message_templates (organization_id, name, subject, body, variables) values ($1, 'bench', 'News from {{ organization_name }}', 'Hello {{ recipient_name }}, code {{ code }}.', '{code}') returning template_id`,
      [organizationId],
    );
    const { rows: jobs } = await root.query<{ job_id: string }>(
      `insert into messaging.message_jobs (organization_id, template_id, audience, channel, variables) values ($1, $2, 'organization_followers', 'in_app', '{"code": "X"}') returning job_id`,
      [organizationId, templates[0]!.template_id],
    );
    await root.query("commit");
    const jobId = jobs[0]!.job_id;
    const pool = new pg.Pool({ connectionString: db.ownerUrl, max: 6 });
    pool.on("error", () => undefined);
    const taskList = makeTaskList(defaultTaskOptions, { workerUtils: { cleanup: async () => undefined } });
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const runner = await run({
      pgPool: pool,
      concurrency: 4,
      noHandleSignals: true,
      crontab: "",
      logger: new WorkerLogger(() => () => undefined),
      taskList: {
        messaging_fan_out: async (payload, helpers) => {
          await taskList.messaging_fan_out!(payload, helpers);
          finished();
        },
      },
    });
    let fanOut: { recipients: number; delivered: number; ms: number; notificationsPerSecond: number };
    try {
      const started = performance.now();
      await root.query("select graphile_worker.add_job('messaging_fan_out', json_build_object('id', $1::text))", [jobId]);
      await done;
      const ms = performance.now() - started;
      const { rows: counts } = await root.query<{ n: number }>("select count(*)::int as n from outbox.notifications where payload ->> 'jobId' = $1", [jobId]);
      fanOut = { recipients, delivered: counts[0]!.n, ms, notificationsPerSecond: (counts[0]!.n / ms) * 1000 };
    } finally {
      await runner.stop();
      await pool.end();
    }
    const messaging = { fanOut, bare: { jobs: bare.jobs, jobsPerSecond: bare.jobsPerSecond }, ratio: fanOut.notificationsPerSecond / bare.jobsPerSecond };

    // --- Similar events over N events ------------------------------------------------------
    const extra = similarCount - events.length;
    const seedStarted = performance.now();
    for (let made = 0; made < extra; made += 20_000) {
      await publishedEvents(root, organizationId, Math.min(20_000, extra - made), random, words);
    }
    await root.query("analyze events.events");
    const embedStarted = performance.now();
    let embedded = 0;
    for (;;) {
      const { rows: batch } = await root.query<{ n: number }>("select ml_private.embed_events(25000) as n");
      embedded += batch[0]!.n;
      if (batch[0]!.n < 25000) break;
    }
    const embedMs = performance.now() - embedStarted;
    // Index-only scans of the postings need the visibility map: what autovacuum does after a bulk load.
    await root.query("vacuum analyze ml.embedding_terms, ml.embeddings, events.events");
    const seedMs = performance.now() - seedStarted;
    const { rows: picks } = await root.query<{ event_id: string }>("select event_id from events.events where owner_context_id = $1 order by md5(event_id::text) limit 100", [organizationId]);
    const samples: number[] = [];
    let found = 0;
    const answers = new Map<string, Array<{ event_id: string; score: number }>>();
    for (const pick of picks) {
      await root.query("begin");
      await root.query("select set_config('role', 'gw_anonymous', true), set_config('request.jwt.claims', '{\"role\":\"gw_anonymous\"}', true)");
      const started = performance.now();
      const { rows: similar } = await root.query<{ event_id: string; score: number }>("select event_id, score from ml.similar_events($1, 10)", [pick.event_id]);
      samples.push(performance.now() - started);
      found += similar.length;
      answers.set(pick.event_id, similar);
      await root.query("rollback");
    }
    samples.sort((a, b) => a - b);
    // Exact means exact: the answers of a sample of sources against brute force, ml.cosine over the real[] vectors of
    // every embedded event (as superuser, so filtered by hand to what an anonymous caller sees).
    const bruteSources = picks.slice(0, Number(process.env.BENCH_ANALYTICS_BRUTE_FORCE_SOURCES ?? 3));
    let bruteMs = 0;
    let bruteMismatches = 0;
    for (const pick of bruteSources) {
      const started = performance.now();
      const { rows: exact } = await root.query<{ event_id: string; score: number }>(
        `select c.entity_id as event_id, ml.cosine(s.vector, c.vector) as score
           from ml.embeddings s
           join ml.embeddings c on c.model_id = s.model_id and c.entity_type = 'event' and c.entity_id <> s.entity_id
           join events.events e on e.event_id = c.entity_id
          where s.entity_type = 'event' and s.entity_id = $1 and s.model_id = ml_private.hash_model_id()
            and e.status = 'published' and e.ends_at > now() and e.visibility = 'public' and e.published_at is not null
          order by 2 desc nulls last, 1 limit 10`,
        [pick.event_id],
      );
      bruteMs += performance.now() - started;
      const got = answers.get(pick.event_id) ?? [];
      const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;
      const tie = (i: number) => (i > 0 && near(exact[i]!.score, exact[i - 1]!.score)) || (i + 1 < exact.length && near(exact[i]!.score, exact[i + 1]!.score));
      if (got.length !== exact.length) bruteMismatches++;
      else if (exact.some((row, i) => !near(row.score, got[i]!.score) || (!tie(i) && row.event_id !== got[i]!.event_id))) bruteMismatches++;
    }
    const similar = {
      events: similarCount,
      embedded,
      seedMs,
      embedMs,
      queries: picks.length,
      p50Ms: percentile(samples, 50),
      p99Ms: percentile(samples, 99),
      meanResults: found / picks.length,
      bruteForce: { sources: bruteSources.length, mismatches: bruteMismatches, msPerSource: bruteMs / Math.max(1, bruteSources.length) },
    };

    return { ingestion: { endpoint, copy, ratio: endpoint.rowsPerSecond / copy.rowsPerSecond }, dashboard, messaging, similar };
  } finally {
    await root.end();
  }
}
