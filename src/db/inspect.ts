import type pg from "pg";
import { withClient } from "./diagnose.ts";

/**
 * `groundwork inspect`: the verification queries of the HFCC core README
 * (tables, RLS policies, functions, triggers, extensions, ledger-related and
 * event/job-related objects), read-only, printed as plain text tables.
 */
export const inspectQueries: Array<{ title: string; sql: string }> = [
  {
    title: "Tables",
    sql: `select table_schema, table_name
            from information_schema.tables
           where table_schema not in ('pg_catalog', 'information_schema')
           order by table_schema, table_name`,
  },
  {
    title: "RLS policies",
    sql: `select schemaname, tablename, policyname, permissive, roles, cmd
            from pg_policies
           order by schemaname, tablename, policyname`,
  },
  {
    title: "Functions",
    sql: `select routine_schema, routine_name, routine_type
            from information_schema.routines
           where routine_schema not in ('pg_catalog', 'information_schema')
           order by routine_schema, routine_name`,
  },
  {
    title: "Triggers",
    sql: `select event_object_schema, event_object_table, trigger_name, action_timing, event_manipulation
            from information_schema.triggers
           order by event_object_schema, event_object_table, trigger_name`,
  },
  {
    title: "Installed extensions",
    sql: `select extname, extversion from pg_extension order by extname`,
  },
  {
    title: "Ledger-related objects",
    sql: `select table_schema, table_name
            from information_schema.tables
           where table_name ilike '%ledger%' or table_name ilike '%wallet%' or table_name ilike '%transaction%'
           order by table_schema, table_name`,
  },
  {
    title: "Event or job related objects",
    sql: `select table_schema, table_name
            from information_schema.tables
           where table_name ilike '%event%' or table_name ilike '%job%' or table_name ilike '%outbox%' or table_name ilike '%inbox%'
           order by table_schema, table_name`,
  },
];

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}

/** A result as an aligned text table with a header rule and a row count. */
export function formatTable(result: Pick<pg.QueryResult, "fields" | "rows">): string {
  const columns = result.fields.map((field) => field.name);
  const rows = result.rows.map((row: Record<string, unknown>) => columns.map((column) => cell(row[column])));
  const widths = columns.map((column, i) => Math.max(column.length, ...rows.map((row) => row[i]!.length)));
  const line = (values: string[]) => values.map((value, i) => value.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line), `(${rows.length} row${rows.length === 1 ? "" : "s"})`].join("\n");
}

export async function inspectDatabase(url: string, write: (text: string) => void = (text) => console.log(text)): Promise<void> {
  await withClient(url, "inspecting the database", async (client) => {
    // Read-only by construction: nothing here can change the database.
    await client.query("begin transaction read only");
    try {
      for (const { title, sql } of inspectQueries) {
        const result = await client.query(sql);
        write(`\n== ${title} ==\n${formatTable(result)}`);
      }
    } finally {
      await client.query("rollback");
    }
  });
}
