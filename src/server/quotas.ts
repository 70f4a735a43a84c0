import type { Pool } from "pg";
import type { Logger } from "../logger.ts";

/**
 * Fixed-window budgets shared by every API process, without a database write
 * per request (issue 24).
 *
 * Each process reserves a chunk of a key's limit for the current window from
 * PostgreSQL (`ops_private.rate_limit_reserve`, which never grants past the
 * limit), spends it in memory and reserves again when it runs out, ahead of
 * time when the chunk is large enough to be worth it. So:
 *
 * - **all processes together never admit more than the limit in a window**:
 *   every admitted request spent a unit the database granted for that window,
 *   and a chunk is dropped when its window ends by the local clock, measured
 *   from the moment the reservation was sent (so never later than the
 *   database's window end);
 * - what a client can lose is quota reserved and not spent: a process that
 *   dies, or that the load balancer stops sending this client to, keeps its
 *   chunk until the window ends. A process holds at most one chunk of a key
 *   (a reservation ahead of time tops it up to one chunk), a chunk is at most
 *   `maxChunk(limit)` (limit / 32), starts at 8, doubles while one is used up
 *   within `chunkTargetMs` (10 s) and halves when one lasts four times that,
 *   and is at most a quarter of what the window has left, so
 *   with N processes a client is admitted at least limit − (N − 1) ×
 *   maxChunk(limit) in a window before its first refusal;
 * - once the database says a window is all reserved, the process refuses that
 *   key in memory until the window ends: a flood past the limit costs nothing;
 * - `strict` budgets (sign-in attempts) reserve exactly what each request
 *   needs, every time: a per-attempt check in the database, as before.
 *
 * Limits below 32 reserve one unit at a time (the chunk cap is 1), so small
 * limits are exact across processes.
 */

export interface QuotaRequest {
  key: string;
  /** Units per window (> 0). */
  limit: number;
  windowSeconds: number;
  /** Units this request spends (default 1). */
  count?: number;
  /** Reserve exactly `count` in the database for each request, never from a local chunk. */
  strict?: boolean;
}

export type QuotaAnswer =
  | { ok: true }
  /** `index`: the request in the list that was refused; `retryAfter`: seconds until its window resets (≥ 1). */
  | { ok: false; index: number; retryAfter: number };

export interface Quotas {
  /**
   * Spends each request's units, in order; when one is refused, what the
   * earlier ones took from local chunks goes back and the answer names it.
   * If the store cannot be reached, the request goes through (logged).
   */
  take(requests: readonly QuotaRequest[]): Promise<QuotaAnswer>;
  /** Keys held in memory now. */
  size(): number;
  /** Reservation calls made so far (each one round trip, possibly for several keys). */
  reservationCalls(): number;
}

export interface QuotaOptions {
  /** A chunk aims to last this long at the key's recent rate in this process (ms). */
  chunkTargetMs?: number;
  /** Keys kept in memory at most; past it the oldest are forgotten (their unspent chunks are lost, never over-spent). */
  maxKeys?: number;
  /** How often expired keys are dropped and the table pruned (ms). */
  sweepMs?: number;
  /** Called for each reservation round trip (metrics). */
  onReservation?: () => void;
}

/** Largest chunk a process reserves for a limit: with N processes, at most (N − 1) × this is left unspent elsewhere. */
export function maxChunk(limit: number): number {
  return Math.max(1, Math.min(65_536, Math.floor(limit / 32)));
}

/** A new key's first chunk: a few requests' worth, within the cap. */
const firstChunk = (limit: number) => Math.min(8, maxChunk(limit));

/** Of what a window has left, the share one reservation may take at most (1 / this). */
const nearLimitShare = 4;

interface Bucket {
  limit: number;
  windowSeconds: number;
  /** Units reserved here for the current window and not spent. */
  left: number;
  /** Local time (ms) by which the current window has ended; 0 before the first grant. */
  endsAt: number;
  /** The window's limit is all reserved: refuse until endsAt. */
  exhausted: boolean;
  /** Size of the next reservation (adapted to the key's rate). */
  chunk: number;
  /** The database's figure after the last grant: how much of the window is reserved. */
  reserved: number;
  lastGrantAt: number;
  pending: Promise<void> | null;
}

