import { generateKeyPairSync } from "node:crypto";
import { SignJWT, importPKCS8 } from "jose";
import { describe, expect, it } from "vitest";
import { registerUser, testJwt, useTestApi, type SignedIn } from "../helpers/api.ts";

const { publicKey, privateKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
});

// The API under test also trusts an external identity provider's RS256 key,
// so the RS/HS confusion attack has a public key to abuse.
const api = useTestApi({ publicKey });
const me = "query { currentUser { userId } }";
const secret = new TextEncoder().encode(testJwt.secret);
const now = () => Math.floor(Date.now() / 1000);

function claimsOf(user: SignedIn) {
  return JSON.parse(Buffer.from(user.accessToken.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
}

async function hs256(claims: Record<string, unknown>, key: Uint8Array = secret) {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
}

function expectRejected(response: { status: number; body: { data?: unknown; errors?: Array<{ extensions?: { code?: string } }> } }, status = 401) {
  expect(response.status).toBe(status);
  expect(response.body.data).toBeUndefined();
  expect(response.body.errors?.[0]?.extensions?.code).toBe(status === 401 ? "UNAUTHENTICATED" : "FORBIDDEN");
}

describe("JWT verification", () => {
  it("accepts a valid token (the baseline every attack below is compared with)", async () => {
    const user = await registerUser(api, "jwtok");
    const token = await hs256({ ...claimsOf(user) });
    const result = await api.graphql(me, {}, token);
    expect(result.body.data?.currentUser.userId).toBe(user.userId);
  });

  it("rejects alg: none", async () => {
    const user = await registerUser(api, "jwtnone");
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    const body = Buffer.from(JSON.stringify(claimsOf(user))).toString("base64url");
    expectRejected(await api.graphql(me, {}, `${header}.${body}.`));
  });

  it("rejects HS256 signed with the wrong secret", async () => {
    const user = await registerUser(api, "jwtwrong");
    const token = await hs256(claimsOf(user), new TextEncoder().encode("a-completely-different-secret-of-enough-length"));
    expectRejected(await api.graphql(me, {}, token));
  });

  it("rejects RS/HS confusion: HS256 signed with the configured public key", async () => {
    const user = await registerUser(api, "jwtconf");
    const token = await hs256(claimsOf(user), new TextEncoder().encode(publicKey));
    expectRejected(await api.graphql(me, {}, token));
  });

  it("accepts RS256 from the configured identity provider, so the confusion test is meaningful", async () => {
    const user = await registerUser(api, "jwtrs");
    const key = await importPKCS8(privateKey, "RS256");
    const token = await new SignJWT(claimsOf(user)).setProtectedHeader({ alg: "RS256" }).sign(key);
    expect((await api.graphql(me, {}, token)).body.data?.currentUser.userId).toBe(user.userId);
  });

  it("rejects an expired token", async () => {
    const user = await registerUser(api, "jwtexp");
    const result = await api.graphql(me, {}, await hs256({ ...claimsOf(user), iat: now() - 3600, exp: now() - 60 }));
    expectRejected(result);
    expect(result.body.errors?.[0]?.extensions?.reason).toBe("token_expired");
  });

  it("rejects a token whose nbf is in the future", async () => {
    const user = await registerUser(api, "jwtnbf");
    expectRejected(await api.graphql(me, {}, await hs256({ ...claimsOf(user), nbf: now() + 3600 })));
  });

  it("rejects the wrong issuer and the wrong audience", async () => {
    const user = await registerUser(api, "jwtiss");
    expectRejected(await api.graphql(me, {}, await hs256({ ...claimsOf(user), iss: "someone-else" })));
    expectRejected(await api.graphql(me, {}, await hs256({ ...claimsOf(user), aud: "another-api" })));
  });

  it("rejects a tampered payload", async () => {
    const user = await registerUser(api, "jwttamper");
    const victim = await registerUser(api, "jwtvictim");
    const [header, , signature] = user.accessToken.split(".");
    const forged = Buffer.from(JSON.stringify({ ...claimsOf(user), sub: victim.userId })).toString("base64url");
    expectRejected(await api.graphql(me, {}, `${header}.${forged}.${signature}`));
  });

  it("refuses roles outside the allowlist with 403", async () => {
    const user = await registerUser(api, "jwtrole");
    for (const role of ["gw_owner", "postgres", "gw_authenticator", "no_such_role"]) {
      expectRejected(await api.graphql(me, {}, await hs256({ ...claimsOf(user), role })), 403);
    }
  });

  it("rejects a malformed Authorization header instead of treating the caller as anonymous", async () => {
    const response = await fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Token abc" },
      body: JSON.stringify({ query: me }),
    });
    expect(response.status).toBe(401);
  });
});

describe("revocation reaches tokens that are still cryptographically valid", () => {
  it("a token of a revoked session sees nothing", async () => {
    const user = await registerUser(api, "jwtrev");
    expect((await api.graphql(me, {}, user.accessToken)).body.data?.currentUser.userId).toBe(user.userId);
    await api.graphql("mutation { logout { success } }", {}, user.accessToken);
    expect((await api.graphql(me, {}, user.accessToken)).body.data?.currentUser).toBeNull();
  });

  it("a token issued before a password change sees nothing, even without a session id", async () => {
    const user = await registerUser(api, "jwtpw");
    const { sid: _sid, ...withoutSession } = claimsOf(user);
    const sessionless = await hs256({ ...withoutSession, iat: now() - 5 });
    expect((await api.graphql(me, {}, sessionless)).body.data?.currentUser.userId).toBe(user.userId);
    await api.graphql(
      `mutation { changePassword(input: {oldPassword: "${user.password}", newPassword: "the new password 9"}) { accessToken } }`,
      {},
      user.accessToken,
    );
    expect((await api.graphql(me, {}, sessionless)).body.data?.currentUser).toBeNull();
  });
});
