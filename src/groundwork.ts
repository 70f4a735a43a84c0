import type { Config } from "./config.ts";
import { openDatabase, type DatabaseHandle } from "./db/database.ts";
import { migrateDatabase, type MigrateTarget } from "./db/migrate.ts";
import type { Logger } from "./logger.ts";
import { startApi, type Api } from "./server/app.ts";
import { createTokenService, type TokenService } from "./server/jwt.ts";
import { loadLocalSecrets } from "./state.ts";
import { startWorker, type Worker } from "./worker/runner.ts";

export interface Running {
  database: DatabaseHandle;
  api: Api | undefined;
  worker: Worker | undefined;
  stop(): Promise<void>;
}

/** The HS256 secret: configured, or generated once per checkout for development. */
export async function jwtSecret(config: Config): Promise<string> {
  if (config.jwt.secret) return config.jwt.secret;
  return (await loadLocalSecrets(config.stateDir)).jwtSecret;
}

export async function makeTokenService(config: Config): Promise<TokenService> {
  return createTokenService(config.jwt, await jwtSecret(config));
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

/**
 * Opens (or starts) the database, migrates it, then starts the parts asked
 * for. Stopping goes in reverse: API, worker, database.
 */
export async function boot(config: Config, logger: Logger, parts: { api: boolean; worker: boolean }): Promise<Running> {
  const database = await openDatabase(config, logger);
  let api: Api | undefined;
  let worker: Worker | undefined;
  const stop = async () => {
    // API first (stop taking requests, finish the ones in flight), then the worker
    // (running jobs finish), each bounded by SHUTDOWN_TIMEOUT_MS.
    await api?.stop().catch((error: unknown) => logger.error({ err: error }, "stopping the API"));
    if (worker) {
      const stopped = worker.stop().then(() => true, (error: unknown) => {
        logger.error({ err: error }, "stopping the worker");
        return true;
      });
      const timedOut = new Promise<false>((resolve) => setTimeout(() => resolve(false), config.api.shutdownTimeoutMs).unref());
      if (!(await Promise.race([stopped, timedOut]))) logger.warn("shutdown timeout: the worker's running jobs did not finish; they will be retried");
    }
    await database.stop().catch((error: unknown) => logger.error({ err: error }, "stopping the database"));
  };
  try {
    await migrateDatabase(migrateTarget(config, database, logger));
    if (parts.worker) worker = await startWorker({ ownerUrl: database.ownerUrl, concurrency: config.workerConcurrency, logger, tasks: config.tasks });
    if (parts.api) {
      api = await startApi({
        authenticatorUrl: database.authenticatorUrl,
        tokenService: await makeTokenService(config),
        logger,
        port: config.port,
        host: config.host,
        poolSize: config.poolSize,
        limits: config.api,
      });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { database, api, worker, stop };
}
