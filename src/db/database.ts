import path from "node:path";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import { loadLocalSecrets, type LocalSecrets } from "../state.ts";
import { withClient } from "./diagnose.ts";
import { startEmbeddedCluster, type EmbeddedCluster } from "./embedded.ts";
import { requestRoles } from "../modules.ts";
import { provisionDatabase } from "./provision.ts";
import { databaseName, passwordOf, userName, withCredentials, withDatabase } from "./urls.ts";

/** Where Groundwork's database is and how each part connects to it. */
export interface DatabaseHandle {
  /** gw_owner: migrations and the worker. */
  ownerUrl: string;
  /** gw_authenticator: the API, which becomes the caller's role per transaction. */
  authenticatorUrl: string;
  /** gw_owner for the worker (WORKER_DATABASE_URL; default ownerUrl). */
  workerUrl: string;
  /** A superuser connection when one is known (embedded, or ROOT_DATABASE_URL). */
  rootUrl: string | undefined;
  embedded: EmbeddedCluster | undefined;
  stop(): Promise<void>;
}

export const embeddedDatabaseName = "groundwork";

/** Role URLs for a database on a cluster reached through `rootUrl`. */
export function roleUrls(rootUrl: string, database: string, secrets: Pick<LocalSecrets, "ownerPassword" | "authenticatorPassword">) {
  const base = withDatabase(rootUrl, database);
  return {
    ownerUrl: withCredentials(base, "gw_owner", secrets.ownerPassword),
    authenticatorUrl: withCredentials(base, "gw_authenticator", secrets.authenticatorPassword),
  };
}

/** Checks what provisioning would have set up, naming whatever is missing. */
export async function preflight(ownerUrl: string, authenticatorUrl: string, logger: Logger): Promise<void> {
  await withClient(ownerUrl, "as the owner (DATABASE_URL)", async (client) => {
    const { rows } = await client.query<{ is_owner: boolean }>(
      "select pg_has_role(current_user, 'gw_owner', 'member') as is_owner",
    ).catch((error: unknown) => {
      if ((error as { code?: string }).code === "42704") {
        throw new Error("Role gw_owner does not exist. Set ROOT_DATABASE_URL so Groundwork can create its roles, or run migrations/afterReset.sql as a superuser.");
      }
      throw error;
    });
    if (!rows[0]?.is_owner) logger.warn(`DATABASE_URL connects as "${userName(ownerUrl)}", not gw_owner: objects will be owned by that role.`);
  });
  await withClient(authenticatorUrl, "as gw_authenticator (AUTH_DATABASE_URL or derived from DATABASE_URL)", async (client) => {
    const { rows } = await client.query<{ role: string }>(
      "select r as role from unnest($1::text[]) r where not exists (select 1 from pg_roles where rolname = r) or not pg_has_role(current_user, r, 'member')",
      [[...requestRoles]],
    );
    if (rows.length > 0) {
      throw new Error(`gw_authenticator cannot become ${rows.map((r) => r.role).join(", ")}. Set ROOT_DATABASE_URL so Groundwork can create and grant its roles, or run migrations/afterReset.sql as a superuser.`);
    }
  });
}

/**
 * Embedded cluster when DATABASE_URL is unset; otherwise the given server,
 * provisioned first when ROOT_DATABASE_URL allows it.
 */
export async function openDatabase(config: Config, logger: Logger): Promise<DatabaseHandle> {
  if (!config.databaseUrl) {
    const secrets = await loadLocalSecrets(config.stateDir);
    const embedded = await startEmbeddedCluster({
      dataDir: path.join(config.stateDir, "pgdata"),
      port: config.embeddedPort,
      password: secrets.postgresPassword,
      logger,
    });
    try {
      await provisionDatabase({
        rootUrl: embedded.rootUrl,
        database: embeddedDatabaseName,
        ownerPassword: secrets.ownerPassword,
        authenticatorPassword: secrets.authenticatorPassword,
      });
    } catch (error) {
      await embedded.stop();
      throw error;
    }
    const urls = roleUrls(embedded.rootUrl, embeddedDatabaseName, secrets);
    return { ...urls, workerUrl: urls.ownerUrl, rootUrl: embedded.rootUrl, embedded, stop: () => embedded.stop() };
  }

  const ownerUrl = config.databaseUrl;
  let authenticatorUrl = config.authDatabaseUrl;
  if (!authenticatorUrl) {
    const password =
      config.authenticatorPassword ??
      (config.env === "production" ? undefined : (await loadLocalSecrets(config.stateDir)).authenticatorPassword);
    authenticatorUrl = withCredentials(ownerUrl, "gw_authenticator", password);
  }
  if (config.rootDatabaseUrl) {
    await provisionDatabase({
      rootUrl: config.rootDatabaseUrl,
      database: databaseName(ownerUrl),
      // Only set gw_owner's password when DATABASE_URL really connects as gw_owner.
      ownerPassword: userName(ownerUrl) === "gw_owner" ? passwordOf(ownerUrl) : undefined,
      authenticatorPassword: passwordOf(authenticatorUrl),
    });
  }
  await preflight(ownerUrl, authenticatorUrl, logger);
  return {
    ownerUrl,
    authenticatorUrl,
    workerUrl: config.workerDatabaseUrl ?? ownerUrl,
    rootUrl: config.rootDatabaseUrl,
    embedded: undefined,
    stop: async () => undefined,
  };
}
