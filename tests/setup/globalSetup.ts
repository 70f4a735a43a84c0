import pg from "pg";
import type { TestProject } from "vitest/node";
import { taskList } from "../../src/worker/tasks/index.ts";
import { createTestDatabase, type TestDatabase } from "./testDatabase.ts";

declare module "vitest" {
  export interface ProvidedContext {
    testDatabase: TestDatabase;
  }
}

/**
 * graphile-worker keeps one row per task identifier (_private_tasks), which add_job
 * inserts the first time it meets a name, and which a started worker inserts for
 * all of its tasks. No worker has started on a new test database, and SQL tests roll
 * back: every test transaction that queued a job inserted the row anew, so test
 * files running at the same time waited on each other's uncommitted row of the same
 * name until rollback, and deadlocked when one of them also held a table lock the
 * other needed ("deadlock detected" / "could not serialize access" in
 * graphile_worker.add_jobs). Registered once here, committed, as a started worker would.
 */
async function registerTaskIdentifiers(rootUrl: string): Promise<void> {
  const client = new pg.Client(rootUrl);
  await client.connect();
  try {
    await client.query("insert into graphile_worker._private_tasks (identifier) select unnest($1::text[]) on conflict do nothing", [
      [...Object.keys(taskList), "ops_gc_job_queues"],
    ]);
  } finally {
    await client.end();
  }
}

/** One migrated database per `npm test` run, shared by every test file. */
export default async function setup(project: TestProject) {
  const handle = await createTestDatabase("test");
  const { drop, ...testDatabase } = handle;
  try {
    await registerTaskIdentifiers(testDatabase.rootUrl);
  } catch (error) {
    await drop();
    throw error;
  }
  project.provide("testDatabase", testDatabase);
  return async () => {
    await drop();
  };
}
