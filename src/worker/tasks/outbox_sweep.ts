import type { Task } from "graphile-worker";

/** Re-enqueues outbox partitions left with due work and no job (crontab, every minute). */
export const outbox_sweep: Task = async (_payload, helpers) => {
  const { rows } = await helpers.query<{ requeued: number }>("select outbox_private.requeue_orphans() as requeued");
  if ((rows[0]?.requeued ?? 0) > 0) helpers.logger.warn(`re-enqueued ${rows[0]!.requeued} outbox partitions that had no job`);
};
