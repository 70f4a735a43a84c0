/**
 * A worker in its own process, for the crash tests: `node worker-process.ts
 * <ownerUrl> <task,…>`. Prints "ready <pool id>" once it takes jobs; SIGTERM
 * and SIGINT stop it gracefully, as `groundwork worker` does. GW_TEST_HEARTBEAT
 * ("beatMs,sweepMs,staleMs") shortens the heartbeat so a test sees the sweep.
 */
import { createLogger } from "../../../src/logger.ts";
import { startWorker } from "../../../src/worker/runner.ts";
import { defaultTaskOptions } from "../../../src/config.ts";
import { heartbeatDefaults } from "../../../src/worker/heartbeat.ts";

const [ownerUrl, tasks] = process.argv.slice(2);
if (!ownerUrl || !tasks) throw new Error("usage: worker-process.ts <ownerUrl> <task,…>");
const [beatMs, sweepMs, staleMs] = (process.env.GW_TEST_HEARTBEAT ?? "").split(",").map(Number);
const worker = await startWorker({
  ownerUrl,
  concurrency: 4,
  logger: createLogger(process.env.LOG_LEVEL ?? "silent", "worker-process"),
  tasks: { ...defaultTaskOptions, webhooks: { ...defaultTaskOptions.webhooks, baseDelayMs: 50, maxDelayMs: 200 } },
  only: tasks.split(","),
  heartbeat: beatMs && sweepMs && staleMs ? { beatMs, sweepMs, staleMs } : heartbeatDefaults,
});
const stop = () => {
  worker.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.stdout.write(`ready ${worker.poolId}\n`);
