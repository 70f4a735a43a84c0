import type { Task } from "graphile-worker";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function assertPayload(payload: unknown): asserts payload is { id: string } {
  const id = (payload as { id?: unknown } | null)?.id;
  if (typeof id !== "string" || !uuid.test(id)) throw new Error("events_notify_followers expects { id: <event uuid> }");
}

interface Batch {
  handled: number;
  notified: number;
  last_user_id: string | null;
}

/** Followers per statement: each batch is its own transaction, so a large audience never holds one open. */
export const notifyFollowersBatchSize = 500;

/**
 * Tells an organization's followers that it published an event (enqueued by
 * the publish, payload { id } of the event). Re-reads the event: nothing
 * happens once it is no longer published and public. Batches walk the
 * followers in id order; each notifies in the statement that records it in
 * events_private.follower_notifications, so a job that runs twice, or resumes
 * after a crash, notifies nobody twice.
 */
export const events_notify_followers: Task = async (payload, helpers) => {
  assertPayload(payload);
  let after: string | null = null;
  let notified = 0;
  for (;;) {
    const { rows }: { rows: Batch[] } = await helpers.query<Batch>(
      "select handled, notified, last_user_id from events_private.notify_followers($1, $2, $3)",
      [payload.id, after, notifyFollowersBatchSize],
    );
    const batch: Batch | undefined = rows[0];
    notified += batch?.notified ?? 0;
    if (!batch || batch.handled < notifyFollowersBatchSize || !batch.last_user_id) break;
    after = batch.last_user_id;
  }
  if (notified > 0) helpers.logger.info(`notified ${notified} followers of event ${payload.id}`);
};
