export interface UntilOptions {
  /** Give up after this long (default 15 s). */
  timeoutMs?: number;
  /** Pause between probes (default 50 ms; 0 probes again at once, for probes that wait themselves). */
  intervalMs?: number;
  /** What is awaited, for the failure message. */
  what?: string;
}

/**
 * The one poll loop of the tests: runs `probe` until `ok` holds for its value,
 * or fails after `timeoutMs` naming `what` and the last value. Every probe runs
 * at least once, so a zero timeout means "check now".
 */
export async function until<T>(probe: () => Promise<T>, ok: (value: T) => boolean, options: UntilOptions | number = {}): Promise<T> {
  // A bare number is the timeout (the helper's first signature; other branches may still call it so).
  const { timeoutMs = 15_000, intervalMs = 50, what = "condition" } = typeof options === "number" ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)?.slice(0, 500)}`);
    if (intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
