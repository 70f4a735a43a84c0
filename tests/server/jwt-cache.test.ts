import { afterEach, describe, expect, it, vi } from "vitest";
import { createTokenService } from "../../src/server/jwt.ts";

const secret = "jwt-cache-test-secret-that-is-long-enough-0123456789";
const config = { secret, issuer: "groundwork", audience: "groundwork", accessTokenTtlSeconds: 60, publicKey: undefined, jwksUrl: undefined };
const claims = { sub: "8a79079b-43ef-45ed-ac0c-8264e1dfa17b", role: "gw_user", sid: "41a9fdfb-ba7d-48c6-973b-52bf6b07e246" };

afterEach(() => {
  vi.useRealTimers();
});

describe("verified-token cache", () => {
  it("answers a repeated token with the same claims, and refuses it once it has expired", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const tokens = createTokenService(config, secret);
    const { token } = await tokens.sign(claims);
    const first = await tokens.verify(token);
    const second = await tokens.verify(token);
    expect(first.ok && second.ok).toBe(true);
    if (!first.ok || !second.ok) return;
    expect(second.claims).toEqual(first.claims);
    expect(second.claims.sub).toBe(claims.sub);
    // Past exp plus jose's 5 s clock tolerance: the cached entry must not outlive the token.
    vi.setSystemTime(Date.now() + 70_000);
    const late = await tokens.verify(token);
    expect(late).toMatchObject({ ok: false, status: 401, reason: "token_expired" });
  });

  it("does not cache failures: a tampered copy of a cached token is still refused", async () => {
    const tokens = createTokenService(config, secret);
    const { token } = await tokens.sign(claims);
    expect((await tokens.verify(token)).ok).toBe(true);
    const [header, payload, signature] = token.split(".");
    const tampered = `${header}.${payload}.${signature!.slice(0, -2)}${signature!.endsWith("AA") ? "BB" : "AA"}`;
    expect(await tokens.verify(tampered)).toMatchObject({ ok: false, status: 401, reason: "invalid_token" });
    expect((await tokens.verify(token)).ok).toBe(true);
  });

  it("a token signed with another secret is refused even when the same text was never cached by this service", async () => {
    const other = createTokenService({ ...config, secret: `${secret}-other` }, `${secret}-other`);
    const { token } = await other.sign(claims);
    expect((await other.verify(token)).ok).toBe(true);
    const tokens = createTokenService(config, secret);
    expect(await tokens.verify(token)).toMatchObject({ ok: false, reason: "invalid_token" });
  });
});
