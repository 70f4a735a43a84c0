import { Logger as WorkerLogger } from "graphile-worker";
import type { Logger } from "../logger.ts";

type Job = { id?: unknown; task_identifier?: unknown; attempts?: unknown; max_attempts?: unknown };

/**
 * graphile-worker's log through pino, without idle noise: a job that succeeds
 * at its first attempt (every cron tick) and "Worker connected" are debug, and
 * a job is named by id, task and attempt instead of its whole row and payload.
 */
export function workerLogger(log: Logger): WorkerLogger {
  return new WorkerLogger((scope) => (level, message, meta) => {
    const { job, success, failure, error, ...rest } = (meta ?? {}) as { job?: Job; success?: boolean; failure?: boolean; error?: unknown } & Record<string, unknown>;
    const fields: Record<string, unknown> = { ...scope, ...rest };
    if (job) Object.assign(fields, { jobId: job.id, task: job.task_identifier, attempt: job.attempts, maxAttempts: job.max_attempts });
    // pino serializes `err` (type, message, stack); a failed task's message already holds its stack.
    if (error !== undefined && !failure) fields.err = error;
    const routine = (success === true && Number(job?.attempts ?? 1) <= 1) || message.startsWith("Worker connected and looking for jobs");
    if (level === "error") log.error(fields, message);
    else if (level === "warning") log.warn(fields, message);
    else if (level === "info" && !routine) log.info(fields, message);
    else log.debug(fields, message);
  });
}
