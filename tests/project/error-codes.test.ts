import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { errorCodes, sqlErrorCodes } from "../../src/errors.ts";
import { migrationsFolder, projectRoot } from "../../src/paths.ts";

/** Codes in the first column of a table row, written as `CODE`. */
function documentedCodes(): string[] {
  const markdown = readFileSync(path.join(projectRoot, "docs", "errors.md"), "utf8");
  const codes = [...markdown.matchAll(/^\|\s*`([0-9A-Z][0-9A-Z_]*)`\s*\|/gm)].map((match) => match[1]!);
  return [...new Set(codes)].sort();
}

function migrationSources(): Array<{ file: string; sql: string }> {
  return readdirSync(migrationsFolder, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".sql"))
    .sort()
    .map((file) => ({ file, sql: readFileSync(path.join(migrationsFolder, file), "utf8") }));
}

/** `raise … using errcode = 'XXXXX'` */
function raisedCodes(): Map<string, string> {
  const found = new Map<string, string>();
  for (const { file, sql } of migrationSources()) {
    for (const match of sql.matchAll(/\berrcode\s*=\s*'([0-9A-Za-z]{5})'/gi)) found.set(match[1]!, file);
  }
  return found;
}

/**
 * Codes the sign-in functions return instead of raising: an `auth.token_grant`
 * row literal whose six session fields are null and whose error_code is set,
 * e.g. `row(null, null, null, null, null, null, 'CREDS', '…')::auth.token_grant`.
 */
function returnedCodes(): Map<string, string> {
  const found = new Map<string, string>();
  for (const { file, sql } of migrationSources()) {
    for (const match of sql.matchAll(/\brow\s*\(\s*(?:null\s*,\s*){6}'([0-9A-Za-z]{5})'/gi)) found.set(match[1]!, file);
  }
  return found;
}

const unregistered = (codes: Map<string, string>) =>
  [...codes].filter(([code]) => !Object.hasOwn(sqlErrorCodes, code)).map(([code, file]) => `${code} (${file})`);

describe("docs/errors.md", () => {
  it("lists every registered error code in a table row", () => {
    const documented = new Set(documentedCodes());
    expect(Object.keys(errorCodes).filter((code) => !documented.has(code))).toEqual([]);
  });

  it("lists no code that the registry lacks", () => {
    expect(documentedCodes().filter((code) => !Object.hasOwn(errorCodes, code))).toEqual([]);
  });
});

describe("the migrations", () => {
  it("raise and return codes this test can find (so the checks below are not vacuous)", () => {
    expect([...raisedCodes().keys()]).toEqual(expect.arrayContaining(["LOGIN", "DNIED", "BADIN", "AUDRO", "LUNBL"]));
    expect([...returnedCodes().keys()]).toEqual(expect.arrayContaining(["CREDS", "LOCKD", "RTINV", "RTRSE"]));
  });

  it("raise only codes registered as SQL error codes", () => {
    expect(unregistered(raisedCodes())).toEqual([]);
  });

  it("return in auth.token_grant only codes registered as SQL error codes", () => {
    expect(unregistered(returnedCodes())).toEqual([]);
  });
});
