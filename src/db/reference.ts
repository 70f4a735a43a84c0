/**
 * The generated current-state reference of the database (like graphile/starter's
 * data/schema.sql): one markdown file per built module under docs/reference/,
 * plus docs/schema.graphql, the GraphQL schema as clients see it. Never edited
 * by hand: `npm run reference` rewrites it, and tests/project/reference.test.ts
 * fails when the committed files differ from what the migrations produce, so a
 * migration's effect shows up in review as a readable diff.
 *
 * The catalog is read with PostGraphile's own pg-introspection; expressions are
 * printed by PostgreSQL's deparse functions (pg_get_expr, pg_get_constraintdef…).
 * The output must not depend on the server: PostgreSQL 15 and 17 must give the
 * same bytes, and nothing that varies by run (OIDs, dates, counts of run-time
 * partitions) may appear. Each place that normalises says so.
 */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import pgIntrospection, { makeIntrospectionQuery, parseIntrospectionResults } from "pg-introspection";
import type { AclObject, Introspection, PgAttribute, PgClass, PgConstraint, PgNamespace, PgProc, PgType } from "pg-introspection";
// Not re-exported by the package index; pinned at an exact version in package.json.
import { parseAcl, parseAcls, OBJECT_TYPE } from "pg-introspection/dist/acl.js";
import { makeSchema } from "postgraphile";
import { lexicographicSortSchema, printSchema } from "postgraphile/graphql";
import type { Logger } from "../logger.ts";
import { builtModules, type ModuleInfo } from "../modules.ts";
import { projectRoot } from "../paths.ts";
import type { TokenService } from "../server/jwt.ts";
import { makePreset } from "../server/preset.ts";

/** How to regenerate; named in the files' header and in the freshness test's message. */
export const referenceCommand = "npm run reference";
export const referenceFolder = "docs/reference";
export const graphqlSchemaFile = "docs/schema.graphql";

/** File contents by path relative to the project root. */
export type ReferenceFiles = Map<string, string>;

// ---------------------------------------------------------------------------
// Reading the catalog

/** What pg-introspection leaves to PostgreSQL to print, keyed by OID (never printed). */
interface Deparsed {
  serverVersion: number;
  columns: Array<{ rel: string; num: number; type: string; default: string | null; collation: string | null }>;
  constraints: Array<{ id: string; def: string }>;
  indexes: Array<{ id: string; def: string }>;
  policies: Array<{ rel: string; name: string; using: string | null; check: string | null }>;
  views: Array<{ id: string; def: string }>;
  partitioned: Array<{ id: string; key: string; strategy: string }>;
  partitions: Array<{ parent: string; name: string; bound: string }>;
  procs: Array<{ id: string; args: string; identity: string; result: string | null; sqlBody: string | null }>;
  aggregates: Array<{ id: string; sfunc: string; stype: string; finalfunc: string | null; combinefunc: string | null; initcond: string | null }>;
  triggers: Array<{ rel: string; name: string; def: string; enabled: string }>;
  sequences: Array<{ id: string; type: string; start: string; increment: string; min: string; max: string; cache: string; cycle: boolean; ownedBy: string | null; identity: boolean }>;
  domains: Array<{ id: string; base: string; default: string | null }>;
  defaultAcls: Array<{ role: string; schema: string | null; kind: string; acl: string[] }>;
}

/**
 * Runs with search_path = '' so that every name outside pg_catalog comes out
 * schema-qualified, whatever the connecting role's settings. Only the module
 * schemas are deparsed: tests create and drop their own schemas meanwhile.
 */
