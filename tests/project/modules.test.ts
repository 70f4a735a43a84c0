/**
 * The module index (docs/modules/README.md) and the module pages against the
 * code that defines the modules: src/modules.ts (schemas, split blocks, error
 * prefixes, tasks, topics), the worker's task list and crontab, the test
 * folders and the migrations. Whatever one side changes, the other must too.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { modules, moduleOfSplit, type ModuleInfo } from "../../src/modules.ts";
import { migrationsFolder, projectRoot } from "../../src/paths.ts";
import { crontab } from "../../src/worker/crontab.ts";
import { defaultTaskOptions } from "../../src/config.ts";
import { makeTaskList } from "../../src/worker/tasks/index.ts";
import { headings, plainText, readMarkdown, tables } from "../helpers/markdown.ts";

const indexFile = path.join("docs", "modules", "README.md");

/** The nine `##` headings of every module page, in this order (CONVENTIONS.md, "The shape of a module"). */
const pageHeadings = [
  "Purpose",
  "Tables",
  "Who sees and does what",
  "Functions",
  "Topics",
  "Jobs and cron",
  "Error codes",
  "Where its SQL is",
  "Tests",
];

const all: readonly ModuleInfo[] = modules;
/** Built modules that own schemas have a page, a generated reference and a test folder; setup owns none. */
const documented = all.filter((module) => module.status === "built" && module.schemas.length > 0);

const code = (text: string) => `\`${text}\``;
const block = ({ splits: [first, last] }: ModuleInfo) => `${String(first).padStart(4, "0")}–${String(last).padStart(4, "0")}`;

/** Every crontab line as schedule and task (`* * * * * audit_seal ?max=1`). */
function cronEntries(): Array<{ schedule: string; task: string }> {
  return crontab
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const fields = line.split(/\s+/);
      return { schedule: fields.slice(0, 5).join(" "), task: fields[5] ?? "" };
    });
}

/** The rows of the index's tables whose first column is "module", joined per module name. */
function indexRows(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const table of tables(readMarkdown(indexFile))) {
    if (plainText(table.header[0] ?? "").toLowerCase() !== "module") continue;
    for (const row of table.rows) {
      const name = plainText(row[0] ?? "");
      rows.set(name, `${rows.get(name) ?? ""} | ${row.join(" | ")}`);
    }
  }
  return rows;
}

/** What a module's rows in the index lack. */
function missingFromIndex(module: ModuleInfo, row: string): string[] {
  const wanted = [
    ...module.schemas.map(code),
    ...module.privateSchemas.map(code),
    code(block(module)),
    ...(module.errorPrefix ? [code(module.errorPrefix)] : []),
    ...module.tasks.map(code),
    ...cronEntries()
      .filter((entry) => module.tasks.includes(entry.task))
      .map((entry) => code(entry.schedule)),
    ...module.topics.publishes.map(code),
    ...module.topics.consumes.map(code),
  ];
  if (documented.includes(module)) {
    wanted.push(`(${module.name}.md)`, `(../reference/${module.name}.md)`, `tests/modules/${module.name}/`);
  }
  return wanted.filter((text) => !row.includes(text)).map((text) => `${module.name}: ${text}`);
}

/** migrations/current/ file names that break the numbering rule: `NNNN-topic.sql`, NNNN inside some module's block. */
function misnumbered(names: readonly string[]): string[] {
  return names
    .filter((name) => name.endsWith(".sql"))
    .filter((name) => {
      const match = /^(\d{4})-[a-z0-9][a-z0-9_.-]*\.sql$/.exec(name);
      return !match || moduleOfSplit(Number(match[1])) === undefined;
    });
}

describe("the module index (docs/modules/README.md)", () => {
  const rows = indexRows();

  it("has a row for every module of src/modules.ts and none for a module it lacks", () => {
    expect([...rows.keys()].filter((name) => !all.some((module) => module.name === name))).toEqual([]);
    expect(all.filter((module) => !rows.has(module.name)).map((module) => module.name)).toEqual([]);
  });

  it("names each module's schemas, split block, error prefix, tasks with their cron schedules, and topics", () => {
    expect(all.flatMap((module) => missingFromIndex(module, rows.get(module.name) ?? ""))).toEqual([]);
  });

  it("lists every committed migration with each of its split files", () => {
    const index = readMarkdown(indexFile);
    const committed = path.join(migrationsFolder, "committed");
    const missing = readdirSync(committed)
      .filter((file) => file.endsWith(".sql"))
      .flatMap((file) => {
        const number = file.slice(0, 6);
        const row = index.split("\n").find((line) => line.startsWith("|") && line.includes(number));
        if (!row) return [`${number}: no row`];
        const splits = [...readFileSync(path.join(committed, file), "utf8").matchAll(/^--! split: (\S+)/gm)].map((m) => m[1]!);
        return splits.filter((split) => !row.includes(split)).map((split) => `${number}: ${split}`);
      });
    expect(missing).toEqual([]);
  });
});

