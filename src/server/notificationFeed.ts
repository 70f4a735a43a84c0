/**
 * The realtime feed of `notificationAdded`: one poller per API process asks
 * PostgreSQL, every `pollIntervalMs`, for the notifications committed since
 * its previous question, for the users it has live subscribers for, and hands
 * each id to those users' subscriptions (plugins/realtime.ts re-reads the row
 * as the subscriber, so RLS decides what arrives).
 *
 * Why not LISTEN/NOTIFY: a `pg_notify` in the writer's transaction makes
 * PostgreSQL take its database-wide notify lock before the commit record and
 * hold it until after the WAL flush, so every transaction that notified a user
 * committed one at a time (pgbench: 6-8x fewer commits at 16 clients). Polling
 * costs the writer nothing but an index entry, costs the server one query per
 * interval whatever the number of subscribers, and works through a
 * transaction pooler.
 *
 * "Committed since" is exact (outbox_private.notifications_committed_since,
 * split 2370): the cursor is the snapshot of the previous question, so a
 * transaction that committed late is still found, and nothing is lost while
 * the database is briefly unreachable: the next answer covers the gap.
 */
import type { Pool } from "pg";
import type { GrafastSubscriber } from "postgraphile/grafast";
import type { Logger } from "../logger.ts";

/** What a subscription receives: the JSON text `{"id": "<notification_id>"}`. */
export type NotificationFeedEvent = string;

export interface NotificationFeedOptions {
  /** How often the process asks; an event arrives at most this long after its commit (plus the query). Default 250 ms. */
  pollIntervalMs?: number;
  /**
   * After asking fails for this long, live subscriptions end with
   * SUBSCRIPTION_INTERRUPTED, so clients learn that the push is down instead
   * of waiting silently. Default 30 s.
   */
  interruptAfterMs?: number;
}

/** A grafast pubsub whose topic is a user id (taken from a verified token, never from an argument). */
export type NotificationFeed = GrafastSubscriber<Record<string, NotificationFeedEvent>> & { release(): Promise<void> };

/** Ends a subscription when the feed can no longer promise that nothing was missed (plugins/errors.ts codes it). */
export class NotificationFeedInterrupted extends Error {
  constructor(reason: string) {
    super(`The realtime feed was interrupted (${reason}); subscribe again and re-query what the subscription covers.`);
    this.name = "NotificationFeedInterrupted";
  }
}

export const defaultPollIntervalMs = 250;
export const defaultInterruptAfterMs = 30_000;

const pollSql =
  "select snapshot::text, notification_id::text, user_id::text from outbox_private.notifications_committed_since($1::pg_snapshot, $2::uuid[])";

type Row = { snapshot: string | null; notification_id: string | null; user_id: string | null };

/** A subscription's end: its queue of events, waiting readers, and how it finished. */
class Subscription implements AsyncIterableIterator<NotificationFeedEvent> {
  private readonly events: NotificationFeedEvent[] = [];
  private readonly readers: Array<{ resolve: (result: IteratorResult<NotificationFeedEvent>) => void; reject: (error: unknown) => void }> = [];
  private ended: { error?: unknown } | null = null;
  private readonly onEnd: (subscription: Subscription) => void;

  constructor(onEnd: (subscription: Subscription) => void) {
    this.onEnd = onEnd;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  push(event: NotificationFeedEvent): void {
    if (this.ended) return;
    const reader = this.readers.shift();
    if (reader) reader.resolve({ done: false, value: event });
    else this.events.push(event);
  }

  next(): Promise<IteratorResult<NotificationFeedEvent>> {
    const event = this.events.shift();
    if (event !== undefined) return Promise.resolve({ done: false, value: event });
    if (this.ended) return this.ended.error ? Promise.reject(this.ended.error) : Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => this.readers.push({ resolve, reject }));
  }

