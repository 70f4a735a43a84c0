import { describe, expect, it } from "vitest";
import { builtModules, exposedSchemas, requestRoles } from "../../src/modules.ts";
import { rootDb } from "../helpers/db.ts";

/** Schemas owned by libraries, never exposed and never granted to API roles. */
const librarySchemas = ["graphile_worker", "graphile_migrate"];

/**
 * Every table (partitioned parents included, their partitions not) of every
 * schema but the system's and the libraries'.
 * The one catalog query for RLS coverage: both tests below read it, so the
 * check cannot pass on an empty list.
 */
async function groundworkTables(): Promise<Array<{ schema: string; table: string; rls: boolean }>> {
  const { rows } = await rootDb().query<{ schema: string; table: string; rls: boolean }>(
    `select n.nspname as schema, c.relname as table, c.relrowsecurity as rls
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p')
        and not c.relispartition
        and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
        and n.nspname <> all($1)
      order by 1, 2`,
    [librarySchemas],
  );
  return rows;
}

describe("row level security coverage", () => {
  it("lists tables of every built module that has schemas (so the check below is not vacuous)", async () => {
    const schemas = new Set((await groundworkTables()).map((row) => row.schema));
    const withoutTables = builtModules
      .filter((module) => module.schemas.length + module.privateSchemas.length > 0)
      .filter((module) => ![...module.schemas, ...module.privateSchemas].some((schema) => schemas.has(schema)))
      .map((module) => module.name);
    expect(withoutTables).toEqual([]);
  });

  it("has RLS enabled on every table of every Groundwork schema", async () => {
    const tables = await groundworkTables();
    expect(tables.filter((row) => !row.rls).map((row) => `${row.schema}.${row.table}`)).toEqual([]);
  });

  it("gives API roles no way into library schemas or private schemas", async () => {
    const { rows } = await rootDb().query(
      `select r.rolname, n.nspname
         from pg_namespace n cross join pg_roles r
        where (n.nspname = any($1) or n.nspname like '%\\_private')
          and r.rolname = any($2)
          and has_schema_privilege(r.oid, n.oid, 'usage')`,
      [librarySchemas, [...requestRoles]],
    );
    expect(rows).toEqual([]);
  });

  it("leaves no function executable by PUBLIC in Groundwork schemas unless it is a claim helper or trigger", async () => {
    const { rows } = await rootDb().query(
      `select p.oid::regprocedure::text as fn
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any($1)
          and p.prorettype <> 'trigger'::regtype
          and exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a where a.grantee = 0)`,
      [[...exposedSchemas, "auth_private"]],
    );
    expect(rows.map((row) => row.fn)).toEqual([]);
  });
});