const deparseQuery = `
with ns as (select oid from pg_catalog.pg_namespace where nspname = any($1::text[])),
rel as (select oid, relkind from pg_catalog.pg_class where relnamespace in (select oid from ns) and not relispartition)
select json_build_object(
  'serverVersion', pg_catalog.current_setting('server_version_num')::int,
  'columns', (select coalesce(json_agg(json_build_object(
      'rel', a.attrelid::text, 'num', a.attnum, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
      'default', pg_catalog.pg_get_expr(d.adbin, d.adrelid, true),
      'collation', case when a.attcollation <> t.typcollation then co.collname end)), '[]')
    from pg_catalog.pg_attribute a join rel on rel.oid = a.attrelid join pg_catalog.pg_type t on t.oid = a.atttypid
    left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    left join pg_catalog.pg_collation co on co.oid = a.attcollation
    where a.attnum > 0 and not a.attisdropped),
  'constraints', (select coalesce(json_agg(json_build_object('id', c.oid::text, 'def', pg_catalog.pg_get_constraintdef(c.oid, true))), '[]')
    from pg_catalog.pg_constraint c where c.connamespace in (select oid from ns) and (c.conrelid = 0 or c.conrelid in (select oid from rel))),
  'indexes', (select coalesce(json_agg(json_build_object('id', i.indexrelid::text, 'def', pg_catalog.pg_get_indexdef(i.indexrelid))), '[]')
    from pg_catalog.pg_index i where i.indrelid in (select oid from rel)),
  'policies', (select coalesce(json_agg(json_build_object('rel', p.polrelid::text, 'name', p.polname,
      'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid, true), 'check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid, true))), '[]')
    from pg_catalog.pg_policy p where p.polrelid in (select oid from rel)),
  'views', (select coalesce(json_agg(json_build_object('id', rel.oid::text, 'def', pg_catalog.pg_get_viewdef(rel.oid, true))), '[]')
    from rel where rel.relkind in ('v', 'm')),
  'partitioned', (select coalesce(json_agg(json_build_object('id', p.partrelid::text, 'key', pg_catalog.pg_get_partkeydef(p.partrelid), 'strategy', p.partstrat)), '[]')
    from pg_catalog.pg_partitioned_table p where p.partrelid in (select oid from rel)),
  -- Range partitions are left out: they are made at run time, named after their month.
  'partitions', (select coalesce(json_agg(json_build_object('parent', i.inhparent::text, 'name', c.oid::pg_catalog.regclass::text,
      'bound', pg_catalog.pg_get_expr(c.relpartbound, c.oid, true))), '[]')
    from pg_catalog.pg_inherits i join pg_catalog.pg_class c on c.oid = i.inhrelid
    join pg_catalog.pg_partitioned_table p on p.partrelid = i.inhparent
    where i.inhparent in (select oid from rel) and p.partstrat <> 'r'),
  'procs', (select coalesce(json_agg(json_build_object('id', p.oid::text, 'args', pg_catalog.pg_get_function_arguments(p.oid),
      'identity', pg_catalog.pg_get_function_identity_arguments(p.oid), 'result', pg_catalog.pg_get_function_result(p.oid),
      'sqlBody', case when p.prosqlbody is not null then pg_catalog.pg_get_function_sqlbody(p.oid) end)), '[]')
    from pg_catalog.pg_proc p where p.pronamespace in (select oid from ns)),
  'aggregates', (select coalesce(json_agg(json_build_object('id', a.aggfnoid::oid::text, 'sfunc', a.aggtransfn::text,
      'stype', pg_catalog.format_type(a.aggtranstype, null), 'finalfunc', nullif(a.aggfinalfn, 0)::pg_catalog.regproc::text,
      'combinefunc', nullif(a.aggcombinefn, 0)::pg_catalog.regproc::text, 'initcond', a.agginitval)), '[]')
    from pg_catalog.pg_aggregate a join pg_catalog.pg_proc p on p.oid = a.aggfnoid where p.pronamespace in (select oid from ns)),
  'triggers', (select coalesce(json_agg(json_build_object('rel', t.tgrelid::text, 'name', t.tgname,
      'def', pg_catalog.pg_get_triggerdef(t.oid, true), 'enabled', t.tgenabled)), '[]')
    from pg_catalog.pg_trigger t where t.tgrelid in (select oid from rel) and not t.tgisinternal),
  'sequences', (select coalesce(json_agg(json_build_object('id', s.seqrelid::text, 'type', pg_catalog.format_type(s.seqtypid, null),
      'start', s.seqstart::text, 'increment', s.seqincrement::text, 'min', s.seqmin::text, 'max', s.seqmax::text,
      'cache', s.seqcache::text, 'cycle', s.seqcycle, 'ownedBy', o.owned_by, 'identity', coalesce(o.identity, false))), '[]')
    from pg_catalog.pg_sequence s join rel on rel.oid = s.seqrelid
    left join lateral (
      select d.refobjid::pg_catalog.regclass::text || '.' || pg_catalog.quote_ident(a.attname) as owned_by, d.deptype = 'i' as identity
        from pg_catalog.pg_depend d join pg_catalog.pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
       where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = s.seqrelid
         and d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.deptype in ('a', 'i')
    ) o on true),
  'domains', (select coalesce(json_agg(json_build_object('id', t.oid::text, 'base', pg_catalog.format_type(t.typbasetype, t.typtypmod),
      'default', pg_catalog.pg_get_expr(t.typdefaultbin, 0, true))), '[]')
    from pg_catalog.pg_type t where t.typnamespace in (select oid from ns) and t.typtype = 'd'),
  'defaultAcls', (select coalesce(json_agg(json_build_object('role', pg_catalog.pg_get_userbyid(d.defaclrole),
      'schema', nullif(d.defaclnamespace, 0)::pg_catalog.regnamespace::text, 'kind', d.defaclobjtype, 'acl', d.defaclacl::text[])), '[]')
    from pg_catalog.pg_default_acl d)
)::text as deparsed`;

/**
 * pg-introspection leaves out functions returning `trigger` (PostGraphile
 * cannot expose them); the reference wants them, so the filter is dropped.
 */
function introspectionQuery(): string {
  const query = makeIntrospectionQuery();
  const filter = "and prorettype operator(pg_catalog.<>) 2279";
  if (!query.includes(filter)) throw new Error("pg-introspection's query changed: update introspectionQuery() in src/db/reference.ts.");
  return query.replace(filter, "");
}

interface Catalog {
  introspection: Introspection;
  column: Map<string, Deparsed["columns"][number]>;
  constraintDef: Map<string, string>;
  indexDef: Map<string, string>;
  policy: Map<string, Deparsed["policies"][number]>;
  viewDef: Map<string, string>;
  partitioned: Map<string, Deparsed["partitioned"][number]>;
  partitions: Deparsed["partitions"];
  proc: Map<string, Deparsed["procs"][number]>;
  aggregate: Map<string, Deparsed["aggregates"][number]>;
  triggers: Deparsed["triggers"];
  sequence: Map<string, Deparsed["sequences"][number]>;
  domain: Map<string, Deparsed["domains"][number]>;
  defaultAcls: Deparsed["defaultAcls"];
}

