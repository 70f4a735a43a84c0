import path from "node:path";
import type { Config } from "./config.ts";
import { openDatabase, type DatabaseHandle } from "./db/database.ts";
import { migrateDatabase, type MigrateTarget, type MigrationSummary } from "./db/migrate.ts";
import { checkConnections, type ConnectionUse } from "./db/pooler.ts";
import { databaseName, userName } from "./db/urls.ts";
import type { Logger } from "./logger.ts";
import { projectRoot } from "./paths.ts";
import { startApi, type Api } from "./server/app.ts";
import { devSignInFor } from "./server/devSignIn.ts";
import { createTokenService, type TokenService } from "./server/jwt.ts";
import { loadLocalSecrets } from "./state.ts";
import { startWorker, type Worker } from "./worker/runner.ts";

export interface Running {
  database: DatabaseHandle;
  api: Api | undefined;
  worker: Worker | undefined;
  /** Lets requests and jobs finish until `deadline` (epoch ms; default SHUTDOWN_TIMEOUT_MS from now), then stops the database. */
  stop(deadline?: number): Promise<void>;
}

/** Thrown by boot when its signal is aborted (a Ctrl-C during start-up) after stopping what it had started. */
export class BootAborted extends Error {
  override name = "BootAborted";
}

/** The HS256 secret: configured, or generated once per checkout for development. */
export async function jwtSecret(config: Config): Promise<string> {
  if (config.jwt.secret) return config.jwt.secret;
  return (await loadLocalSecrets(config.stateDir)).jwtSecret;
}

export async function makeTokenService(config: Config): Promise<TokenService> {
  return createTokenService(config.jwt, await jwtSecret(config));
}

/** Where the database is, for the start-up log (never a password). */
function describeDatabase(config: Config, database: DatabaseHandle, version: string): string {
  if (database.embedded) {
    const dataDir = path.join(config.stateDir, "pgdata");
    const data = dataDir.startsWith(`${projectRoot}${path.sep}`) ? path.relative(projectRoot, dataDir) : dataDir;
    return `embedded PostgreSQL ${version} on 127.0.0.1:${database.embedded.port}, data in ${data}`;
  }
  const url = new URL(database.ownerUrl);
  return `PostgreSQL ${version} at ${url.hostname}:${url.port || 5432}/${databaseName(database.ownerUrl)} as ${userName(database.ownerUrl)} (DATABASE_URL)`;
}

function describeMigrations({ applied, committed, current }: MigrationSummary): string {
  const committedPart = applied > 0 ? `applied ${applied} (${committed} committed in all)` : `none to apply (${committed} committed)`;
  return current ? `${committedPart}; migrations/current/ run` : committedPart;
}

/**
 * What every command migrates. In development a run of migrations/current/
 * also rewrites the generated reference; never in production or tests.
 */
export function migrateTarget(config: Config, database: DatabaseHandle, logger: Logger): MigrateTarget {
  return {
    ownerUrl: database.ownerUrl,
    rootUrl: database.rootUrl,
    logger,
    referenceUrl: config.env === "development" ? database.authenticatorUrl : undefined,
  };
}

/** The connections a start uses, and which of them need a session (no transaction pooler). */
export function connectionUses(config: Config, database: DatabaseHandle, parts: { api: boolean; worker: boolean }): ConnectionUse[] {
  const uses: ConnectionUse[] = [];
  if (config.migrateOnStart) uses.push({ variable: "DATABASE_URL", url: database.ownerUrl, needsSession: true, what: "Migrating (a session advisory lock, graphile-migrate's transactions)" });
  if (parts.api) {
    uses.push({ variable: "AUTH_DATABASE_URL", url: database.authenticatorUrl, needsSession: false, what: "Requests" });
  }
  if (parts.worker) uses.push({ variable: config.workerDatabaseUrl ? "WORKER_DATABASE_URL" : "WORKER_DATABASE_URL (unset: DATABASE_URL)", url: database.workerUrl, needsSession: false, what: "The worker" });
  return uses;
}

/**
 * Opens (or starts) the database, migrates it, then starts the parts asked
 * for. Stopping: the API and the worker drain side by side until the
 * deadline, then the database stops. An aborted `signal` (a signal during
 * start-up) stops what has started at the next step and rejects with BootAborted.
 */
export async function boot(config: Config, logger: Logger, parts: { api: boolean; worker: boolean }, signal?: AbortSignal): Promise<Running> {
  const database = await openDatabase(config, logger);
  let api: Api | undefined;
  let worker: Worker | undefined;
  const stop = async (deadline = Date.now() + config.api.shutdownTimeoutMs) => {
    const stopWorker = async (running: Worker) => {
      let timer: NodeJS.Timeout | undefined;
      const stopped = running.stop().then(() => true, (error: unknown) => {
        logger.error({ err: error }, "stopping the worker");
        return true;
      });
      const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
      if (!(await Promise.race([stopped, timedOut]))) logger.warn("shutdown timeout: the worker's running jobs did not finish; they will be retried");
      clearTimeout(timer);
    };
    await Promise.all([
      api?.stop(deadline).catch((error: unknown) => logger.error({ err: error }, "stopping the API")),
      worker && stopWorker(worker),
    ]);
    await database.stop().catch((error: unknown) => logger.error({ err: error }, "stopping the database"));
  };
  const step = () => {
    if (signal?.aborted) throw new BootAborted("stopped during start-up");
  };
  try {
    step();
    // A pooler in front of a connection that needs a session is refused here, with the reason (docs/scaling.md).
    if (!database.embedded) await checkConnections(connectionUses(config, database, parts), config.preparedStatements, logger);
    step();
    if (config.migrateOnStart) {
      const migrated = await migrateDatabase(migrateTarget(config, database, logger));
      logger.info(`database: ${describeDatabase(config, database, migrated.serverVersion)}`);
      logger.info(`migrations: ${describeMigrations(migrated)}`);
    } else {
      logger.info("migrations: not run at start (MIGRATE_ON_START=false; run groundwork migrate before starting)");
    }
    step();
    if (parts.worker) {
      worker = await startWorker({
        ownerUrl: database.workerUrl,
        concurrency: config.workerConcurrency,
        logger,
        tasks: config.tasks,
        preparedStatements: config.preparedStatements,
      });
    }
    step();
    if (parts.api) {
      api = await startApi({
        authenticatorUrl: database.authenticatorUrl,
        preparedStatements: config.preparedStatements,
        tokenService: await makeTokenService(config),
        logger,
        port: config.port,
        host: config.host,
        poolSize: config.poolSize,
        limits: config.api,
        // GraphiQL's "sign in as": development only, and answered on loopback only (src/server/devSignIn.ts).
        devSignIn: devSignInFor(config.env, database.ownerUrl),
      });
      logger.info(`API listening on ${api.url}/graphql${config.api.graphiql ? ` (GraphiQL ${api.url}/graphiql)` : ""}`);
    }
    step();
  } catch (error) {
    await stop();
    throw error;
  }
  return { database, api, worker, stop };
}
