/** When to try again after a failed delivery or processing attempt. */
export interface RetryPolicy {
  /** Attempts in all, the first included; after the last failure the work is dead-lettered. */
  maxAttempts: number;
  /** Delay after the first failure; doubles with each further failure. */
  baseDelayMs: number;
  /** Upper bound of one delay. */
  maxDelayMs: number;
}

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
