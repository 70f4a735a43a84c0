import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

/** Secrets generated once per checkout for development, kept in the state directory. */
export interface LocalSecrets {
  postgresPassword: string;
  ownerPassword: string;
  authenticatorPassword: string;
  jwtSecret: string;
}

const secret = () => randomBytes(32).toString("base64url");

/**
 * The state directory holds the embedded cluster, so it must be traversable by
 * the `postgres` system user (0755); the secrets file inside it is 0600.
 */
export async function ensureStateDir(stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o755 });
  await chmod(stateDir, 0o755);
}

export async function loadLocalSecrets(stateDir: string): Promise<LocalSecrets> {
  const file = path.join(stateDir, "secrets.json");
  try {
    return JSON.parse(await readFile(file, "utf8")) as LocalSecrets;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await ensureStateDir(stateDir);
  const secrets: LocalSecrets = {
    postgresPassword: secret(),
    ownerPassword: secret(),
    authenticatorPassword: secret(),
    jwtSecret: secret(),
  };
  // "wx": two processes starting at once must not both write different secrets.
  try {
    await writeFile(file, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600, flag: "wx" });
    return secrets;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return JSON.parse(await readFile(file, "utf8")) as LocalSecrets;
  }
}
