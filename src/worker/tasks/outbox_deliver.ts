import type { Task } from "graphile-worker";
import { signPayload } from "../signature.ts";
import { intervalOf, retryDelayMs, type RetryPolicy } from "../retry.ts";

export interface WebhookOptions extends RetryPolicy {
  /** How long one POST may take before it counts as failed. */
  timeoutMs: number;
}

interface PendingDispatch {
  dispatch_id: string;
  attempts: number;
  not_due: boolean;
  next_attempt_at: Date;
  event_id: string;
  topic: string;
  payload: unknown;
  aggregate_type: string | null;
  aggregate_id: string | null;
  organization_id: string | null;
  event_created_at: Date;
  url: string;
  secret: string;
}

interface Attempt {
  succeeded: boolean;
  httpStatus: number | null;
  latencyMs: number;
  error: string | null;
}

/** Dispatches one job delivers before it yields the worker to other streams. */
const maxDispatchesPerJob = 100;

function assertPayload(payload: unknown): asserts payload is { stream: string } {
  if (typeof payload !== "object" || payload === null || typeof (payload as { stream?: unknown }).stream !== "string") {
    throw new Error("outbox_deliver expects { stream: string }");
  }
}

/** The JSON body a subscriber receives; its raw text is what the signature covers. */
export function webhookBody(dispatch: PendingDispatch): string {
  return JSON.stringify({
    id: dispatch.event_id,
    topic: dispatch.topic,
    createdAt: dispatch.event_created_at.toISOString(),
    organizationId: dispatch.organization_id,
    aggregate: dispatch.aggregate_type ? { type: dispatch.aggregate_type, id: dispatch.aggregate_id } : null,
    data: dispatch.payload,
  });
}

async function post(dispatch: PendingDispatch, options: WebhookOptions): Promise<Attempt> {
  const body = webhookBody(dispatch);
  const started = performance.now();
  try {
    const response = await fetch(dispatch.url, {
      method: "POST",
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "Groundwork-Webhooks/1",
        "x-groundwork-event-id": dispatch.event_id,
        "idempotency-key": dispatch.event_id,
        "x-groundwork-topic": dispatch.topic,
        "x-groundwork-attempt": String(dispatch.attempts + 1),
        "x-groundwork-signature": signPayload(dispatch.secret, body),
      },
      body,
    });
    // Drain the answer so the keep-alive connection is reused; its content is not kept.
    await response.arrayBuffer().catch(() => undefined);
    const latencyMs = Math.round(performance.now() - started);
    const succeeded = response.status >= 200 && response.status < 300;
    return { succeeded, httpStatus: response.status, latencyMs, error: succeeded ? null : `HTTP ${response.status}` };
  } catch (error) {
    const latencyMs = Math.round(performance.now() - started);
    const name = (error as Error).name;
    const reason = name === "TimeoutError" ? `timed out after ${options.timeoutMs} ms` : String((error as Error).cause ?? (error as Error).message);
    return { succeeded: false, httpStatus: null, latencyMs, error: reason };
  }
}

/**
 * Delivers one stream (subscription + aggregate) in order: the oldest pending
 * dispatch first, then the next, until the stream is empty, a failure
 * schedules a retry (the stream waits for it), or the batch is used up.
 */
export function makeOutboxDeliver(options: WebhookOptions): Task {
  return async (payload, helpers) => {
    assertPayload(payload);
    const { stream } = payload;
    for (let delivered = 0; delivered < maxDispatchesPerJob; delivered++) {
      const { rows } = await helpers.query<PendingDispatch>(
        "select d.*, d.next_attempt_at > now() as not_due from outbox_private.next_dispatch($1) d",
        [stream],
      );
      const dispatch = rows[0];
      if (!dispatch) return;
      if (dispatch.not_due) {
        // Woken early (a new event joined a stream that is backing off): wait for the retry time.
        await helpers.query("select outbox_private.enqueue_streams(array[$1], $2)", [stream, dispatch.next_attempt_at]);
        return;
      }
      const attempt = await post(dispatch, options);
      const delay = retryDelayMs(dispatch.attempts + 1, options);
      const { rows: recorded } = await helpers.query<{ status: string | null }>(
        "select outbox_private.record_attempt($1, $2, $3, $4, $5, $6, $7::interval) as status",
        [dispatch.dispatch_id, attempt.succeeded, attempt.httpStatus, attempt.latencyMs, attempt.error, options.maxAttempts, intervalOf(delay)],
      );
      const status = recorded[0]?.status;
      if (status === "pending") return; // retry scheduled; later dispatches of the stream wait behind it
      if (status === "dead") helpers.logger.warn(`dispatch ${dispatch.dispatch_id} of event ${dispatch.event_id} is dead after ${options.maxAttempts} attempts: ${attempt.error}`);
    }
    // More to send: give other streams a turn, then continue.
    await helpers.query("select outbox_private.enqueue_streams(array[$1])", [stream]);
  };
}
