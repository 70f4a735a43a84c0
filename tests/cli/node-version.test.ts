import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../src/paths.ts";

const checker = path.join(projectRoot, "src", "node-version.cjs");
const bin = path.join(projectRoot, "src", "bin.mjs");

function run(node: string, args: string[]) {
  const result = spawnSync(node, args, { cwd: projectRoot, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A Node older than 22.18 on this machine (the system's own, often), if there is one. */
function olderNode(): string | undefined {
  for (const candidate of ["/usr/bin/node", "/usr/local/bin/node"]) {
    if (!existsSync(candidate)) continue;
    const version = execFileSync(candidate, ["-p", "process.versions.node"], { encoding: "utf8" }).trim();
    const [major = 0, minor = 0] = version.split(".").map(Number);
    if (major < 22 || (major === 22 && minor < 18)) return candidate;
  }
  return undefined;
}

describe("the Node version check (src/node-version.cjs)", () => {
  it("refuses a Node older than 22.18, saying which is needed and which it found", () => {
    for (const version of ["20.11.1", "18.20.4", "22.17.1", "v22.6.0"]) {
      const { code, stderr } = run(process.execPath, [checker, version]);
      expect(code).toBe(1);
      expect(stderr).toContain("Groundwork needs Node.js 22.18.0 or later");
      expect(stderr).toContain(`this is Node.js ${version}`);
    }
  });

  it("accepts 22.18 and later, and the Node running these tests", () => {
    for (const version of ["22.18.0", "22.23.3", "24.1.0", "25.0.0"]) expect(run(process.execPath, [checker, version])).toMatchObject({ code: 0, stderr: "" });
    expect(run(process.execPath, [checker])).toMatchObject({ code: 0, stderr: "" });
  });

  it("stops the CLI before any TypeScript is loaded when Node cannot run it (type stripping off)", () => {
    const { code, stdout, stderr } = run(process.execPath, ["--no-experimental-strip-types", bin, "help"]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toContain("type stripping off");
    expect(stderr).not.toContain("ERR_UNKNOWN_FILE_EXTENSION]");
  });

  const old = olderNode();
  it.runIf(old)("says so plainly on an older Node of this machine, at install (preinstall) and at start (src/bin.mjs)", () => {
    for (const args of [[checker], [bin, "start"]]) {
      const { code, stderr } = run(old!, args);
      expect(code).toBe(1);
      expect(stderr).toMatch(/^Groundwork needs Node\.js 22\.18\.0 or later; this is Node\.js \d+\.\d+\.\d+\./);
      expect(stderr).not.toContain("TypeError");
    }
  });

  it("runs at npm install and in front of every command: preinstall, the bin entry and the scripts", () => {
    const pkg = JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")) as { scripts: Record<string, string>; bin: Record<string, string>; engines: { node: string } };
    expect(pkg.scripts.preinstall).toBe("node src/node-version.cjs");
    expect(pkg.bin.groundwork).toBe("src/bin.mjs");
    expect(pkg.engines.node).toBe(">=22.18.0");
    const cliScripts = Object.entries(pkg.scripts).filter(([, script]) => script.includes("src/cli.ts") || script.includes("src/bin.mjs"));
    expect(cliScripts.map(([name]) => name).sort()).toEqual(["groundwork", "migrate", "persisted", "reference", "schema:check", "serve", "start", "worker"]);
    for (const [, script] of cliScripts) expect(script).toMatch(/^(exec )?node src\/bin\.mjs\b/);
  });
});
