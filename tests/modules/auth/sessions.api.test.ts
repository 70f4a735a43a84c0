import { describe, expect, it } from "vitest";
import { authFields, codesOf, registerUser, uniqueUser, useTestApi } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";
import { confirmationToken } from "../../helpers/fixtures.ts";

const api = useTestApi();
const me = "query { currentUser { userId username email } }";

describe("register and login", () => {
  it("registers a user, and verifyEmail returns tokens that sign them in", async () => {
    const user = uniqueUser("reg");
    const registered = await api.graphql(`mutation($input: RegisterInput!) { register(input: $input) { email linkExpiresAt } }`, { input: user });
    expect(registered.status).toBe(200);
    expect(registered.body.data?.register.email).toBe(user.email);
    const token = await confirmationToken(rootDb(), user.email);
    const result = await api.graphql(`mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { ${authFields} } }`, { input: { token } });
    const payload = result.body.data?.verifyEmail;
    expect(payload.user).toMatchObject({ username: user.username, email: user.email });
    expect(payload.refreshToken).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(new Date(payload.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const current = await api.graphql(me, {}, payload.accessToken);
    expect(current.body.data?.currentUser).toEqual(payload.user);
  });

  it("issues an access token with the documented claims", async () => {
    const user = await registerUser(api, "claims");
    const [, body] = user.accessToken.split(".");
    const claims = JSON.parse(Buffer.from(body!, "base64url").toString());
    expect(claims).toMatchObject({ sub: user.userId, role: "gw_user", iss: "groundwork", aud: "groundwork" });
    expect(typeof claims.sid).toBe("string");
    expect(claims.exp - claims.iat).toBe(900);
  });

  it("logs in by e-mail or by username, case-insensitively", async () => {
    const user = await registerUser(api, "login");
    for (const identifier of [user.email.toUpperCase(), user.username.toUpperCase()]) {
      const result = await api.graphql(`mutation($input: LoginInput!) { login(input: $input) { ${authFields} } }`, {
        input: { identifier, password: user.password },
      });
      expect(result.body.data?.login.user.userId).toBe(user.userId);
    }
  });

  it("refuses a wrong password and an unknown account with the same code", async () => {
    const user = await registerUser(api, "wrong");
    const wrong = await api.graphql(`mutation { login(input: {identifier: "${user.username}", password: "not the password 1"}) { accessToken } }`);
    const unknown = await api.graphql(`mutation { login(input: {identifier: "nobody-${user.username}", password: "whatever 123"}) { accessToken } }`);
    expect(codesOf(wrong)).toEqual(["CREDS"]);
    expect(codesOf(unknown)).toEqual(["CREDS"]);
    expect(wrong.body.errors?.[0]?.message).toBe(unknown.body.errors?.[0]?.message);
  });

  it("locks an account after 5 failed logins within 15 minutes, even for the right password", async () => {
    const user = await registerUser(api, "throttle");
    const attempt = (password: string) =>
      api.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, {
        input: { identifier: user.email, password },
      });
    for (let i = 0; i < 5; i++) expect(codesOf(await attempt("wrong password 99"))).toEqual(["CREDS"]);
    expect(codesOf(await attempt("wrong password 99"))).toEqual(["LOCKD"]);
    expect(codesOf(await attempt(user.password))).toEqual(["LOCKD"]);
  });
});

describe("refresh tokens", () => {
  const refresh = (refreshToken: string) =>
    api.graphql(`mutation($input: RefreshSessionInput!) { refreshSession(input: $input) { ${authFields} } }`, {
      input: { refreshToken },
    });

  it("rotates: a refresh token yields new tokens for the same session", async () => {
    const user = await registerUser(api, "rotate");
    const first = await refresh(user.refreshToken);
    const payload = first.body.data?.refreshSession;
    expect(payload.refreshToken).not.toBe(user.refreshToken);
    const sid = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).sid;
    expect(sid(payload.accessToken)).toBe(sid(user.accessToken));
    expect((await api.graphql(me, {}, payload.accessToken)).body.data?.currentUser.userId).toBe(user.userId);
  });

  it("treats a reused refresh token as theft: the whole family is revoked", async () => {
    const user = await registerUser(api, "reuse");
    const rotated = (await refresh(user.refreshToken)).body.data?.refreshSession;
    expect(rotated.accessToken).toBeTruthy();
    const replay = await refresh(user.refreshToken);
    expect(codesOf(replay)).toEqual(["RTRSE"]);
    // Every token of the family is dead now: the newest refresh token and the access tokens.
    expect(codesOf(await refresh(rotated.refreshToken))).toEqual(["RTINV"]);
    expect((await api.graphql(me, {}, rotated.accessToken)).body.data?.currentUser).toBeNull();
    expect((await api.graphql(me, {}, user.accessToken)).body.data?.currentUser).toBeNull();
  });

  it("rejects an unknown refresh token", async () => {
    expect(codesOf(await refresh("not-a-real-token"))).toEqual(["RTINV"]);
  });

  it("logout revokes the session's access and refresh tokens", async () => {
    const user = await registerUser(api, "logout");
    const result = await api.graphql("mutation { logout { success } }", {}, user.accessToken);
    expect(result.body.data?.logout.success).toBe(true);
    expect((await api.graphql(me, {}, user.accessToken)).body.data?.currentUser).toBeNull();
    expect(codesOf(await refresh(user.refreshToken))).toEqual(["RTINV"]);
  });
});

