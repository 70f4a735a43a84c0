import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { freePort } from "../../src/db/embedded.ts";
import { projectRoot } from "../../src/paths.ts";
import { createTokenService } from "../../src/server/jwt.ts";
import type { TestDatabase } from "../setup/testDatabase.ts";

export const benchSecret = "bench-secret-that-is-long-enough-for-hs256-0123456789";
export const tokens = createTokenService(
  { secret: benchSecret, issuer: "groundwork", audience: "groundwork", accessTokenTtlSeconds: 86_400, publicKey: undefined, jwksUrl: undefined },
  benchSecret,
);
export const password = "correct horse 42";

export const mineQuery =
  "query Mine { currentUser { memberships(first: 20) { nodes { role createdAt organization { name slug } } } } }";

export interface Seeded {
  users: Array<{ userId: string; username: string; token: string }>;
}

/**
 * Users with 30 memberships each (so "first 20" has more to skip), plus the
 * organizations they belong to. Inserted as superuser with triggers off (the
 * benchmark measures reads, not seeding); sessions made the regular way.
 */
export async function seed(db: TestDatabase, userCount: number): Promise<Seeded> {
  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  try {
    const tag = Date.now().toString(36);
    await root.query("begin");
    await root.query("set local session_replication_role = replica");
    const { rows: users } = await root.query<{ user_id: string; username: string }>(
      `insert into auth.users (username, email)
       select 'bench' || $1 || 'u' || i, 'bench' || $1 || 'u' || i || '@example.com' from generate_series(1, $2) i
       returning user_id, username`,
      [tag, userCount],
    );
    // Same bcrypt cost as auth.register, so sign-ins in the load cost what they cost in production.
    await root.query(
      `insert into auth_private.user_secrets (user_id, password_hash)
       select user_id, public.crypt($2, public.gen_salt('bf', 10)) from auth.users where username like 'bench' || $1 || 'u%'`,
      [tag, password],
    );
    await root.query(
      `insert into auth.organizations (name, slug) select 'Org ' || i, 'bench-' || $1 || '-' || i from generate_series(1, 60) i`,
      [tag],
    );
    await root.query(
      `insert into auth.memberships (organization_id, user_id, role)
       select o.organization_id, u.user_id, 'member'
         from auth.users u
         cross join lateral (select organization_id from auth.organizations where slug like 'bench-' || $1 || '-%' order by random() limit 30) o
        where u.username like 'bench' || $1 || 'u%'`,
      [tag],
    );
    await root.query("commit");
    await root.query("analyze auth.users; analyze auth.memberships; analyze auth.organizations");
    const out: Seeded["users"] = [];
    for (const user of users) {
      const { rows } = await root.query<{ user_id: string; session_id: string }>(
        "select * from auth_private.create_development_session($1, 'gw_user', null)",
        [user.username],
      );
      const session = rows[0]!;
      const { token } = await tokens.sign({ sub: session.user_id, role: "gw_user", sid: session.session_id, org_id: null });
      out.push({ userId: user.user_id, username: user.username, token });
    }
    return { users: out };
  } finally {
    await root.end();
  }
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<number | null>;
  /** process_resident_memory_bytes from its /metrics. */
  rss(): Promise<number>;
  /** CPU time (user + system, ms) the process has used so far, from /proc (NaN where there is none). */
  cpuMs(): number;
}

const clockTicksPerSecond = 100;

/** utime + stime of a process in ms, from /proc/<pid>/stat (Linux; NaN elsewhere). */
export function processCpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
  } catch {
    return NaN;
  }
}

/** Starts `node <script> [args]` and waits until it answers HTTP. */
export async function startServer(script: string, args: string[], env: Record<string, string>, readyPath = "/metrics", nodeArgs: string[] = []): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, path.join(projectRoot, script), ...args], {
    env: { ...process.env, PORT: String(port), ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (chunk) => (log = (log + chunk).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(url + readyPath)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || i > 600) throw new Error(`${script} did not start:\n${log}`);
    await sleep(100);
  }
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    url,
    child,
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
    cpuMs: () => processCpuMs(child.pid),
    async rss() {
      const text = await (await fetch(`${url}/metrics`)).text();
      return Number(/^process_resident_memory_bytes (\S+)$/m.exec(text)?.[1] ?? NaN);
    },
  };
}

/** Environment for `groundwork serve|start` against a bench database (production mode, rate limits as given). */
export function groundworkEnv(db: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: "production",
    GRAPHILE_ENV: "production",
    DATABASE_URL: db.ownerUrl,
    AUTH_DATABASE_URL: db.authenticatorUrl,
    ROOT_DATABASE_URL: db.rootUrl,
    JWT_SECRET: benchSecret,
    ACCESS_TOKEN_TTL_SECONDS: "86400",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    // Production requires a mail server; the API under bench never sends mail (sign-up is done in SQL).
    SMTP_URL: "smtp://127.0.0.1:2525",
    ...extra,
  };
}
