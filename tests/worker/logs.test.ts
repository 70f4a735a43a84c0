import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, inject, it } from "vitest";
import { startWorker } from "../../src/worker/runner.ts";
import { workerLogger } from "../../src/worker/log.ts";
import { rootDb } from "../helpers/db.ts";

/** A pino logger whose lines land, parsed, in `lines`. */
function capture() {
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: pino({ level: "debug" }, sink) };
}

describe("the worker's log", () => {
  it("puts a job that succeeds at its first attempt at debug, naming it by id and task (not its row and payload)", async () => {
    const { lines, logger } = capture();
    const worker = await startWorker({ ownerUrl: inject("testDatabase").ownerUrl, concurrency: 1, logger, only: ["auth_cleanup_refresh_token_blacklist"] });
    try {
      // Several jobs: another test's worker for the same task may take some of them.
      await rootDb().query("select graphile_worker.add_job('auth_cleanup_refresh_token_blacklist', '{\"marker\": \"payload-not-logged\"}'::json) from generate_series(1, 5)");
      for (let i = 0; i < 200 && !lines.some((line) => /^Completed task/.test(line.msg)); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await worker.stop();
    }
    const completed = lines.filter((line) => /^Completed task/.test(line.msg));
    expect(completed.length).toBeGreaterThan(0);
    for (const line of completed) {
      expect(line).toMatchObject({ level: 20, component: "worker", task: "auth_cleanup_refresh_token_blacklist", jobId: expect.any(String), attempt: 1 });
      expect(line).not.toHaveProperty("job");
    }
    expect(JSON.stringify(lines)).not.toContain("payload-not-logged");
    // At info: only what the worker says once, at start.
    expect(lines.filter((line) => line.level === 30).map((line) => line.msg)).toEqual(["worker started: 1 tasks, 0 cron entries, 1 jobs at a time"]);
  });

  it("keeps failures at error and a success after failed attempts at info", () => {
    const { lines, logger } = capture();
    const log = workerLogger(logger).scope({ label: "worker" });
    const job = { id: "42", task_identifier: "outbox_deliver", attempts: 3, max_attempts: 12, payload: { secret: "x" } };
    log.error("Failed task 42 (outbox_deliver, 3.00ms, attempt 3 of 12) with error 'boom'", { failure: true, job, error: new Error("boom") });
    log.info("Completed task 42 (outbox_deliver, 3.00ms, attempt 3 of 12) with success", { job, duration: 3, success: true });
    expect(lines.map((line) => [line.level, line.jobId, line.attempt, "job" in line])).toEqual([
      [50, "42", 3, false],
      [30, "42", 3, false],
    ]);
  });
});
