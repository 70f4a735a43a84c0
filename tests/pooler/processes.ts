import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { projectRoot } from "../../src/paths.ts";

export interface GroundworkProcess {
  child: ChildProcess;
  /** Everything it logged so far (JSON lines). */
  log(): string;
  /** Resolves once a log line matches (rejects when the process exits first, or after timeoutMs). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM and wait; SIGKILL if it does not exit in time. */
  stop(): Promise<number | null>;
}

/** `groundwork <command>` as a process of its own, as a deployment runs it. */
export function groundwork(command: string, env: Record<string, string>): GroundworkProcess {
  const child = spawn(process.execPath, [path.join(projectRoot, "src", "bin.mjs"), command], {
    cwd: projectRoot,
    env: { ...process.env, LOG_FORMAT: "json", LOG_LEVEL: "info", NODE_ENV: "development", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  return {
    child,
    log: () => log,
    async waitFor(pattern, timeoutMs = 120_000) {
      const started = Date.now();
      while (!pattern.test(log)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`groundwork ${command} exited (${child.exitCode ?? child.signalCode}) before ${pattern}:\n${log.slice(-4000)}`);
        if (Date.now() - started > timeoutMs) throw new Error(`groundwork ${command}: no ${pattern} within ${timeoutMs} ms:\n${log.slice(-4000)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const [code] = await once(child, "exit");
      clearTimeout(timer);
      return code as number | null;
    },
  };
}
