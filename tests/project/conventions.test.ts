import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { legacyErrorCodes, sqlErrorCodes, type SqlErrorCode } from "../../src/errors.ts";
import { builtModules, exposedSchemas, moduleOfSchema, moduleSchemas, modules, requestRoles } from "../../src/modules.ts";
import { migrationsFolder } from "../../src/paths.ts";
import { rootDb } from "../helpers/db.ts";

// The rules of the house that the catalog can check (docs/conventions.md says
// the same for people). Each rule lists its offenders by name, so a failure
// says what to fix; each exception is listed here with its reason, and an
// exception that no longer applies fails too, so the lists only shrink.
//
// 1. Foreign keys (every schema of a built module, private ones included):
//    * an index whose leading columns are the key's columns (any order; a
//      partial index counts only if its predicate is `<key column> is not
//      null`, which a lookup by key value implies);
//    * `on delete` stated: the catalog cannot tell `no action` written out
//      from the default, so `no action` is refused unless the constraint's
//      comment says why in a sentence starting "On delete no action:". Say
//      restrict, cascade or set null, as the domain requires.
// 2. Security definer functions (module schemas):
//    * `search_path` pinned (`set search_path = ''` is the house default; a
//      pinned list may not hold `public` or `"$user"`);
//    * volatility stated in the migrations' text: volatile is the catalog's
//      default, so the catalog cannot tell. The last `create function` of the
//      name (and argument count) in migration order, or an `alter function`
//      after it, must say volatile, stable or immutable. Procedures have none;
//    * a comment with the reason, as a sentence starting "Security definer"
//      followed by ":", "because", "so" or "for" and the reason.
// 3. Relations of exposed schemas (they become GraphQL types):
//    * every table has row level security (a partition: its root table);
//    * every table, view and materialized view has a comment;
//    * a view is `security_invoker` (its tables' policies apply) or a
//      `security_barrier` view that filters by the caller through an `auth.`
//      claim helper;
//    * a materialized view (which cannot have RLS) is granted to no request
//      role, unless listed below with the reason.
// 4. Error codes raised in SQL (`errcode = 'XXXXX'` in function bodies of
//    module schemas) are registered in src/errors.ts, belong to the module
//    that owns the function's schema or are shared, and start with that
//    module's prefix unless shared or in `legacyErrorCodes`; every `raise
//    exception` names its errcode.
// 5. Every schema of the database belongs to a built module of
//    src/modules.ts, and every schema of a built module exists. Besides
//    PostgreSQL's and the libraries' schemas, tests commit scratch schemas
//    named `gwtest_…` while this runs; those are ignored.
// 6. Every table of a module schema has a primary key (audit.enable_tracking
//    refuses tables without one).
// 7. A module never reads another module's `*_private` schema: no function
//    body (plpgsql or sql), view or policy of a module's schemas (the
//    compatibility layer's objects in `public` included) names another
//    module's private schema; it calls the other module's public functions
//    (a trusted interface: execute revoked from the API roles, hidden from
//    GraphQL). Exceptions below, with the reason. A function whose comment
//    says "Trusted interface" is hidden from GraphQL (`@behavior -*` first)
//    and no request role may execute it.

/** Foreign keys allowed without an index that leads with their columns: constraint → why. */
const unindexedForeignKeys: Record<string, string> = {
  "ledger.entries.entries_account_fkey":
    "account_id alone is unique in ledger.accounts (currency rides along only to tie the entry's currency to its account), so the unique index (account_id, account_version) serves the check; a second index would cost every posting",
};

/** Materialized views that request roles may read although they have no RLS: view → why. */
const grantedMaterializedViews: Record<string, string> = {};

/** Objects allowed to name another module's private schema: "object → other_private" → why. None today. */
const crossModulePrivateReads: Record<string, string> = {};

/** Schemas that belong to PostgreSQL or to a library, not to a module. */
const systemSchemas = ["pg_catalog", "information_schema", "public", "graphile_worker", "graphile_migrate"];
/** pg_toast*, and pg_temp_* which PostgreSQL creates per session for temporary objects. */
const systemSchemaPattern = /^pg_(toast|temp_)/;
/** Schemas tests commit and drop while this file runs (tests/server/inflection.test.ts and others). */
const testScratchSchemaPattern = /^gwtest_/;

