/**
 * Timing a burst of graphile-worker jobs, for the benches whose baseline is
 * bare graphile-worker (outbox delivery, message fan-out, subscription
 * renewals): a fresh runner on its own pool at the benches' concurrency,
 * one task, the jobs enqueued by one statement, timed from its commit to the
 * last job's completion.
 */
import { performance } from "node:perf_hooks";
import { Logger as WorkerLogger, run, type Task } from "graphile-worker";
import pg from "pg";
import type { TestDatabase } from "../setup/testDatabase.ts";

export const workerConcurrency = 4;

/** Runs `jobs` jobs of one task at `workerConcurrency` on a fresh runner; `add` enqueues them in one statement. */
export async function timeJobs(db: TestDatabase, identifier: string, task: Task, jobs: number, add: () => Promise<unknown>, timeoutMs = 120_000) {
  const pool = new pg.Pool({ connectionString: db.ownerUrl, max: workerConcurrency + 2 });
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  let done = 0;
  let last = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const runner = await run({
    pgPool: pool,
    concurrency: workerConcurrency,
    noHandleSignals: true,
    crontab: "",
    logger: new WorkerLogger(() => () => undefined),
    taskList: {
      [identifier]: async (payload, helpers) => {
        await task(payload, helpers);
        done++;
        last = performance.now();
        if (done === jobs) finished();
      },
    },
  });
  try {
    await add();
    const committed = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const complete = await Promise.race([
      allDone.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
    const wallMs = (complete ? last : performance.now()) - committed;
    return { jobs, done, complete, wallMs, jobsPerSecond: (done / wallMs) * 1000 };
  } finally {
    await runner.stop();
    await pool.end();
  }
}

/** Bare graphile-worker: `jobs` no-op jobs added in one add_jobs statement, run at the same concurrency. */
export function bareWorker(db: TestDatabase, root: pg.Client, jobs: number, timeoutMs = 120_000) {
  return timeJobs(db, "bench_noop", async () => undefined, jobs, () =>
    root.query(
      `select count(*) from graphile_worker.add_jobs(array(
         select row('bench_noop', json_build_object('n', g), null, null, null, null, null, null)::graphile_worker.job_spec
           from generate_series(1, $1::int) g))`,
      [jobs],
    ), timeoutMs);
}
