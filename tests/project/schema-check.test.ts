import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../src/paths.ts";
import { changeKey, checkWorkingSchema, compareSchemas, defaultSchemaBase, printComparison, reviewedKeys, schemaFile } from "../../src/schemaCheck.ts";

const committed = readFileSync(path.join(projectRoot, schemaFile), "utf8");
// The one field this test removes (with its description): present, or the test would prove nothing.
const field = /^type LedgerEntryConnection \{[\s\S]*?\n\n  """[^"]*"""\n  totalCount: Int!$/m;

describe("npm run schema:check", () => {
  it("catches a removed field as an unreviewed breaking change, and accepts it once reviewed", () => {
    expect(committed).toMatch(field);
    const removed = committed.replace(field, (text) => text.replace(/\n\n  """[^"]*"""\n  totalCount: Int!$/, ""));
    const comparison = compareSchemas(committed, removed);
    expect(comparison.breaking).toEqual([{ type: "FIELD_REMOVED", description: "LedgerEntryConnection.totalCount was removed." }]);
    expect(comparison.unreviewed).toEqual(comparison.breaking);
    const lines: string[] = [];
    expect(printComparison("base", comparison, (line) => lines.push(line))).toBe(false);
    expect(lines.join("\n")).toContain("breaking (unreviewed): `FIELD_REMOVED: LedgerEntryConnection.totalCount was removed.`");

    const review = `## Pending review\n\n- \`${changeKey(comparison.breaking[0]!)}\`: the statement screen counts entries itself.\n`;
    expect(reviewedKeys(review)).toEqual(new Set(["FIELD_REMOVED: LedgerEntryConnection.totalCount was removed."]));
    expect(compareSchemas(committed, removed, reviewedKeys(review)).unreviewed).toEqual([]);
  });

  it("reports an added field as neither breaking nor dangerous, and an added optional argument as dangerous", () => {
    const added = committed.replace(field, (text) => `${text}\n  totalAmount: String`);
    expect(compareSchemas(committed, added)).toEqual({ breaking: [], dangerous: [], unreviewed: [] });
    const withHello = committed.replace(/^type Query implements Node \{\n/m, "type Query implements Node {\n  hello(name: String): String\n");
    expect(withHello).not.toBe(committed);
    const argument = withHello.replace(/^(  hello\(name: String)\): String$/m, "$1, loud: Boolean): String");
    expect(compareSchemas(withHello, argument).dangerous.map((c) => c.type)).toEqual(["OPTIONAL_ARG_ADDED"]);
  });

  it(`finds no unreviewed breaking change in ${schemaFile} against ${defaultSchemaBase} (docs/schema-changes.md)`, () => {
    // The base is a git ref: CI runs on a clone, which has it.
    execFileSync("git", ["rev-parse", "--verify", `${defaultSchemaBase}^{commit}`], { cwd: projectRoot, stdio: "pipe" });
    const comparison = checkWorkingSchema(process.env.SCHEMA_BASE ?? defaultSchemaBase);
    expect(comparison.unreviewed.map(changeKey), "Review each breaking change in docs/schema-changes.md (npm run schema:check).").toEqual([]);
  });
});