const definerReason = /\bsecurity definer(?::|\s+(?:because|so|for)\b)\s*\S/i;
const noActionReason = /\bon delete no action:\s*\S/i;

async function query<R>(sql: string, values: unknown[] = []): Promise<R[]> {
  const { rows } = await rootDb().query(sql, values);
  return rows as R[];
}

/** Entries of an exception list that name nothing that still needs the exception. */
function staleExceptions(list: Record<string, string>, stillOffending: Set<string>): string[] {
  return Object.keys(list)
    .filter((name) => !stillOffending.has(name))
    .map((name) => `${name}: listed as an exception but no longer needs one (remove it from the list)`);
}

// --- Migration text: where a function's volatility is written --------------

interface FunctionStatement {
  file: string;
  kind: "create" | "alter";
  schema: string;
  name: string;
  /** Input arguments (OUT ones left out), or undefined for `alter function name` without a list. */
  inputArguments: number | undefined;
  statesVolatility: boolean;
}

function migrationFiles(): string[] {
  const inFolder = (folder: string) =>
    readdirSync(path.join(migrationsFolder, folder))
      .filter((file) => file.endsWith(".sql"))
      .sort()
      .map((file) => path.join(folder, file));
  // graphile-migrate's order: every committed migration, then current/ by file name.
  return [...inFolder("committed"), ...inFolder("current")];
}

/**
 * The SQL with comments and the contents of string literals and
 * dollar-quoted bodies blanked out (same length), so that searching it finds
 * statements, never text inside a body or a comment.
 */
function maskSql(sql: string): string {
  const out = sql.split("");
  const blank = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (out[i] !== "\n") out[i] = " ";
  };
  let i = 0;
  while (i < sql.length) {
    const rest = sql.slice(i, i + 2);
    if (rest === "--") {
      const end = sql.indexOf("\n", i);
      const stop = end === -1 ? sql.length : end;
      blank(i, stop);
      i = stop;
    } else if (rest === "/*") {
      let depth = 0;
      let j = i;
      do {
        if (sql.startsWith("/*", j)) (depth++, (j += 2));
        else if (sql.startsWith("*/", j)) (depth--, (j += 2));
        else j++;
      } while (depth > 0 && j < sql.length);
      blank(i, j);
      i = j;
    } else if (sql[i] === "'") {
      const escapes = /[eE]/.test(sql[i - 1] ?? "") && !/[\w$]/.test(sql[i - 2] ?? "");
      let j = i + 1;
      while (j < sql.length) {
        if (escapes && sql[j] === "\\") j += 2;
        else if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
        else if (sql[j] === "'") break;
        else j++;
      }
      blank(i + 1, j);
      i = j + 1;
    } else if (sql[i] === "$" && !/[\w$]/.test(sql[i - 1] ?? "")) {
      const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i))?.[0];
      if (!tag) {
        i++;
        continue;
      }
      const end = sql.indexOf(tag, i + tag.length);
      const stop = end === -1 ? sql.length : end;
      blank(i + tag.length, stop);
      i = stop + tag.length;
    } else if (sql[i] === '"') {
      const end = sql.indexOf('"', i + 1);
      i = end === -1 ? sql.length : end + 1;
    } else {
      i++;
    }
  }
  return out.join("");
}

const identifier = String.raw`(?:"[^"]+"|[A-Za-z_][\w$]*)`;
const functionStatement = new RegExp(
  String.raw`\b(create\s+(?:or\s+replace\s+)?|alter\s+)(?:function|procedure)\s+(${identifier})\s*\.\s*(${identifier})\s*(\()?`,
  "gi",
);
const unquote = (name: string) => (name.startsWith('"') ? name.slice(1, -1) : name.toLowerCase());

