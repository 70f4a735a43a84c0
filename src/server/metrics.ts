import { createHash, timingSafeEqual } from "node:crypto";
import type { RequestHandler } from "express";
import type { Pool } from "pg";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { errorBody } from "../errors.ts";
import type { Logger } from "../logger.ts";

const seconds = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Operation names come from clients: past this many distinct ones, new names count as "other". */
const maxOperationNames = 200;
/** /metrics reads the job queue and outbox at most this often (ms). */
const snapshotTtlMs = 5_000;

export interface Metrics {
  registry: Registry;
  observeHttp(labels: { method: string; route: string; status: number }, seconds: number): void;
  observeGraphql(labels: { operationName: string | undefined; operationType: string | undefined }, seconds: number): void;
  countError(code: string): void;
  countRateLimited(limit: string): void;
  /** One round trip reserving rate-limit quota (src/server/quotas.ts). */
  countRateLimitReservation(): void;
}

interface Snapshot {
  jobs_ready: string;
  jobs_scheduled: string;
  jobs_running: string;
  jobs_retrying: string;
  jobs_dead: string;
  outbox_pending: string;
  outbox_lag_seconds: number;
  outbox_dead: string;
}

/**
 * Prometheus metrics of one API process, on a registry of its own (so several
 * APIs in one process, as in tests, do not collide). Operation names label
 * the GraphQL series: with `knownOperationNames` (the persisted-operations
 * manifest's) only those, otherwise the first 200 distinct plain names seen;
 * any other name counts as `other`, so clients can neither grow the series
 * without bound nor write what they like into them.
 */
export function createMetrics(pool: Pool, logger: Logger, knownOperationNames?: ReadonlySet<string>): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const httpRequests = new Counter({
    name: "groundwork_http_requests_total",
    help: "HTTP requests answered, by method, route and status.",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: "groundwork_http_request_duration_seconds",
    help: "HTTP request latency, by method, route and status.",
    labelNames: ["method", "route", "status"] as const,
    buckets: seconds,
    registers: [registry],
  });
  const graphqlRequests = new Counter({
    name: "groundwork_graphql_requests_total",
    help: "GraphQL operations run over HTTP, by operation name and type.",
    labelNames: ["operation_name", "operation_type"] as const,
    registers: [registry],
  });
  const graphqlDuration = new Histogram({
    name: "groundwork_graphql_request_duration_seconds",
    help: "GraphQL request latency (whole HTTP request), by operation name and type.",
    labelNames: ["operation_name", "operation_type"] as const,
    buckets: seconds,
    registers: [registry],
  });
  const errors = new Counter({
    name: "groundwork_errors_total",
    help: "Errors answered to clients, by extensions.code.",
    labelNames: ["code"] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: "groundwork_rate_limited_total",
    help: "Requests refused with 429, by the limit that refused them.",
    labelNames: ["limit"] as const,
    registers: [registry],
  });
  const reservations = new Counter({
    name: "groundwork_rate_limit_reservations_total",
    help: "Round trips to PostgreSQL reserving rate-limit quota (one may serve many requests).",
    registers: [registry],
  });
  new Gauge({
    name: "groundwork_db_pool_connections",
    help: "The API's PostgreSQL pool: connections by state (total, idle, waiting = requests queued for a connection).",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      this.set({ state: "total" }, pool.totalCount);
      this.set({ state: "idle" }, pool.idleCount);
      this.set({ state: "waiting" }, pool.waitingCount);
    },
  });

  let cached: { at: number; value: Promise<Snapshot | null> } | undefined;
  const snapshot = (): Promise<Snapshot | null> => {
    const now = Date.now();
    if (!cached || now - cached.at > snapshotTtlMs) {
      const value = pool
        .query<Snapshot>("select * from ops_private.metrics_snapshot()")
        .then((result) => result.rows[0] ?? null)
        .catch((error: unknown) => {
          logger.warn({ err: error }, "metrics: reading the job queue and outbox failed");
          return null;
        });
      cached = { at: now, value };
    }
    return cached.value;
  };
  new Gauge({
    name: "groundwork_job_queue_depth",
    help: "graphile-worker jobs by state (ready, scheduled, running, retrying, dead).",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      if (!s) return;
      for (const state of ["ready", "scheduled", "running", "retrying", "dead"] as const) {
        this.set({ state }, Number(s[`jobs_${state}`]));
      }
    },
  });
  new Gauge({
    name: "groundwork_outbox_pending_dispatches",
    help: "Outbox dispatches not yet delivered, dead or cancelled.",
    registers: [registry],
    async collect() {
      const s = await snapshot();
      if (s) this.set(Number(s.outbox_pending));
    },
  });
  new Gauge({
    name: "groundwork_outbox_lag_seconds",
    help: "Age of the oldest pending outbox dispatch (0 when none is pending).",
    registers: [registry],
    async collect() {
      const s = await snapshot();
      if (s) this.set(Number(s.outbox_lag_seconds));
    },
  });
  new Gauge({
    name: "groundwork_outbox_dead_letters",
    help: "Outbox dispatches that used every attempt.",
    registers: [registry],
    async collect() {
      const s = await snapshot();
      if (s) this.set(Number(s.outbox_dead));
    },
  });

  const fixedNames = knownOperationNames && knownOperationNames.size > 0 ? knownOperationNames : undefined;
  const seenNames = new Set<string>();
  const operationLabel = (name: string | undefined): string => {
    if (!name) return "anonymous";
    if (fixedNames) return fixedNames.has(name) ? name : "other";
    if (seenNames.has(name)) return name;
    if (seenNames.size >= maxOperationNames || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) return "other";
    seenNames.add(name);
    return name;
  };

  return {
    registry,
    observeHttp({ method, route, status }, elapsed) {
      const labels = { method, route, status: String(status) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, elapsed);
    },
    observeGraphql({ operationName, operationType }, elapsed) {
      const labels = { operation_name: operationLabel(operationName), operation_type: operationType ?? "none" };
      graphqlRequests.inc(labels);
      graphqlDuration.observe(labels, elapsed);
    },
    countError(code) {
      errors.inc({ code });
    },
    countRateLimited(limit) {
      rateLimited.inc({ limit });
    },
    countRateLimitReservation() {
      reservations.inc();
    },
  };
}

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/**
 * GET /metrics: the registry in Prometheus text format. With a token (METRICS_TOKEN),
 * only for `Authorization: Bearer <token>` (compared in constant time); 401 otherwise.
 */
export function metricsHandler(metrics: Metrics, token: string | undefined): RequestHandler {
  const expected = token === undefined ? undefined : digest(token);
  return async (req, res) => {
    if (expected) {
      const presented = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
      if (!presented || !timingSafeEqual(digest(presented), expected)) {
        res.setHeader("WWW-Authenticate", 'Bearer realm="metrics"');
        res.status(401).json(errorBody("UNAUTHENTICATED", "/metrics needs the scraper's token (Authorization: Bearer <METRICS_TOKEN>).", { reason: "metrics_token" }));
        return;
      }
    }
    res.setHeader("Content-Type", metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  };
}
