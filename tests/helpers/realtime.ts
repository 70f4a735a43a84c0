import type { Pool, PoolClient } from "pg";

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
