/**
 * Outbox benchmarks: end-to-end webhook latency and delivery throughput of the
 * Groundwork worker (in process, concurrency 4) against a local HTTP receiver,
 * with the bare graphile-worker throughput on no-op jobs (same database, same
 * concurrency, its own pool) as the baseline.
 *
 * Latency: 1,000 events, each published in its own committed transaction, one
 * after the other with a short pause; every event has its own aggregate (its
 * own delivery stream), the common case of independent entities. Latency is
 * the receiver's arrival time minus the time the publishing COMMIT returned,
 * both read from performance.now() in this process.
 *
 * Throughput: 10,000 events published in 10 transactions of 10 statements of
 * 100 outbox.publish() calls, spread over 1,000 aggregates (and, for context,
 * over 10 aggregates: 10 strictly ordered streams); wall time from the first
 * COMMIT until the receiver has every event id (publishing runs while the
 * worker delivers). The receiver also checks that the event ids of each
 * aggregate arrive in ascending order. Baseline: bare graphile-worker running
 * as many no-op jobs, added in one add_jobs call, at the same concurrency.
 *
 * Each phase also reports what the worker did (job fetches, empty fetches, mean
 * fetch time), how many named job queues exist, and pending dispatches left
 * without any job (they would never be delivered). A phase whose receiver sees
 * nothing for BENCH_OUTBOX_IDLE_MS (15 s) stops waiting and reports what arrived.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import type { Runner } from "graphile-worker";
import pg from "pg";
import { bareWorker } from "./workerJobs.ts";
import { createLogger } from "../../src/logger.ts";
import { startWorker } from "../../src/worker/runner.ts";
import type { TestDatabase } from "../setup/testDatabase.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const concurrency = 4;
const topic = "bench.ping";
/** How long a phase waits without any arrival before it reports what arrived (a stall). */
const idleMs = Number(process.env.BENCH_OUTBOX_IDLE_MS ?? 15_000);

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

interface Arrival {
  eventId: number;
  at: number;
}

/** What the receiver saw during one phase. */
class Phase {
  readonly arrivals = new Map<number, number>();
  readonly lastByAggregate = new Map<string, number>();
  orderViolations = 0;
  duplicates = 0;
  lastArrival = 0;
  target = Infinity;
  private onComplete: (() => void) | undefined;

  record({ eventId, at }: Arrival, aggregate: string | undefined): void {
    if (this.arrivals.has(eventId)) {
      this.duplicates++;
      return;
    }
    this.arrivals.set(eventId, at);
    this.lastArrival = Math.max(this.lastArrival, at);
    if (aggregate !== undefined) {
      const last = this.lastByAggregate.get(aggregate);
      if (last !== undefined && eventId < last) this.orderViolations++;
      else this.lastByAggregate.set(aggregate, eventId);
    }
    if (this.arrivals.size >= this.target) this.onComplete?.();
  }

  /**
   * Resolves once `count` distinct events have arrived (true), or false once
   * nothing has arrived for `idleMs` (a stalled stream: the rest would wait forever).
   */
  async waitFor(count: number, idleMs: number): Promise<boolean> {
    this.target = count;
    if (this.arrivals.size >= count) return true;
    const waitStarted = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        new Promise<boolean>((resolve) => (this.onComplete = () => resolve(true))),
        new Promise<boolean>((resolve) => {
          timer = setInterval(() => {
            if (performance.now() - Math.max(waitStarted, this.lastArrival) > idleMs) resolve(false);
          }, 250);
        }),
      ]);
    } finally {
      clearInterval(timer);
      this.onComplete = undefined;
    }
  }
}

