import express, { Router, type Request, type Response } from "express";
import type { Pool } from "pg";
import { errorBody, sqlErrorCodes, isRegisteredSqlCode, type ErrorCode } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { checkStandardHeaders, signatureHeader, standardHeaders, verifySignature, verifyStandard } from "../signature.ts";
import { apiDefaults, maxRequestBytes, type InboxRouteOptions } from "../config.ts";

/**
 * POST /webhooks/:source — inbound webhooks.
 *
 * Everything that decides what a message is and whether it was seen is
 * signed: the Standard Webhooks signature covers the id, the timestamp and the
 * body; the topic comes from the signed body. The route checks, cheapest
 * first, and touches the database only for a verified message (and for a
 * source's secret when it is not cached):
 *
 *   1. the source name's shape; the rate limit per (source, client IP), in
 *      this process (429);
 *   2. the signature headers' shape and freshness, before reading the body (401/400);
 *   3. a slot: at most `concurrency` requests of this process read, verify and
 *      store at once; the rest get 503 with Retry-After, never a pool connection;
 *   4. the body (at most 1 MB), the source's secret (cached), the HMAC (401);
 *   5. JSON, the message id (400); then inbox_private.store() stores it once
 *      per (source, id) and queues its processing, in one statement.
 *
 * A verified message costs one short statement on the API's pool (two on a
 * cache miss), while at most `concurrency` of them run: unsigned or forged
 * floods never reach the database, and signed ones cannot take more than
 * `concurrency` of the pool's connections.
 */

interface Outcome {
  status: number;
  code?: ErrorCode;
  message: string;
}

const outcomes: Record<string, Outcome> = {
  accepted: { status: 200, message: "accepted" },
  duplicate: { status: 200, message: "duplicate" },
  unknown_source: { status: 404, code: "NOT_FOUND", message: "No active webhook source by that name." },
};

const refusals = {
  malformed: {
    status: 401,
    code: "UNAUTHENTICATED",
    message: `Sign the request the Standard Webhooks way: webhook-id, webhook-timestamp and webhook-signature (v1,<base64>) headers.`,
  },
  stale: { status: 401, code: "UNAUTHENTICATED", message: "The signature's timestamp is more than 5 minutes from the server's clock." },
  mismatch: { status: 401, code: "UNAUTHENTICATED", message: "The signature does not match the id, timestamp and body." },
  legacyMismatch: { status: 401, code: "UNAUTHENTICATED", message: `The ${signatureHeader} header is missing or does not match the body.` },
  notJson: { status: 400, code: "BAD_REQUEST", message: "The body is not JSON." },
  missingId: { status: 400, code: "BAD_REQUEST", message: "No message id: a legacy-signed body needs a top-level id (a string or number of 1-200 characters)." },
} satisfies Record<string, Outcome>;

const sourceName = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** How long a source's secret (or its absence) is trusted before it is read again. */
const secretTtlMs = 10_000;
/** After a signature mismatch, a cached secret older than this is read again once (a rotation then takes effect at once). */
const secretRecheckMs = 1_000;
/** Bounds of the in-process maps: past them, old entries are dropped. */
const maxTracked = 10_000;

interface SourceKey {
  secret: string | null;
  acceptsLegacy: boolean;
  loadedAt: number;
}

function header(req: Request, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" ? value : undefined;
}

function refuse(res: Response, outcome: Outcome, extensions: Record<string, unknown> = {}) {
  res.status(outcome.status).json(errorBody(outcome.code!, outcome.message, extensions));
}

/** Fixed one-minute windows per key, in this process. */
function windowCounter(limit: number) {
  const windows = new Map<string, { start: number; hits: number }>();
  return (key: string, at = Date.now()): number => {
    if (limit <= 0) return 0;
    let window = windows.get(key);
    if (!window || at - window.start >= 60_000) {
      if (windows.size >= maxTracked) {
        for (const [k, w] of windows) if (at - w.start >= 60_000) windows.delete(k);
        if (windows.size >= maxTracked) windows.clear();
      }
      window = { start: at, hits: 0 };
      windows.set(key, window);
    }
    window.hits += 1;
    return window.hits > limit ? Math.max(1, Math.ceil((window.start + 60_000 - at) / 1000)) : 0;
  };
}

/** The message id and topic of a body, both from the signed body. */
function identityOf(payload: unknown): { id: string | null; topic: string | null } {
  const object = payload !== null && typeof payload === "object" && !Array.isArray(payload) ? (payload as Record<string, unknown>) : {};
  const rawId = object.id;
  const id = typeof rawId === "string" || (typeof rawId === "number" && Number.isFinite(rawId)) ? String(rawId) : null;
  const rawTopic = typeof object.type === "string" ? object.type : typeof object.topic === "string" ? object.topic : null;
  return { id: id && id.length >= 1 && id.length <= 200 ? id : null, topic: rawTopic ? rawTopic.slice(0, 200) : null };
}

