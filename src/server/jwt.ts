import { createPublicKey, type KeyObject } from "node:crypto";
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
  type JWTPayload,
  type JWTVerifyGetKey,
} from "jose";
import type { Config } from "../config.ts";
import { requestRoles } from "../modules.ts";

/** The claims Groundwork puts in an access token (and reads from any token). */
export interface AccessClaims extends JWTPayload {
  role: string;
  sub?: string;
  sid?: string;
  org_id?: string;
}

/** Roles a token may carry. Anything else (gw_owner, postgres, ...) is refused with 403. */
export const allowedTokenRoles: ReadonlySet<string> = new Set(requestRoles);

export type VerifyFailure = { ok: false; status: 401 | 403; reason: string; message: string };
export type VerifyResult = { ok: true; claims: AccessClaims } | VerifyFailure;

/** How many verified tokens a TokenService remembers (about 1 KB each). */
export const verifiedTokenCacheSize = 10_000;

const asymmetricAlgorithms = ["RS256", "ES256", "EdDSA"] as const;

function algorithmOf(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return "RS256";
    case "ec":
      return "ES256";
    case "ed25519":
      return "EdDSA";
    default:
      throw new Error(`JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType}`);
  }
}

export interface TokenService {
  verify(token: string): Promise<VerifyResult>;
  sign(claims: { sub: string; role: string; sid: string; org_id?: string | null }): Promise<{ token: string; expiresAt: Date }>;
}

/**
 * Our own tokens are HS256 with the server secret. An external identity
 * provider's tokens are verified with its public key or JWKS. The key is
 * chosen by the token's `alg`, and each key is used only with its own
 * algorithms, so a token HMAC-signed with the public key (RS/HS confusion)
 * is just a wrongly signed HS256 token.
 */
export function createTokenService(jwt: Config["jwt"], secret: string): TokenService {
  const hmacKey = new TextEncoder().encode(secret);
  let externalKey: KeyObject | JWTVerifyGetKey | undefined;
  let externalAlgorithms: string[] = [];
  if (jwt.publicKey) {
    const key = createPublicKey(jwt.publicKey);
    externalKey = key;
    externalAlgorithms = [algorithmOf(key)];
  } else if (jwt.jwksUrl) {
    externalKey = createRemoteJWKSet(new URL(jwt.jwksUrl));
    externalAlgorithms = [...asymmetricAlgorithms];
  }
  const common = { issuer: jwt.issuer, audience: jwt.audience, clockTolerance: 5, requiredClaims: ["exp", "role"] };
  // Verified tokens by their exact text, until they expire: a client sends the same
  // token with every request, and a signature check is the costliest step of a
  // small request. Only successes are kept; revocation is checked by the database
  // (auth.uid()) on every request regardless. Bounded: the oldest entry goes first.
  const verified = new Map<string, { claims: AccessClaims; expiresAtMs: number }>();

  const verifyUncached = async (token: string): Promise<VerifyResult> => {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return { ok: false, status: 401, reason: "malformed_token", message: "The bearer token is not a JWT." };
    }
    let payload: JWTPayload;
    try {
      if (alg === "HS256") {
        ({ payload } = await jwtVerify(token, hmacKey, { ...common, algorithms: ["HS256"] }));
      } else if (externalKey && alg && externalAlgorithms.includes(alg)) {
        ({ payload } =
          typeof externalKey === "function"
            ? await jwtVerify(token, externalKey, { ...common, algorithms: externalAlgorithms })
            : await jwtVerify(token, externalKey, { ...common, algorithms: externalAlgorithms }));
      } else {
        return { ok: false, status: 401, reason: "unsupported_algorithm", message: `Tokens signed with "${alg}" are not accepted.` };
      }
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        return { ok: false, status: 401, reason: "token_expired", message: "The bearer token has expired; refresh it." };
      }
      if (error instanceof joseErrors.JWTClaimValidationFailed) {
        return { ok: false, status: 401, reason: `invalid_claim_${error.claim}`, message: `The bearer token's "${error.claim}" claim is not acceptable.` };
      }
      return { ok: false, status: 401, reason: "invalid_token", message: "The bearer token's signature is not valid." };
    }
    const role = payload.role;
    if (typeof role !== "string" || !allowedTokenRoles.has(role)) {
      return { ok: false, status: 403, reason: "role_not_allowed", message: "The token's role is not accepted by this API." };
    }
    for (const claim of ["sub", "sid", "org_id"] as const) {
      if (payload[claim] !== undefined && typeof payload[claim] !== "string") {
        return { ok: false, status: 401, reason: `invalid_claim_${claim}`, message: `The bearer token's "${claim}" claim must be a string.` };
      }
    }
    return { ok: true, claims: payload as AccessClaims };
  };

  return {
    async verify(token) {
      const now = Date.now();
      const hit = verified.get(token);
      if (hit) {
        if (hit.expiresAtMs > now) return { ok: true, claims: hit.claims };
        verified.delete(token);
      }
      const result = await verifyUncached(token);
      if (result.ok && typeof result.claims.exp === "number" && result.claims.exp * 1000 > now) {
        if (verified.size >= verifiedTokenCacheSize) verified.delete(verified.keys().next().value as string);
        verified.set(token, { claims: Object.freeze(result.claims), expiresAtMs: result.claims.exp * 1000 });
      }
      return result;
    },

    async sign({ sub, role, sid, org_id }) {
      const issuedAt = Math.floor(Date.now() / 1000);
      const expiresAt = issuedAt + jwt.accessTokenTtlSeconds;
      const token = await new SignJWT({ role, sid, ...(org_id ? { org_id } : {}) })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(sub)
        .setIssuer(jwt.issuer)
        .setAudience(jwt.audience)
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(hmacKey);
      return { token, expiresAt: new Date(expiresAt * 1000) };
    },
  };
}
