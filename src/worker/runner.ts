import { makeWorkerUtils, parseCrontab, run, type Runner, type WorkerUtils } from "graphile-worker";
import { createPool } from "../db/pool.ts";
import type { Logger } from "../logger.ts";
import { crontab } from "./crontab.ts";
import { workerLogger } from "./log.ts";
import { defaultTaskOptions, type TaskOptions } from "../config.ts";
import { makeTaskList } from "./tasks/index.ts";

export interface WorkerOptions {
  ownerUrl: string;
  concurrency: number;
  logger: Logger;
  tasks?: TaskOptions;
  /** Run only these tasks (graphile-worker then fetches no other jobs); default all. */
  only?: readonly string[];
}

export interface Worker {
  runner: Runner;
  stop(): Promise<void>;
}

export async function startWorker({ ownerUrl, concurrency, logger, tasks = defaultTaskOptions, only }: WorkerOptions): Promise<Worker> {
  const log = logger.child({ component: "worker" });
  const pgPool = createPool(ownerUrl, concurrency + 2, log, "worker");
  const logFactory = workerLogger(log);
  let workerUtils: WorkerUtils | undefined;
  try {
    // graphile-worker's admin API on the worker's own pool, made once, for the tasks that use it.
    workerUtils = await makeWorkerUtils({ pgPool, logger: logFactory });
    const allTasks = makeTaskList(tasks, { workerUtils });
    const taskList = only ? Object.fromEntries(Object.entries(allTasks).filter(([name]) => only.includes(name))) : allTasks;
    // A restricted worker is a helper beside a full one: the full one runs the schedule.
    // (An empty list, not an empty crontab: graphile-worker would then look for a crontab file.)
    const cronItems = only ? [] : parseCrontab(crontab);
    const runner = await run({
      pgPool,
      concurrency,
      taskList,
      parsedCronItems: cronItems,
      // Groundwork owns process signals and shuts the worker down itself.
      noHandleSignals: true,
      logger: logFactory,
    });
    const names = Object.keys(taskList);
    log.info({ tasks: names }, `worker started: ${names.length} tasks, ${cronItems.length} cron entries, ${concurrency} jobs at a time`);
    const utils = workerUtils;
    return {
      runner,
      async stop() {
        await runner.stop();
        await utils.release();
        await pgPool.end();
      },
    };
  } catch (error) {
    await workerUtils?.release();
    await pgPool.end();
    throw error;
  }
}
