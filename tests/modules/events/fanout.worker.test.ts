import { runOnce } from "graphile-worker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { taskList } from "../../../src/worker/tasks/index.ts";
import { notifyFollowersBatchSize } from "../../../src/worker/tasks/events_notify_followers.ts";
import { rootDb, workerPool } from "../../helpers/db.ts";

// The follower fan-out through the worker, on committed data: publishing a
// public event enqueues events_notify_followers, which tells every follower of
// the organization who wants it, exactly once, even when the job runs again.

const ownerPool = workerPool();
const tag = `fan${process.pid}${Date.now().toString(36)}`;
const followers = notifyFollowersBatchSize + 20; // two batches
let organizationId = "";
let optedOut = "";
let bystander = "";

const run = () => runOnce({ pgPool: ownerPool, taskList: { events_notify_followers: taskList.events_notify_followers! }, noHandleSignals: true });

/** A published event of the organization (as trusted code); returns its id. */
async function publish(title: string, visibility = "public"): Promise<string> {
  const db = rootDb();
  const { rows } = await db.query<{ event_id: string }>(
    `insert into events.events (owner_context_id, title, starts_at, ends_at, visibility)
     values ($1, $2, now() + interval '10 days', now() + interval '10 days 2 hours', $3) returning event_id`,
    [organizationId, title, visibility],
  );
  const id = rows[0]!.event_id;
  await db.query("update events.events set status = 'published' where event_id = $1", [id]);
  return id;
}

/** Notifications of an event, per recipient. */
async function notificationsOf(eventId: string): Promise<Map<string, number>> {
  const { rows } = await rootDb().query<{ user_id: string; n: number }>(
    "select user_id, count(*)::int as n from outbox.notifications where topic = 'event.published' and payload ->> 'eventId' = $1 group by user_id",
    [eventId],
  );
  return new Map(rows.map((row) => [row.user_id, row.n]));
}

beforeAll(async () => {
  const db = rootDb();
  const { rows: users } = await db.query<{ user_id: string }>(
    `insert into auth.users (username, email) select $1 || 'u' || i, $1 || 'u' || i || '@example.com' from generate_series(1, $2) i returning user_id`,
    [tag, followers + 1],
  );
  const { rows: organizations } = await db.query<{ organization_id: string }>(
    "insert into auth.organizations (name, slug) values ($1, $2) returning organization_id",
    [`Fan-out ${tag}`, tag.toLowerCase()],
  );
  organizationId = organizations[0]!.organization_id;
  bystander = users.pop()!.user_id;
  await db.query(
    "insert into users.follows (follower_id, followed_organization_id) select unnest($1::uuid[]), $2",
    [users.map((user) => user.user_id), organizationId],
  );
  optedOut = users[0]!.user_id;
  await db.query(`update users.settings set notification_preferences = '{"in_app": {"event_published": false}}' where user_id = $1`, [optedOut]);
});

afterAll(async () => {
  await rootDb().query("delete from auth.organizations where organization_id = $1", [organizationId]);
  await rootDb().query("delete from auth.users where username like $1 || 'u%'", [tag]);
  await ownerPool.end();
});

describe("events_notify_followers", () => {
  it("keeps the organization's follower count without scanning the follows", async () => {
    const { rows } = await rootDb().query("select followers from users.organization_follow_counts where organization_id = $1", [organizationId]);
    expect(rows).toEqual([{ followers: String(followers) }]);
  });

  it("notifies every follower who wants it exactly once, in batches, even when the job runs twice", async () => {
    const eventId = await publish("Fan-out night");
    const queued = await rootDb().query("select 1 from graphile_worker.jobs where task_identifier = 'events_notify_followers' and key = $1", [`events_notify_followers:${eventId}`]);
    expect(queued.rowCount).toBe(1);
    await run();
    let received = await notificationsOf(eventId);
    expect(received.size).toBe(followers - 1);
    expect([...received.values()].every((n) => n === 1)).toBe(true);
    expect(received.has(optedOut)).toBe(false);
    expect(received.has(bystander)).toBe(false);

    // The same job again (a retry, a replay by an operator): nobody hears twice.
    await ownerPool.query("select graphile_worker.add_job('events_notify_followers', json_build_object('id', $1::text))", [eventId]);
    await run();
    received = await notificationsOf(eventId);
    expect(received.size).toBe(followers - 1);
    expect([...received.values()].every((n) => n === 1)).toBe(true);

    // Each notification points at the outbox event of the publication.
    const linked = await rootDb().query<{ linked: number }>(
      `select count(*)::int as linked from outbox.notifications n join outbox.events e on e.event_id = n.event_id
        where n.payload ->> 'eventId' = $1 and e.topic = 'event.published' and e.aggregate_id = $1`,
      [eventId],
    );
    expect(linked.rows[0]!.linked).toBe(followers - 1);
  });

  it("does nothing for an event cancelled before the job ran, or one that is not public", async () => {
    const cancelled = await publish("Called off");
    await rootDb().query("update events.events set status = 'cancelled' where event_id = $1", [cancelled]);
    const hidden = await publish("Members only", "private");
    await run();
    expect((await notificationsOf(cancelled)).size).toBe(0);
    expect((await notificationsOf(hidden)).size).toBe(0);
    // A private event is not even enqueued.
    const queued = await rootDb().query("select 1 from graphile_worker.jobs where key = $1", [`events_notify_followers:${hidden}`]);
    expect(queued.rowCount).toBe(0);
  });
});
