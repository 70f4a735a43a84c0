/**
 * A worker in its own process, for the crash test: `node worker-process.ts
 * <ownerUrl> <task,…>`. Prints "ready" once it takes jobs.
 */
import { createLogger } from "../../../src/logger.ts";
import { startWorker } from "../../../src/worker/runner.ts";
import { defaultTaskOptions } from "../../../src/config.ts";

const [ownerUrl, tasks] = process.argv.slice(2);
if (!ownerUrl || !tasks) throw new Error("usage: worker-process.ts <ownerUrl> <task,…>");
await startWorker({
  ownerUrl,
  concurrency: 4,
  logger: createLogger(process.env.LOG_LEVEL ?? "silent", "worker-process"),
  tasks: { ...defaultTaskOptions, webhooks: { ...defaultTaskOptions.webhooks, baseDelayMs: 50, maxDelayMs: 200 } },
  only: tasks.split(","),
});
process.stdout.write("ready\n");
