import type { Task, WorkerUtils } from "graphile-worker";

/**
 * Removes named queues no job uses and nobody has locked, through graphile-worker's
 * documented clean-up (GC_JOB_QUEUES): graphile-worker never removes a queue by
 * itself. Outbox partitions use 64 fixed ones, so this is for other named queues.
 */
export function makeOpsGcJobQueues(workerUtils: Pick<WorkerUtils, "cleanup">): Task {
  return async () => {
    await workerUtils.cleanup({ tasks: ["GC_JOB_QUEUES"] });
  };
}
