import type { Pool, PoolClient } from "pg";
import { until } from "./until.ts";

/**
 * A subscription is live once the server has registered it, which happens
 * after the subscribe message arrives: tests commit probe notifications
 * (a real row for the user, this topic and message) until one comes back,
 * and ignore probes when they look at what arrived.
 */
export const probeTopic = "test.probe";
export const probeMessage = "probe";

/** Commits one probe notification for the user (as the owner: notify_user is not granted to API roles). */
export async function sendProbe(db: Pool | PoolClient, userId: string): Promise<void> {
  await db.query("select outbox.notify_user($1, $2, $3)", [userId, probeTopic, probeMessage]);
}

/**
 * Commits probes until `arrived()` says one came back over the subscription
 * (each probe is given `waitMs` to arrive): from then on it is live.
 */
export async function untilLive(db: Pool | PoolClient, userId: string, arrived: () => boolean, { waitMs = 300, timeoutMs = 15_000 } = {}): Promise<void> {
  await until(
    async () => {
      await sendProbe(db, userId);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      return arrived();
    },
    Boolean,
    { timeoutMs, intervalMs: 0, what: "a probe coming back over the subscription" },
  );
}
