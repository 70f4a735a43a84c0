import { commit, Logger as MigrateLogger, migrate as migrateCommitted, reset as resetDatabase, watch } from "graphile-migrate";
import type { Settings } from "graphile-migrate";
import { runMigrations as installWorkerSchema } from "graphile-worker";
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../logger.ts";
import { migrationsFolder } from "../paths.ts";
import { explainConnectionError, withClient } from "./diagnose.ts";
import { withMigrationLock } from "./pooler.ts";
import { afterResetPlaceholders } from "./provision.ts";
import { writeReference } from "./reference.ts";
import { assertPlainDatabaseName, databaseName, withDatabase } from "./urls.ts";

export interface MigrateTarget {
  ownerUrl: string;
  rootUrl: string | undefined;
  logger: Logger;
  /**
   * gw_authenticator's URL on the same database, given in development only:
   * then a run of migrations/current/ rewrites the generated reference
   * (docs/reference/, docs/schema.graphql), as graphile-migrate's afterCurrent
   * hook does in .gmrc. Unset in production, in tests and wherever only
   * committed/ migrations run, so those never write into the checkout.
   */
  referenceUrl?: string | undefined;
}

/** What graphile-migrate writes into current/ after a commit (its default). */
const blankMigrationContent = "-- Enter migration here\n";

function settingsFor({ ownerUrl, rootUrl, logger }: MigrateTarget): Settings {
  const log = logger.child({ component: "migrate" });
  return {
    connectionString: ownerUrl,
    // Only `reset` needs root; graphile-migrate insists on some value distinct from connectionString.
    rootConnectionString: rootUrl ?? withDatabase(ownerUrl, "template1"),
    migrationsFolder,
    afterReset: ["!afterReset.sql"],
    placeholders: { ...afterResetPlaceholders },
    blankMigrationContent,
    logger: new MigrateLogger(() => (level, message) => {
      // graphile-migrate keeps its pool open; the server closing it at shutdown is expected.
      if (/terminating connection due to administrator command/.test(message)) log.debug(message);
      else if (level === "error") log.error(message);
      else if (level === "warning") log.warn(message);
      else log.debug(message);
    }),
  };
}

/** What a run of the migrations did, for the start-up log. */
export interface MigrationSummary {
  serverVersion: string;
  /** Committed migrations this run applied. */
  applied: number;
  /** Committed migrations the database has, in all. */
  committed: number;
  /** migrations/current/ held SQL and was run (a working copy with work in progress). */
  current: boolean;
}

async function migrationHistory(ownerUrl: string): Promise<{ serverVersion: string; committed: number }> {
  return withClient(ownerUrl, "reading the migration history", async (client) => {
    const { rows } = await client.query<{ version: string; tracked: boolean }>(
      "select current_setting('server_version') as version, to_regclass('graphile_migrate.migrations') is not null as tracked",
    );
    const tracked = rows[0]?.tracked ?? false;
    const count = tracked ? (await client.query<{ n: number }>("select count(*)::int as n from graphile_migrate.migrations")).rows[0]?.n : 0;
    return { serverVersion: rows[0]?.version ?? "unknown", committed: count ?? 0 };
  });
}

/** Work in progress lives in migrations/current/; on main it is empty. */
async function hasCurrentMigration(): Promise<boolean> {
  const entries = await readdir(path.join(migrationsFolder, "current")).catch(() => [] as string[]);
  return entries.some((name) => name.endsWith(".sql"));
}

/** After a run of current/ in development; a failure is reported, never in the way of starting. */
async function rewriteReference({ referenceUrl, logger }: MigrateTarget): Promise<void> {
  if (!referenceUrl) return;
  await writeReference(referenceUrl, logger).catch((error: unknown) => logger.warn({ err: error }, "could not rewrite the schema reference (npm run reference)"));
}

/**
 * Installs or upgrades the graphile-worker schema, then applies committed
 * migrations (and, in a working copy, migrations/current/). Idempotent.
 * Migrations reach graphile_worker only from plpgsql bodies, resolved at run
 * time, so a shadow database without it can still be built by `commit`.
 */
export async function migrateDatabase(target: MigrateTarget): Promise<MigrationSummary> {
  // Processes starting together migrate one at a time (src/db/pooler.ts).
  return withMigrationLock(target.ownerUrl, target.logger, () => migrateLocked(target));
}

async function migrateLocked(target: MigrateTarget): Promise<MigrationSummary> {
  const settings = settingsFor(target);
  try {
    await installWorkerSchema({ connectionString: target.ownerUrl });
    const before = await migrationHistory(target.ownerUrl);
    const current = await hasCurrentMigration();
    if (current) {
      await watch(settings, true);
      await rewriteReference(target);
    } else await migrateCommitted(settings);
    const after = await migrationHistory(target.ownerUrl);
    return { serverVersion: after.serverVersion, applied: after.committed - before.committed, committed: after.committed, current };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code && /^(E[A-Z]+|28|3D)/.test(code)) throw explainConnectionError(error, target.ownerUrl, "migrating");
    throw error;
  }
}

/** Drops and recreates the database from migrations. Development only. */
export async function resetAndMigrate(target: MigrateTarget): Promise<void> {
  if (!target.rootUrl) throw new Error("reset needs a superuser connection: set ROOT_DATABASE_URL.");
  const settings = settingsFor(target);
  await resetDatabase(settings);
  const current = await hasCurrentMigration();
  if (current) await watch(settings, true);
  await installWorkerSchema({ connectionString: target.ownerUrl });
  if (current) await rewriteReference(target);
}

/** The database `commit` checks migrations on: the owner's, named `<database>_shadow`. */
export function shadowDatabaseUrl(ownerUrl: string): string {
  const shadow = `${databaseName(ownerUrl)}_shadow`;
  assertPlainDatabaseName(shadow);
  return withDatabase(ownerUrl, shadow);
}

/**
 * graphile-migrate's `commit`: migrations/current/ becomes the next file of
 * migrations/committed/, checked first by building a shadow database
 * (`<database>_shadow`, dropped and recreated by the superuser connection) from
 * every committed migration; then the database itself is migrated. The
 * reference is written from the shadow database: a clean build, like the test
 * database, with none of the leftovers of editing current/.
 */
export async function commitMigration(target: MigrateTarget & { referenceUrl: string }, message: string | undefined): Promise<void> {
  if (!target.rootUrl) throw new Error("commit builds a shadow database and needs a superuser connection: set ROOT_DATABASE_URL.");
  if (!(await hasCurrentMigration())) throw new Error("migrations/current/ holds no SQL: there is nothing to commit.");
  const shadowUrl = shadowDatabaseUrl(target.ownerUrl);
  await commit({ ...settingsFor(target), shadowConnectionString: shadowUrl }, message);
  // graphile-migrate leaves its blank template in current/ (as 1-current.sql); on main, current/ is empty.
  const current = path.join(migrationsFolder, "current");
  for (const name of await readdir(current)) {
    const file = path.join(current, name);
    if (name.endsWith(".sql") && (await readFile(file, "utf8")).trim() === blankMigrationContent.trim()) await rm(file);
  }
  await writeReference(withDatabase(target.referenceUrl, databaseName(shadowUrl)), target.logger);
}
