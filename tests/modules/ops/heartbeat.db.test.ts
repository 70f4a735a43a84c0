import { describe, expect, it } from "vitest";
import { rootDb, withTransaction, type TestTransaction } from "../../helpers/db.ts";

/**
 * The sweeper behind unattended crash recovery (docs/operations.md#crash-recovery):
 * ops_private.release_dead_workers releases the jobs of worker pools whose
 * heartbeat stopped. Jobs of a task no worker runs, locks faked as a pool's,
 * in transactions that are rolled back; the stale bound is an hour, so no real
 * pool of another test file is ever old enough to be touched.
 */
const task = `ops_heartbeat_probe_${process.pid}`;
const hex = (n: number) => n.toString(16).padStart(18, "0");

async function lockedJob(tx: TestTransaction, lockedBy: string, lockedAgo: string): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(`select (graphile_worker.add_job($1, '{}'::json, queue_name := $1 || $2)).id`, [task, lockedBy]);
  const id = rows[0]!.id;
  // No public function locks a job without running it: fake the pool's lock (job and queue, as get_job does).
  await tx.query(
    `with j as (update graphile_worker._private_jobs set locked_at = now() - $2::interval, locked_by = $3 where id = $1 returning job_queue_id)
     update graphile_worker._private_job_queues q set locked_at = now() - $2::interval, locked_by = $3 from j where q.id = j.job_queue_id`,
    [id, lockedAgo, lockedBy],
  );
  return id;
}

async function beat(tx: TestTransaction, poolId: string, ago: string): Promise<void> {
  await tx.query("select ops_private.worker_beat($1, 'test-host', 1)", [poolId]);
  await tx.query("update ops_private.worker_pools set beat_at = now() - $2::interval where pool_id = $1", [poolId, ago]);
}

const lockOf = async (tx: TestTransaction, id: string) =>
  (await tx.query<{ locked_by: string | null }>("select locked_by from graphile_worker.jobs where id = $1", [id])).rows[0]!.locked_by;

describe("ops_private.release_dead_workers", () => {
  it("releases the jobs and queues of a pool whose heartbeat is stale, and forgets the pool", async () => {
    await withTransaction(async (tx) => {
      const dead = `pool-${hex(1)}`;
      await beat(tx, dead, "2 hours");
      const job = await lockedJob(tx, dead, "2 hours");
      const { rows } = await tx.query("select worker_id, released_jobs from ops_private.release_dead_workers('1 hour')");
      expect(rows).toContainEqual({ worker_id: dead, released_jobs: 1 });
      expect(await lockOf(tx, job)).toBeNull();
      const { rows: queues } = await tx.query("select locked_by from graphile_worker._private_job_queues where queue_name = $1", [task + dead]);
      expect(queues).toEqual([{ locked_by: null }]);
      const { rows: pools } = await tx.query("select pool_id from ops_private.worker_pools where pool_id = $1", [dead]);
      expect(pools).toEqual([]);
    });
  });

  it("keeps the jobs of a pool that beats, however long they have run", async () => {
    await withTransaction(async (tx) => {
      const live = `pool-${hex(2)}`;
      await beat(tx, live, "1 second");
      const job = await lockedJob(tx, live, "5 hours");
      const { rows } = await tx.query<{ worker_id: string }>("select worker_id from ops_private.release_dead_workers('1 hour')");
      expect(rows.map((row) => row.worker_id)).not.toContain(live);
      expect(await lockOf(tx, job)).toBe(live);
    });
  });

  it("releases a lock held by a pool that never registered only once it is older than the bound", async () => {
    await withTransaction(async (tx) => {
      const old = `pool-${hex(3)}`;
      const young = `pool-${hex(4)}`;
      const oldJob = await lockedJob(tx, old, "2 hours");
      const youngJob = await lockedJob(tx, young, "1 minute");
      const { rows } = await tx.query<{ worker_id: string }>("select worker_id from ops_private.release_dead_workers('1 hour')");
      expect(rows.map((row) => row.worker_id)).toContain(old);
      expect(rows.map((row) => row.worker_id)).not.toContain(young);
      expect(await lockOf(tx, oldJob)).toBeNull();
      expect(await lockOf(tx, youngJob)).toBe(young);
    });
  });

  it("forgets a dead pool that held no job, and names it with none released", async () => {
    await withTransaction(async (tx) => {
      const idle = `pool-${hex(5)}`;
      await beat(tx, idle, "2 hours");
      const { rows } = await tx.query("select worker_id, released_jobs from ops_private.release_dead_workers('1 hour')");
      expect(rows.map((row) => (row as { worker_id: string }).worker_id)).not.toContain(idle);
      const { rows: pools } = await tx.query("select pool_id from ops_private.worker_pools where pool_id = $1", [idle]);
      expect(pools).toEqual([]);
    });
  });

  it("is not callable by API roles", async () => {
    const { rows } = await rootDb().query<{ role: string; allowed: boolean }>(
      `select r as role, has_function_privilege(r, 'ops_private.release_dead_workers(interval)', 'execute') as allowed
         from unnest(array['gw_authenticator', 'gw_user', 'gw_admin', 'gw_anonymous']) r`,
    );
    expect(rows.filter((row) => row.allowed)).toEqual([]);
  });
});
