import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../src/paths.ts";

// The boundaries of the code, read from its relative imports:
// * plugins/ (PostGraphile plugins) build on src/; src/ reaches plugins/ only
//   through the composition root that assembles the preset;
// * the server and the worker never import each other: what both use lives
//   beside them in src/ (config, errors, signature, db, modules);
// * no file imports itself back through others.

const compositionRoot = "src/server/preset.ts";

function sourceFiles(folder: string): string[] {
  return readdirSync(path.join(projectRoot, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => path.relative(projectRoot, path.join(entry.parentPath, entry.name)));
}

/** file → the project files it imports (static and dynamic imports, type imports included). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of [...sourceFiles("src"), ...sourceFiles("plugins")]) {
    const text = readFileSync(path.join(projectRoot, file), "utf8");
    const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map((match) =>
      path.relative(projectRoot, path.resolve(path.dirname(path.join(projectRoot, file)), match[1]!)),
    );
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "visiting") {
      found.push([...stack.slice(stack.indexOf(file)), file]);
      return;
    }
    state.set(file, "visiting");
    stack.push(file);
    for (const target of graph.get(file) ?? []) visit(target);
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) visit(file);
  return found;
}

describe("code boundaries", () => {
  const graph = importGraph();
  const edges = [...graph].flatMap(([from, targets]) => targets.map((to) => ({ from, to })));

  it("reads a real graph (every import resolves to a file of the project)", () => {
    expect(graph.size).toBeGreaterThan(40);
    const unresolved = edges.filter(({ to }) => !graph.has(to));
    expect(unresolved).toEqual([]);
  });

  it("has no import cycles", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("reaches plugins/ from src/ only through the composition root", () => {
    const fromSrc = edges.filter(({ from, to }) => from.startsWith("src/") && to.startsWith("plugins/"));
    expect(fromSrc.length).toBeGreaterThan(0);
    expect(fromSrc.filter(({ from }) => from !== compositionRoot)).toEqual([]);
  });

  it("keeps the server and the worker apart", () => {
    const crossing = edges.filter(
      ({ from, to }) =>
        (from.startsWith("src/server/") && to.startsWith("src/worker/")) || (from.startsWith("src/worker/") && to.startsWith("src/server/")),
    );
    expect(crossing).toEqual([]);
  });

  it("keeps the configuration module free of the parts it configures", () => {
    expect(graph.get("src/config.ts")).toEqual(["src/paths.ts"]);
  });
});