/** A webhook endpoint on 127.0.0.1 that answers 204 and timestamps each event. */
async function startReceiver() {
  let phase = new Phase();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const at = performance.now();
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id: string; aggregate: { type: string; id: string } | null };
      phase.record({ eventId: Number(body.id), at }, body.aggregate ? `${body.aggregate.type}:${body.aggregate.id}` : undefined);
      response.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    /** Starts recording a new phase. */
    newPhase(): Phase {
      phase = new Phase();
      return phase;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function setUp(root: pg.Client, url: string): Promise<string> {
  await root.query(
    `insert into registry.types (namespace, code, label) values ('outbox_topic', $1, 'Bench ping')
     on conflict (namespace, code) do nothing`,
    [topic],
  );
  const { rows } = await root.query<{ organization_id: string }>(
    "insert into auth.organizations (name, slug) values ('Bench', 'bench-outbox') returning organization_id",
  );
  const organizationId = rows[0]!.organization_id;
  await root.query("insert into outbox.webhook_subscriptions (organization_id, url, topics) values ($1, $2, $3)", [
    organizationId,
    url,
    [topic],
  ]);
  return organizationId;
}

async function publishOne(root: pg.Client, organizationId: string, aggregateType: string, aggregateId: string, n: number) {
  await root.query("begin");
  const { rows } = await root.query<{ id: string }>("select outbox.publish($1, $2, $3, $4, $5) as id", [
    topic,
    { n },
    aggregateType,
    aggregateId,
    organizationId,
  ]);
  await root.query("commit");
  return { eventId: Number(rows[0]!.id), committedAt: performance.now() };
}

async function latency(root: pg.Client, receiver: Awaited<ReturnType<typeof startReceiver>>, organizationId: string, events: number, pauseMs: number) {
  // Warm-up (not measured): connections to the receiver, plans, the worker's pool.
  const warm = receiver.newPhase();
  for (let i = 0; i < 50; i++) {
    await publishOne(root, organizationId, "bench_warm", `w${i}`, i);
    await sleep(pauseMs);
  }
  await warm.waitFor(50, idleMs);

  const phase = receiver.newPhase();
  const committed = new Map<number, number>();
  for (let i = 0; i < events; i++) {
    const { eventId, committedAt } = await publishOne(root, organizationId, "bench_latency", `l${i}`, i);
    committed.set(eventId, committedAt);
    await sleep(pauseMs);
  }
  const complete = await phase.waitFor(events, idleMs);
  const samples = [...committed]
    .filter(([eventId]) => phase.arrivals.has(eventId))
    .map(([eventId, at]) => phase.arrivals.get(eventId)! - at)
    .sort((a, b) => a - b);
  return {
    events,
    delivered: phase.arrivals.size,
    complete,
    pauseMs,
    p50Ms: percentile(samples, 0.5),
    p95Ms: percentile(samples, 0.95),
    p99Ms: percentile(samples, 0.99),
    maxMs: samples[samples.length - 1]!,
    minMs: samples[0]!,
    duplicates: phase.duplicates,
  };
}

async function throughput(
  root: pg.Client,
  receiver: Awaited<ReturnType<typeof startReceiver>>,
  organizationId: string,
  { events, aggregates, aggregateType }: { events: number; aggregates: number; aggregateType: string },
) {
  const perStatement = 100;
  const statementsPerTransaction = 10;
  const phase = receiver.newPhase();
  let firstCommit: number | undefined;
  const started = performance.now();
  for (let from = 1; from <= events; from += perStatement * statementsPerTransaction) {
    await root.query("begin");
    for (let s = 0; s < statementsPerTransaction; s++) {
      const first = from + s * perStatement;
      await root.query(
        `select count(outbox.publish($1, jsonb_build_object('n', g), $2, 'a' || (g % $3), $4))
           from generate_series($5::int, $6::int) g`,
        [topic, aggregateType, aggregates, organizationId, first, Math.min(events, first + perStatement - 1)],
      );
    }
    await root.query("commit");
    firstCommit ??= performance.now();
  }
  const lastCommit = performance.now();
  const complete = await phase.waitFor(events, idleMs);
  // Up to the last arrival, also when some never arrived (counted in `delivered`).
  const wallMs = phase.lastArrival - firstCommit!;
  return {
    events,
    delivered: phase.arrivals.size,
    complete,
    aggregates,
    publishMs: lastCommit - started,
    /** From the last COMMIT to the last arrival: what delivery still owed when publishing ended. */
    drainMs: phase.lastArrival - lastCommit,
    wallMs,
    eventsPerSecond: (phase.arrivals.size / wallMs) * 1000,
    orderViolations: phase.orderViolations,
    duplicates: phase.duplicates,
  };
}

/** What the worker did during a phase: job fetches, fetches that found nothing, jobs run. */
class WorkerProbe {
  fetches = 0;
  emptyFetches = 0;
  fetchMs = 0;
  jobs = 0;
  private readonly started = new Map<unknown, number>();

  constructor(runner: Runner) {
    runner.events.on("worker:getJob:start", ({ worker }) => this.started.set(worker, performance.now()));
    const fetched = (worker: unknown) => {
      this.fetches++;
      this.fetchMs += performance.now() - (this.started.get(worker) ?? performance.now());
    };
    runner.events.on("job:start", ({ worker }) => {
      fetched(worker);
      this.jobs++;
    });
    runner.events.on("worker:getJob:empty", ({ worker }) => {
      fetched(worker);
      this.emptyFetches++;
    });
  }

  /** Counts since the last call. */
  take() {
    const result = {
      jobs: this.jobs,
      fetches: this.fetches,
      emptyFetches: this.emptyFetches,
      meanFetchMs: this.fetches ? this.fetchMs / this.fetches : 0,
    };
    this.fetches = this.emptyFetches = this.fetchMs = this.jobs = 0;
    return result;
  }
}

async function jobQueueRows(root: pg.Client): Promise<number> {
  const { rows } = await root.query<{ n: number }>("select count(*)::int as n from graphile_worker._private_job_queues");
  return rows[0]!.n;
}

/**
 * Pending dispatches of an aggregate type that no job will deliver: their
 * partition has no job left (waiting or running). Only a later event in the
 * partition, or the outbox_sweep safety net, would pick them up.
 */
async function orphanedDispatches(root: pg.Client, aggregateType: string): Promise<number> {
  const { rows } = await root.query<{ n: number }>(
    `select count(*)::int as n
       from outbox.dispatches d
       join outbox.events e on e.event_id = d.event_id
      where e.aggregate_type = $1 and d.status = 'pending'
        and not exists (select 1 from graphile_worker.jobs j where j.queue_name = 'outbox:' || d.partition)`,
    [aggregateType],
  );
  return rows[0]!.n;
}

export interface OutboxBenchOptions {
  latencyEvents?: number;
  latencyPauseMs?: number;
  burstEvents?: number;
}

/**
 * Every phase starts from the same state: job and outbox tables vacuumed and
 * analysed while (nearly) empty, the steady state of a queue table (what
 * autovacuum leaves behind between bursts). graphile-worker's get_job plan
 * depends on those statistics: with 5,000 queued jobs one fetch took 0.3 ms
 * with statistics taken while they were queued and 6-8 ms with statistics of
 * an empty or never analysed table.
 */
async function settle(root: pg.Client): Promise<void> {
  await root.query(
    "vacuum (analyze) graphile_worker._private_jobs, graphile_worker._private_job_queues, outbox.events, outbox.dispatches, outbox.deliveries",
  );
}

export async function benchOutbox(db: TestDatabase, options: OutboxBenchOptions = {}) {
  const { latencyEvents = 1000, latencyPauseMs = 5, burstEvents = 10_000 } = options;
  const receiver = await startReceiver();
  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  const logger = createLogger(process.env.LOG_LEVEL ?? "warn", "bench-worker");
  try {
    const organizationId = await setUp(root, receiver.url);
    // Baseline first. The Groundwork worker and the bare one never run at the same
    // time: an idle worker still answers every jobs:insert NOTIFY with a fetch.
    await settle(root);
    const bare = await bareWorker(db, root, burstEvents);
    const worker = await startWorker({ ownerUrl: db.ownerUrl, concurrency, logger });
    const probe = new WorkerProbe(worker.runner);
    const observed = async <T>(aggregateType: string, measure: () => Promise<T>) => {
      await settle(root);
      probe.take();
      const result = await measure();
      return {
        ...result,
        worker: probe.take(),
        jobQueueRows: await jobQueueRows(root),
        orphanedDispatches: await orphanedDispatches(root, aggregateType),
      };
    };
    let measured;
    try {
      const latencyResult = await observed("bench_latency", () => latency(root, receiver, organizationId, latencyEvents, latencyPauseMs));
      const spread = await observed("bench_spread", () =>
        throughput(root, receiver, organizationId, { events: burstEvents, aggregates: 1000, aggregateType: "bench_spread" }),
      );
      const ordered = await observed("bench_ordered", () =>
        throughput(root, receiver, organizationId, { events: burstEvents, aggregates: 10, aggregateType: "bench_ordered" }),
      );
      measured = { latency: latencyResult, spread, ordered };
    } finally {
      await worker.stop();
    }
    return {
      latency: measured.latency,
      throughput: {
        spread: measured.spread,
        ordered: measured.ordered,
        bareWorker: bare,
        ratio: measured.spread.eventsPerSecond / bare.jobsPerSecond,
        orderedRatio: measured.ordered.eventsPerSecond / bare.jobsPerSecond,
      },
    };
  } finally {
    await root.end();
    await receiver.close();
  }
}
