import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../../src/db/embedded.ts";

export const pgbouncerBinary = process.env.PGBOUNCER ?? "/usr/sbin/pgbouncer";

export interface Pgbouncer {
  port: number;
  /** `url` with its host and port replaced by the pooler's. */
  through(url: string): string;
  stop(): Promise<void>;
}

/**
 * PgBouncer in transaction pooling mode in front of the server of `serverUrl`,
 * for every database, with its own configuration in a temporary directory (never
 * the system service). `users`: name → password, for its auth file.
 */
export async function startPgbouncer(serverUrl: string, users: Record<string, string>): Promise<Pgbouncer> {
  if (!existsSync(pgbouncerBinary)) throw new Error(`${pgbouncerBinary} is missing: apt-get install -y pgbouncer (.ci/run does).`);
  const server = new URL(serverUrl);
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), "gw-pgbouncer-"));
  const quote = (value: string) => `"${value.replaceAll('"', '""')}"`;
  writeFileSync(path.join(dir, "users.txt"), Object.entries(users).map(([name, password]) => `${quote(name)} ${quote(password)}`).join("\n") + "\n");
  writeFileSync(
    path.join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      `* = host=${server.hostname} port=${server.port || 5432}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = scram-sha-256",
      `auth_file = ${path.join(dir, "users.txt")}`,
      "pool_mode = transaction",
      "max_client_conn = 500",
      "default_pool_size = 12",
      "ignore_startup_parameters = extra_float_digits,options",
      "",
    ].join("\n"),
  );
  // PgBouncer refuses to run as root: as root, it switches to postgres (-u), who must read the files.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    chmodSync(dir, 0o755);
    for (const file of ["users.txt", "pgbouncer.ini"]) chmodSync(path.join(dir, file), 0o644);
  }
  const child: ChildProcess = spawn(pgbouncerBinary, [...(asRoot ? ["-u", "postgres"] : []), path.join(dir, "pgbouncer.ini")], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  for (let i = 0; i < 100 && !/listening on/.test(log); i++) {
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!/listening on/.test(log)) {
    child.kill("SIGKILL");
    throw new Error(`PgBouncer did not start:\n${log}`);
  }
  return {
    port,
    through(url) {
      const parsed = new URL(url);
      parsed.hostname = "127.0.0.1";
      parsed.port = String(port);
      return parsed.toString();
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGINT");
        await once(child, "exit");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
