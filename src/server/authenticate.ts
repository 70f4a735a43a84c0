import type { IncomingMessage } from "node:http";
import type { NextFunction, Request, Response } from "express";
import { maxBearerTokenBytes } from "../config.ts";
import { errorBody } from "../errors.ts";
import type { AccessClaims, TokenService, VerifyFailure } from "./jwt.ts";
import { requestOf } from "./requestContext.ts";

/** Who a request runs as: the token's role and claims, or anonymous. */
export interface RequestAuth {
  role: string;
  claims: AccessClaims | { role: "gw_anonymous" };
}

export const anonymous: RequestAuth = { role: "gw_anonymous", claims: { role: "gw_anonymous" } };

/**
 * Keyed by the HTTP request, or for a WebSocket by its upgrade request, which
 * lives as long as the socket: every operation on the socket runs as the token
 * it presented in connection_init.
 */
const authByRequest = new WeakMap<IncomingMessage, RequestAuth>();

/** The auth of a GraphQL operation, whether it came over HTTP or a WebSocket. */
export function authOf(requestContext: Partial<Grafast.RequestContext> | undefined): RequestAuth {
  const req = requestOf(requestContext);
  return (req && authByRequest.get(req)) ?? anonymous;
}

/** The auth an HTTP request was given by `authenticate` (anonymous without a token). */
export function authOfRequest(req: IncomingMessage): RequestAuth {
  return authByRequest.get(req) ?? anonymous;
}

/** Records a verified token for a request (HTTP) or an upgrade request (WebSocket). */
export function setAuth(req: IncomingMessage, auth: RequestAuth): void {
  authByRequest.set(req, auth);
}

/** The claims of a verified token (which always has exp), or null for a caller without one. */
export function claimsOf(auth: RequestAuth): AccessClaims | null {
  return "exp" in auth.claims ? auth.claims : null;
}

export type BearerResult = { ok: true; auth: RequestAuth } | VerifyFailure;

/** Verifies an `Authorization: Bearer <token>` value, the same way for HTTP and WebSockets. */
export async function verifyBearer(tokens: TokenService, header: string): Promise<BearerResult> {
  const value = header.trim();
  // A token is ASCII (the pattern below), so characters are bytes.
  if (value.length > "Bearer ".length + maxBearerTokenBytes) {
    return { ok: false, status: 401, reason: "token_too_large", message: `The bearer token is longer than ${maxBearerTokenBytes} bytes.` };
  }
  const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(value);
  if (!match?.[1]) {
    return { ok: false, status: 401, reason: "malformed_header", message: 'The Authorization header must be "Bearer <token>".' };
  }
  const result = await tokens.verify(match[1]);
  if (!result.ok) return result;
  // One RequestAuth per verified claims object (the token cache hands out the same one for the
  // token's lifetime), so what is derived from it per request (pgSettings, src/server/preset.ts) is made once.
  let auth = authByClaims.get(result.claims);
  if (!auth) {
    auth = { role: result.claims.role, claims: result.claims };
    authByClaims.set(result.claims, auth);
  }
  return { ok: true, auth };
}

const authByClaims = new WeakMap<AccessClaims, RequestAuth>();

export function sendAuthFailure(res: Response, failure: Pick<VerifyFailure, "status" | "reason" | "message">): void {
  const code = failure.status === 403 ? "FORBIDDEN" : "UNAUTHENTICATED";
  if (failure.status === 401) res.setHeader("WWW-Authenticate", `Bearer error="invalid_token", error_description="${failure.reason}"`);
  res.status(failure.status).json(errorBody(code, failure.message, { reason: failure.reason }));
}

/**
 * Verifies the bearer token before PostGraphile sees the request. A bad token
 * is a 401 (a forbidden role a 403), never a silent downgrade to anonymous.
 */
export function authenticate(tokens: TokenService) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const header = req.headers.authorization;
    if (header === undefined) {
      next();
      return;
    }
    const result = await verifyBearer(tokens, header);
    if (!result.ok) {
      sendAuthFailure(res, result);
      return;
    }
    setAuth(req, result.auth);
    next();
  };
}
