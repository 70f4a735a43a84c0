import { parseCrontab, runOnce } from "graphile-worker";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createLogger } from "../../src/logger.ts";
import { crontab } from "../../src/worker/crontab.ts";
import { startWorker } from "../../src/worker/runner.ts";
import { defaultTaskOptions } from "../../src/config.ts";
import { makeTaskList, taskList } from "../../src/worker/tasks/index.ts";
import { rootDb, workerPool } from "../helpers/db.ts";
import { until } from "../helpers/until.ts";

const ownerPool = workerPool();
afterAll(() => ownerPool.end());

async function userWithBlacklist(label: string) {
  const { rows } = await rootDb().query<{ user_id: string }>(
    "insert into auth.users (username, email) values ($1, $2) returning user_id",
    [`${label}${process.pid}`, `${label}${process.pid}@example.com`],
  );
  const userId = rows[0]!.user_id;
  await rootDb().query(
    `insert into auth.refresh_token_blacklist (jti, user_id, expires_at) values
       ($2, $1, now() - interval '1 minute'), ($3, $1, now() + interval '1 day')`,
    [userId, `expired-${label}-${process.pid}`, `live-${label}-${process.pid}`],
  );
  return userId;
}

async function blacklistOf(userId: string): Promise<string[]> {
  const { rows } = await rootDb().query<{ jti: string }>(
    "select jti from auth.refresh_token_blacklist where user_id = $1 order by jti",
    [userId],
  );
  return rows.map((row) => row.jti);
}

describe("worker", () => {
  it("schedules only tasks that exist", () => {
    const items = parseCrontab(crontab);
    expect(items.length).toBeGreaterThan(0);
    // Only the names matter here, not a working clean-up.
    const tasks = makeTaskList(defaultTaskOptions, { workerUtils: { cleanup: async () => undefined } });
    for (const item of items) expect(Object.keys(tasks)).toContain(item.task);
    // graphile-worker refuses to start on two items with one identifier (a task scheduled twice needs ?id=).
    expect(new Set(items.map((item) => item.identifier)).size).toBe(items.length);
  });

  it("cleanup of the refresh-token blacklist deletes only expired entries", async () => {
    const userId = await userWithBlacklist("bl1");
    await ownerPool.query("select graphile_worker.add_job('auth_cleanup_refresh_token_blacklist', '{}'::json)");
    // Only this task: other test files' jobs (outbox, inbox) belong to their own workers.
    const only = { auth_cleanup_refresh_token_blacklist: taskList.auth_cleanup_refresh_token_blacklist! };
    await runOnce({ pgPool: ownerPool, taskList: only, noHandleSignals: true });
    expect(await blacklistOf(userId)).toEqual([`live-bl1-${process.pid}`]);
  });

  it("runs jobs in process and stops cleanly", async () => {
    const userId = await userWithBlacklist("bl2");
    const worker = await startWorker({ ownerUrl: inject("testDatabase").ownerUrl, concurrency: 1, logger: createLogger("silent"), only: ["auth_cleanup_refresh_token_blacklist"] });
    try {
      await ownerPool.query("select graphile_worker.add_job('auth_cleanup_refresh_token_blacklist', '{}'::json)");
      const left = await until(() => blacklistOf(userId), (jtis) => jtis.length <= 1, { timeoutMs: 20_000, what: "the expired entry's cleanup" });
      expect(left).toEqual([`live-bl2-${process.pid}`]);
    } finally {
      await worker.stop();
    }
  });
});