describe("changePassword", () => {
  it("revokes every other session and keeps the caller signed in on a new one", async () => {
    const user = await registerUser(api, "chpw");
    const other = (
      await api.graphql(`mutation($input: LoginInput!) { login(input: $input) { ${authFields} } }`, {
        input: { identifier: user.username, password: user.password },
      })
    ).body.data?.login;
    expect((await api.graphql(me, {}, other.accessToken)).body.data?.currentUser.userId).toBe(user.userId);

    const changed = await api.graphql(
      `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ${authFields} } }`,
      { input: { oldPassword: user.password, newPassword: "a brand new secret 7" } },
      user.accessToken,
    );
    const fresh = changed.body.data?.changePassword;
    expect(fresh.user.userId).toBe(user.userId);
    expect((await api.graphql(me, {}, fresh.accessToken)).body.data?.currentUser.userId).toBe(user.userId);
    for (const token of [user.accessToken, other.accessToken]) {
      expect((await api.graphql(me, {}, token)).body.data?.currentUser).toBeNull();
    }
    const oldLogin = await api.graphql(`mutation { login(input: {identifier: "${user.username}", password: "${user.password}"}) { accessToken } }`);
    expect(codesOf(oldLogin)).toEqual(["CREDS"]);
  });

  it("refuses a wrong old password and a weak new one", async () => {
    const user = await registerUser(api, "chpw2");
    const attempt = (oldPassword: string, newPassword: string) =>
      api.graphql(
        `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }`,
        { input: { oldPassword, newPassword } },
        user.accessToken,
      );
    expect(codesOf(await attempt("wrong old password 1", "another good one 8"))).toEqual(["CREDS"]);
    expect(codesOf(await attempt(user.password, "short1"))).toEqual(["WEAKP"]);
  });

  it("requires a signed-in caller", async () => {
    const result = await api.graphql(`mutation { changePassword(input: {oldPassword: "x", newPassword: "y"}) { accessToken } }`);
    expect(codesOf(result)).toEqual(["LOGIN"]);
  });
});

describe("the schema", () => {
  it("never exposes token hashes or password hashes", async () => {
    const result = await api.graphql(`{
      session: __type(name: "Session") { fields { name } }
      user: __type(name: "User") { fields { name } }
    }`);
    const sessionFields = result.body.data?.session.fields.map((f: { name: string }) => f.name);
    const userFields = result.body.data?.user.fields.map((f: { name: string }) => f.name);
    expect(sessionFields).toEqual(expect.arrayContaining(["sessionId", "familyId", "expiresAt"]));
    expect(sessionFields).not.toContain("tokenHash");
    expect(userFields).toEqual(expect.arrayContaining(["userId", "email", "tokensRevokedAt"]));
    expect(userFields.filter((name: string) => /password|hash|secret/i.test(name))).toEqual([]);
  });
});
