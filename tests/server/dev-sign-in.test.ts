import type { Request } from "express";
import { describe, expect, inject, it } from "vitest";
import { devSignInFor, devSignInPath, fromLoopback } from "../../src/server/devSignIn.ts";
import { registerUser, useTestApi } from "../helpers/api.ts";
import { rootDb } from "../helpers/db.ts";

/** GraphiQL's "sign in as" (docs/clients.md#graphiql-sign-in-as): development and loopback only. */
const dev = useTestApi({}, { devSignIn: { ownerUrl: inject("testDatabase").ownerUrl } });
const production = useTestApi();

describe("GraphiQL sign in as", () => {
  it("lists users with their staff roles and organizations, and mints a token that acts as the chosen one", async () => {
    const user = await registerUser(dev, "devsignin");
    await rootDb().query("insert into auth.user_roles (user_id, role_name) values ($1, 'role_support')", [user.userId]);
    const listed = await fetch(`${dev.url}${devSignInPath}/users`);
    expect(listed.status).toBe(200);
    const { users, roles } = (await listed.json()) as { users: Array<{ userId: string; roles: string[] }>; roles: string[] };
    expect(users.find((u) => u.userId === user.userId)?.roles).toEqual(["role_support"]);
    expect(roles).toContain("role_support");
    expect(roles).not.toContain("gw_anonymous");

    for (const role of ["gw_user", "role_support"]) {
      const minted = await fetch(`${dev.url}${devSignInPath}/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ userId: user.userId, role }) });
      expect(minted.status).toBe(200);
      const { token } = (await minted.json()) as { token: string };
      const me = await dev.graphql(`{ currentUser { userId } }`, {}, token);
      expect(me.body.data?.currentUser?.userId).toBe(user.userId);
    }
    // A role the user was not granted is refused with the database's code.
    const refused = await fetch(`${dev.url}${devSignInPath}/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ userId: user.userId, role: "gw_admin" }) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { code: string }).code).toBe("NOROL");
  });

  it("puts the control and the header filler on GraphiQL's page", async () => {
    const page = await (await fetch(`${dev.url}/graphiql`, { headers: { accept: "text/html" } })).text();
    expect(page).toContain("gw-sign-in-as");
    expect(page).toContain("connection_init");
    const plain = await (await fetch(`${production.url}/graphiql`, { headers: { accept: "text/html" } })).text();
    expect(plain).not.toContain("gw-sign-in-as");
  });

  it("is absent without the development option (production), and answers loopback sockets only", async () => {
    expect((await fetch(`${production.url}${devSignInPath}/users`)).status).toBe(404);
    expect((await fetch(`${production.url}${devSignInPath}/token`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(404);
    expect(devSignInFor("production", "postgres://x")).toBeUndefined();
    expect(devSignInFor("test", "postgres://x")).toBeUndefined();
    expect(devSignInFor("development", "postgres://x")).toEqual({ ownerUrl: "postgres://x" });
    const from = (remoteAddress: string, forwarded?: string) =>
      fromLoopback({ socket: { remoteAddress }, headers: forwarded ? { "x-forwarded-for": forwarded } : {} } as unknown as Request);
    expect(from("127.0.0.1")).toBe(true);
    expect(from("::1")).toBe(true);
    expect(from("::ffff:127.0.0.1")).toBe(true);
    expect(from("10.0.0.7")).toBe(false);
    // X-Forwarded-For is never believed; a request a proxy on this host forwards (loopback socket, forwarded header) is refused.
    expect(from("192.168.1.9", "127.0.0.1")).toBe(false);
    expect(from("127.0.0.1", "203.0.113.5")).toBe(false);
  });
});
