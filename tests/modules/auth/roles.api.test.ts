import { describe, expect, it } from "vitest";
import { authFields, codesOf, registerUser, registerWithRole, useTestApi } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";

const api = useTestApi();
const assume = (role: string, token: string) =>
  api.graphql(`mutation($input: AssumeRoleInput!) { assumeRole(input: $input) { ${authFields} } }`, { input: { role } }, token);
const roleOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).role;

describe("assumeRole", () => {
  it("refuses a staff role that auth.user_roles does not grant", async () => {
    const user = await registerUser(api, "rolex");
    expect(codesOf(await assume("role_finance", user.accessToken))).toEqual(["NOROL"]);
    const { rows } = await rootDb().query("select count(*)::int as n from auth.roles where role_name = 'role_finance'");
    expect(rows[0].n).toBe(1);
  });

  it("issues a token with the staff role once it is granted, and drops back to gw_user", async () => {
    const user = await registerUser(api, "roley");
    await rootDb().query("insert into auth.user_roles (user_id, role_name) values ($1, 'role_finance')", [user.userId]);
    const staff = (await assume("role_finance", user.accessToken)).body.data?.assumeRole;
    expect(roleOf(staff.accessToken)).toBe("role_finance");
    expect(staff.user.userId).toBe(user.userId);
    const hasRole = await api.graphql(`query { hasRole(roleName: "role_finance") }`, {}, staff.accessToken);
    expect(hasRole.body.data?.hasRole).toBe(true);

    const back = (await assume("gw_user", staff.accessToken)).body.data?.assumeRole;
    expect(roleOf(back.accessToken)).toBe("gw_user");
  });

  it("stops honouring a staff token once the grant is withdrawn", async () => {
    const staff = await registerWithRole(api, "role_hr", "rolez");
    const hasRole = () => api.graphql(`query { hasRole(roleName: "role_hr") }`, {}, staff.roleToken);
    expect((await hasRole()).body.data?.hasRole).toBe(true);
    await rootDb().query("delete from auth.user_roles where user_id = $1", [staff.userId]);
    expect((await hasRole()).body.data?.hasRole).toBe(false);
  });

  it("cannot be used by anonymous callers (LOGIN)", async () => {
    const result = await api.graphql(`mutation { assumeRole(input: {role: "gw_admin"}) { accessToken } }`);
    expect(result.status).toBe(200);
    expect(codesOf(result)).toEqual(["LOGIN"]);
    expect(result.body.data).toEqual({ assumeRole: null });
  });
});

describe("assumeRole and refresh", () => {
  it("returns no refresh token (an access token alone never yields one), and the old refresh token now refreshes into the role", async () => {
    const user = await registerUser(api, "rolew");
    await rootDb().query("insert into auth.user_roles (user_id, role_name) values ($1, 'role_support')", [user.userId]);
    const staff = (await assume("role_support", user.accessToken)).body.data?.assumeRole;
    expect(staff.refreshToken).toBeNull();
    const refreshed = await api.graphql(
      `mutation($input: RefreshSessionInput!) { refreshSession(input: $input) { ${authFields} } }`,
      { input: { refreshToken: user.refreshToken } },
    );
    expect(roleOf(refreshed.body.data?.refreshSession.accessToken)).toBe("role_support");
  });
});
