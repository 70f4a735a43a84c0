import { hostname } from "node:os";
import type { Pool } from "pg";
import type { Logger } from "../logger.ts";

/**
 * Crash recovery without an operator (docs/operations.md#crash-recovery): a
 * worker pool beats every `beatMs`; every pool sweeps at start and every
 * `sweepMs`, releasing the jobs of pools that have not beaten for `staleMs`.
 * A job of a killed process runs again at most staleMs + sweepMs + a poll
 * interval after the last beat: 30 + 10 + 2 s with the defaults.
 */
export interface HeartbeatTiming {
  beatMs: number;
  sweepMs: number;
  staleMs: number;
}

export const heartbeatDefaults: HeartbeatTiming = { beatMs: 5_000, sweepMs: 10_000, staleMs: 30_000 };

export interface Heartbeat {
  /** Stops beating; `gone`: the pool released its jobs, so its row goes (not after a crash of the pool). */
  stop(gone: boolean): Promise<void>;
}

/** Releases the jobs of dead pools once; returns what it released. */
export async function releaseDeadWorkers(pool: Pool, staleMs: number): Promise<Array<{ workerId: string; releasedJobs: number }>> {
  const { rows } = await pool.query<{ worker_id: string; released_jobs: number }>(
    "select worker_id, released_jobs from ops_private.release_dead_workers($1::interval)",
    [`${staleMs} milliseconds`],
  );
  return rows.map((row) => ({ workerId: row.worker_id, releasedJobs: row.released_jobs }));
}

export async function startHeartbeat(pool: Pool, poolId: string, logger: Logger, timing: HeartbeatTiming = heartbeatDefaults): Promise<Heartbeat> {
  const host = hostname();
  let stopped = false;
  let inFlight: Promise<unknown> = Promise.resolve();
  const beat = () => pool.query("select ops_private.worker_beat($1, $2, $3)", [poolId, host, process.pid]);
  const sweep = async () => {
    const released = await releaseDeadWorkers(pool, timing.staleMs);
    for (const { workerId, releasedJobs } of released) {
      logger.warn({ deadPool: workerId, releasedJobs }, `released ${releasedJobs} jobs of worker pool ${workerId}, which stopped beating`);
    }
  };
  // One at a time, never after stop: a late beat would bring back the row of a pool that has gone.
  const guarded = (work: () => Promise<unknown>, what: string) => () => {
    if (stopped) return;
    inFlight = inFlight.then(() => (stopped ? undefined : work())).catch((error: unknown) => {
      logger.warn({ err: error, pool: poolId }, `worker ${what} failed; trying again at the next tick`);
    });
  };
  await beat();
  guarded(sweep, "sweep")();
  const beating = setInterval(guarded(beat, "heartbeat"), timing.beatMs);
  const sweeping = setInterval(guarded(sweep, "sweep"), timing.sweepMs);
  beating.unref();
  sweeping.unref();
  return {
    async stop(gone) {
      stopped = true;
      clearInterval(beating);
      clearInterval(sweeping);
      await inFlight;
      if (gone) await pool.query("select ops_private.worker_gone($1)", [poolId]);
    },
  };
}
