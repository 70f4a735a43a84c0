import type { Task } from "graphile-worker";

/**
 * Removes named queues no job uses any more (graphile-worker's GC_JOB_QUEUES).
 * Every outbox stream has its own queue, so without this they accumulate.
 */
export const ops_gc_job_queues: Task = async (_payload, helpers) => {
  await helpers.query(`
    delete from graphile_worker._private_job_queues job_queues
     where locked_at is null
       and not exists (select 1 from graphile_worker._private_jobs jobs where jobs.job_queue_id = job_queues.id)`);
};
