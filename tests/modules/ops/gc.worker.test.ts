import { afterAll, describe, expect, inject, it } from "vitest";
import { createLogger } from "../../../src/logger.ts";
import { startWorker } from "../../../src/worker/runner.ts";
import { rootDb } from "../../helpers/db.ts";
import { until } from "../../helpers/until.ts";

/**
 * ops_gc_job_queues through the worker as it runs in production (startWorker
 * builds the WorkerUtils it cleans up with). Probe jobs belong to a task no
 * worker runs.
 */
const task = `ops_gc_probe_${process.pid}`;
const unused = `gc-unused-${process.pid}`;
const used = `gc-used-${process.pid}`;

/** Which of the probe queues exist (graphile-worker has no public view of queues). */
async function probeQueues(): Promise<string[]> {
  const { rows } = await rootDb().query<{ queue_name: string }>(
    "select queue_name from graphile_worker._private_job_queues where queue_name = any ($1) order by queue_name",
    [[unused, used]],
  );
  return rows.map((row) => row.queue_name);
}

afterAll(async () => {
  await rootDb().query("select graphile_worker.complete_jobs(array(select id from graphile_worker.jobs where task_identifier = $1))", [task]);
});

describe("ops_gc_job_queues", () => {
  it("removes a named queue no job uses through graphile-worker's clean-up, and keeps one a job waits in", async () => {
    const { rows } = await rootDb().query<{ id: string }>("select (graphile_worker.add_job($1, '{}', queue_name := $2)).id", [task, unused]);
    await rootDb().query("select graphile_worker.add_job($1, '{}', queue_name := $2)", [task, used]);
    await rootDb().query("select graphile_worker.complete_jobs(array[$1]::bigint[])", [rows[0]!.id]);
    expect(await probeQueues()).toEqual([unused, used]);

    const worker = await startWorker({
      ownerUrl: inject("testDatabase").ownerUrl,
      concurrency: 1,
      logger: createLogger("silent"),
      only: ["ops_gc_job_queues"],
    });
    try {
      const key = `ops_gc_probe:${process.pid}`;
      await rootDb().query("select graphile_worker.add_job('ops_gc_job_queues', '{}', job_key := $1)", [key]);
      const left = async () => (await rootDb().query("select count(*)::int as n from graphile_worker.jobs where key = $1", [key])).rows[0].n;
      await until(left, (n) => n === 0);
    } finally {
      await worker.stop();
    }
    expect(await probeQueues()).toEqual([used]);
  });
});
