import { readFile } from "node:fs/promises";
import path from "node:path";
import { requestRoles, staffRoles } from "../modules.ts";
import { migrationsFolder } from "../paths.ts";
import { withClient } from "./diagnose.ts";
import { assertPlainDatabaseName, withDatabase } from "./urls.ts";

export interface ProvisionOptions {
  /** A superuser (or CREATEROLE + CREATEDB) connection to any database of the cluster. */
  rootUrl: string;
  database: string;
  ownerPassword: string | undefined;
  authenticatorPassword: string | undefined;
}

/**
 * What migrations/afterReset.sql gets besides graphile-migrate's own
 * :DATABASE_NAME: the request roles of the module registry.
 */
export const afterResetPlaceholders = {
  ":REQUEST_ROLES": requestRoles.join(","),
  ":STAFF_ROLES": staffRoles.join(","),
} as const;

function withPlaceholders(sql: string, database: string): string {
  let result = sql.replaceAll(":DATABASE_NAME", database);
  for (const [name, value] of Object.entries(afterResetPlaceholders)) result = result.replaceAll(name, value);
  return result;
}

/**
 * Superuser work, idempotent: the database, the cluster-wide roles and their
 * passwords, then migrations/afterReset.sql (the same file `graphile-migrate
 * reset` runs) inside the database.
 */
export async function provisionDatabase(options: ProvisionOptions): Promise<void> {
  const { rootUrl, database } = options;
  assertPlainDatabaseName(database);
  await withClient(rootUrl, "provisioning as superuser", async (client) => {
    const { rows } = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (rows.length === 0) {
      try {
        await client.query(`create database ${database}`);
      } catch (error) {
        // Two processes provisioning at once: the loser finds it created.
        if ((error as { code?: string }).code !== "42P04") throw error;
      }
    }
  });
  const afterReset = await readFile(path.join(migrationsFolder, "afterReset.sql"), "utf8");
  await withClient(withDatabase(rootUrl, database), "provisioning as superuser", async (client) => {
    // Role creation races with other databases being provisioned on the same cluster.
    await client.query("select pg_advisory_lock(hashtext('groundwork:provision'))");
    try {
      await client.query(withPlaceholders(afterReset, database));
      for (const [role, password] of [
        ["gw_owner", options.ownerPassword],
        ["gw_authenticator", options.authenticatorPassword],
      ] as const) {
        if (password) await client.query(`alter role ${role} password ${client.escapeLiteral(password)}`);
      }
    } finally {
      await client.query("select pg_advisory_unlock(hashtext('groundwork:provision'))");
    }
  });
}
