import { describe, expect, it } from "vitest";
import { exposedSchemas } from "../../src/modules.ts";
import { rootDb } from "../helpers/db.ts";

/** Schemas owned by libraries, never exposed and never granted to API roles. */
const librarySchemas = ["graphile_worker", "graphile_migrate"];

describe("row level security coverage", () => {
  it("exposes at least the auth schema's tables (so the checks below are not vacuous)", async () => {
    const { rows } = await rootDb().query(
      "select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = any($1) and c.relkind in ('r', 'p')",
      [[...exposedSchemas]],
    );
    expect(rows[0].n).toBeGreaterThanOrEqual(6);
  });

  it("has RLS enabled on every table of every Groundwork schema", async () => {
    const { rows } = await rootDb().query(
      `select n.nspname || '.' || c.relname as table_name
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p')
          and not c.relispartition
          and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
          and n.nspname <> all($1)
          and not c.relrowsecurity
        order by 1`,
      [librarySchemas],
    );
    expect(rows.map((row) => row.table_name)).toEqual([]);
  });

  it("gives API roles no way into library schemas or private schemas", async () => {
    const { rows } = await rootDb().query(
      `select r.rolname, n.nspname
         from pg_namespace n cross join pg_roles r
        where (n.nspname = any($1) or n.nspname like '%\\_private')
          and r.rolname in ('gw_anonymous', 'gw_user', 'gw_admin', 'role_sales', 'role_finance', 'role_support', 'role_hr', 'role_readonly')
          and has_schema_privilege(r.oid, n.oid, 'usage')`,
      [librarySchemas],
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
