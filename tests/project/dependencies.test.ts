import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../src/paths.ts";

const pkg = JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Packages imported (statically or dynamically) by the files under `folder`. */
function importedBy(folder: string): Set<string> {
  const found = new Set<string>();
  for (const entry of readdirSync(path.join(projectRoot, folder), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.(ts|mjs|cjs)$/.test(entry.name)) continue;
    const text = readFileSync(path.join(entry.parentPath, entry.name), "utf8");
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*[`"']((?:@[^/"'`]+\/)?[^./"'`][^/"'`]*)/g)) found.add(match[1]!);
  }
  return found;
}

describe("package.json", () => {
  it("lists as runtime dependencies only what the server, the worker or the CLI import (benchmark and test tools are devDependencies)", () => {
    const runtime = new Set([...importedBy("src"), ...importedBy("plugins")]);
    expect(Object.keys(pkg.dependencies).filter((name) => !runtime.has(name))).toEqual([]);
    expect(pkg.devDependencies).toHaveProperty("autocannon");
  });

  it("pins every version exactly", () => {
    const ranges = Object.entries({ ...pkg.dependencies, ...pkg.devDependencies }).filter(([, version]) => !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(version));
    expect(ranges).toEqual([]);
  });
});