async function readCatalog(url: string, schemas: readonly string[]): Promise<Catalog> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // One snapshot for both queries.
    await client.query("begin transaction isolation level repeatable read read only");
    await client.query("set local search_path = ''");
    const { rows: [introspected] } = await client.query<{ introspection: string }>(introspectionQuery());
    const { rows: [deparsed] } = await client.query<{ deparsed: string }>(deparseQuery, [[...schemas]]);
    await client.query("commit");
    if (!introspected || !deparsed) throw new Error("the catalog queries returned no row");
    const d = JSON.parse(deparsed.deparsed) as Deparsed;
    const by = <T>(rows: T[], key: (row: T) => string) => new Map(rows.map((row) => [key(row), row]));
    return {
      introspection: parseIntrospectionResults(introspected.introspection),
      column: by(d.columns, (c) => `${c.rel}:${c.num}`),
      constraintDef: new Map(d.constraints.map((c) => [c.id, c.def])),
      indexDef: new Map(d.indexes.map((i) => [i.id, i.def])),
      policy: by(d.policies, (p) => `${p.rel}:${p.name}`),
      viewDef: new Map(d.views.map((v) => [v.id, d.serverVersion < 160000 ? asSinceVersion16(v.def) : v.def])),
      partitioned: by(d.partitioned, (p) => p.id),
      partitions: d.partitions,
      proc: by(d.procs, (p) => p.id),
      aggregate: by(d.aggregates, (a) => a.id),
      triggers: d.triggers,
      sequence: by(d.sequences, (s) => s.id),
      domain: by(d.domains, (t) => t.id),
      defaultAcls: d.defaultAcls,
    };
  } finally {
    await client.end();
  }
}

/**
 * PostgreSQL 16 dropped the OLD and NEW entries from a view's range table, so
 * when a view's top-level query reads a single relation, 16 and later print its
 * columns unqualified (`customer_id`) where 15 qualifies them (`c.customer_id`).
 * On 15, drop that qualifier at the top level, as 16 does; subqueries keep it
 * on both. A single relation is recognised by a top-level FROM line naming one
 * table (and an optional alias) with no join below it; any other shape is left
 * as it is, and the reference test, run on both versions, would show it.
 */
