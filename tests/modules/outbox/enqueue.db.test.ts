import { describe, expect, it } from "vitest";
import { uniqueName } from "../../helpers/fixtures.ts";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";

/**
 * How the fan-out enqueues delivery partitions, seen through graphile-worker's
 * public jobs view: each partition once per transaction (a job's revision
 * counts the add_jobs calls that rewrote it), again after a rolled-back
 * savepoint, and "now" over a later time. Every transaction is rolled back,
 * so no worker sees these jobs.
 */
async function organizationWithHook(tx: TestTransaction): Promise<string> {
  return (await hook(tx)).organizationId;
}

async function hook(tx: TestTransaction): Promise<{ organizationId: string; subscriptionId: string }> {
  const { rows } = await tx.query<{ organization_id: string }>(
    "insert into auth.organizations (name, slug) values ('Enqueue test', $1) returning organization_id",
    [uniqueName("enqueue", "-")],
  );
  const organizationId = rows[0]!.organization_id;
  const { rows: subscriptions } = await tx.query<{ subscription_id: string }>(
    "insert into outbox.webhook_subscriptions (organization_id, url, topics) values ($1, 'http://127.0.0.1:9/', '{*}') returning subscription_id",
    [organizationId],
  );
  return { organizationId, subscriptionId: subscriptions[0]!.subscription_id };
}

/** Publishes an event about one aggregate and returns its delivery partition's job key. */
async function publish(tx: TestTransaction, organizationId: string, aggregateId: string): Promise<string> {
  const { rows: events } = await tx.query<{ event_id: string }>(
    "select outbox.publish('webhook.test', '{}'::jsonb, 'thing', $1, $2) as event_id",
    [aggregateId, organizationId],
  );
  const { rows } = await tx.query<{ partition: number }>("select partition from outbox.dispatches where event_id = $1", [events[0]!.event_id]);
  return `outbox:${rows[0]!.partition}`;
}

async function jobOf(tx: TestTransaction, key: string) {
  const { rows } = await tx.query<{ revision: number; due_now: boolean }>(
    "select revision, run_at <= now() as due_now from graphile_worker.jobs where key = $1",
    [key],
  );
  return rows;
}

describe("outbox partition jobs", () => {
  it("are enqueued once per transaction, however many events it publishes in the partition", async () => {
    await withTransaction(async (tx) => {
      const organizationId = await organizationWithHook(tx);
      const key = await publish(tx, organizationId, "once");
      const [first] = await jobOf(tx, key);
      expect(first).toMatchObject({ due_now: true });
      await publish(tx, organizationId, "once");
      await publish(tx, organizationId, "once");
      expect(await jobOf(tx, key)).toEqual([first]);
    });
  });

  it("are enqueued again after a savepoint that enqueued them is rolled back", async () => {
    await withTransaction(async (tx) => {
      const organizationId = await organizationWithHook(tx);
      await tx.query("savepoint before_publish");
      const key = await publish(tx, organizationId, "savepoint");
      await tx.query("rollback to savepoint before_publish");
      const before = await jobOf(tx, key);
      await publish(tx, organizationId, "savepoint");
      const after = await jobOf(tx, key);
      expect(after).toHaveLength(1);
      expect(after[0]).toMatchObject({ due_now: true });
      // Either the job is new, or a committed job of another test was rewritten once more.
      if (before.length > 0) expect(after[0]!.revision).toBe(before[0]!.revision + 1);
    });
  });

  it("are made due now by a publish after the transaction scheduled them for later", async () => {
    await withTransaction(async (tx) => {
      const { organizationId, subscriptionId } = await hook(tx);
      // An aggregate whose partition has no job yet (streams hash into partitions).
      const { rows } = await tx.query<{ aggregate_id: string; partition: number }>(
        `select a.aggregate_id, (pg_catalog.hashtext($1 || '/thing:' || a.aggregate_id) & 63)::int as partition
           from (select 'later-' || n as aggregate_id from generate_series(1, 200) n) a
          where not exists (select 1 from graphile_worker.jobs j where j.key = 'outbox:' || (pg_catalog.hashtext($1 || '/thing:' || a.aggregate_id) & 63))
          limit 1`,
        [subscriptionId],
      );
      const { aggregate_id: aggregateId, partition } = rows[0]!;
      const key = `outbox:${partition}`;
      // What the delivery job does when only retries are left (schedule_partition).
      await tx.query("select outbox_private.enqueue_partitions(array[$1]::smallint[], now() + interval '1 hour')", [partition]);
      expect(await jobOf(tx, key)).toMatchObject([{ due_now: false }]);
      expect(await publish(tx, organizationId, aggregateId)).toBe(key);
      expect(await jobOf(tx, key)).toMatchObject([{ due_now: true }]);
    });
  });
});
