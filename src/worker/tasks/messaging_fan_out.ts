import type { Task } from "graphile-worker";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function assertPayload(payload: unknown): asserts payload is { id: string } {
  const id = (payload as { id?: unknown } | null)?.id;
  if (typeof id !== "string" || !uuid.test(id)) throw new Error("messaging_fan_out expects { id: <message job uuid> }");
}

interface Batch {
  handled: number;
  delivered: number;
  done: boolean;
}

/** Recipients per statement (and transaction). */
export const fanOutBatchSize = 500;

/**
 * Fans a message job out to its audience (enqueued by
 * messaging.create_message_job, payload { id }). Each batch is one
 * transaction that records its recipients in the statement that notifies
 * them and moves the job's cursor, so a worker killed mid-job resumes after
 * the last committed batch and reaches nobody twice. A cancelled job stops
 * before its next batch.
 */
export const messaging_fan_out: Task = async (payload, helpers) => {
  assertPayload(payload);
  let delivered = 0;
  for (;;) {
    const { rows }: { rows: Batch[] } = await helpers.query<Batch>("select handled, delivered, done from messaging_private.fan_out_batch($1, $2)", [
      payload.id,
      fanOutBatchSize,
    ]);
    delivered += rows[0]?.delivered ?? 0;
    if (!rows[0] || rows[0].done) break;
  }
  if (delivered > 0) helpers.logger.info(`message job ${payload.id}: ${delivered} delivered`);
};