function asSinceVersion16(definition: string): string {
  const lines = definition.split("\n");
  const fromLine = lines.findIndex((line) => line.startsWith("   FROM "));
  // A view without WHERE ends on its FROM line (";").
  const from = /^ {3}FROM ([a-z_][a-z0-9_$]*\.)?([a-z_][a-z0-9_$]*)(?: ([a-z_][a-z0-9_$]*))?;?$/.exec(lines[fromLine] ?? "");
  if (!from || /^ {4}/.test(lines[fromLine + 1] ?? "")) return definition;
  const qualifier = `${from[3] ?? from[2]}.`;
  let result = "";
  const subqueries: boolean[] = []; // per open parenthesis: does it hold a SELECT?
  for (let i = 0; i < definition.length; ) {
    const char = definition[i]!;
    if (char === "'" || char === '"') {
      // A literal or quoted identifier, copied whole ('' and "" escape themselves).
      let end = i + 1;
      while (end < definition.length && (definition[end] !== char || definition[end + 1] === char)) end += definition[end] === char ? 2 : 1;
      result += definition.slice(i, end + 1);
      i = end + 1;
      continue;
    }
    if (char === "(") subqueries.push(/^\(\s*(SELECT|WITH)\b/.test(definition.slice(i, i + 12)));
    if (char === ")") subqueries.pop();
    if (!subqueries.includes(true) && definition.startsWith(qualifier, i) && !/[\w$."]/.test(definition[i - 1] ?? "")) {
      i += qualifier.length;
      continue;
    }
    result += char;
    i++;
  }
  return result;
}

// ---------------------------------------------------------------------------
// Printing SQL

// A getter Node's CommonJS interop cannot name, so read from the module object.
const reservedWords = new Set(pgIntrospection.reservedWords);
/** Code-point order: the same on every machine, unlike localeCompare. */
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const sortedBy = <T>(items: readonly T[], key: (item: T) => string) => [...items].sort((a, b) => compare(key(a), key(b)));

function ident(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !reservedWords.has(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function block(lines: Array<string | false | null | undefined>): string {
  return lines.filter((line): line is string => typeof line === "string").join("\n");
}

/** Markdown chunks carry no trailing newline; the file joins them with a blank line. */
function sqlBlock(sql: string): string {
  // A fence longer than any run of backticks in the SQL (a function body may hold some).
  const fence = "`".repeat(Math.max(3, ...[...sql.matchAll(/`+/g)].map((run) => run[0].length + 1)));
  return `${fence}sql\n${sql}\n${fence}`;
}

function fence(heading: string, sql: string): string {
  return `#### ${heading}\n\n${sqlBlock(sql)}`;
}

const chunks = (parts: Array<string | false | null | undefined>) => parts.filter((part): part is string => Boolean(part)).join("\n\n");

function commentLine(kind: string, target: string, description: string | undefined): string | undefined {
  return description === undefined ? undefined : `comment on ${kind} ${target} is ${literal(description)};`;
}

/*
 * Privileges in GRANT order. MAINTAIN (PostgreSQL 17) is left out: 17 gives it
 * to a table's owner and with ALL, 15 has no such privilege, and owners are
 * not printed anyway.
 */
const privileges = ["select", "insert", "update", "delete", "truncate", "references", "trigger", "usage", "create", "execute", "connect", "temporary"] as const;

function privilegesOf(acl: AclObject): Array<{ name: string; grantable: boolean }> {
  return privileges.filter((name) => acl[name]).map((name) => ({ name, grantable: acl[`${name}Grant`] === true }));
}

interface GrantEntry {
  role: string;
  what: string;
  grantable?: boolean;
}

/** One line per distinct privilege list, roles sorted. */
function grantLines(entries: readonly GrantEntry[], on: string): string[] {
  const rolesByKey = new Map<string, string[]>();
  for (const { role, what, grantable } of entries) {
    const key = `${what}\0${grantable ? " with grant option" : ""}`;
    rolesByKey.set(key, [...(rolesByKey.get(key) ?? []), role === "public" ? "public" : ident(role)]);
  }
  return sortedBy([...rolesByKey], ([key]) => key).map(([key, roles]) => {
    const [what, option] = key.split("\0");
    return `grant ${what} on ${on} to ${sortedBy(roles, (r) => r).join(", ")}${option};`;
  });
}

/** Grants beyond the owner's own, which are implicit. */
function objectGrants(acls: readonly AclObject[], owner: string | undefined, on: string): string[] {
  const entries: GrantEntry[] = [];
  for (const acl of acls) {
    if (acl.role === owner) continue;
    const granted = privilegesOf(acl);
    for (const grantable of [false, true]) {
      const what = granted.filter((p) => p.grantable === grantable).map((p) => p.name).join(", ");
      if (what) entries.push({ role: acl.role, what, grantable });
    }
  }
  return grantLines(entries, on);
}

/** Column privileges: `grant insert (a, b), update (b) on t to r`. */
function columnGrants(cls: PgClass, attributes: readonly PgAttribute[], on: string): string[] {
  const columnsByRole = new Map<string, Map<string, string[]>>();
  for (const attribute of attributes) {
    for (const acl of attribute.getACL()) {
      for (const { name } of privilegesOf(acl)) {
        const byPrivilege = columnsByRole.get(acl.role) ?? new Map<string, string[]>();
        byPrivilege.set(name, [...(byPrivilege.get(name) ?? []), ident(attribute.attname)]);
        columnsByRole.set(acl.role, byPrivilege);
      }
    }
  }
  const owner = cls.getOwner()?.rolname;
  const entries = [...columnsByRole]
    .filter(([role]) => role !== owner)
    .map(([role, byPrivilege]) => ({
      role,
      what: privileges.filter((p) => byPrivilege.has(p)).map((p) => `${p} (${byPrivilege.get(p)!.join(", ")})`).join(", "),
    }));
  return grantLines(entries, on);
}

function ownerLine(kind: string, target: string, owner: string | undefined, schemaOwner: string | undefined): string | undefined {
  return owner && owner !== schemaOwner ? `alter ${kind} ${target} owner to ${ident(owner)};` : undefined;
}

// ---------------------------------------------------------------------------
// Objects

class SchemaPrinter {
  private readonly catalog: Catalog;
  private readonly schema: PgNamespace;
  private readonly owner: string | undefined;
  constructor(catalog: Catalog, schema: PgNamespace) {
    this.catalog = catalog;
    this.schema = schema;
    this.owner = schema.getOwner()?.rolname;
  }

  private qualified(name: string): string {
    return `${ident(this.schema.nspname)}.${ident(name)}`;
  }

  private get introspection(): Introspection {
    return this.catalog.introspection;
  }

  header(): string {
    const name = ident(this.schema.nspname);
    return block([
      `create schema ${name};`,
      commentLine("schema", name, this.schema.getDescription()),
      ...objectGrants(this.schema.getACL(), this.owner, `schema ${name}`),
    ]);
  }

  /** The schema's objects as markdown sections, empty sections left out. */
  sections(): string {
    const classes = this.introspection.classes.filter((c) => c.relnamespace === this.schema._id && !c.relispartition);
    const ofKind = (...kinds: string[]) => sortedBy(classes.filter((c) => kinds.includes(c.relkind)), (c) => c.relname);
    const types = sortedBy(
      this.introspection.types.filter((t) => t.typnamespace === this.schema._id && this.isStandaloneType(t)),
      (t) => t.typname,
    );
    const procs = sortedBy(
      this.introspection.procs.filter((p) => p.pronamespace === this.schema._id),
      (p) => `${p.proname}(${this.catalog.proc.get(p._id)?.identity ?? ""}`,
    );
    const sequences = ofKind("S").filter((s) => !this.catalog.sequence.get(s._id)?.identity);
    const section = (title: string, parts: string[]) => parts.length > 0 && chunks([`### ${title}`, ...parts]);
    return chunks([
      section("Types", types.map((t) => this.type(t))),
      section("Tables", ofKind("r", "p", "f").map((c) => this.table(c))),
      section("Views", ofKind("v").map((c) => this.view(c))),
      section("Materialized views", ofKind("m").map((c) => this.view(c))),
      section("Sequences", sequences.map((c) => this.sequence(c))),
      section("Functions", procs.filter((p) => p.prokind !== "p" && p.prokind !== "a").map((p) => this.routine(p))),
      section("Procedures", procs.filter((p) => p.prokind === "p").map((p) => this.routine(p))),
      section("Aggregates", procs.filter((p) => p.prokind === "a").map((p) => this.aggregate(p))),
    ]);
  }

  private isStandaloneType(type: PgType): boolean {
    if (type.typtype === "c") return type.getClass()?.relkind === "c";
    // Array and multirange types come with their element or range type.
    return ["e", "d", "r"].includes(type.typtype ?? "");
  }

  private columnLine(attribute: PgAttribute): string {
    const deparsed = this.catalog.column.get(`${attribute.attrelid}:${attribute.attnum}`);
    const parts = [ident(attribute.attname), deparsed?.type ?? "?"];
    if (deparsed?.collation) parts.push(`collate ${ident(deparsed.collation)}`);
    if (attribute.attidentity === "a") parts.push("generated always as identity");
    if (attribute.attidentity === "d") parts.push("generated by default as identity");
    if (attribute.attgenerated === "s") parts.push(`generated always as (${deparsed?.default}) stored`);
    if (attribute.attnotnull) parts.push("not null");
    if (deparsed?.default && attribute.attgenerated !== "s") parts.push(`default ${deparsed.default}`);
    return parts.join(" ");
  }

  private columns(cls: PgClass): PgAttribute[] {
    return cls.getAttributes().filter((a) => !a.attisdropped);
  }

  private columnComments(cls: PgClass, target: string): Array<string | undefined> {
    return this.columns(cls).map((a) => commentLine("column", `${target}.${ident(a.attname)}`, a.getDescription()));
  }

  private type(type: PgType): string {
    const target = this.qualified(type.typname);
    const kind = type.typtype === "d" ? "domain" : "type";
    const composite = type.typtype === "c" ? type.getClass() : undefined;
    return fence(
      target,
      block([
        this.typeDefinition(type, target, composite),
        commentLine(kind, target, type.getDescription()),
        ...(composite ? this.columnComments(composite, target) : []),
        ownerLine(kind, target, type.getOwner()?.rolname, this.owner),
        ...objectGrants(parseAcls(this.introspection, type.typacl, type.typowner ?? "0", OBJECT_TYPE), type.getOwner()?.rolname, `${kind} ${target}`),
      ]),
    );
  }

  private typeDefinition(type: PgType, target: string, composite: PgClass | undefined): string {
    if (composite) {
      const attributes = this.columns(composite).map((a) => `  ${ident(a.attname)} ${this.catalog.column.get(`${a.attrelid}:${a.attnum}`)?.type ?? "?"}`);
      return `create type ${target} as (\n${attributes.join(",\n")}\n);`;
    }
    if (type.typtype === "e") {
      return `create type ${target} as enum (\n${(type.getEnumValues() ?? []).map((v) => `  ${literal(v.enumlabel)}`).join(",\n")}\n);`;
    }
    if (type.typtype === "d") {
      const domain = this.catalog.domain.get(type._id);
      const constraints = sortedBy(
        // PostgreSQL 17 also keeps a domain's NOT NULL as a constraint row (contype n); 15 only has typnotnull.
        this.introspection.constraints.filter((c) => c.contypid === type._id && c.contype !== "n"),
        (c) => c.conname,
      );
      return `${block([
        `create domain ${target} as ${domain?.base ?? "?"}${domain?.default ? ` default ${domain.default}` : ""}${type.typnotnull ? " not null" : ""}`,
        ...constraints.map((c) => `  constraint ${ident(c.conname)} ${this.catalog.constraintDef.get(c._id)}`),
      ])};`;
    }
    const subtype = type.getRange()?.getSubType();
    return `create type ${target} as range (subtype = ${subtype ? `${ident(subtype.getNamespace()?.nspname ?? "?")}.${ident(subtype.typname)}` : "?"});`;
  }

  private table(cls: PgClass): string {
    const target = this.qualified(cls.relname);
    const constraints = this.tableConstraints(cls);
    const partitioned = this.catalog.partitioned.get(cls._id);
    const body = [...this.columns(cls).map((a) => this.columnLine(a)), ...constraints.map((c) => `constraint ${ident(c.conname)} ${this.catalog.constraintDef.get(c._id)}`)];
    const kind = cls.relkind === "f" ? "foreign table" : cls.relpersistence === "u" ? "unlogged table" : "table";
    const tail = [partitioned && ` partition by ${partitioned.key}`, cls.reloptions?.length && ` with (${cls.reloptions.join(", ")})`].filter(Boolean).join("");
    const partitions = sortedBy(this.catalog.partitions.filter((p) => p.parent === cls._id), (p) => p.name);
    return fence(
      target,
      block([
        `create ${kind} ${target} (\n${body.map((line) => `  ${line}`).join(",\n")}\n)${tail};`,
        partitioned?.strategy === "r" && "-- Range partitions are not listed: they are created at run time, and their names and number change with time.",
        ...partitions.map((p) => `create table ${p.name} partition of ${target} ${p.bound};`),
        commentLine("table", target, cls.getDescription()),
        ...this.columnComments(cls, target),
        ...constraints.map((c) => commentLine("constraint", `${ident(c.conname)} on ${target}`, c.getDescription())),
        ...this.indexes(cls, constraints),
        ...this.triggers(cls, target),
        ownerLine("table", target, cls.getOwner()?.rolname, this.owner),
        cls.relrowsecurity === true && `alter table ${target} enable row level security;`,
        cls.relforcerowsecurity === true && `alter table ${target} force row level security;`,
        ...this.policies(cls, target),
        ...objectGrants(cls.getACL(), cls.getOwner()?.rolname, target),
        ...columnGrants(cls, this.columns(cls), target),
      ]),
    );
  }

  private tableConstraints(cls: PgClass): PgConstraint[] {
    // Constraint triggers are listed with the triggers; `n` is PostgreSQL 18's NOT NULL row, shown on the column.
    const order = "puxfc";
    return [...cls.getConstraints()]
      .filter((c) => order.includes(c.contype))
      .sort((a, b) => order.indexOf(a.contype) - order.indexOf(b.contype) || compare(a.conname, b.conname));
  }

  /** Indexes other than those that implement a primary key, unique or exclusion constraint. */
  private indexes(cls: PgClass, constraints: readonly PgConstraint[]): Array<string | undefined> {
    const implementing = new Set(constraints.filter((c) => "pux".includes(c.contype)).map((c) => c.conindid));
    const indexes = sortedBy(
      cls.getIndexes().filter((i) => !implementing.has(i.indexrelid)),
      (i) => i.getIndexClass()?.relname ?? "",
    );
    return indexes.flatMap((index) => {
      const indexClass = index.getIndexClass();
      return [
        `${this.catalog.indexDef.get(index.indexrelid)};`,
        indexClass && commentLine("index", this.qualified(indexClass.relname), indexClass.getDescription()),
      ];
    });
  }

  private triggers(cls: PgClass, target: string): string[] {
    const states: Record<string, string> = { D: "disable", R: "enable replica", A: "enable always" };
    return sortedBy(this.catalog.triggers.filter((t) => t.rel === cls._id), (t) => t.name).flatMap((trigger) => {
      const state = states[trigger.enabled];
      return [`${trigger.def};`, ...(state ? [`alter table ${target} ${state} trigger ${ident(trigger.name)};`] : [])];
    });
  }

  private policies(cls: PgClass, target: string): string[] {
    const commands: Record<string, string> = { r: "select", a: "insert", w: "update", d: "delete", "*": "all" };
    return sortedBy(this.introspection.policies.filter((p) => p.polrelid === cls._id), (p) => p.polname).map((policy) => {
      const roles = sortedBy((policy.polroles ?? []).map((id) => (id === "0" ? "public" : ident(this.introspection.getRoles({ id })?.rolname ?? "?"))), (r) => r);
      const deparsed = this.catalog.policy.get(`${cls._id}:${policy.polname}`);
      return block([
        `create policy ${ident(policy.polname)} on ${target}${policy.polpermissive === false ? " as restrictive" : ""}`,
        `  for ${commands[policy.polcmd ?? "*"]} to ${roles.join(", ")}`,
        deparsed?.using && `  using (${deparsed.using})`,
        deparsed?.check && `  with check (${deparsed.check})`,
      ]) + ";";
    });
  }

  private view(cls: PgClass): string {
    const target = this.qualified(cls.relname);
    const kind = cls.relkind === "m" ? "materialized view" : "view";
    const options = cls.reloptions?.length ? ` with (${cls.reloptions.join(", ")})` : "";
    return fence(
      target,
      block([
        `create ${kind} ${target}${options} as\n${(this.catalog.viewDef.get(cls._id) ?? "").trim()}`,
        commentLine(kind, target, cls.getDescription()),
        ...this.columnComments(cls, target),
        ...this.indexes(cls, []),
        ...this.triggers(cls, target),
        ownerLine(kind, target, cls.getOwner()?.rolname, this.owner),
        ...objectGrants(cls.getACL(), cls.getOwner()?.rolname, target),
        ...columnGrants(cls, this.columns(cls), target),
      ]),
    );
  }

  private sequence(cls: PgClass): string {
    const target = this.qualified(cls.relname);
    const s = this.catalog.sequence.get(cls._id);
    // The current value is data, not schema: never printed.
    return fence(
      target,
      block([
        s
          ? `create sequence ${target} as ${s.type} start with ${s.start} increment by ${s.increment} minvalue ${s.min} maxvalue ${s.max} cache ${s.cache}${s.cycle ? " cycle" : ""};`
          : `create sequence ${target};`,
        s?.ownedBy && `alter sequence ${target} owned by ${s.ownedBy};`,
        commentLine("sequence", target, cls.getDescription()),
        ownerLine("sequence", target, cls.getOwner()?.rolname, this.owner),
        ...objectGrants(cls.getACL(), cls.getOwner()?.rolname, `sequence ${target}`),
      ]),
    );
  }

  private routine(proc: PgProc): string {
    const deparsed = this.catalog.proc.get(proc._id);
    const kind = proc.prokind === "p" ? "procedure" : "function";
    const signature = `${this.qualified(proc.proname)}(${deparsed?.identity ?? ""})`;
    const language = this.introspection.getLanguage({ id: proc.prolang ?? "" })?.lanname ?? "?";
    const volatility: Record<string, string> = { i: "immutable", s: "stable", v: "volatile" };
    const parallel: Record<string, string> = { s: "parallel safe", r: "parallel restricted" };
    const traits = [
      `language ${language}`,
      kind === "function" && volatility[proc.provolatile ?? "v"],
      proc.proisstrict && "strict",
      proc.prosecdef ? "security definer" : "security invoker",
      proc.proleakproof && "leakproof",
      parallel[proc.proparallel ?? "u"],
      proc.prokind === "w" && "window",
    ].filter(Boolean);
    const settings = (proc.proconfig ?? []).map((setting) => {
      const [name, value = ""] = setting.split(/=(.*)/s);
      return `  set ${name} = ${value === '""' ? "''" : value}`;
    });
    return fence(
      signature,
      block([
        `create ${kind} ${this.qualified(proc.proname)}(${deparsed?.args ?? ""})`,
        deparsed?.result && `  returns ${deparsed.result}`,
        `  ${traits.join(" ")}`,
        ...settings,
        deparsed?.sqlBody ? deparsed.sqlBody + ";" : `as ${dollarQuote(proc.prosrc ?? "")};`,
        commentLine(kind, signature, proc.getDescription()),
        ownerLine(kind, signature, proc.getOwner()?.rolname, this.owner),
        ...objectGrants(proc.getACL(), proc.getOwner()?.rolname, `${kind} ${signature}`),
      ]),
    );
  }

  private aggregate(proc: PgProc): string {
    const deparsed = this.catalog.proc.get(proc._id);
    const aggregate = this.catalog.aggregate.get(proc._id);
    const signature = `${this.qualified(proc.proname)}(${deparsed?.identity ?? ""})`;
    const options = [
      `sfunc = ${aggregate?.sfunc}`,
      `stype = ${aggregate?.stype}`,
      aggregate?.finalfunc && `finalfunc = ${aggregate.finalfunc}`,
      aggregate?.combinefunc && `combinefunc = ${aggregate.combinefunc}`,
      aggregate?.initcond != null && `initcond = ${literal(aggregate.initcond)}`,
      proc.proparallel === "s" && "parallel = safe",
      proc.proparallel === "r" && "parallel = restricted",
    ].filter(Boolean);
    return fence(
      signature,
      block([
        `-- returns ${deparsed?.result ?? "?"}`,
        `create aggregate ${signature} (\n${options.map((o) => `  ${o}`).join(",\n")}\n);`,
        commentLine("aggregate", signature, proc.getDescription()),
        ownerLine("aggregate", signature, proc.getOwner()?.rolname, this.owner),
        ...objectGrants(proc.getACL(), proc.getOwner()?.rolname, `function ${signature}`),
      ]),
    );
  }
}

/** $$…$$, or $body$…$body$ (and so on) when the body itself holds the tag. */
function dollarQuote(body: string): string {
  let tag = "$$";
  for (let i = 0; body.includes(tag); i++) tag = `$body${i || ""}$`;
  return `${tag}${body}${tag}`;
}

// ---------------------------------------------------------------------------
// Files

function fileHeader(module: ModuleInfo): string {
  return chunks([
    `<!-- Generated by \`${referenceCommand}\` (groundwork reference) from a migrated database. Do not edit: change the migrations, then regenerate. -->`,
    `# Reference: ${module.title}`,
    module.purpose,
  ]);
}

/** The setup module owns no schema: it is the extensions, the default privileges and the public schema's grants. */
function renderSetup(catalog: Catalog): string {
  const { introspection } = catalog;
  const extensions = sortedBy(introspection.extensions, (e) => e.extname).map((extension) => {
    const schema = introspection.getNamespace({ id: extension.extnamespace ?? "" })?.nspname ?? "?";
    return `create extension ${ident(extension.extname)} with schema ${ident(schema)} version ${literal(extension.extversion ?? "?")};`;
  });
  const kinds: Record<string, string> = { r: "tables", S: "sequences", f: "functions", T: "types", n: "schemas", L: "large objects" };
  const defaults = sortedBy(catalog.defaultAcls, (d) => `${d.role} ${d.schema ?? ""} ${d.kind}`).map((d) => {
    const grants = sortedBy(d.acl.map(parseAcl), (a) => a.role).map((acl) => `${privilegesOf(acl).map((p) => p.name).join(", ")} to ${acl.role}`);
    return `-- ${kinds[d.kind] ?? d.kind} created by ${d.role}${d.schema ? ` in schema ${d.schema}` : ""}: ${grants.join("; ")}`;
  });
  const publicSchema = introspection.getNamespace({ name: "public" });
  return chunks([
    "## Extensions",
    sqlBlock(block(extensions)),
    "## Default privileges",
    "What objects get as they are created (`alter default privileges`), instead of PostgreSQL's built-in defaults: a role not listed gets nothing, PUBLIC included.",
    sqlBlock(block(defaults)),
    publicSchema && "## Schema public",
    publicSchema && "Only the schema and its grants: what lives there belongs to extensions, and to modules that share it (the compatibility layer: compat.md).",
    publicSchema && sqlBlock(new SchemaPrinter(catalog, publicSchema).header()),
  ]);
}

function renderSchemas(module: ModuleInfo, catalog: Catalog): string {
  const schemas = [...module.schemas.map((name) => ({ name, exposed: true })), ...module.privateSchemas.map((name) => ({ name, exposed: false }))];
  return chunks([
    `Schemas: ${schemas.map((s) => `\`${s.name}\` (${s.exposed ? "exposed through GraphQL" : "private"})`).join(", ")}.`,
    ...schemas.map(({ name }) => {
      const schema = catalog.introspection.getNamespace({ name });
      if (!schema) return `## Schema ${name}\n\nNot in the database.`;
      const printer = new SchemaPrinter(catalog, schema);
      return chunks([`## Schema ${name}`, sqlBlock(printer.header()), printer.sections()]);
    }),
  ]);
}

/** A module's objects in a schema it shares (public): extensions' objects are left out by the introspection. */
function renderShared(module: ModuleInfo, catalog: Catalog): string {
  const shared = module.sharedSchemas ?? [];
  return chunks([
    `Schemas: ${shared.map((name) => `\`${name}\` (shared; not exposed through GraphQL)`).join(", ")}. The schemas themselves and their grants are in setup.md.`,
    ...shared.map((name) => {
      const schema = catalog.introspection.getNamespace({ name });
      if (!schema) return `## Schema ${name}\n\nNot in the database.`;
      return chunks([`## Schema ${name}`, new SchemaPrinter(catalog, schema).sections()]);
    }),
  ]);
}

