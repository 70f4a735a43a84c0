import { EventEmitter } from "node:events";
import { makeWorkerUtils, parseCrontab, run, type Runner, type WorkerEvents, type WorkerUtils } from "graphile-worker";
import { createPool } from "../db/pool.ts";
import type { Logger } from "../logger.ts";
import { crontab } from "./crontab.ts";
import { heartbeatDefaults, startHeartbeat, type Heartbeat, type HeartbeatTiming } from "./heartbeat.ts";
import { workerLogger } from "./log.ts";
import { defaultTaskOptions, type TaskOptions } from "../config.ts";
import { makeTaskList } from "./tasks/index.ts";

export interface WorkerOptions {
  /** gw_owner; direct, or through a transaction pooler with `preparedStatements: false`. */
  ownerUrl: string;
  concurrency: number;
  logger: Logger;
  tasks?: TaskOptions;
  /** Run only these tasks (graphile-worker then fetches no other jobs); default all. */
  only?: readonly string[];
  /** false: no named (prepared) statements, for a transaction pooler (DATABASE_PREPARED_STATEMENTS=off). */
  preparedStatements?: boolean;
  /** Heartbeat and sweep of dead pools (tests shorten them). */
  heartbeat?: HeartbeatTiming;
  /** How long after a pool dies of an error a new one starts. */
  restartDelayMs?: number;
}

export interface Worker {
  /** The current graphile-worker runner (a new one after a restart). */
  readonly runner: Runner;
  /** Its pool id: the `locked_by` of the jobs it runs (`pool-` and 18 hex digits). */
  readonly poolId: string;
  /** graphile-worker's events of every runner this worker starts. */
  readonly events: WorkerEvents;
  /** Pools that died of an error and were replaced. */
  readonly restarts: number;
  stop(): Promise<void>;
}

/**
 * Starts a graphile-worker pool with a heartbeat, and keeps one running: a
 * pool that dies of an error (its database connection lost for good, a job it
 * cannot complete) is logged, its jobs are released and a new pool starts, so
 * a worker failure never ends the process it shares with the API.
 */
export async function startWorker({
  ownerUrl,
  concurrency,
  logger,
  tasks = defaultTaskOptions,
  only,
  preparedStatements = true,
  heartbeat: timing = heartbeatDefaults,
  restartDelayMs = 1_000,
}: WorkerOptions): Promise<Worker> {
  const log = logger.child({ component: "worker" });
  // The pool's connections: concurrency, graphile-worker's LISTEN, the heartbeat and completions.
  const pgPool = createPool(ownerUrl, concurrency + 3, log, "worker", { preparedStatements });
  const logFactory = workerLogger(log);
  const events: WorkerEvents = new EventEmitter();
  let workerUtils: WorkerUtils | undefined;
  try {
    // graphile-worker's admin API on the worker's own pool, made once, for the tasks that use it.
    workerUtils = await makeWorkerUtils({ pgPool, logger: logFactory, noPreparedStatements: !preparedStatements });
    const utils = workerUtils;
    const allTasks = makeTaskList(tasks, { workerUtils });
    const taskList = only ? Object.fromEntries(Object.entries(allTasks).filter(([name]) => only.includes(name))) : allTasks;
    // A restricted worker is a helper beside a full one: the full one runs the schedule.
    // (An empty list, not an empty crontab: graphile-worker would then look for a crontab file.)
    const cronItems = only ? [] : parseCrontab(crontab);

    let stopping = false;
    let restarts = 0;
    let restartTimer: NodeJS.Timeout | undefined;
    let current: { runner: Runner; poolId: string; heartbeat: Heartbeat | undefined };

    const launch = async () => {
      let poolId = "";
      const onCreate = ({ workerPool }: { workerPool: { id: string } }) => (poolId = workerPool.id);
      events.once("pool:create", onCreate);
      const runner = await run({
        pgPool,
        concurrency,
        taskList,
        parsedCronItems: cronItems,
        // Groundwork owns process signals and shuts the worker down itself.
        noHandleSignals: true,
        noPreparedStatements: !preparedStatements,
        logger: logFactory,
        events,
        // Completions go through graphile-worker's batcher, which stop() waits for: without
        // it a job completed just before a graceful stop stays locked (issue 16).
        preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
      }).finally(() => events.off("pool:create", onCreate));
      if (!poolId) throw new Error("graphile-worker started a pool without announcing its id");
      const heartbeat = await startHeartbeat(pgPool, poolId, log, timing).catch(async (error: unknown) => {
        await runner.stop().catch(() => undefined);
        throw error;
      });
      current = { runner, poolId, heartbeat };
      // A pool that ends without our stop() (its error, or graphile-worker giving up on its connection) is replaced.
      runner.promise.then(
        () => void replace(runner, poolId, heartbeat, new Error("the worker pool stopped by itself")),
        (error: unknown) => void replace(runner, poolId, heartbeat, error),
      );
    };

    const replace = async (runner: Runner, poolId: string, heartbeat: Heartbeat, error: unknown) => {
      if (stopping || current.runner !== runner) return;
      log.error({ err: error, pool: poolId }, "the worker pool ended unexpectedly; its jobs are released and a new pool starts");
      await heartbeat.stop(false);
      // Its workers have ended: whatever it still holds is a leftover, free to run again now.
      await utils
        .forceUnlockWorkers([poolId])
        .then(() => pgPool.query("select ops_private.worker_gone($1)", [poolId]))
        .catch((unlockError: unknown) => log.warn({ err: unlockError, pool: poolId }, "could not release the failed pool's jobs; the sweeper will"));
      const retry = () => {
        restartTimer = undefined;
        if (stopping) return;
        launch().then(
          () => {
            restarts++;
            log.info({ pool: current.poolId, restarts }, "worker pool restarted");
          },
          (launchError: unknown) => {
            log.error({ err: launchError }, "could not restart the worker pool; trying again");
            restartTimer = setTimeout(retry, restartDelayMs * 5);
          },
        );
      };
      restartTimer = setTimeout(retry, restartDelayMs);
    };

    await launch();
    const names = Object.keys(taskList);
    log.info({ tasks: names, pool: current!.poolId }, `worker started: ${names.length} tasks, ${cronItems.length} cron entries, ${concurrency} jobs at a time`);
    return {
      get runner() {
        return current.runner;
      },
      get poolId() {
        return current.poolId;
      },
      events,
      get restarts() {
        return restarts;
      },
      async stop() {
        stopping = true;
        if (restartTimer) clearTimeout(restartTimer);
        const { runner, heartbeat } = current;
        let clean = true;
        await runner.stop().catch((error: unknown) => {
          clean = false;
          throw error;
        }).finally(async () => {
          // After a clean stop the pool holds nothing: its row goes. Otherwise the sweeper frees what is left.
          await heartbeat?.stop(clean).catch((error: unknown) => log.warn({ err: error }, "could not remove the worker pool's heartbeat"));
          await utils.release();
          await pgPool.end();
        });
      },
    };
  } catch (error) {
    await workerUtils?.release();
    await pgPool.end();
    throw error;
  }
}
