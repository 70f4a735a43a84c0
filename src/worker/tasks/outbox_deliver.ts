import type { Task } from "graphile-worker";
import { signPayload, signStandard } from "../../signature.ts";
import type { WebhookOptions } from "../../config.ts";
import { intervalOf, retryDelayMs } from "../retry.ts";

interface PendingDispatch {
  dispatch_id: string;
  stream: string;
  attempts: number;
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

/** Due dispatches read (and recorded) per round trip. */
const batchSize = 200;
/** Batches one job runs before it yields the worker to other partitions. */
const maxBatchesPerJob = 10;
/** Streams of one batch posted side by side (each stream stays sequential). */
const streamsInFlight = 8;

function assertPayload(payload: unknown): asserts payload is { partition: number } {
  const partition = (payload as { partition?: unknown } | null)?.partition;
  if (typeof partition !== "number" || !Number.isInteger(partition) || partition < 0 || partition > 63) {
    throw new Error("outbox_deliver expects { partition: 0..63 }");
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
  // Both signatures with one timestamp: Standard Webhooks for receivers' usual libraries, the legacy one for existing subscribers.
  const timestamp = Math.floor(Date.now() / 1000);
  const started = performance.now();
  try {
    const response = await fetch(dispatch.url, {
      method: "POST",
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "Groundwork-Webhooks/1",
        ...signStandard(dispatch.secret, dispatch.event_id, body, timestamp),
        // Informational: receivers take the id and topic from the signed body (or webhook-id), never from these.
        "x-groundwork-event-id": dispatch.event_id,
        "idempotency-key": dispatch.event_id,
        "x-groundwork-topic": dispatch.topic,
        "x-groundwork-attempt": String(dispatch.attempts + 1),
        "x-groundwork-signature": signPayload(dispatch.secret, body, timestamp),
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

interface Recorded extends Attempt {
  dispatch: PendingDispatch;
  retryDelayMs: number;
}

/**
 * Posts one stream's due dispatches in order. A failure that will be retried
 * ends the stream here: its later dispatches wait behind the retry. A failure
 * that dead-letters the dispatch lets the stream go on.
 */
async function deliverStream(dispatches: PendingDispatch[], options: WebhookOptions, recorded: Recorded[]): Promise<void> {
  for (const dispatch of dispatches) {
    const attempt = await post(dispatch, options);
    const failedAttempts = dispatch.attempts + 1;
    recorded.push({ ...attempt, dispatch, retryDelayMs: retryDelayMs(failedAttempts, options) });
    if (!attempt.succeeded && failedAttempts < options.maxAttempts) return;
  }
}

/** Runs `work` over the items with at most `limit` running at once. */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/**
 * Delivers one partition (a 64th of the streams; jobs of one partition run one
 * at a time, so a stream is never posted by two workers at once): read a batch
 * of due dispatches, post the streams side by side and each stream in order,
 * record the batch in one call; repeat while there is work, up to a budget,
 * then schedule the partition's next job (now, at its earliest retry, or none).
 */
export function makeOutboxDeliver(options: WebhookOptions): Task {
  return async (payload, helpers) => {
    assertPayload(payload);
    const { partition } = payload;
    for (let batch = 0; batch < maxBatchesPerJob; batch++) {
      const { rows } = await helpers.query<PendingDispatch>("select * from outbox_private.next_dispatches($1, $2)", [partition, batchSize]);
      if (rows.length === 0) break;
      const streams = new Map<string, PendingDispatch[]>();
      for (const row of rows) {
        const stream = streams.get(row.stream);
        if (stream) stream.push(row);
        else streams.set(row.stream, [row]);
      }
      const recorded: Recorded[] = [];
      await inParallel([...streams.values()], streamsInFlight, (dispatches) => deliverStream(dispatches, options, recorded));
      const { rows: statuses } = await helpers.query<{ dispatch_id: string; status: string | null }>(
        "select * from outbox_private.record_attempts($1, $2, $3, $4, $5, $6, $7::interval[])",
        [
          recorded.map((r) => r.dispatch.dispatch_id),
          recorded.map((r) => r.succeeded),
          recorded.map((r) => r.httpStatus),
          recorded.map((r) => r.latencyMs),
          recorded.map((r) => r.error),
          options.maxAttempts,
          recorded.map((r) => intervalOf(r.retryDelayMs)),
        ],
      );
      const attempts = new Map(recorded.map((r) => [r.dispatch.dispatch_id, r]));
      for (const { dispatch_id, status } of statuses) {
        const attempt = attempts.get(dispatch_id);
        if (status === "dead" && attempt) helpers.logger.warn(`dispatch ${dispatch_id} of event ${attempt.dispatch.event_id} is dead after ${options.maxAttempts} attempts: ${attempt.error}`);
      }
      if (rows.length < batchSize) break;
    }
    // Not after an error: this job then stays and graphile-worker retries it with its own backoff.
    await helpers.query("select outbox_private.schedule_partition($1::smallint)", [partition]);
  };
}
