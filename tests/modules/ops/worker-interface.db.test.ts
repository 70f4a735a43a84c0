import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../../src/paths.ts";
import { rootDb, withTransaction, type TestTransaction } from "../../helpers/db.ts";

/**
 * Groundwork's SQL speaks to graphile-worker through its public interface (the
 * graphile_worker.jobs view, add_job(s), reschedule_jobs, complete_jobs,
 * permanently_fail_jobs, force_unlock_workers); one documented function reads
 * a private table. Jobs here belong to a task no worker runs, in transactions
 * that are rolled back.
 */
const task = `ops_state_probe_${process.pid}`;
const privateReader = "ops_private.job_payloads()";

async function addJob(tx: TestTransaction, runAt = "now()"): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(`select (graphile_worker.add_job($1, '{"probe": true}'::json, run_at := ${runAt})).id`, [task]);
  return rows[0]!.id;
}

describe("graphile-worker's private tables", () => {
  it("are read by one function only, ops_private.job_payloads", async () => {
    const { rows } = await rootDb().query<{ reader: string }>(
      `select p.oid::regprocedure::text as reader
         from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
        where n.nspname <> 'graphile_worker' and p.prosrc ~ 'graphile_worker\\._private_'
       union all
       select c.oid::regclass::text
         from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname <> 'graphile_worker' and c.relkind in ('v', 'm')
          and pg_catalog.pg_get_viewdef(c.oid) ~ 'graphile_worker\\._private_'`,
    );
    expect(rows.map((row) => row.reader)).toEqual([privateReader]);
  });

  it("were checked, by that function, against the installed graphile-worker version", async () => {
    const installed = JSON.parse(readFileSync(path.join(projectRoot, "node_modules/graphile-worker/package.json"), "utf8")).version as string;
    const { rows } = await rootDb().query<{ migration: number; comment: string }>(
      `select (select max(id) from graphile_worker.migrations)::int as migration,
              pg_catalog.obj_description($1::regprocedure, 'pg_proc') as comment`,
      [privateReader],
    );
    const checked = /graphile-worker (\S+) \(schema migration (\d+)\)/.exec(rows[0]!.comment);
    expect(checked, `the comment of ${privateReader} names the graphile-worker version it was checked against`).not.toBeNull();
    expect(
      { version: installed, migration: rows[0]!.migration },
      `graphile-worker is now ${installed} (schema migration ${rows[0]!.migration}); ${privateReader} was checked against ` +
        `${checked![1]} (schema migration ${checked![2]}). Re-check that _private_jobs still holds (id, payload) as that function ` +
        `reads them and that nothing else needs a private table, then update the numbers in its comment.`,
    ).toEqual({ version: checked![1], migration: Number(checked![2]) });
  });
});

describe("job states", () => {
  it("follow one rule, first match wins: running, dead, retrying, ready, scheduled", async () => {
    const { rows } = await rootDb().query<{ state: string }>(
      `select ops_private.job_state(locked_at, attempts, max_attempts, run_at, '2026-01-01 12:00+00') as state
         from (values (now(), 25, 25, '2026-01-01 13:00+00'::timestamptz),
                      (null, 25, 25, '2026-01-01 11:00+00'),
                      (null, 1, 25, '2026-01-01 13:00+00'),
                      (null, 0, 25, '2026-01-01 12:00+00'),
                      (null, 0, 25, '2026-01-01 12:00:01+00')) j(locked_at, attempts, max_attempts, run_at)`,
    );
    expect(rows.map((row) => row.state)).toEqual(["running", "dead", "retrying", "ready", "scheduled"]);
  });

  it("are the same in ops.jobs, its state filter and ops.queue_depth", async () => {
    await withTransaction(async (tx) => {
      const ready = await addJob(tx);
      const scheduled = await addJob(tx, "now() + interval '1 hour'");
      const retrying = await addJob(tx);
      await tx.query("select graphile_worker.reschedule_jobs(array[$1]::bigint[], attempts := 1)", [retrying]);
      const dead = await addJob(tx);
      await tx.query("select graphile_worker.permanently_fail_jobs(array[$1]::bigint[], 'gave up')", [dead]);
      const running = await addJob(tx);
      // No public function locks a job without running it: fake a worker's lock.
      await tx.query("update graphile_worker._private_jobs set locked_at = now(), locked_by = 'worker-probe' where id = $1", [running]);
      const expected = { [ready]: "ready", [scheduled]: "scheduled", [retrying]: "retrying", [dead]: "dead", [running]: "running" };

      const { rows: listed } = await tx.query<{ job_id: string; state: string; payload: unknown }>(
        "select job_id, state, payload from ops.jobs(null, $1)",
        [task],
      );
      expect(Object.fromEntries(listed.map((job) => [job.job_id, job.state]))).toEqual(expected);
      expect(listed.map((job) => job.payload)).toEqual(Array(5).fill({ probe: true }));

      for (const state of ["running", "dead", "retrying", "ready", "scheduled"]) {
        const { rows } = await tx.query<{ job_id: string }>("select job_id from ops.jobs($1, $2)", [state, task]);
        expect(rows.map((row) => expected[row.job_id])).toEqual([state]);
      }

      const { rows: depth } = await tx.query(
        "select ready, scheduled, running, retrying, dead, oldest_ready_at = now() as oldest_is_now from ops.queue_depth() where task_identifier = $1",
        [task],
      );
      const counted = (state: string) => String(listed.filter((job) => job.state === state).length);
      expect(depth).toEqual([
        { ready: counted("ready"), scheduled: counted("scheduled"), running: counted("running"), retrying: counted("retrying"), dead: counted("dead"), oldest_is_now: true },
      ]);
      expect(depth[0]).toMatchObject({ ready: "1", scheduled: "1", running: "1", retrying: "1", dead: "1" });
    });
  });
});