function renderModule(module: ModuleInfo, catalog: Catalog): string {
  const body = (module.sharedSchemas ?? []).length > 0 ? renderShared(module, catalog)
    : module.schemas.length === 0 && module.privateSchemas.length === 0 ? renderSetup(catalog)
    : renderSchemas(module, catalog);
  return `${chunks([fileHeader(module), body])}\n`;
}

/** Requests never reach this schema: it is built to be printed. */
const noTokens: TokenService = {
  verify: () => Promise.reject(new Error("the reference's GraphQL schema serves no requests")),
  sign: () => Promise.reject(new Error("the reference's GraphQL schema serves no requests")),
};

/** The GraphQL schema exactly as the server builds it (same preset, introspected as gw_authenticator), sorted. */
async function printGraphqlSchema(authenticatorUrl: string, logger: Logger): Promise<string> {
  const pool = new pg.Pool({ connectionString: authenticatorUrl, max: 2 });
  try {
    const { schema } = await makeSchema(makePreset({ pool, tokenService: noTokens, logger }));
    return `${printSchema(lexicographicSortSchema(schema))}\n`;
  } finally {
    await pool.end();
  }
}

/**
 * The reference of the database at `authenticatorUrl` (gw_authenticator, the
 * role the server introspects as: its grants decide what GraphQL shows).
 */
