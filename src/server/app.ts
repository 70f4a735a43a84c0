import express, { type ErrorRequestHandler } from "express";
import { createServer, type Server } from "node:http";
import { postgraphile } from "postgraphile";
import { errorBody } from "../../plugins/errors.ts";
import { createPool } from "../db/pool.ts";
import { grafserv } from "postgraphile/grafserv/express/v4";
import type { Logger } from "../logger.ts";
import { authenticate } from "./authenticate.ts";
import { inboxRouter } from "./inbox.ts";
import { maxRequestBytes } from "./limits.ts";
import type { TokenService } from "./jwt.ts";
import { makePreset } from "./preset.ts";
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
  tokenService: TokenService;
  logger: Logger;
  port: number;
  host: string;
  poolSize: number;
  /** How often (ms) a signed-in WebSocket re-checks that its session is not revoked; default 5000. */
  revocationCheckIntervalMs?: number;
}

export const defaultRevocationCheckIntervalMs = 5000;

export interface Api {
  server: Server;
  url: string;
  stop(): Promise<void>;
}

export async function startApi(options: ApiOptions): Promise<Api> {
  const { logger, tokenService } = options;
  const revocationCheckIntervalMs = options.revocationCheckIntervalMs ?? defaultRevocationCheckIntervalMs;
  if (!Number.isInteger(revocationCheckIntervalMs) || revocationCheckIntervalMs < 10) {
    throw new Error(`revocationCheckIntervalMs must be an integer of at least 10 (ms), got ${revocationCheckIntervalMs}`);
  }
  const app = express();
  app.disable("x-powered-by");
  const server = createServer(app);
  const pool = createPool(options.authenticatorUrl, options.poolSize, logger, "api");

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    try {
      await pool.query("select 1");
      res.json({ status: "ready" });
    } catch (error) {
      logger.warn({ err: error }, "readiness check failed");
      res.status(503).json({ status: "unavailable", reason: "database unreachable" });
    }
  });
  app.use(inboxRouter(pool, logger));
  app.use("/graphql", authenticate(tokenService), express.json({ limit: maxRequestBytes }));

  const pgl = postgraphile(makePreset({ pool, tokenService, logger }));
  const serv = pgl.createServ(grafserv);
  // false: no grafserv upgrade handler; ours authenticates connection_init.
  await serv.addTo(app, server, false);
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

  return {
    server,
    url,
    async stop() {
      // Sockets first: their subscriptions hold LISTENs and keep server.close() waiting.
      await websockets.close();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pgl.release();
      // pgl.release() leaves the pg services alone; theirs is the PgSubscriber's LISTEN client.
      await Promise.all((pgl.getResolvedPreset().pgServices ?? []).map((service) => service.release?.()));
      await pool.end();
    },
  };
}
