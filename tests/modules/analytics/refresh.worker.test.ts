import { runOnce } from "graphile-worker";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { taskList } from "../../../src/worker/tasks/index.ts";
import { rootDb, workerPool } from "../../helpers/db.ts";

// The hourly refresh on committed data: REFRESH … CONCURRENTLY lets readers
// go on (they see the previous contents until it commits), where a plain
// refresh would lock them out. Run through the worker task, then by hand with
// a reader that gives up after a short lock timeout.

const ownerPool = workerPool();
const tag = `anr${process.pid}${Date.now().toString(36)}`;
let eventId = "";

async function impressions(n: number) {
  await rootDb().query(
    `insert into analytics.event_impressions (event_id, client_id, occurred_at) select $1, $2 || i, now() - interval '1 hour' from generate_series(1, $3) i`,
    [eventId, `${tag}-${Date.now()}-`, n],
  );
}

async function views(client: pg.PoolClient | pg.Pool): Promise<number> {
  const { rows } = await client.query<{ n: number }>("select coalesce(sum(total_views), 0)::int as n from analytics.mv_event_daily_stats where event_id = $1", [eventId]);
  return rows[0]!.n;
}

beforeAll(async () => {
  const db = rootDb();
  const { rows } = await db.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id", [tag]);
  const created = await db.query<{ event_id: string }>(
    `insert into events.events (owner_context_id, title, starts_at, ends_at, status, published_at) values ($1, 'Refresh', now() + interval '1 day', now() + interval '2 days', 'draft', null) returning event_id`,
    [rows[0]!.organization_id],
  );
  eventId = created.rows[0]!.event_id;
  await impressions(5);
});

afterAll(async () => {
  await ownerPool.end();
});

describe("refreshing the daily stats", () => {
  it("is done by the analytics_refresh_stats task", async () => {
    expect(await views(rootDb())).toBe(0);
    const { rows } = await ownerPool.query("select graphile_worker.add_job('analytics_refresh_stats', '{}'::json)");
    expect(rows.length).toBe(1);
    await runOnce({ pgPool: ownerPool, taskList: { analytics_refresh_stats: taskList.analytics_refresh_stats! }, noHandleSignals: true });
    expect(await views(rootDb())).toBe(5);
  });

  it("never blocks readers while it runs concurrently, where a plain refresh does", async () => {
    await impressions(3);
    const refresher = await rootDb().connect();
    const reader = await rootDb().connect();
    try {
      await refresher.query("begin");
      await refresher.query("refresh materialized view concurrently analytics.mv_event_daily_stats");
      // Uncommitted refresh: the reader is not blocked and sees the previous contents.
      await reader.query("set lock_timeout = '500ms'");
      expect(await views(reader)).toBe(5);
      await refresher.query("commit");
      expect(await views(reader)).toBe(8);

      // The contrast that makes the test mean something: a plain refresh takes ACCESS EXCLUSIVE.
      await refresher.query("begin");
      await refresher.query("refresh materialized view analytics.mv_event_daily_stats");
      const blocked = await views(reader).then(
        () => "read",
        (error: { code?: string }) => error.code,
      );
      expect(blocked).toBe("55P03");
      await refresher.query("rollback");
      expect(await views(reader)).toBe(8);
    } finally {
      refresher.release();
      reader.release();
    }
  });
});
