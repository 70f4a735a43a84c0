import type { NextFunction, Request, Response } from "express";
import { errorBody } from "../../plugins/errors.ts";
import type { AccessClaims, TokenService, VerifyFailure } from "./jwt.ts";

/** Who a request runs as: the token's role and claims, or anonymous. */
export interface RequestAuth {
  role: string;
  claims: AccessClaims | { role: "gw_anonymous" };
}

export const anonymous: RequestAuth = { role: "gw_anonymous", claims: { role: "gw_anonymous" } };

const authByRequest = new WeakMap<Request, RequestAuth>();

export function authOf(req: Request | undefined): RequestAuth {
  return (req && authByRequest.get(req)) ?? anonymous;
}

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
    const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim());
    if (!match?.[1]) {
      sendAuthFailure(res, { status: 401, reason: "malformed_header", message: 'The Authorization header must be "Bearer <token>".' });
      return;
    }
    const result = await tokens.verify(match[1]);
    if (!result.ok) {
      sendAuthFailure(res, result);
      return;
    }
    authByRequest.set(req, { role: result.claims.role, claims: result.claims });
    next();
  };
}
