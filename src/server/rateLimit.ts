import type { NextFunction, Request, Response } from "express";
import type { Pool } from "pg";
import { parse } from "postgraphile/graphql";
import { errorBody } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { authOfRequest, claimsOf } from "./authenticate.ts";
import type { RateLimitOptions } from "../config.ts";
import type { Metrics } from "./metrics.ts";

/** Mutations that check a password or mint a session: the ones worth guessing at, so limited per IP more tightly. */
export const signInFields = new Set(["login", "register", "refreshSession", "changePassword"]);
const signInHint = /\b(login|register|refreshSession|changePassword)\b/;

/** True when the document's mutation(s) include a sign-in field (parsed only when the text mentions one). */
export function isSignIn(query: string | undefined): boolean {
  if (!query || !signInHint.test(query)) return false;
  try {
    const document = parse(query, { noLocation: true });
    return document.definitions.some(
      (d) =>
        d.kind === "OperationDefinition" &&
        d.operation === "mutation" &&
        d.selectionSet.selections.some((s) => s.kind === "Field" && signInFields.has(s.name.value)),
    );
  } catch {
    return false;
  }
}

interface Hit {
  key: string;
  hits: number;
  retry_after_seconds: number;
}

/**
 * Fixed-window limits per client IP, per signed-in user and, for sign-in
 * mutations, per IP again with a tighter budget. One upsert per request on a
 * table every API process shares (ops_private.rate_limits), so the limits hold
 * across processes. Over a limit: 429, `Retry-After`, code RATE_LIMITED.
 * If the store cannot be reached the request goes through (and is logged):
 * the database it would use is the same one that would then fail the request.
 */
export function rateLimit(pool: Pool, options: RateLimitOptions, logger: Logger, metrics: Metrics | undefined, documentOf: (req: Request) => string | undefined) {
  let lastPrune = 0;
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const ip = req.ip ?? req.socket.remoteAddress ?? "unknown";
    const keys: string[] = [];
    const windows: number[] = [];
    const budgets = new Map<string, { limit: number; name: string }>();
    const add = (key: string, limit: number, window: number, name: string) => {
      if (limit <= 0) return;
      keys.push(key);
      windows.push(window);
      budgets.set(key, { limit, name });
    };
    add(`ip:${ip}`, options.perIp, options.windowSeconds, "ip");
    const sub = claimsOf(authOfRequest(req))?.sub;
    if (typeof sub === "string") add(`user:${sub}`, options.perUser, options.windowSeconds, "user");
    if (options.signInPerIp > 0 && isSignIn(documentOf(req))) add(`signin:${ip}`, options.signInPerIp, options.signInWindowSeconds, "sign_in");
    if (keys.length === 0) return next();
    let rows: Hit[];
    try {
      ({ rows } = await pool.query<Hit>("select * from ops_private.rate_limit_hit($1, $2)", [keys, windows]));
    } catch (error) {
      logger.warn({ err: error }, "rate limit store unavailable; request let through");
      return next();
    }
    const now = Date.now();
    if (now - lastPrune > 60_000) {
      lastPrune = now;
      pool
        .query("select ops_private.rate_limit_prune($1)", [3600])
        .catch((error: unknown) => logger.warn({ err: error }, "pruning rate-limit counters failed"));
    }
    let retryAfter = 0;
    let refusedBy: string | undefined;
    for (const row of rows) {
      const budget = budgets.get(row.key);
      if (budget && row.hits > budget.limit && row.retry_after_seconds >= retryAfter) {
        retryAfter = Math.max(1, row.retry_after_seconds);
        refusedBy = budget.name;
      }
    }
    if (!refusedBy) return next();
    metrics?.countRateLimited(refusedBy);
    res.setHeader("Retry-After", String(retryAfter));
    res.status(429).json(errorBody("RATE_LIMITED", `Too many requests (${refusedBy.replace("_", "-")} limit); retry in ${retryAfter} s.`, { limit: refusedBy, retryAfter }));
  };
}