export async function generateReference(authenticatorUrl: string, logger: Logger): Promise<ReferenceFiles> {
  const schemas = builtModules.flatMap((m) => [...m.schemas, ...m.privateSchemas, ...(m.sharedSchemas ?? [])]);
  const catalog = await readCatalog(authenticatorUrl, schemas);
  const files: ReferenceFiles = new Map();
  for (const module of sortedBy(builtModules, (m) => m.name)) files.set(`${referenceFolder}/${module.name}.md`, renderModule(module, catalog));
  files.set(graphqlSchemaFile, await printGraphqlSchema(authenticatorUrl, logger));
  return files;
}

async function committedFiles(): Promise<ReferenceFiles> {
  const files: ReferenceFiles = new Map();
  const names = await readdir(path.join(projectRoot, referenceFolder)).catch(() => [] as string[]);
  for (const relative of [...names.filter((n) => n.endsWith(".md")).map((n) => `${referenceFolder}/${n}`), graphqlSchemaFile]) {
    const text = await readFile(path.join(projectRoot, relative), "utf8").catch(() => undefined);
    if (text !== undefined) files.set(relative, text);
  }
  return files;
}

/** How the files in the checkout differ from `files`: one sentence per file, none when fresh. */
export async function compareReference(files: ReferenceFiles): Promise<string[]> {
  const committed = await committedFiles();
  const problems: string[] = [];
  for (const [relative, text] of files) {
    const current = committed.get(relative);
    if (current === undefined) problems.push(`${relative} is missing`);
    else if (current !== text) problems.push(`${relative} differs from the database`);
  }
  for (const relative of committed.keys()) if (!files.has(relative)) problems.push(`${relative} belongs to no built module`);
  return sortedBy(problems, (p) => p);
}

/** Writes the reference into the checkout (only files whose text changed) and removes files of modules that are gone. */
export async function writeReference(authenticatorUrl: string, logger: Logger): Promise<string[]> {
  const files = await generateReference(authenticatorUrl, logger);
  const committed = await committedFiles();
  const changed: string[] = [];
  await mkdir(path.join(projectRoot, referenceFolder), { recursive: true });
  for (const [relative, text] of files) {
    if (committed.get(relative) === text) continue;
    await writeFile(path.join(projectRoot, relative), text);
    changed.push(relative);
  }
  for (const relative of committed.keys()) {
    if (files.has(relative)) continue;
    await rm(path.join(projectRoot, relative));
    changed.push(relative);
  }
  logger.info({ changed }, changed.length ? "schema reference rewritten" : "schema reference unchanged");
  return changed;
}
