import express, { Router, type Request, type Response } from "express";
import type { Pool } from "pg";
import { apiDefaults, maxRequestBytes, type IngestRouteOptions } from "../config.ts";
import { errorBody, isRegisteredSqlCode, sqlErrorCodes } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { authOfRequest } from "./authenticate.ts";
import type { Quotas } from "./quotas.ts";
import { asCaller, callerSettings } from "./transactions.ts";

/**
 * POST /analytics/impressions — the high-volume path for beacons (the seed's
 * "impressions from the web app"), anonymous-friendly: a bearer token is
 * optional (a bad one is refused by `authenticate` before this route).
 *
 *   1. the rate limit: INGEST_RATE_LIMIT_PER_MINUTE batches per client IP, in
 *      the budget every API process shares (src/server/quotas.ts) (429);
 *   2. the body: JSON, at most 1 MB: an array of impressions (passed to
 *      PostgreSQL as text, parsed once there) or { "impressions": [...] }
 *      (400, 413);
 *   3. one transaction as the caller (SET LOCAL ROLE and request.jwt.claims, as
 *      PostGraphile does) running analytics.ingest_impressions, which checks
 *      the whole batch, deduplicates by client id within the stream's window,
 *      creates a missing month's partition and writes. The same function is
 *      the GraphQL mutation analyticsIngestImpressions: one mechanism.
 *
 * Answers 200 { received, accepted, duplicates }; a refused batch (ANBAT,
 * ANRNG, ANENT) writes nothing and gets its code and HTTP status.
 */

export function ingestRouter(
  pool: Pool,
  quotas: Quotas,
  logger: Logger,
  options: IngestRouteOptions = apiDefaults.ingest,
  statementTimeoutMs: number = apiDefaults.statementTimeoutMs,
): Router {
  const router = Router();
  // The body is read as text and, when it is the array itself (what beacons send), handed to PostgreSQL as
  // it came: one JSON parse (the server's), no rebuilding in Node. The wrapped form is unwrapped here.
  const readBody = express.text({ type: () => true, limit: maxRequestBytes });
  const settingsOf = callerSettings(statementTimeoutMs);

  router.post("/analytics/impressions", async (req: Request, res: Response) => {
    const ip = req.ip ?? req.socket.remoteAddress ?? "unknown";
    if (options.batchesPerMinute > 0) {
      const answer = await quotas.take([{ key: `ingest:${ip}`, limit: options.batchesPerMinute, windowSeconds: 60 }]);
      if (!answer.ok) {
        res.setHeader("Retry-After", String(answer.retryAfter));
        res.status(429).json(errorBody("RATE_LIMITED", `Too many impression batches from your address; retry in ${answer.retryAfter} s.`, { limit: "ingest", retryAfter: answer.retryAfter }));
        return;
      }
    }

    const bodyError = await new Promise<{ type?: string } | undefined>((resolve) => readBody(req, res, (error?: unknown) => resolve(error as { type?: string } | undefined)));
    if (bodyError) {
      if (bodyError.type === "entity.too.large") {
        res.status(413).json(errorBody("PAYLOAD_TOO_LARGE", `The request body is larger than ${maxRequestBytes} bytes.`));
      } else {
        res.status(400).json(errorBody("BAD_REQUEST", "The body is not JSON."));
      }
      return;
    }
    const text = typeof req.body === "string" ? req.body : "";
    let batch: string | undefined;
    if (/^\s*\[/.test(text)) {
      batch = text; // PostgreSQL parses it (a syntax error is answered 400 below)
    } else {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        res.status(400).json(errorBody("BAD_REQUEST", "The body is not JSON."));
        return;
      }
      const impressions = body && typeof body === "object" ? (body as { impressions?: unknown }).impressions : undefined;
      if (Array.isArray(impressions)) batch = JSON.stringify(impressions);
    }
    if (batch === undefined) {
      res.status(400).json(errorBody("ANBAT", "Send a JSON array of impressions, or { \"impressions\": [...] }."));
      return;
    }

    try {
      const { rows } = await asCaller(pool, settingsOf(authOfRequest(req)), (client) =>
        client.query<{ result: { received: number; accepted: number; duplicates: number } }>("select analytics.ingest_impressions($1::jsonb) as result", [batch]),
      );
      res.json(rows[0]!.result);
    } catch (error) {
      const code = (error as { code?: string }).code;
      // The body handed over as text was not JSON: refused by the jsonb parameter itself, before any function ran.
      if (code === "22P02" && !/function/.test((error as { where?: string }).where ?? "")) {
        res.status(400).json(errorBody("BAD_REQUEST", "The body is not JSON."));
        return;
      }
      if (isRegisteredSqlCode(code) && sqlErrorCodes[code].status < 500) {
        res.status(sqlErrorCodes[code].status).json(errorBody(code, (error as Error).message));
        return;
      }
      logger.error({ err: error }, "impression batch failed");
      if (!res.headersSent) res.status(500).json(errorBody("INTERNAL_SERVER_ERROR", "The impressions could not be stored; retry later."));
    }
  });
  return router;
}
