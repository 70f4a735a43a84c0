/**
 * The docs name files, folders and headings; this keeps every such name true.
 * In README.md and docs/**\/*.md, outside fenced code blocks (examples):
 *
 * 1. A relative link, `[text](path)` or `[text](path#anchor)`, must reach a file
 *    or folder of the repository, resolved from the linking file (a leading `/`
 *    means the repository root, as on GitHub). Links with a scheme (https:,
 *    mailto:) are not checked.
 * 2. An anchor, in a link to a Markdown file or in a bare `(#anchor)`, must be
 *    a heading of that file, slugged as GitHub does.
 * 3. Inline code that reads as a repository path — it starts with `src/`,
 *    `plugins/`, `tests/`, `docs/`, `migrations/` or `.ci/`, or it is one of the
 *    top-level files the layout names — must exist. A span holding a
 *    placeholder or a glob (`<module>`, `NNNN`, `*`, `{a,b}`, `…`) stands for
 *    many files and is skipped; a `:line` suffix is ignored.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../src/paths.ts";
import { anchors, inlineCode, linkTargets, markdownFiles, readMarkdown } from "../helpers/markdown.ts";

const pathPrefixes = ["src/", "plugins/", "tests/", "docs/", "migrations/", ".ci/"];
/** The top-level files of DESIGN.md's layout. */
const topLevelFiles = new Set(["package.json", "package-lock.json", "tsconfig.json", ".gmrc", "README.md", ".gitignore"]);
const placeholder = /[<>*{}…]|NNNN|\.\.\./;

/** Inside the repository and present (file or folder). */
function existsInRepository(absolute: string): boolean {
  const relative = path.relative(projectRoot, absolute);
  return !relative.startsWith("..") && !path.isAbsolute(relative) && existsSync(absolute);
}

const anchorCache = new Map<string, Set<string>>();
function anchorsOf(file: string): Set<string> {
  let found = anchorCache.get(file);
  if (!found) anchorCache.set(file, (found = anchors(readMarkdown(file))));
  return found;
}

function brokenLinks(file: string): string[] {
  const problems: string[] = [];
  for (const target of linkTargets(readMarkdown(file))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [rawPath = "", rawAnchor] = target.split("#", 2);
    const linkPath = decodeURIComponent(rawPath);
    const absolute = linkPath === "" ? path.join(projectRoot, file)
      : linkPath.startsWith("/") ? path.join(projectRoot, linkPath)
      : path.resolve(projectRoot, path.dirname(file), linkPath);
    if (!existsInRepository(absolute)) {
      problems.push(`${file}: link to ${target}: no such file or folder`);
      continue;
    }
    if (rawAnchor && absolute.endsWith(".md")) {
      const targetFile = path.relative(projectRoot, absolute);
      if (!anchorsOf(targetFile).has(decodeURIComponent(rawAnchor).toLowerCase())) {
        problems.push(`${file}: link to ${target}: ${targetFile} has no heading #${rawAnchor}`);
      }
    }
  }
  return problems;
}

function missingPaths(file: string): string[] {
  const problems: string[] = [];
  for (const span of inlineCode(readMarkdown(file))) {
    const name = span.trim().replace(/:\d+(-\d+)?$/, "");
    const isPath = pathPrefixes.some((prefix) => name.startsWith(prefix)) || topLevelFiles.has(name);
    if (!isPath || /\s/.test(name) || placeholder.test(name)) continue;
    if (!existsInRepository(path.join(projectRoot, name))) problems.push(`${file}: \`${span}\`: no such file or folder`);
  }
  return problems;
}

describe("the docs", () => {
  const files = markdownFiles();

  it("are found, with links and paths to check (so the checks below are not vacuous)", () => {
    expect(files).toContain("README.md");
    expect(files).toContain(path.join("docs", "modules", "README.md"));
    expect(files.flatMap((file) => linkTargets(readMarkdown(file))).length).toBeGreaterThan(50);
  });

  it("link only to files, folders and headings that exist", () => {
    expect(files.flatMap(brokenLinks)).toEqual([]);
  });

  it("name in inline code only repository paths that exist", () => {
    expect(files.flatMap(missingPaths)).toEqual([]);
  });
});
