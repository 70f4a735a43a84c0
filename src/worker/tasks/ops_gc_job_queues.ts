import type { Task } from "graphile-worker";

/**
 * Removes named queues no job uses any more (graphile-worker's GC_JOB_QUEUES).
 * graphile-worker never removes a queue by itself; outbox partitions use 64 fixed ones.
 */
export const ops_gc_job_queues: Task = async (_payload, helpers) => {
  await helpers.query(`
    delete from graphile_worker._private_job_queues job_queues
     where locked_at is null
       and not exists (select 1 from graphile_worker._private_jobs jobs where jobs.job_queue_id = job_queues.id)`);
};
