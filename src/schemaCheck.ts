/**
 * `npm run schema:check`: what a change does to GraphQL clients. Compares the
 * schema in the working tree (docs/schema.graphql, which `npm run reference`
 * and tests/project/reference.test.ts keep equal to what the server builds)
 * with the one committed where HEAD left a base branch (default `main`; on
 * main itself, HEAD: what uncommitted work changes), using graphql-js's
 * findBreakingChanges and findDangerousChanges. A breaking change must be
 * listed in docs/schema-changes.md (reviewed: who is affected, how clients
 * move) or the check fails; tests/project/schema-check.test.ts runs it.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { buildSchema, findBreakingChanges, findDangerousChanges } from "postgraphile/graphql";
import { projectRoot } from "./paths.ts";

export const schemaFile = "docs/schema.graphql";
export const reviewedChangesFile = "docs/schema-changes.md";
export const defaultSchemaBase = "main";

export interface SchemaChange {
  /** graphql-js's change type, e.g. FIELD_REMOVED. */
  type: string;
  description: string;
}

export interface SchemaComparison {
  breaking: SchemaChange[];
  dangerous: SchemaChange[];
  /** Breaking changes docs/schema-changes.md does not list. */
  unreviewed: SchemaChange[];
}

/** How a change is written in docs/schema-changes.md: `TYPE: description`, in backticks. */
export const changeKey = (change: SchemaChange) => `${change.type}: ${change.description}`;

/** The keys listed (in backticks, at the start of a list item) in a reviewed-changes document. */
export function reviewedKeys(markdown: string): Set<string> {
  const keys = new Set<string>();
  for (const line of markdown.split("\n")) {
    const match = /^\s*[-*]\s+`([A-Z_]+: [^`]+)`/.exec(line);
    if (match) keys.add(match[1]!);
  }
  return keys;
}

export function compareSchemas(baseSdl: string, currentSdl: string, reviewed: ReadonlySet<string> = new Set()): SchemaComparison {
  const base = buildSchema(baseSdl, { assumeValidSDL: true });
  const current = buildSchema(currentSdl, { assumeValidSDL: true });
  const breaking = findBreakingChanges(base, current).map(({ type, description }) => ({ type, description }));
  const dangerous = findDangerousChanges(base, current).map(({ type, description }) => ({ type, description }));
  return { breaking, dangerous, unreviewed: breaking.filter((change) => !reviewed.has(changeKey(change))) };
}

const git = (args: string[], root: string) =>
  execFileSync("git", args, { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "pipe"] });

/**
 * The commit to compare with: where HEAD left `base` (git merge-base), so a
 * branch is judged on its own changes, not on what was merged into main since;
 * on `base` itself that is HEAD, and the check shows what uncommitted work changes.
 */
export function baseCommit(base: string, root = projectRoot): string {
  try {
    return git(["merge-base", "HEAD", base], root).trim();
  } catch {
    return base;
  }
}

/** docs/schema.graphql as committed at `base` (a branch, tag or commit), taken where HEAD left it. */
export function schemaAt(base: string, root = projectRoot): string {
  try {
    return git(["show", `${baseCommit(base, root)}:${schemaFile}`], root);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`schema:check cannot read ${schemaFile} at "${base}" (${stderr || (error as Error).message}); pass --base <ref> or set SCHEMA_BASE.`);
  }
}

export function checkWorkingSchema(base: string, root = projectRoot): SchemaComparison {
  const current = readFileSync(path.join(root, schemaFile), "utf8");
  const reviewed = reviewedKeys(readFileSync(path.join(root, reviewedChangesFile), "utf8"));
  return compareSchemas(schemaAt(base, root), current, reviewed);
}

/** The report schema:check prints; true when nothing breaking is unreviewed. */
export function printComparison(base: string, comparison: SchemaComparison, log: (line: string) => void = console.log): boolean {
  const { breaking, dangerous, unreviewed } = comparison;
  log(`${schemaFile} against ${base}: ${breaking.length} breaking, ${dangerous.length} dangerous.`);
  for (const change of breaking) log(`  breaking${unreviewed.includes(change) ? " (unreviewed)" : ""}: \`${changeKey(change)}\``);
  for (const change of dangerous) log(`  dangerous: \`${changeKey(change)}\``);
  if (unreviewed.length) {
    log(`\n${unreviewed.length} breaking change(s) not reviewed. If they are meant, list each (the backticked text above) in ${reviewedChangesFile} with who is affected and how clients move.`);
  }
  return unreviewed.length === 0;
}
