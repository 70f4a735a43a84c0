import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { projectRoot } from "../../src/paths.ts";
import { sha256 } from "../../src/server/persisted.ts";
import { registerUser, testLimits, useTestApi } from "../helpers/api.ts";

const documents = path.join(projectRoot, "tests", "server", "fixtures", "persisted");
const manifestFile = path.join(mkdtempSync(path.join(tmpdir(), "gw-persisted-")), "manifest.json");
// The npm script (`npm run persisted -- <folder> --out <file>`), run before the servers start.
execFileSync(process.execPath, [path.join(projectRoot, "src", "cli.ts"), "persisted", documents, "--out", manifestFile], { stdio: "pipe" });

const currentUserText = readFileSync(path.join(documents, "current-user.graphql"), "utf8");
const currentUserId = sha256(currentUserText);

const only = useTestApi({}, { limits: testLimits({ persistedOperations: "only", persistedOperationsFile: manifestFile, graphiql: false }) });
const allow = useTestApi({}, { limits: testLimits({ persistedOperations: "allow", persistedOperationsFile: manifestFile }) });

async function send(api: { url: string }, body: Record<string, unknown>, token?: string) {
  const response = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: Array<{ extensions?: { code?: string } }> } };
}

describe("the manifest script", () => {
  it("hashes every .graphql document of the folder (sha256 of its exact text)", () => {
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
    expect(Object.keys(manifest)).toHaveLength(2);
    expect(manifest[currentUserId]).toBe(currentUserText);
  });
});

describe("PERSISTED_OPERATIONS=only", () => {
  it("runs a document named by its id (documentId, sha256: prefix, or Apollo's persistedQuery extension)", async () => {
    const user = await registerUser(allow, "persisted");
    for (const body of [
      { documentId: currentUserId },
      { documentId: `sha256:${currentUserId}` },
      { extensions: { persistedQuery: { version: 1, sha256Hash: currentUserId } } },
    ]) {
      const response = await send(only, body, user.accessToken);
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data.currentUser.userId).toBe(user.userId);
    }
  });

  it("rejects an unknown document id with PERSISTED_OPERATION_NOT_FOUND", async () => {
    const response = await send(only, { documentId: sha256("{ __typename }") });
    expect(response.status).toBe(400);
    expect(response.body.errors?.map((e) => e.extensions?.code)).toEqual(["PERSISTED_OPERATION_NOT_FOUND"]);
  });

  it("rejects a document sent as text unless its exact text is in the manifest (PERSISTED_OPERATION_REQUIRED)", async () => {
    const response = await send(only, { query: "{ currentUser { userId email } }" });
    expect(response.status).toBe(400);
    expect(response.body.errors?.map((e) => e.extensions?.code)).toEqual(["PERSISTED_OPERATION_REQUIRED"]);
    const trusted = await send(only, { query: currentUserText });
    expect(trusted.body.errors).toBeUndefined();
  });

  it("needs a manifest file to start", () => {
    expect(() => loadConfig({ PERSISTED_OPERATIONS: "only" })).toThrow(ConfigError);
  });
});

describe("PERSISTED_OPERATIONS=allow", () => {
  it("runs ids and any document text", async () => {
    expect((await send(allow, { documentId: currentUserId })).body.errors).toBeUndefined();
    expect((await send(allow, { query: "{ __typename }" })).body.data).toEqual({ __typename: "Query" });
    expect((await send(allow, { documentId: "f".repeat(64) })).body.errors?.[0]?.extensions?.code).toBe("PERSISTED_OPERATION_NOT_FOUND");
  });
});