/** Every `create function` / `alter function` of a schema-qualified function in the migrations, in order. */
function functionStatements(): FunctionStatement[] {
  const found: FunctionStatement[] = [];
  for (const file of migrationFiles()) {
    const masked = maskSql(readFileSync(path.join(migrationsFolder, file), "utf8"));
    for (const match of masked.matchAll(functionStatement)) {
      let position = match.index + match[0].length;
      let inputArguments: number | undefined;
      if (match[4]) {
        // The argument list: up to the matching parenthesis.
        let depth = 1;
        const start = position;
        while (position < masked.length && depth > 0) {
          if (masked[position] === "(") depth++;
          else if (masked[position] === ")") depth--;
          position++;
        }
        const list = masked.slice(start, position - 1);
        const parts: string[] = [];
        let level = 0;
        let current = "";
        for (const char of list) {
          if (char === "(") level++;
          if (char === ")") level--;
          if (char === "," && level === 0) (parts.push(current), (current = ""));
          else current += char;
        }
        parts.push(current);
        inputArguments = parts.map((part) => part.trim()).filter((part) => part !== "" && !/^out\s/i.test(part)).length;
      }
      const end = masked.indexOf(";", position);
      const clauses = masked.slice(position, end === -1 ? masked.length : end);
      found.push({
        file,
        kind: match[1]!.toLowerCase().startsWith("create") ? "create" : "alter",
        schema: unquote(match[2]!),
        name: unquote(match[3]!),
        inputArguments,
        statesVolatility: /\b(volatile|stable|immutable)\b/i.test(clauses),
      });
    }
  }
  return found;
}

/** Whether the migrations state the volatility of schema.name with `inputArguments` arguments; undefined if never created there. */
function volatilityStated(statements: FunctionStatement[], schema: string, name: string, inputArguments: number): boolean | undefined {
  const relevant = statements.filter(
    (statement) =>
      statement.schema === schema &&
      statement.name === name &&
      (statement.inputArguments === undefined || statement.inputArguments === inputArguments),
  );
  const lastCreate = relevant.findLastIndex((statement) => statement.kind === "create");
  if (lastCreate === -1) return undefined;
  return relevant.slice(lastCreate).some((statement) => statement.statesVolatility);
}

// --- The rules ---------------------------------------------------------------

