import express, { Router } from "express";
import type { Pool } from "pg";
import { errorBody, type ErrorCode } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { signatureHeader } from "../signature.ts";
import { maxRequestBytes } from "../config.ts";

/** What inbox.receive() answered, as HTTP. */
const outcomes: Record<string, { status: number; code?: ErrorCode; message: string }> = {
  accepted: { status: 200, message: "accepted" },
  duplicate: { status: 200, message: "duplicate" },
  unknown_source: { status: 404, code: "NOT_FOUND", message: "No active webhook source by that name." },
  bad_signature: { status: 401, code: "UNAUTHENTICATED", message: `The ${signatureHeader} header is missing or does not match the body.` },
  stale_timestamp: { status: 401, code: "UNAUTHENTICATED", message: "The signature's timestamp is more than 5 minutes from the server's clock." },
  bad_body: { status: 400, code: "BAD_REQUEST", message: "The body is not JSON." },
  missing_id: { status: 400, code: "BAD_REQUEST", message: "No message id: send X-Groundwork-Event-Id (or Idempotency-Key), or an id field in the body." },
};

function header(req: express.Request, name: string): string | null {
  const value = req.headers[name];
  return typeof value === "string" ? value : null;
}

/**
 * POST /webhooks/:source — inbound webhooks. The signature check, the
 * dedupe and the enqueueing all happen in inbox.receive(), in one
 * transaction run as gw_anonymous, so the answer (200 at once) means stored.
 */
export function inboxRouter(pool: Pool, logger: Logger): Router {
  const router = Router();
  router.post(
    "/webhooks/:source",
    // The raw text, whatever the content type: the signature covers the exact bytes.
    express.text({ type: () => true, limit: maxRequestBytes }),
    async (req, res) => {
      const body = typeof req.body === "string" ? req.body : "";
      const client = await pool.connect();
      try {
        await client.query("begin");
        await client.query("select set_config('role', 'gw_anonymous', true)");
        const { rows } = await client.query<{ outcome: string }>("select inbox.receive($1, $2, $3, $4, $5) as outcome", [
          req.params.source,
          header(req, signatureHeader) ?? "",
          body,
          header(req, "x-groundwork-event-id") ?? header(req, "idempotency-key"),
          header(req, "x-groundwork-topic"),
        ]);
        await client.query("commit");
        const outcome = outcomes[rows[0]?.outcome ?? ""] ?? { status: 500, code: "INTERNAL_SERVER_ERROR", message: "Unexpected answer." };
        if (outcome.code) res.status(outcome.status).json(errorBody(outcome.code, outcome.message));
        else res.status(outcome.status).json({ status: outcome.message });
      } catch (error) {
        await client.query("rollback").catch(() => undefined);
        logger.error({ err: error, source: req.params.source }, "inbound webhook failed");
        res.status(500).json(errorBody("INTERNAL_SERVER_ERROR", "The message could not be stored; retry later."));
      } finally {
        client.release();
      }
    },
  );
  return router;
}
