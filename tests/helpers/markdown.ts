/**
 * Just enough Markdown reading for the tests that keep the docs and the code
 * in step (tests/project/doc-links.test.ts, tests/project/modules.test.ts):
 * the files, their headings as GitHub anchors, their tables, their links and
 * their inline code. No Markdown library: the docs use a small, regular subset.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { projectRoot } from "../../src/paths.ts";

/** README.md and every .md under docs/ (not the example app's installed packages), as paths relative to the project root. */
export function markdownFiles(): string[] {
  const docs = readdirSync(path.join(projectRoot, "docs"), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".md") && !file.split(path.sep).includes("node_modules"))
    .map((file) => path.join("docs", file));
  return ["README.md", ...docs.sort()];
}

export function readMarkdown(file: string): string {
  return readFileSync(path.join(projectRoot, file), "utf8");
}

/** The text with fenced code blocks blanked out (their lines kept, so line numbers hold): examples are not links or claims. */
export function withoutFencedCode(markdown: string): string {
  let fence: string | undefined;
  return markdown
    .split("\n")
    .map((line) => {
      const opener = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
      if (fence === undefined && opener) {
        fence = opener;
        return "";
      }
      if (fence !== undefined) {
        if (line.trim().startsWith(fence)) fence = undefined;
        return "";
      }
      return line;
    })
    .join("\n");
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped (but `-` and `_`), spaces to hyphens. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link shows its text
    .replace(/`/g, "");
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
    .replace(/ /g, "-");
}

/** The `##`… headings of a file, in order (ATX headings outside code). */
export function headings(markdown: string): Array<{ level: number; text: string }> {
  return withoutFencedCode(markdown)
    .split("\n")
    .flatMap((line) => {
      const match = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
      return match ? [{ level: match[1]!.length, text: match[2]! }] : [];
    });
}

/** Every anchor a file offers: its headings' slugs, numbered -1, -2 … when repeated, as GitHub does. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const { text } of headings(markdown)) {
    const slug = githubSlug(text);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  for (const match of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) result.add(match[1]!);
  return result;
}

/** Inline code spans outside fenced blocks: `like this`. */
export function inlineCode(markdown: string): string[] {
  return [...withoutFencedCode(markdown).matchAll(/(?<!`)`([^`\n]+)`(?!`)/g)].map((match) => match[1]!);
}

/** Targets of inline links and images, `[text](target)`, outside code. */
export function linkTargets(markdown: string): string[] {
  const prose = withoutFencedCode(markdown).replace(/`[^`\n]*`/g, "");
  const inline = [...prose.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1]!);
  const definitions = [...prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((match) => match[1]!);
  return [...inline, ...definitions];
}

/** A pipe table: its header cells and its rows' cells, as written (Markdown inside kept). */
export interface Table {
  header: string[];
  rows: string[][];
}

function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, "")
    .replace(/\|$/, "")
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
}

export function tables(markdown: string): Table[] {
  const lines = withoutFencedCode(markdown).split("\n");
  const found: Table[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i]!.trim().startsWith("|") || !/^\s*\|?\s*:?-{3,}/.test(lines[i + 1]!)) continue;
    const table: Table = { header: cells(lines[i]!), rows: [] };
    let j = i + 2;
    for (; j < lines.length && lines[j]!.trim().startsWith("|"); j++) table.rows.push(cells(lines[j]!));
    found.push(table);
    i = j - 1;
  }
  return found;
}

/** A cell's plain text: links shown as their text, no code or emphasis markers. */
export function plainText(cell: string): string {
  return cell
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[`*]/g, "")
    .trim();
}