describe("the module pages", () => {
  it.each(documented.map((module) => [module.name, module] as const))("%s has its page, title, nine headings and reference link", (_name, module) => {
    const file = path.join("docs", "modules", `${module.name}.md`);
    expect(existsSync(path.join(projectRoot, file)), `${file} is missing`).toBe(true);
    const page = readMarkdown(file);
    expect(page.split("\n")[0]).toBe(`# ${module.title} (${module.schemas.map(code).join(", ")})`);
    expect(headings(page).filter((heading) => heading.level === 2).map((heading) => heading.text)).toEqual(pageHeadings);
    expect(page).toContain(`](../reference/${module.name}.md)`);
  });

  it.each(documented.map((module) => [module.name, module] as const))("%s has its test folder, and its page names each test file and each task", (_name, module) => {
    const folder = path.join(projectRoot, "tests", "modules", module.name);
    expect(existsSync(folder), `tests/modules/${module.name}/ is missing`).toBe(true);
    const testFiles = readdirSync(folder).filter((file) => file.endsWith(".test.ts"));
    expect(testFiles.length).toBeGreaterThan(0);
    const page = readMarkdown(path.join("docs", "modules", `${module.name}.md`));
    expect(testFiles.filter((file) => !page.includes(file))).toEqual([]);
    expect(module.tasks.filter((task) => !page.includes(code(task)))).toEqual([]);
  });

  it.each(documented.map((module) => [module.name, module] as const))("%s links, under Where its SQL is, every committed migration the index says touched it", (_name, module) => {
    const index = readMarkdown(indexFile);
    const touching = index
      .split("\n")
      .filter((line) => /^\| \[\d{6}\]/.test(line))
      .filter((line) => (line.split("|").at(-2) ?? "").split(",").map((name) => name.trim()).includes(module.name))
      .map((line) => line.match(/\[(\d{6})\]\(([^)]+)\)/)!);
    // A module whose SQL is all still in migrations/current/ (not committed yet) has none to link; on main, current/ is empty.
    const current = path.join(migrationsFolder, "current");
    const uncommitted = (existsSync(current) ? readdirSync(current) : []).some((file) => {
      const split = /^(\d{4})-/.exec(file);
      return split !== null && moduleOfSplit(Number(split[1]))?.name === module.name;
    });
    if (!uncommitted) expect(touching.length).toBeGreaterThan(0);
    const page = readMarkdown(path.join("docs", "modules", `${module.name}.md`));
    const section = page.slice(page.indexOf("## Where its SQL is"), page.indexOf("## Tests"));
    expect(touching.filter(([, , target]) => !section.includes(`](${target})`)).map(([, number]) => number)).toEqual([]);
  });
});

describe("worker tasks and cron", () => {
  // The worker's whole task list; the clean-up stub stands in for the WorkerUtils startWorker makes.
  const workerTasks = () => makeTaskList(defaultTaskOptions, { workerUtils: { cleanup: async () => undefined } });
  it("gives every task of the worker's task list exactly one owning module", () => {
    const owners = (task: string) => all.filter((module) => module.tasks.includes(task)).map((module) => module.name);
    const wrong = Object.keys(workerTasks())
      .map((task) => ({ task, owners: owners(task) }))
      .filter(({ owners }) => owners.length !== 1);
    expect(wrong).toEqual([]);
  });

  it("names in modules only tasks the worker runs", () => {
    const taskList = workerTasks();
    expect(all.flatMap((module) => module.tasks.filter((task) => !Object.hasOwn(taskList, task)))).toEqual([]);
  });

  it("runs from the crontab only tasks a module owns", () => {
    const entries = cronEntries();
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.filter(({ task }) => !all.some((module) => module.tasks.includes(task)))).toEqual([]);
  });
});

describe("migrations/current/", () => {
  it("flags a split number outside every block, and a name without one (so the check below is not vacuous)", () => {
    expect(misnumbered(["1100-users.sql", "2250-nobody.sql", "topic.sql", "notes.md"])).toEqual(["2250-nobody.sql", "topic.sql"]);
  });

  it("numbers every file inside its module's block", () => {
    const current = path.join(migrationsFolder, "current");
    expect(misnumbered(existsSync(current) ? readdirSync(current) : [])).toEqual([]);
  });
});
