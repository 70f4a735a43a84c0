import cors from "cors";
import express, { type ErrorRequestHandler, type RequestHandler } from "express";
import helmet from "helmet";
import { createServer, type Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/express/v4";
import { errorBody } from "../errors.ts";
import { createPool } from "../db/pool.ts";
import type { Logger } from "../logger.ts";
import { authenticate } from "./authenticate.ts";
import { devSignInPath, devSignInRouter, devSignInScript, type DevSignInOptions } from "./devSignIn.ts";
import { inboxRouter } from "./inbox.ts";
import type { TokenService } from "./jwt.ts";
import { defaultApiLimits, maxRequestBytes, type ApiLimits } from "../config.ts";
import { createMetrics, metricsHandler, type Metrics } from "./metrics.ts";
import { loadManifest, operationNamesOf, resolveDocument, type Manifest } from "./persisted.ts";
import { makePreset } from "./preset.ts";
import { ingestRouter } from "./ingest.ts";
import { createNotificationFeed, type NotificationFeedOptions } from "./notificationFeed.ts";
import { createQuotas } from "./quotas.ts";
import { createRateLimiter, rateLimit, type DocumentOf } from "./rateLimit.ts";
import { recordErrors, startRecord } from "./requestContext.ts";
import { attachWebSockets } from "./websocket.ts";

/** Body-parser failures become coded GraphQL-shaped errors instead of an HTML 500. */
const requestErrors: ErrorRequestHandler = (error: { type?: string; status?: number }, _req, res, next) => {
  if (res.headersSent) return next(error);
  if (error.type === "entity.too.large") {
    res.status(413).json(errorBody("PAYLOAD_TOO_LARGE", `The request body is larger than ${maxRequestBytes} bytes.`));
  } else if (error.type === "entity.parse.failed" || error.type === "encoding.unsupported" || error.type === "charset.unsupported") {
    res.status(400).json(errorBody("BAD_REQUEST", "The request body is not valid JSON."));
  } else {
    next(error);
  }
};

export interface ApiOptions {
  authenticatorUrl: string;
  /** false: no prepared statements (a transaction pooler in front; DATABASE_PREPARED_STATEMENTS=off). */
  preparedStatements?: boolean;
  tokenService: TokenService;
  logger: Logger;
  port: number;
  host: string;
  poolSize: number;
  /** How often (ms) a signed-in WebSocket re-checks that its session is not revoked; default 5000. */
  revocationCheckIntervalMs?: number;
  /** The realtime feed's poll interval and interruption delay (src/server/notificationFeed.ts). */
  realtime?: NotificationFeedOptions;
  /** Limits, timeouts, rate limits, CORS, persisted operations; default: defaultApiLimits(). */
  limits?: ApiLimits;
  /** Presets added on top of Groundwork's (extra plugins). */
  extraPresets?: GraphileConfig.Preset[];
  /**
   * GraphiQL's "sign in as" (development only: src/groundwork.ts passes it when
   * NODE_ENV=development and GraphiQL is on); answered on loopback only.
   */
  devSignIn?: DevSignInOptions;
}

export const defaultRevocationCheckIntervalMs = 5000;

export interface Api {
  server: Server;
  url: string;
  metrics: Metrics | undefined;
  /** Requests being answered right now. */
  inFlight(): number;
  /**
   * Stops accepting, lets in-flight requests finish until `deadline` (epoch ms;
   * default limits.shutdownTimeoutMs from now), then closes everything.
   */
  stop(deadline?: number): Promise<void>;
}

// GraphQL over HTTP: a client that sends no Accept header, or only "*/*", gets
// application/json (grafserv alone would pick application/graphql-response+json).
const defaultAccept: RequestHandler = (req, _res, next) => {
  const accept = req.headers.accept?.trim();
  if (!accept || /^\*\/\*\s*(;[^,]*)?$/.test(accept)) req.headers.accept = "application/json";
  next();
};

/** Health checks and scrapes come every few seconds: their access log lines are debug, unless they fail. */
const probePaths = new Set(["/healthz", "/readyz", "/metrics"]);

/**
 * The request types /graphql reads (grafserv's too): each is parsed here, so the
 * rate limiter sees the document of every request it lets through.
 */
const graphqlBodyParsers = [express.json({ limit: maxRequestBytes }), express.text({ type: "application/graphql", limit: maxRequestBytes })];

/**
 * A body no parser above took would be read by grafserv itself, unseen by the
 * rate limiter (as application/graphql was): refused like grafserv refuses a
 * type it does not take (415; 400 without a Content-Type), so that holds
 * whatever grafserv is told to accept (`grafserv.allowedRequestContentTypes`).
 */
const requireParsedBody: RequestHandler = (req, res, next) => {
  const hasBody = req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] ?? "0") !== "0";
  if (req.method !== "POST" || req.body !== undefined || !hasBody) return next();
  const type = req.headers["content-type"]?.split(";")[0]?.trim();
  if (!type) {
    res.status(400).json(errorBody("BAD_REQUEST", "Could not determine the Content-Type of the request."));
    return;
  }
  res.status(415).json(errorBody("BAD_REQUEST", `Media type '${type}' is not allowed: send application/json or application/graphql.`));
};

