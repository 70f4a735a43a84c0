import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Kind, parse } from "postgraphile/graphql";

/**
 * Persisted operations (trusted documents): a manifest maps the sha256 (hex)
 * of each document's exact text to the text. Clients send the hash as
 * `documentId` (Relay, GraphQL over HTTP), `id`, or Apollo's
 * `extensions.persistedQuery.sha256Hash`.
 */
export type Manifest = Record<string, string>;

export const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** Builds a manifest from every `.graphql` file under a folder (each file one document, parsed to catch typos early). */
export function buildManifest(folder: string): Manifest {
  const files = readdirSync(folder, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".graphql"))
    .sort();
  const manifest: Manifest = {};
  for (const file of files) {
    const text = readFileSync(path.join(folder, file), "utf8");
    try {
      parse(text);
    } catch (error) {
      throw new Error(`${file}: ${error instanceof Error ? error.message : String(error)}`);
    }
    manifest[sha256(text)] = text;
  }
  return manifest;
}

export function loadManifest(file: string): Manifest {
  const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error(`${file}: a persisted-operations manifest is a JSON object of hash → document.`);
  const manifest: Manifest = {};
  for (const [hash, text] of Object.entries(parsed)) {
    if (!/^[0-9a-f]{64}$/.test(hash) || typeof text !== "string") throw new Error(`${file}: entry "${hash.slice(0, 80)}" is not a sha256 hex → document string.`);
    if (sha256(text) !== hash) throw new Error(`${file}: entry ${hash} does not match the sha256 of its document.`);
    manifest[hash] = text;
  }
  return manifest;
}

/** The names of the operations in a manifest's documents (the only names /metrics labels when there is one). */
export function operationNamesOf(manifest: Manifest): Set<string> {
  const names = new Set<string>();
  for (const text of Object.values(manifest)) {
    for (const definition of parse(text, { noLocation: true }).definitions) {
      if (definition.kind === Kind.OPERATION_DEFINITION && definition.name) names.add(definition.name.value);
    }
  }
  return names;
}

/** The hash a request names, if any ("sha256:" prefix allowed). */
export function hashFromBody(body: { id?: unknown; documentId?: unknown; extensions?: unknown }): string | undefined {
  const extensions = body.extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined;
  const raw = body.documentId ?? body.id ?? extensions?.persistedQuery?.sha256Hash;
  if (typeof raw !== "string") return undefined;
  return raw.startsWith("sha256:") ? raw.slice(7) : raw;
}

export type Resolution = { ok: true; query: string | undefined } | { ok: false; code: "PERSISTED_OPERATION_NOT_FOUND" | "PERSISTED_OPERATION_REQUIRED"; message: string };

/**
 * What document a request runs: the manifest's for a hash, its own query when
 * the mode allows it (or when, in `only` mode, its exact text is in the manifest).
 */
export function resolveDocument(
  mode: "off" | "allow" | "only",
  manifest: Manifest,
  body: { query?: unknown; id?: unknown; documentId?: unknown; extensions?: unknown },
): Resolution {
  if (mode === "off") return { ok: true, query: typeof body.query === "string" ? body.query : undefined };
  const hash = hashFromBody(body);
  if (hash !== undefined) {
    const text = Object.hasOwn(manifest, hash) ? manifest[hash] : undefined;
    if (text === undefined) return { ok: false, code: "PERSISTED_OPERATION_NOT_FOUND", message: "No persisted operation has that id." };
    return { ok: true, query: text };
  }
  if (typeof body.query !== "string") return { ok: true, query: undefined };
  if (mode === "allow" || Object.hasOwn(manifest, sha256(body.query))) return { ok: true, query: body.query };
  return {
    ok: false,
    code: "PERSISTED_OPERATION_REQUIRED",
    message: "This server runs only persisted operations: send the document's id (documentId), not its text.",
  };
}