describe("conventions the catalog can check", () => {
  it("reads a catalog and migrations that hold objects of every kind checked (so the rules below are not vacuous)", async () => {
    const [counts] = await query<Record<string, number>>(
      `select (select count(*)::int from pg_constraint c join pg_class t on t.oid = c.conrelid
                where c.contype = 'f' and t.relnamespace::regnamespace::text = any($1)) as foreign_keys,
              (select count(*)::int from pg_proc p where p.prosecdef and p.pronamespace::regnamespace::text = any($1)) as definers,
              (select count(*)::int from pg_class c where c.relkind in ('r', 'p', 'v', 'm') and c.relnamespace::regnamespace::text = any($2)) as exposed_relations,
              (select count(*)::int from pg_proc p where p.prosrc ~* 'errcode' and p.pronamespace::regnamespace::text = any($1)) as raisers`,
      [moduleSchemas, exposedSchemas],
    );
    expect(counts).toEqual({
      foreign_keys: expect.any(Number),
      definers: expect.any(Number),
      exposed_relations: expect.any(Number),
      raisers: expect.any(Number),
    });
    for (const count of Object.values(counts!)) expect(count).toBeGreaterThan(10);
    expect(functionStatements().filter((statement) => statement.kind === "create").length).toBeGreaterThan(100);
  });

  it("indexes every foreign key by its columns and states its on delete action", async () => {
    const keys = await query<{ name: string; columns: string; indexed: boolean; no_action: boolean; comment: string | null }>(
      `select n.nspname || '.' || t.relname || '.' || c.conname as name,
              (select string_agg(a.attname, ', ' order by k.ord) from unnest(c.conkey) with ordinality k(attnum, ord)
                 join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum) as columns,
              exists (
                select 1 from pg_index i
                 where i.indrelid = c.conrelid
                   and i.indnkeyatts >= cardinality(c.conkey)
                   -- indkey is an int2vector, subscripted from 0
                   and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
                   and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey
                   and (i.indpred is null
                        or exists (select 1 from unnest(c.conkey) k(attnum) join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
                                    where pg_get_expr(i.indpred, i.indrelid) = '(' || quote_ident(a.attname) || ' IS NOT NULL)'))
              ) as indexed,
              c.confdeltype = 'a' as no_action,
              obj_description(c.oid, 'pg_constraint') as comment
         from pg_constraint c
         join pg_class t on t.oid = c.conrelid
         join pg_namespace n on n.oid = t.relnamespace
        where c.contype = 'f'
          and n.nspname = any($1)
          -- Clones on partitions (and towards partitions) follow their parent's constraint, which is checked.
          and c.conparentid = 0
        order by 1`,
      [moduleSchemas],
    );
    const unindexed = new Set(keys.filter((key) => !key.indexed).map((key) => key.name));
    const offences = [
      ...keys
        .filter((key) => !key.indexed && !Object.hasOwn(unindexedForeignKeys, key.name))
        .map((key) => `${key.name}: no index leads with (${key.columns})`),
      ...keys
        .filter((key) => key.no_action && !noActionReason.test(key.comment ?? ""))
        .map((key) => `${key.name}: on delete no action (or unstated); say restrict, cascade or set null, or comment "On delete no action: <why>"`),
      ...staleExceptions(unindexedForeignKeys, unindexed),
    ];
    expect(offences).toEqual([]);
  });

  it("pins search_path, states volatility and says why in the comment of every security definer function", async () => {
    const definers = await query<{
      fn: string;
      schema: string;
      name: string;
      arguments: number;
      procedure: boolean;
      search_path: string | null;
      comment: string | null;
    }>(
      `select p.oid::regprocedure::text as fn, n.nspname as schema, p.proname as name, p.pronargs::int as arguments,
              p.prokind = 'p' as procedure,
              (select substr(setting, length('search_path=') + 1) from unnest(p.proconfig) setting where setting like 'search\\_path=%') as search_path,
              obj_description(p.oid, 'pg_proc') as comment
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where p.prosecdef and n.nspname = any($1)
        order by 1`,
      [moduleSchemas],
    );
    const statements = functionStatements();
    const offences: string[] = [];
    for (const definer of definers) {
      if (definer.search_path === null) offences.push(`${definer.fn}: search_path not pinned (set search_path = '')`);
      else if (/\bpublic\b|\$user/.test(definer.search_path)) offences.push(`${definer.fn}: search_path ${definer.search_path} holds a schema others may write to`);
      if (!definer.procedure) {
        const stated = volatilityStated(statements, definer.schema, definer.name, definer.arguments);
        if (stated === undefined) offences.push(`${definer.fn}: no create function of it found in migrations/ (schema-qualified), so its volatility cannot be checked`);
        else if (!stated) offences.push(`${definer.fn}: volatility not stated in its last definition (say volatile, stable or immutable)`);
      }
      if (!definerReason.test(definer.comment ?? "")) offences.push(`${definer.fn}: comment does not say why it is a security definer ("Security definer because …")`);
    }
    expect(offences).toEqual([]);
  });

  it("keeps every table of an exposed schema under row level security and every relation there commented, with views and materialized views closed to other callers", async () => {
    const relations = await query<{
      name: string;
      kind: string;
      rls: boolean;
      commented: boolean;
      security_invoker: boolean;
      security_barrier: boolean;
      filters_by_caller: boolean;
      request_roles: string[];
    }>(
      `select n.nspname || '.' || c.relname as name, c.relkind::text as kind,
              (select r.relrowsecurity from pg_class r where r.oid = coalesce(pg_partition_root(c.oid), c.oid)) as rls,
              coalesce(btrim(obj_description(c.oid, 'pg_class')), '') <> '' as commented,
              coalesce(c.reloptions @> array['security_invoker=true'] or c.reloptions @> array['security_invoker=on'], false) as security_invoker,
              coalesce(c.reloptions @> array['security_barrier=true'] or c.reloptions @> array['security_barrier=on'], false) as security_barrier,
              c.relkind = 'v' and pg_get_viewdef(c.oid) ~ '\\mauth\\.(jwt|uid|role|current_org_id|has_role|current_user\\w*)\\(' as filters_by_caller,
              array(select role from unnest($2::text[]) role where has_table_privilege(role, c.oid, 'select') order by 1) as request_roles
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any($1) and c.relkind in ('r', 'p', 'v', 'm', 'f')
        order by 1`,
      [exposedSchemas, requestRoles],
    );
    const grantedViews = new Set(relations.filter((relation) => relation.kind === "m" && relation.request_roles.length > 0).map((relation) => relation.name));
    const offences = [
      ...relations
        .filter((relation) => ["r", "p"].includes(relation.kind) && !relation.rls)
        .map((relation) => `${relation.name}: row level security is off`),
      ...relations.filter((relation) => !relation.commented).map((relation) => `${relation.name}: no comment (it is the GraphQL description)`),
      ...relations
        .filter((relation) => relation.kind === "v" && !relation.security_invoker && !(relation.security_barrier && relation.filters_by_caller))
        .map((relation) => `${relation.name}: a view that is neither security_invoker nor a security_barrier view filtering by an auth claim helper`),
      ...[...grantedViews]
        .filter((name) => !Object.hasOwn(grantedMaterializedViews, name))
        .map((name) => `${name}: a materialized view (no RLS possible) readable by ${relations.find((relation) => relation.name === name)!.request_roles.join(", ")}`),
      ...staleExceptions(grantedMaterializedViews, grantedViews),
    ];
    expect(offences).toEqual([]);
  });

  it("raises only registered error codes of the function's own module (or shared ones), with the module's prefix unless legacy", async () => {
    const raises = await query<{ fn: string; schema: string; code: string }>(
      `select distinct p.oid::regprocedure::text as fn, n.nspname as schema, m[1] as code
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        cross join lateral regexp_matches(p.prosrc, $$\\merrcode\\s*=\\s*'([^']*)'$$, 'gi') m
        where n.nspname = any($1)
        order by 1, 3`,
      [moduleSchemas],
    );
    expect(raises.length).toBeGreaterThan(50);
    const legacy = new Set<string>(legacyErrorCodes);
    const offences: string[] = [];
    for (const { fn, schema, code } of raises) {
      const module = moduleOfSchema(schema)!;
      if (!Object.hasOwn(sqlErrorCodes, code)) {
        offences.push(`${fn}: raises ${code}, which src/errors.ts does not register`);
        continue;
      }
      const owner = sqlErrorCodes[code as SqlErrorCode].module;
      if (owner !== "shared" && owner !== module.name) offences.push(`${fn}: raises ${code} of module ${owner} (its schema ${schema} is ${module.name}'s)`);
      else if (owner !== "shared" && !legacy.has(code) && !code.startsWith(module.errorPrefix))
        offences.push(`${fn}: raises ${code} without ${module.name}'s prefix ${module.errorPrefix}`);
    }
    // Every raise exception names its code (a bare one reaches the client as an unexpected error).
    const bare = await query<{ fn: string }>(
      `select p.oid::regprocedure::text as fn
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any($1)
          and exists (select 1 from regexp_matches(p.prosrc, $$\\mraise\\s+exception\\M((?:'(?:[^']|'')*'|[^;'])*);$$, 'gi') m
                       where m[1] !~* '\\merrcode\\M')
        order by 1`,
      [moduleSchemas],
    );
    offences.push(...bare.map(({ fn }) => `${fn}: raise exception without errcode`));
    expect(offences).toEqual([]);
  });

  it("registers every SQL error code with a module, shared codes and legacy codes aside, under that module's prefix", () => {
    const moduleNames = new Set<string>(modules.map((module) => module.name));
    const legacy = new Set<string>(legacyErrorCodes);
    const offences: string[] = [];
    for (const [code, info] of Object.entries(sqlErrorCodes)) {
      if (info.module === "shared") {
        if (legacy.has(code)) offences.push(`${code}: shared, so it needs no place in legacyErrorCodes`);
        continue;
      }
      if (!moduleNames.has(info.module)) {
        offences.push(`${code}: module ${info.module} is not in src/modules.ts`);
        continue;
      }
      if (/\d/.test(code)) offences.push(`${code}: a PostgreSQL SQLSTATE belongs to no module (shared)`);
      const prefix = modules.find((module) => module.name === info.module)!.errorPrefix;
      const prefixed = code.startsWith(prefix);
      if (!prefixed && !legacy.has(code)) offences.push(`${code}: lacks ${info.module}'s prefix ${prefix} and is not legacy`);
      if (prefixed && legacy.has(code)) offences.push(`${code}: has its module's prefix, so it is not legacy`);
    }
    for (const code of legacy) if (!Object.hasOwn(sqlErrorCodes, code)) offences.push(`${code}: legacy but not registered`);
    expect(offences).toEqual([]);
  });

  it("has a built module for every schema and every schema of a built module", async () => {
    const schemas = (await query<{ nspname: string }>("select nspname from pg_namespace order by 1")).map((row) => row.nspname);
    const present = new Set(schemas);
    const offences = [
      ...schemas
        .filter((schema) => !systemSchemas.includes(schema) && !systemSchemaPattern.test(schema) && !testScratchSchemaPattern.test(schema))
        .filter((schema) => !builtModules.some((module) => module.schemas.includes(schema) || module.privateSchemas.includes(schema)))
        .map((schema) => {
          const planned = moduleOfSchema(schema);
          return `${schema}: belongs to no built module of src/modules.ts${planned ? ` (module ${planned.name} is ${planned.status})` : ""}`;
        }),
      ...moduleSchemas.filter((schema) => !present.has(schema)).map((schema) => `${schema}: in src/modules.ts but not in the database`),
    ];
    expect(offences).toEqual([]);
  });

  it("keeps every module out of the other modules' private schemas (functions, views and policies call public interfaces)", async () => {
    const sharedSchemas = builtModules.flatMap((module) => module.sharedSchemas ?? []);
    const objects = await query<{ object: string; schema: string; text: string }>(
      `select p.oid::regprocedure::text as object, n.nspname as schema, p.prosrc as text
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
        where (n.nspname = any($1) or n.nspname = any($2)) and l.lanname in ('sql', 'plpgsql')
          and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
       union all
       select c.oid::regclass::text, n.nspname, pg_get_viewdef(c.oid)
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('v', 'm') and (n.nspname = any($1) or n.nspname = any($2))
          and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
       union all
       select pol.schemaname || '.' || pol.tablename || ' policy ' || pol.policyname, pol.schemaname::text,
              coalesce(pol.qual, '') || ' ' || coalesce(pol.with_check, '')
         from pg_policies pol
        where pol.schemaname = any($1)
        order by 1`,
      [moduleSchemas, sharedSchemas],
    );
    const compat = builtModules.find((module) => module.sharedSchemas?.length);
    let ownReads = 0;
    const offending = new Set<string>();
    const offences: string[] = [];
    for (const { object, schema, text } of objects) {
      const module = moduleOfSchema(schema) ?? compat!;
      for (const [, other] of text.matchAll(/\b([a-z_][a-z0-9_]*_private)\./g)) {
        const owner = moduleOfSchema(other!);
        if (!owner) continue;
        if (owner.name === module.name) {
          ownReads++;
          continue;
        }
        const key = `${object} → ${other}`;
        if (offending.has(key)) continue;
        offending.add(key);
        if (!Object.hasOwn(crossModulePrivateReads, key))
          offences.push(`${object}: module ${module.name} reads ${other} (module ${owner.name}'s); call a public function of ${owner.name} instead`);
      }
    }
    // The parse finds private reads where they are allowed, so an empty list of offences is not vacuous.
    expect(ownReads).toBeGreaterThan(100);
    expect([...offences, ...staleExceptions(crossModulePrivateReads, offending)]).toEqual([]);

    // The trusted interfaces those calls go through: out of GraphQL, and closed to every request role.
    const interfaces = await query<{ fn: string; comment: string; executors: string[] }>(
      `select p.oid::regprocedure::text as fn, obj_description(p.oid, 'pg_proc') as comment,
              array(select r from unnest($2::text[]) r where has_function_privilege(r, p.oid, 'execute') order by 1) as executors
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any($1) and obj_description(p.oid, 'pg_proc') ~ 'Trusted interface'
        order by 1`,
      [moduleSchemas, [...requestRoles]],
    );
    expect(interfaces.length).toBeGreaterThanOrEqual(11);
    expect(
      interfaces.flatMap(({ fn, comment, executors }) => [
        ...(comment.startsWith("@behavior -*\n") ? [] : [`${fn}: a trusted interface whose comment does not start with @behavior -*`]),
        ...executors.map((role) => `${fn}: a trusted interface that ${role} may execute`),
      ]),
    ).toEqual([]);
  });

  it("gives every table of a module schema a primary key", async () => {
    const tables = await query<{ name: string }>(
      `select c.oid::regclass::text as name
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and n.nspname = any($1)
          and not exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'p')
        order by 1`,
      [moduleSchemas],
    );
    expect(tables.map(({ name }) => `${name}: no primary key`)).toEqual([]);
  });
});
