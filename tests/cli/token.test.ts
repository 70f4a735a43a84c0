import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { projectRoot } from "../../src/paths.ts";
import { registerUser, testJwt, useTestApi } from "../helpers/api.ts";
import { rootDb } from "../helpers/db.ts";

const run = promisify(execFile);
const api = useTestApi();

/** Runs the real CLI against the test database. */
async function groundwork(...args: string[]) {
  const db = inject("testDatabase");
  return run(process.execPath, [path.join(projectRoot, "src/cli.ts"), ...args], {
    cwd: projectRoot,
    env: {
      ...process.env,
      DATABASE_URL: db.ownerUrl,
      AUTH_DATABASE_URL: db.authenticatorUrl,
      JWT_SECRET: testJwt.secret,
      LOG_LEVEL: "error",
    },
  }).then(
    ({ stdout }) => ({ code: 0, stdout: stdout.trim(), stderr: "" }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout.trim(), stderr: error.stderr }),
  );
}

describe("groundwork token", () => {
  it("mints a development token for a user named by e-mail, backed by a real session", async () => {
    const user = await registerUser(api, "clitok");
    const result = await groundwork("token", "--user", user.email.toUpperCase());
    expect(result.code).toBe(0);
    const me = await api.graphql("query { currentUser { userId } }", {}, result.stdout);
    expect(me.body.data?.currentUser.userId).toBe(user.userId);
    const sid = JSON.parse(Buffer.from(result.stdout.split(".")[1]!, "base64url").toString()).sid;
    const { rows } = await rootDb().query("select user_agent from auth.sessions where session_id = $1", [sid]);
    expect(rows[0].user_agent).toMatch(/groundwork token/);
  });

  it("refuses a role the user does not hold and an unknown user, with exit code 1", async () => {
    const user = await registerUser(api, "clirole");
    const refused = await groundwork("token", "--user", user.username, "--role", "role_hr");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not granted/);
    const unknown = await groundwork("token", "--user", "nobody-at-all@example.com");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/No user matches/);
  });

  it("names the bad value when configuration is invalid", async () => {
    const db = inject("testDatabase");
    const result = await run(process.execPath, [path.join(projectRoot, "src/cli.ts"), "migrate"], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: db.ownerUrl, PORT: "not-a-port", JWT_SECRET: "short" },
    }).catch((error: { code: number; stderr: string }) => error);
    expect((result as { code: number }).code).toBe(1);
    expect((result as { stderr: string }).stderr).toMatch(/PORT/);
    expect((result as { stderr: string }).stderr).toMatch(/JWT_SECRET: must be at least 32 characters/);
  });

  it("says which host is unreachable", async () => {
    const result = await run(process.execPath, [path.join(projectRoot, "src/cli.ts"), "migrate"], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: "postgres://gw_owner@127.0.0.1:1/nowhere", LOG_LEVEL: "error" },
    }).catch((error: { code: number; stderr: string }) => error);
    expect((result as { code: number }).code).toBe(1);
    expect((result as { stderr: string }).stderr).toMatch(/cannot reach PostgreSQL at 127\.0\.0\.1:1/);
  });
});
