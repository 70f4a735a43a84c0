import type { RetryPolicy } from "../config.ts";

/**
 * Exponential backoff with "equal jitter": half the exponential delay, plus a
 * random share of the other half, so retries of many failures that happened
 * together spread out instead of hitting the endpoint again in lockstep.
 */
export function retryDelayMs(failedAttempts: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failedAttempts - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

/** A PostgreSQL interval literal for a delay in milliseconds. */
export function intervalOf(ms: number): string {
  return `${Math.max(0, Math.round(ms))} milliseconds`;
}
