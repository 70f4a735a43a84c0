import type { NextFunction, Request, Response } from "express";
import { Kind, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from "postgraphile/graphql";
import { errorBody } from "../errors.ts";
import type { QuotaRequest, Quotas } from "./quotas.ts";
import { authOfRequest, claimsOf } from "./authenticate.ts";
import type { RateLimitOptions } from "../config.ts";
import type { Metrics } from "./metrics.ts";
import { parseDocument } from "./limits.ts";

/**
 * Mutations that check a password or a mailed token, mint a session or send
 * mail: the ones worth guessing at or flooding, so limited per IP more tightly
 * (RATE_LIMIT_SIGN_IN_PER_IP). The one list: a sign-in mutation added to
 * plugins/auth.ts or auth's SQL belongs here too.
 */
export const signInFields: ReadonlySet<string> = new Set([
  "login",
  "register",
  "verifyEmail",
  "requestPasswordReset",
  "resetPassword",
  "refreshSession",
  "changePassword",
]);

/** A field name is a GraphQL name token, spelled out in the document: no text without one of these can sign in. */
const signInHint = new RegExp(`\\b(${[...signInFields].join("|")})\\b`);

/**
 * How many sign-in attempts a document makes: the distinct response names of
 * sign-in fields at the root of its mutation (the operation `operationName`
 * names, else every mutation in it), through named and inline fragments. That is
 * what GraphQL runs: fields with one response name merge into one, and each
 * alias is one more attempt. Fragments are read once each, as GraphQL's own
 * field collection does, so this is linear in the document. A document that
 * names a sign-in field but does not parse, or is longer than any document
 * the API runs (`maxDocumentBytes`), counts 1: it will be refused anyway.
 */
export function signInAttempts(query: string | undefined, operationName?: unknown, maxDocumentBytes = Infinity): number {
  if (!query || !signInHint.test(query)) return 0;
  // Characters never outnumber UTF-8 bytes: a text this long is over the limit, and not worth parsing.
  const document = query.length > maxDocumentBytes ? null : parseDocument(query);
  if (!document) return 1;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const named = typeof operationName === "string" ? operations.filter((operation) => operation.name?.value === operationName) : [];
  let most = 0;
  for (const operation of named.length > 0 ? named : operations) {
    if (operation.operation !== "mutation") continue;
    const responseNames = new Set<string>();
    const visited = new Set<string>();
    const collect = (selectionSet: SelectionSetNode) => {
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          if (signInFields.has(selection.name.value)) responseNames.add(selection.alias?.value ?? selection.name.value);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          collect(selection.selectionSet);
        } else if (!visited.has(selection.name.value)) {
          visited.add(selection.name.value);
          const fragment = fragments.get(selection.name.value);
          if (fragment) collect(fragment.selectionSet);
        }
      }
    };
    collect(operation.selectionSet);
    most = Math.max(most, responseNames.size);
  }
  return most;
}

export type LimitName = "ip" | "user" | "sign_in";

export interface RateLimitRefusal {
  limit: LimitName;
  /** Seconds until the window that refused resets (at least 1). */
  retryAfter: number;
  message: string;
}

/** Who sends an operation and what it asks for. */
export interface RateLimitedOperation {
  ip: string;
  /** The token's `sub`, for a signed-in caller. */
  sub: string | undefined;
  /** The document (after persisted-operation lookup) and the operation chosen in it. */
  query: string | undefined;
  operationName: unknown;
}

export interface RateLimiter {
  /**
   * Spends one request from the client IP's and the user's budgets and, for
   * each sign-in attempt in it, one from the IP's sign-in budget; the refusal
   * when one of them is exhausted, else null.
   */
  hit(operation: RateLimitedOperation): Promise<RateLimitRefusal | null>;
}

/**
 * Fixed-window limits per client IP, per signed-in user and, for sign-in
 * mutations, per IP again with a tighter budget, shared by every API process
 * through `quotas` (src/server/quotas.ts): the per-IP and per-user budgets
 * are spent from chunks each process reserves in PostgreSQL, so a request
 * costs no database write; sign-in attempts are reserved one request at a
 * time, strictly. HTTP requests and WebSocket operations draw on the same
 * budgets. If the store cannot be reached the request goes through (and is
 * logged): the database it would use is the same one that would then fail it.
 */
export function createRateLimiter(quotas: Quotas, options: RateLimitOptions, metrics: Metrics | undefined, maxDocumentBytes: number): RateLimiter {
  return {
    async hit({ ip, sub, query, operationName }) {
      const requests: QuotaRequest[] = [];
      const names: LimitName[] = [];
      if (options.perIp > 0) {
        requests.push({ key: `ip:${ip}`, limit: options.perIp, windowSeconds: options.windowSeconds });
        names.push("ip");
      }
      if (sub !== undefined && options.perUser > 0) {
        requests.push({ key: `user:${sub}`, limit: options.perUser, windowSeconds: options.windowSeconds });
        names.push("user");
      }
      // Last: a request refused by the limits above spends no sign-in attempt.
      const signIns = options.signInPerIp > 0 ? signInAttempts(query, operationName, maxDocumentBytes) : 0;
      if (signIns > 0) {
        requests.push({ key: `signin:${ip}`, limit: options.signInPerIp, windowSeconds: options.signInWindowSeconds, count: signIns, strict: true });
        names.push("sign_in");
      }
      if (requests.length === 0) return null;
      const answer = await quotas.take(requests);
      if (answer.ok) return null;
      const limit = names[answer.index]!;
      metrics?.countRateLimited(limit);
      return { limit, retryAfter: answer.retryAfter, message: `Too many requests (${limit.replace("_", "-")} limit); retry in ${answer.retryAfter} s.` };
    },
  };
}

/** The document and operation name a request body asks for (after persisted-operation lookup). */
export type DocumentOf = (body: unknown) => { query: string | undefined; operationName: unknown };

/** The limiter in front of /graphql: over a limit, 429 with `Retry-After` and code RATE_LIMITED. */
export function rateLimit(limiter: RateLimiter, documentOf: DocumentOf) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const sub = claimsOf(authOfRequest(req))?.sub;
    const refusal = await limiter.hit({
      ip: req.ip ?? req.socket.remoteAddress ?? "unknown",
      sub: typeof sub === "string" ? sub : undefined,
      ...documentOf(req.method === "GET" ? req.query : req.body),
    });
    if (!refusal) return next();
    res.setHeader("Retry-After", String(refusal.retryAfter));
    res.status(429).json(errorBody("RATE_LIMITED", refusal.message, { limit: refusal.limit, retryAfter: refusal.retryAfter }));
  };
}