interface Reservation {
  key: string;
  windowSeconds: number;
  limit: number;
  want: number;
  resolve(row: ReserveRow): void;
  reject(error: unknown): void;
}

interface ReserveRow {
  key: string;
  granted: number;
  reserved: number;
  resets_in_ms: number;
}

const reserveSql = "select * from ops_private.rate_limit_reserve($1, $2, $3, $4)";

export function createQuotas(pool: Pool, logger: Logger, options: QuotaOptions = {}): Quotas {
  // Long enough that a slow key (a user at a few requests a second) reserves once every few dozen requests.
  const chunkTargetMs = options.chunkTargetMs ?? 10_000;
  const maxKeys = options.maxKeys ?? 100_000;
  const sweepMs = options.sweepMs ?? 60_000;
  const buckets = new Map<string, Bucket>();
  let calls = 0;
  let lastSweep = Date.now();

  // Reservations asked for in the same turn of the event loop go in one call.
  let queue: Reservation[] = [];
  const flush = () => {
    const batch = queue;
    queue = [];
    calls += 1;
    options.onReservation?.();
    const sentAt = Date.now();
    pool
      .query<ReserveRow>(reserveSql, [batch.map((r) => r.key), batch.map((r) => r.windowSeconds), batch.map((r) => r.limit), batch.map((r) => r.want)])
      .then(
        ({ rows }) => {
          const byKey = new Map(rows.map((row) => [row.key, row]));
          for (const r of batch) {
            const row = byKey.get(r.key);
            if (row) r.resolve({ ...row, resets_in_ms: sentAt + row.resets_in_ms });
            else r.reject(new Error(`rate_limit_reserve returned no row for ${r.key}`));
          }
        },
        (error: unknown) => {
          for (const r of batch) r.reject(error);
        },
      );
  };
  /** Resolves with the row, `resets_in_ms` turned into the local time the window ends by. */
  const reserve = (key: string, bucket: Bucket, want: number) =>
    new Promise<ReserveRow>((resolve, reject) => {
      queue.push({ key, windowSeconds: bucket.windowSeconds, limit: bucket.limit, want, resolve, reject });
      if (queue.length === 1) queueMicrotask(flush);
    });

  const sweep = (now: number) => {
    lastSweep = now;
    for (const [key, bucket] of buckets) if (now >= bucket.endsAt && !bucket.pending) buckets.delete(key);
    pool.query("select ops_private.rate_limit_prune($1)", [3600]).catch((error: unknown) => logger.warn({ err: error }, "pruning rate-limit reservations failed"));
  };

  const bucketOf = (request: QuotaRequest, now: number): Bucket => {
    let bucket = buckets.get(request.key);
    if (!bucket) {
      if (buckets.size >= maxKeys) {
        for (const [key, old] of buckets) {
          if (old.pending) continue;
          buckets.delete(key);
          break;
        }
      }
      bucket = { limit: request.limit, windowSeconds: request.windowSeconds, left: 0, endsAt: 0, exhausted: false, chunk: firstChunk(request.limit), reserved: 0, lastGrantAt: now, pending: null };
      buckets.set(request.key, bucket);
    } else if (bucket.limit !== request.limit || bucket.windowSeconds !== request.windowSeconds) {
      Object.assign(bucket, { limit: request.limit, windowSeconds: request.windowSeconds, left: 0, endsAt: 0, exhausted: false, chunk: firstChunk(request.limit) });
    }
    if (bucket.endsAt !== 0 && now >= bucket.endsAt) {
      // The window is over: what is left of its chunk is void.
      bucket.left = 0;
      bucket.exhausted = false;
      bucket.reserved = 0;
      bucket.endsAt = 0;
    }
    return bucket;
  };

  /** Records a grant; a grant for a later window than the bucket's replaces what was left of the earlier one. */
  const receive = (bucket: Bucket, row: ReserveRow, strict: boolean) => {
    const now = Date.now();
    const newWindow = bucket.endsAt === 0 || row.resets_in_ms - bucket.endsAt > bucket.windowSeconds * 500;
    if (!strict) {
      bucket.left = newWindow ? row.granted : bucket.left + row.granted;
      // Adapt: a chunk used up within the target doubles, one that lasted four times as long halves.
      const lasted = now - bucket.lastGrantAt;
      if (lasted < chunkTargetMs) bucket.chunk = Math.min(bucket.chunk * 2, maxChunk(bucket.limit));
      else if (lasted > chunkTargetMs * 4) bucket.chunk = Math.max(1, Math.floor(bucket.chunk / 2));
      bucket.chunk = Math.min(bucket.chunk, maxChunk(bucket.limit));
    }
    bucket.lastGrantAt = now;
    bucket.reserved = row.reserved;
    bucket.exhausted = row.reserved >= bucket.limit;
    bucket.endsAt = row.resets_in_ms;
  };

  /** How much the next reservation asks for: enough to hold one chunk here (never more), less near the limit. */
  const wantOf = (bucket: Bucket, atLeast: number) => {
    const windowLeft = bucket.endsAt === 0 ? bucket.limit : bucket.limit - bucket.reserved;
    return Math.max(atLeast, Math.min(bucket.chunk - bucket.left, Math.ceil(windowLeft / nearLimitShare)));
  };

  const refill = (key: string, bucket: Bucket, atLeast: number): Promise<void> => {
    bucket.pending ??= reserve(key, bucket, wantOf(bucket, atLeast))
      .then((row) => receive(bucket, row, false))
      .finally(() => {
        bucket.pending = null;
      });
    return bucket.pending;
  };

  const retryAfterOf = (bucket: Bucket, now: number) => Math.max(1, Math.ceil((bucket.endsAt - now) / 1000));

  /** Takes `count` from a local chunk; null when the chunk has too little (then a reservation is needed), false when refused. */
  const spendLocal = (key: string, bucket: Bucket, count: number): boolean | null => {
    if (bucket.left >= count) {
      bucket.left -= count;
      // Reserve ahead, so requests rarely wait; not for small chunks, where it would hold back another process's share.
      if (!bucket.pending && !bucket.exhausted && bucket.chunk >= 4 && bucket.left <= bucket.chunk / 4) {
        refill(key, bucket, 1).catch((error: unknown) => logger.warn({ err: error }, "rate limit reservation failed"));
      }
      return true;
    }
    if (bucket.exhausted) return false;
    return null;
  };

  /** One request's units of one key: true (spent), or the refusal's retry-after. */
  const takeOne = async (request: QuotaRequest, count: number): Promise<true | number> => {
    const now = Date.now();
    const bucket = bucketOf(request, now);
    if (request.strict) {
      if (bucket.exhausted) return retryAfterOf(bucket, now);
      const row = await reserve(request.key, bucket, count);
      receive(bucket, row, true);
      return row.granted >= count ? true : retryAfterOf(bucket, Date.now());
    }
    // Ends: each reservation grants at least one unit or finds the window all reserved.
    for (;;) {
      const spent = spendLocal(request.key, bucket, count);
      if (spent === true) return true;
      if (spent === false) return retryAfterOf(bucket, Date.now());
      if (bucket.pending) await bucket.pending;
      else await refill(request.key, bucket, count - bucket.left);
      // The window may have ended while waiting.
      if (bucket.endsAt !== 0 && Date.now() >= bucket.endsAt) bucketOf(request, Date.now());
    }
  };

  return {
    async take(requests) {
      const now = Date.now();
      if (now - lastSweep > sweepMs || buckets.size >= maxKeys) sweep(now);
      const taken: Array<{ bucket: Bucket; count: number; endsAt: number }> = [];
      for (let index = 0; index < requests.length; index++) {
        const request = requests[index]!;
        const count = request.count ?? 1;
        if (request.limit <= 0 || count <= 0) continue;
        let result: true | number;
        try {
          result = await takeOne(request, count);
        } catch (error) {
          logger.warn({ err: error, key: request.key }, "rate limit store unavailable; request let through");
          continue;
        }
        if (result !== true) {
          // Units this request took from other keys' chunks were not used: back they go, if their window is still on.
          for (const t of taken) if (t.bucket.endsAt === t.endsAt) t.bucket.left += t.count;
          return { ok: false, index, retryAfter: result };
        }
        if (!request.strict) {
          const bucket = buckets.get(request.key);
          if (bucket) taken.push({ bucket, count, endsAt: bucket.endsAt });
        }
      }
      return { ok: true };
    },
    size: () => buckets.size,
    reservationCalls: () => calls,
  };
}
