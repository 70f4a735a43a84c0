import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { commandHelp } from "../../src/help.ts";
import { projectRoot } from "../../src/paths.ts";

const run = promisify(execFile);

/** The CLI as `npx groundwork` runs it, with no database: help must not need one. */
async function groundwork(...args: string[]) {
  return run(process.execPath, [path.join(projectRoot, "src", "bin.mjs"), ...args], {
    cwd: projectRoot,
    timeout: 30_000,
    env: { ...process.env, DATABASE_URL: "postgres://nobody@127.0.0.1:1/none", LOG_LEVEL: "silent" },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

/** Commands named in the usage text (its two-space-indented lines). */
function usageCommands(usage: string): string[] {
  return [...usage.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((match) => match[1]!);
}

describe("groundwork help", () => {
  it("prints the usage with `help`, and with no command at all", async () => {
    const [usage, bare] = await Promise.all([groundwork("help"), groundwork()]);
    expect(usage).toMatchObject({ code: 0, stderr: "" });
    expect(usage.stdout).toMatch(/^groundwork <command>/);
    expect(bare.stdout).toBe(usage.stdout);
    // …and has a text for every command it lists.
    const commands = usageCommands(usage.stdout);
    expect(commands).toEqual(expect.arrayContaining(["start", "serve", "worker", "migrate", "token", "help"]));
    expect(commands.filter((command) => command !== "help").sort()).toEqual(Object.keys(commandHelp).sort());
  });

  it("prints a command's own text with `help <command>`, `<command> --help` and `-h`, starting nothing", async () => {
    // Each run loads the whole CLI: a few commands stand for all (the texts are one table, src/help.ts).
    const runs = [["help", "start"], ["help", "db-url"], ["start", "--help"], ["token", "-h"]];
    const answers = await Promise.all(runs.map((args) => groundwork(...args)));
    runs.forEach((args, i) => {
      const command = args[0] === "help" ? args[1]! : args[0]!;
      expect({ args, ...answers[i] }).toEqual({ args, code: 0, stdout: `${commandHelp[command]}\n\n`, stderr: "" });
      expect(answers[i]!.stdout.startsWith(`groundwork ${command}`)).toBe(true);
    });
  });

  it("names an unknown command and exits 2", async () => {
    for (const answer of await Promise.all([groundwork("help", "nonsense"), groundwork("nonsense")])) {
      expect(answer.code).toBe(2);
      expect(answer.stderr).toContain('Unknown command "nonsense"');
      expect(answer.stderr).toContain("groundwork <command>");
    }
  });
});
