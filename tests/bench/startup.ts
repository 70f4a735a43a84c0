/**
 * Start-up benchmarks: cold start (nothing but an installed checkout) to the
 * first answered GraphQL query, and a warm restart on existing data. The
 * baseline, measured in the same run, is the floor under both: initialising
 * and starting the same embedded PostgreSQL and answering `select 1`.
 */
import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { freePort, startEmbeddedCluster } from "../../src/db/embedded.ts";
import { createLogger } from "../../src/logger.ts";
import { projectRoot } from "../../src/paths.ts";

const logger = createLogger("silent");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function firstAnswer(url: string, deadline: number): Promise<void> {
  while (performance.now() < deadline) {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ __typename }" }),
      });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(20);
  }
  throw new Error("no answer within the deadline");
}

/** Spawns `groundwork start` on a state directory and times it to the first GraphQL answer. */
async function timeStart(stateDir: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(projectRoot, "src/cli.ts"), "start"], {
    cwd: projectRoot,
    env: { ...process.env, GROUNDWORK_STATE_DIR: stateDir, PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()), LOG_LEVEL: "warn", DATABASE_URL: "" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const died = new Promise<never>((_resolve, reject) =>
    child.once("exit", (code) => reject(new Error(`groundwork start exited early (code ${code})`))),
  );
  try {
    await Promise.race([firstAnswer(`http://127.0.0.1:${port}/graphql`, started + 60_000), died]);
    return performance.now() - started;
  } finally {
    died.catch(() => undefined);
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
    }
  }
}

async function timeBareCluster(dataDir: string): Promise<number> {
  const started = performance.now();
  const cluster = await startEmbeddedCluster({ dataDir, port: await freePort(), password: "bench", logger });
  const client = new pg.Client({ connectionString: cluster.rootUrl });
  await client.connect();
  await client.query("select 1");
  const elapsed = performance.now() - started;
  await client.end();
  await cluster.stop();
  return elapsed;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function benchStartup(rounds = 3) {
  const cold: number[] = [];
  const warm: number[] = [];
  const bareCold: number[] = [];
  const bareWarm: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const scratch = await mkdtemp(path.join(projectRoot, ".groundwork", "bench-"));
    await chmod(scratch, 0o755); // the postgres user must traverse it
    try {
      const stateDir = path.join(scratch, "state");
      cold.push(await timeStart(stateDir));
      warm.push(await timeStart(stateDir));
      const dataDir = path.join(scratch, "bare");
      bareCold.push(await timeBareCluster(dataDir));
      bareWarm.push(await timeBareCluster(dataDir));
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  return {
    coldStartMs: median(cold),
    warmRestartMs: median(warm),
    bareClusterColdMs: median(bareCold),
    bareClusterWarmMs: median(bareWarm),
    coldRatio: median(cold) / median(bareCold),
    warmRatio: median(warm) / median(bareWarm),
  };
}