/** Refuses JSON arrays: GraphQL batching would multiply every per-request limit. */
const refuseBatches: RequestHandler = (req, res, next) => {
  if (Array.isArray(req.body)) {
    res.status(400).json(errorBody("BATCHING_NOT_SUPPORTED", "Batched requests (a JSON array) are not supported; send one operation per request."));
    return;
  }
  next();
};

export async function startApi(options: ApiOptions): Promise<Api> {
  const { logger, tokenService } = options;
  const revocationCheckIntervalMs = options.revocationCheckIntervalMs ?? defaultRevocationCheckIntervalMs;
  if (!Number.isInteger(revocationCheckIntervalMs) || revocationCheckIntervalMs < 10) {
    throw new Error(`revocationCheckIntervalMs must be an integer of at least 10 (ms), got ${revocationCheckIntervalMs}`);
  }
  const limits = options.limits ?? defaultApiLimits();
  const manifest: Manifest = limits.persistedOperationsFile ? loadManifest(limits.persistedOperationsFile) : {};
  if (limits.persistedOperations !== "off" && Object.keys(manifest).length === 0) {
    throw new Error("Persisted operations are on but the manifest is empty or missing (PERSISTED_OPERATIONS_FILE).");
  }
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", limits.trustProxy);
  const server = createServer(app);
  const pool = createPool(options.authenticatorUrl, options.poolSize, logger, "api", { preparedStatements: options.preparedStatements ?? true });
  // notificationAdded's events: one poll per interval on the API pool, not a LISTEN (src/server/notificationFeed.ts).
  const notificationFeed = createNotificationFeed(pool, logger, options.realtime);
  const metrics = limits.metrics ? createMetrics(pool, logger, operationNamesOf(manifest)) : undefined;
  // Rate-limit budgets shared with every other API process, spent from reserved chunks (src/server/quotas.ts).
  const quotas = createQuotas(pool, logger, { onReservation: metrics ? () => metrics.countRateLimitReservation() : undefined });
  let inFlight = 0;
  let draining = false;

  // Request id, access log and HTTP metrics for every request.
  app.use((req, res, next) => {
    const record = startRecord(req);
    const started = process.hrtime.bigint();
    inFlight += 1;
    res.setHeader("X-Request-Id", record.requestId);
    if (draining) res.setHeader("Connection", "close");
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight -= 1;
      const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
      // originalUrl: inside a mounted middleware req.path is relative to the mount point.
      const pathname = req.originalUrl.split("?")[0] ?? "";
      const route = ["/graphql", "/graphiql", "/healthz", "/readyz", "/metrics"].includes(pathname)
        ? pathname
        : pathname.startsWith("/webhooks/") ? "/webhooks/:source" : pathname === "/analytics/impressions" ? pathname : "other";
      if (metrics) {
        metrics.observeHttp({ method: req.method, route, status: res.statusCode }, elapsed);
        if (route === "/graphql" && req.method !== "OPTIONS") metrics.observeGraphql(record, elapsed);
        for (const code of record.errorCodes) metrics.countError(code);
      }
      // An unexpected error was logged with its errorId only (maskError has no request): this line ties them to the request.
      const level = record.errorIds.length > 0 ? "error" : res.statusCode >= 500 ? "warn" : probePaths.has(pathname) && res.statusCode < 400 ? "debug" : "info";
      logger[level](
        {
          requestId: record.requestId,
          method: req.method,
          path: pathname,
          status: res.statusCode,
          ms: Math.round(elapsed * 1000),
          operationName: record.operationName,
          errors: record.errorCodes.length ? record.errorCodes : undefined,
          errorIds: record.errorIds.length ? record.errorIds : undefined,
        },
        "request",
      );
    };
    res.once("finish", finish);
    res.once("close", finish);
    // Errors answered by express middleware (auth, body, rate limit) are counted here; grafserv's in ErrorCodesPlugin.
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      const errors = (body as { errors?: Array<{ extensions?: Record<string, unknown> }> } | null)?.errors;
      if (Array.isArray(errors)) recordErrors(record, errors);
      return json(body);
    };
    next();
  });

  // Security headers: a strict CSP for API responses; GraphiQL's page needs its own scripts.
  const strictHeaders = helmet({ contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } });
  const pageHeaders = helmet({ contentSecurityPolicy: false });
  app.use((req, res, next) => (req.path.startsWith("/graphiql") || req.path.startsWith("/ruru-static") ? pageHeaders : strictHeaders)(req, res, next));
  // GraphQL first: the hot path walks only its own layers, not every route below (issue 24's profile).
  const graphqlRoutes = express.Router();
  app.use(graphqlRoutes);

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    if (draining) {
      res.status(503).json({ status: "unavailable", reason: "shutting down" });
      return;
    }
    try {
      await pool.query("select 1");
      res.json({ status: "ready" });
    } catch (error) {
      logger.warn({ err: error }, "readiness check failed");
      res.status(503).json({ status: "unavailable", reason: "database unreachable" });
    }
  });
  if (metrics) app.get("/metrics", metricsHandler(metrics, limits.metricsToken));
  app.use(inboxRouter(pool, logger, limits.inbox));
  if (limits.corsOrigins.length > 0) {
    app.use(
      "/analytics/impressions",
      cors({
        origin: limits.corsOrigins.includes("*") ? "*" : limits.corsOrigins,
        methods: ["POST", "OPTIONS"],
        allowedHeaders: ["Authorization", "Content-Type"],
        exposedHeaders: ["X-Request-Id", "Retry-After"],
        maxAge: 600,
      }),
    );
  }
  // Beacons: an optional bearer token (a bad one is a 401), then the route's own limit and checks.
  app.use("/analytics/impressions", authenticate(tokenService));
  app.use(ingestRouter(pool, quotas, logger, limits.ingest, limits.statementTimeoutMs));
  if (limits.corsOrigins.length > 0) {
    graphqlRoutes.use(
      "/graphql",
      cors({
        origin: limits.corsOrigins.includes("*") ? "*" : limits.corsOrigins,
        methods: ["GET", "POST", "OPTIONS"],
        allowedHeaders: ["Authorization", "Content-Type", "Accept", "X-Request-Id"],
        exposedHeaders: ["X-Request-Id", "Retry-After"],
        maxAge: 600,
      }),
    );
  }
  // The document a body (JSON, or application/graphql text) or a WebSocket subscribe payload runs, for the rate limiter.
  const documentOf: DocumentOf = (body) => {
    const source = typeof body === "string" ? { query: body } : body && typeof body === "object" ? (body as Record<string, unknown>) : undefined;
    if (!source) return { query: undefined, operationName: undefined };
    const resolved = resolveDocument(limits.persistedOperations, manifest, source);
    return { query: resolved.ok ? resolved.query : undefined, operationName: source.operationName };
  };
  const limiter = createRateLimiter(quotas, limits.rateLimit, metrics, limits.maxDocumentBytes);
  graphqlRoutes.use(
    "/graphql",
    defaultAccept,
    authenticate(tokenService),
    ...graphqlBodyParsers,
    requireParsedBody,
    refuseBatches,
    rateLimit(limiter, documentOf),
  );

  const devSignIn = options.devSignIn && limits.graphiql ? devSignInRouter(options.devSignIn, tokenService, logger) : undefined;
  if (devSignIn) graphqlRoutes.use(devSignInPath, devSignIn.router);
  const pgl = postgraphile(
    makePreset({ pool, notificationFeed, tokenService, logger, limits, manifest, extraPresets: options.extraPresets, graphiqlHeadScript: devSignIn ? devSignInScript : undefined }),
  );
  const serv = pgl.createServ(grafserv);
  // false: no grafserv upgrade handler; ours authenticates connection_init.
  await serv.addTo(graphqlRoutes as unknown as express.Express, server, false);
  app.use(requestErrors);
  const websockets = attachWebSockets({
    server,
    serv,
    tokens: tokenService,
    pool,
    logger,
    path: "/graphql",
    revocationCheckIntervalMs,
    keepaliveMs: serv.getPreset().grafserv?.websocketKeepalive ?? 12_000,
    limiter,
    documentOf,
    // The client IP as express derives it for HTTP (trust proxy and X-Forwarded-For), for the upgrade request.
    clientIp: (request) => (Object.create(app.request, { headers: { value: request.headers }, socket: { value: request.socket } }) as express.Request).ip,
  });
  // Build the schema now, so the first request is not the one that waits.
  await pgl.getSchemaResult();

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const url = `http://${options.host === "0.0.0.0" ? "localhost" : options.host}:${port}`;

  let stopping: Promise<void> | undefined;
  const stop = async (deadline: number) => {
    draining = true;
    // Stop accepting; keep-alive sockets close as soon as they are idle.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Sockets next: their subscriptions keep server.close() waiting.
    await websockets.close();
    while (inFlight > 0 && Date.now() < deadline) {
      server.closeIdleConnections();
      await sleep(25);
    }
    if (inFlight > 0) logger.warn({ inFlight }, "shutdown timeout: closing connections with requests still running");
    server.closeAllConnections();
    // Past the deadline nothing waits for a statement still running: the process is about to exit.
    const bounded = async (step: Promise<unknown>, what: string) => {
      const left = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([step.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), left)))]);
      clearTimeout(timer);
      if (late) logger.warn(`shutdown timeout: not waiting for ${what}`);
    };
    await bounded(closed, "the HTTP server to close");
    await bounded(Promise.resolve(pgl.release()), "PostGraphile to release");
    // pgl.release() leaves the pg services alone.
    await bounded(Promise.all((pgl.getResolvedPreset().pgServices ?? []).map((service) => service.release?.())), "the pg services");
    await bounded(Promise.resolve(notificationFeed.release()), "the realtime feed's last poll");
    await bounded(pool.end(), "database connections still running statements");
    if (devSignIn) await bounded(devSignIn.close(), "the dev sign-in pool");
  };
  return {
    server,
    url,
    metrics,
    inFlight: () => inFlight,
    stop(deadline = Date.now() + limits.shutdownTimeoutMs) {
      stopping ??= stop(deadline);
      return stopping;
    },
  };
}
