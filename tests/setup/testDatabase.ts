import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { roleUrls } from "../../src/db/database.ts";
import { withClient } from "../../src/db/diagnose.ts";
import { freePort, startEmbeddedCluster, type EmbeddedCluster } from "../../src/db/embedded.ts";
import { migrateDatabase } from "../../src/db/migrate.ts";
import { provisionDatabase } from "../../src/db/provision.ts";
import { withDatabase } from "../../src/db/urls.ts";
import { createLogger } from "../../src/logger.ts";
import { projectRoot } from "../../src/paths.ts";
import { loadLocalSecrets } from "../../src/state.ts";

/** What a test (or benchmark) needs to reach its throwaway database. */
export interface TestDatabase {
  /** Superuser on the test database: fixtures, and becoming any role. */
  rootUrl: string;
  ownerUrl: string;
  authenticatorUrl: string;
  database: string;
}

export interface TestDatabaseHandle extends TestDatabase {
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database: on TEST_DATABASE_URL's server (a superuser URL)
 * when set, otherwise on a throwaway embedded cluster. Dropped afterwards.
 */
export async function createTestDatabase(label = "test"): Promise<TestDatabaseHandle> {
  const logger = createLogger(process.env.LOG_LEVEL ?? "warn", `${label}-setup`);
  const stateDir = path.join(projectRoot, ".groundwork");
  const secrets = await loadLocalSecrets(stateDir);
  let cluster: EmbeddedCluster | undefined;
  let serverRootUrl = process.env.TEST_DATABASE_URL;
  const clusterDir = path.join(stateDir, `${label}-${process.pid}`);
  if (!serverRootUrl) {
    cluster = await startEmbeddedCluster({
      dataDir: clusterDir,
      port: await freePort(),
      password: secrets.postgresPassword,
      logger,
      ephemeral: true,
    });
    serverRootUrl = cluster.rootUrl;
  }
  const database = `gw_${label}_${randomBytes(4).toString("hex")}`;
  const cleanup = async () => {
    await withClient(serverRootUrl, "dropping the test database", (client) =>
      client.query(`drop database if exists ${database} with (force)`),
    ).catch((error: unknown) => logger.warn({ err: error }, "could not drop the test database"));
    if (cluster) {
      await cluster.stop();
      await rm(clusterDir, { recursive: true, force: true });
    }
  };
  try {
    await provisionDatabase({ rootUrl: serverRootUrl, database, ...secrets });
    const urls = roleUrls(serverRootUrl, database, secrets);
    await migrateDatabase({ ownerUrl: urls.ownerUrl, rootUrl: serverRootUrl, logger });
    return { ...urls, rootUrl: withDatabase(serverRootUrl, database), database, drop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