export function inboxRouter(pool: Pool, logger: Logger, options: InboxRouteOptions = apiDefaults.inbox): Router {
  const router = Router();
  const readBody = express.text({ type: () => true, limit: maxRequestBytes });
  const overLimit = windowCounter(options.ratePerMinute);
  const keys = new Map<string, SourceKey>();
  let inFlight = 0;

  const loading = new Map<string, Promise<SourceKey>>();
  /** Reads a source's key; concurrent requests for one source share one read. */
  const loadKey = (source: string): Promise<SourceKey> => {
    const pending = loading.get(source);
    if (pending) return pending;
    const load = (async () => {
      const { rows } = await pool.query<{ secret: string; accepts_legacy_signatures: boolean }>(
        "select secret, accepts_legacy_signatures from inbox_private.source_key($1)",
        [source],
      );
      const key = { secret: rows[0]?.secret ?? null, acceptsLegacy: rows[0]?.accepts_legacy_signatures ?? false, loadedAt: Date.now() };
      if (keys.size >= maxTracked) keys.clear();
      keys.set(source, key);
      return key;
    })().finally(() => loading.delete(source));
    loading.set(source, load);
    return load;
  };
  const keyOf = async (source: string): Promise<SourceKey> => {
    const cached = keys.get(source);
    return cached && Date.now() - cached.loadedAt < secretTtlMs ? cached : loadKey(source);
  };

  router.post("/webhooks/:source", async (req, res) => {
    const source = String(req.params.source);
    if (!sourceName.test(source)) return refuse(res, outcomes.unknown_source!);
    const ip = req.ip ?? req.socket.remoteAddress ?? "unknown";
    const retryAfter = overLimit(`${source}\u0000${ip}`);
    if (retryAfter > 0) {
      res.setHeader("Retry-After", String(retryAfter));
      res.setHeader("Connection", "close");
      return refuse(res, { status: 429, code: "RATE_LIMITED", message: `Too many requests for this source from your address; retry in ${retryAfter} s.` }, { limit: "inbox", retryAfter });
    }

    // Headers first: a request that cannot be valid is refused before its body is read.
    const standard = { id: header(req, standardHeaders.id), timestamp: header(req, standardHeaders.timestamp), signature: header(req, standardHeaders.signature) };
    const legacy = header(req, signatureHeader);
    const usesStandard = standard.signature !== undefined;
    if (usesStandard) {
      const checked = checkStandardHeaders(standard);
      if (checked !== "ok") {
        res.setHeader("Connection", "close");
        return refuse(res, refusals[checked]);
      }
    } else if (!legacy) {
      res.setHeader("Connection", "close");
      return refuse(res, refusals.malformed);
    }

    if (inFlight >= options.concurrency) {
      res.setHeader("Retry-After", "1");
      res.setHeader("Connection", "close");
      return refuse(res, { status: 503, code: "SERVER_BUSY", message: "The inbox is handling as many messages as it may at once; retry shortly." });
    }
    inFlight += 1;
    try {
      const bodyError = await new Promise<{ type?: string } | undefined>((resolve) => readBody(req, res, (error?: unknown) => resolve(error as { type?: string } | undefined)));
      if (bodyError) {
        res.setHeader("Connection", "close");
        if (bodyError.type === "entity.too.large") return refuse(res, { status: 413, code: "PAYLOAD_TOO_LARGE", message: `The request body is larger than ${maxRequestBytes} bytes.` });
        return refuse(res, { status: 400, code: "BAD_REQUEST", message: "The request body could not be read." });
      }
      const body = typeof req.body === "string" ? req.body : "";

      let key = await keyOf(source);
      if (key.secret === null) return refuse(res, outcomes.unknown_source!);
      const verify = (k: SourceKey) => (usesStandard ? verifyStandard(k.secret!, body, standard) : k.acceptsLegacy && verifySignature(k.secret!, body, legacy) ? "ok" : "mismatch");
      let verdict = verify(key);
      if (verdict === "mismatch" && Date.now() - key.loadedAt > secretRecheckMs) {
        key = await loadKey(source);
        if (key.secret === null) return refuse(res, outcomes.unknown_source!);
        verdict = verify(key);
      }
      if (verdict !== "ok") return refuse(res, usesStandard ? refusals[verdict] : refusals.legacyMismatch);

      let payload: unknown;
      try {
        payload = JSON.parse(body);
      } catch {
        return refuse(res, refusals.notJson);
      }
      const identity = identityOf(payload);
      const externalId = usesStandard ? standard.id! : identity.id;
      if (!externalId) return refuse(res, refusals.missingId);

      let outcome: Outcome;
      try {
        const { rows } = await pool.query<{ outcome: string }>("select inbox_private.store($1, $2, $3, $4) as outcome", [source, externalId, identity.topic, body]);
        outcome = outcomes[rows[0]?.outcome ?? ""] ?? { status: 500, code: "INTERNAL_SERVER_ERROR", message: "Unexpected answer." };
      } catch (error) {
        // What the database refuses about the body itself (\u0000 in JSON: 22P05) will never be stored: 400, so the sender stops retrying.
        const code = (error as { code?: string }).code;
        if (isRegisteredSqlCode(code) && sqlErrorCodes[code].status < 500) {
          return refuse(res, { status: 400, code, message: `The message cannot be stored: ${(error as Error).message}` });
        }
        throw error;
      }
      if (outcome.code) return refuse(res, outcome);
      res.status(outcome.status).json({ status: outcome.message });
    } catch (error) {
      logger.error({ err: error, source }, "inbound webhook failed");
      if (!res.headersSent) res.status(500).json(errorBody("INTERNAL_SERVER_ERROR", "The message could not be stored; retry later."));
    } finally {
      inFlight -= 1;
    }
  });
  return router;
}
