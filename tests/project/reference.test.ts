import { describe, expect, inject, it } from "vitest";
import { compareReference, generateReference, graphqlSchemaFile, referenceCommand, referenceFolder } from "../../src/db/reference.ts";
import { createLogger } from "../../src/logger.ts";
import { builtModules } from "../../src/modules.ts";

describe("the generated schema reference", () => {
  it("matches what the migrations build, on PostgreSQL 15 and 17 alike", async () => {
    const files = await generateReference(inject("testDatabase").authenticatorUrl, createLogger("silent"));
    // Not vacuous: one file per built module and the GraphQL schema, each with content.
    expect([...files.keys()].sort()).toEqual([...builtModules.map((m) => `${referenceFolder}/${m.name}.md`), graphqlSchemaFile].sort());
    expect(files.get(`${referenceFolder}/auth.md`)).toContain("create table auth.users (");
    expect(files.get(graphqlSchemaFile)).toContain("type Query");

    const problems = await compareReference(files);
    expect(problems, `The committed schema reference is stale (${problems.join("; ")}). Run \`${referenceCommand}\` and commit docs/reference/ and ${graphqlSchemaFile}.`).toEqual([]);
  });
});