  /** The client unsubscribed (or the socket closed). */
  return(): Promise<IteratorResult<NotificationFeedEvent>> {
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  throw(error?: unknown): Promise<IteratorResult<NotificationFeedEvent>> {
    this.end(error);
    return Promise.reject(error);
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = error === undefined ? {} : { error };
    this.events.length = 0;
    for (const reader of this.readers.splice(0)) {
      if (error === undefined) reader.resolve({ done: true, value: undefined });
      else reader.reject(error);
    }
    this.onEnd(this);
  }
}

/**
 * A promise with its settlers (Promise.withResolvers, which this project's
 * TypeScript lib does not declare). Rejecting it with nobody waiting is not
 * an unhandled rejection: waiters still get the error.
 */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** xmax of a pg_snapshot's text form `xmin:xmax:xip,…`: below it every transaction has ended. */
function xmaxOf(snapshot: string): bigint {
  return BigInt(snapshot.split(":")[1] ?? "0");
}

export function createNotificationFeed(pool: Pool, logger: Logger, options: NotificationFeedOptions = {}): NotificationFeed {
  const pollIntervalMs = options.pollIntervalMs ?? defaultPollIntervalMs;
  const interruptAfterMs = options.interruptAfterMs ?? defaultInterruptAfterMs;
  const byUser = new Map<string, Set<Subscription>>();
  /** The previous answer's snapshot; null until the first answer. */
  let snapshot: string | null = null;
  let failingSince: number | null = null;
  let alive = true;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();
  /** Subscribers waiting for the first snapshot: they must register after it was taken. */
  let firstSnapshot = deferred();

  const remove = (userId: string) => (subscription: Subscription) => {
    const set = byUser.get(userId);
    set?.delete(subscription);
    if (set?.size === 0) byUser.delete(userId);
  };

  /** Ends every live subscription with the interruption (they re-subscribe and re-query). */
  function interrupt(reason: string): void {
    const error = new NotificationFeedInterrupted(reason);
    const live = [...byUser.values()].flatMap((set) => [...set]);
    byUser.clear();
    for (const subscription of live) subscription.end(error);
    if (live.length > 0) logger.warn({ subscriptions: live.length, reason }, "realtime feed interrupted: subscriptions ended");
  }

  async function poll(): Promise<void> {
    const users = [...byUser.keys()];
    let rows: Row[];
    try {
      rows = (await pool.query<Row>(pollSql, [snapshot, users])).rows;
    } catch (error) {
      const now = Date.now();
      failingSince ??= now;
      logger.warn({ err: error, failingForMs: now - failingSince }, "realtime feed: poll failed");
      if (now - failingSince >= interruptAfterMs) {
        interrupt("the database did not answer");
        // Never answered yet: subscribers waiting for the first snapshot give up too; later ones wait anew.
        if (snapshot === null) {
          firstSnapshot.reject(new NotificationFeedInterrupted("the database did not answer"));
          firstSnapshot = deferred();
        }
        failingSince = now;
      }
      return;
    }
    failingSince = null;
    const next = rows.find((row) => row.snapshot !== null)?.snapshot;
    if (!next) throw new Error("notifications_committed_since returned no snapshot");
    const previous = snapshot;
    snapshot = next;
    if (previous === null) {
      firstSnapshot.resolve();
      return;
    }
    // Transaction ids never go back on one database; if they did (a restore, a
    // failover to a replica that was behind), ids seen before may be reused and
    // their rows skipped: say so rather than miss them silently.
    if (xmaxOf(next) < xmaxOf(previous)) {
      interrupt("the database's transaction ids went back");
      return;
    }
    const found = rows
      .filter((row): row is Row & { notification_id: string; user_id: string } => row.notification_id !== null && row.user_id !== null)
      .sort((a, b) => (BigInt(a.notification_id) < BigInt(b.notification_id) ? -1 : 1));
    for (const row of found) {
      const event = `{"id":"${row.notification_id}"}`;
      for (const subscription of byUser.get(row.user_id) ?? []) subscription.push(event);
    }
  }

  /** One poll, then the next one an interval after it ends. */
  function pollThenSchedule(): void {
    polling = poll()
      .catch((error) => logger.error({ err: error }, "realtime feed: poll crashed"))
      .finally(() => {
        if (!alive) return;
        timer = setTimeout(pollThenSchedule, pollIntervalMs);
        timer.unref();
      });
  }

  // The first question now: subscribers wait for its snapshot.
  pollThenSchedule();

  return {
    async subscribe(topic) {
      const userId = String(topic);
      if (!alive) throw new NotificationFeedInterrupted("the server is shutting down");
      // Registered after a snapshot exists and between two polls: the next poll
      // asks for this user from the last poll's snapshot, so everything
      // committed from now on is found (and perhaps a little from just
      // before). Registering during a poll would let that poll's new snapshot
      // cover commits it did not ask this user's rows for.
      await firstSnapshot.promise;
      await polling;
      const subscription = new Subscription(remove(userId));
      const set = byUser.get(userId) ?? new Set();
      set.add(subscription);
      byUser.set(userId, set);
      return subscription;
    },
    async release() {
      alive = false;
      clearTimeout(timer);
      await polling;
      for (const subscription of [...byUser.values()].flatMap((set) => [...set])) subscription.end();
      byUser.clear();
    },
  };
}
