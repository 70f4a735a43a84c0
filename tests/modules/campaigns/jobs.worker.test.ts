import { randomUUID } from "node:crypto";
import { runOnce } from "graphile-worker";
import { afterAll, describe, expect, it } from "vitest";
import { taskList } from "../../../src/worker/tasks/index.ts";
import { rootDb, workerPool } from "../../helpers/db.ts";
import { uniqueName } from "../../helpers/fixtures.ts";
import { fundOrganization } from "../sponsorship/fixtures.ts";

// The campaigns jobs through graphile-worker, on committed data.

const ownerPool = workerPool();
afterAll(() => ownerPool.end());

async function runTask(name: "campaigns_settle_spend" | "analytics_create_partitions") {
  await rootDb().query("select graphile_worker.add_job($1, '{}'::json)", [name]);
  await runOnce({ pgPool: ownerPool, taskList: { [name]: taskList[name]! }, noHandleSignals: true });
}

describe("campaigns jobs", () => {
  it("settle counted spend through the ledger, and analytics' partition job keeps the coming months of ad impressions", async () => {
    const db = rootDb();
    const slug = uniqueName("cj", "-").toLowerCase();
    const { rows: [org] } = await db.query<{ id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id as id", [slug]);
    await fundOrganization(db, org!.id, 10_000);
    const { rows: [campaign] } = await db.query<{ id: string }>(
      "insert into campaigns.campaigns (organization_id, name, budget, impression_rate) values ($1, 'Jobs', 1000, 4) returning campaign_id as id", [org!.id]);
    const { rows: [creative] } = await db.query<{ id: string }>(
      "insert into campaigns.ad_creatives (campaign_id, format, content) values ($1, 'text', '{}') returning creative_id as id", [campaign!.id]);
    await db.query("update campaigns.ad_creatives set approval_status = 'approved' where creative_id = $1", [creative!.id]);
    await db.query("update campaigns.campaigns set status = 'active' where campaign_id = $1", [campaign!.id]);
    await db.query("select campaigns_private.record_impressions($1, $2, $3::uuid[], null, now(), true)",
      [campaign!.id, creative!.id, Array.from({ length: 30 }, () => randomUUID())]);

    await runTask("campaigns_settle_spend");
    const { rows: [spend] } = await db.query<{ amount: string; impressions: string }>("select amount, impressions from campaigns.ad_spend_ledger where campaign_id = $1", [campaign!.id]);
    expect(spend).toEqual({ amount: "120", impressions: "30" });
    const { rows: [reconciled] } = await db.query<{ consistent: boolean }>("select consistent from campaigns.reconcile($1)", [campaign!.id]);
    expect(reconciled!.consistent).toBe(true);

    // The furthest month ahead (empty) is missing; analytics' partition job (one mechanism for every monthly table) makes it again.
    const { rows: [furthest] } = await db.query<{ name: string }>(
      `select to_char(date_trunc('month', now() at time zone 'UTC') + interval '3 months', '"ad_impressions_"YYYY"_"MM') as name`);
    await db.query(`alter table campaigns.ad_impressions detach partition analytics_private.${furthest!.name}`);
    await db.query(`drop table analytics_private.${furthest!.name}`);
    await runTask("analytics_create_partitions");
    const { rows } = await db.query<{ name: string }>(
      `select to_char(date_trunc('month', now() at time zone 'UTC') + make_interval(months => i), '"ad_impressions_"YYYY"_"MM') as name
         from generate_series(0, 3) i
        where to_regclass('analytics_private.' || to_char(date_trunc('month', now() at time zone 'UTC') + make_interval(months => i), '"ad_impressions_"YYYY"_"MM')) is null`);
    expect(rows).toEqual([]);
    const { rows: [attached] } = await db.query<{ n: number }>(
      "select count(*)::int as n from pg_inherits where inhparent = 'campaigns.ad_impressions'::regclass and inhrelid = ('analytics_private.' || $1)::regclass", [furthest!.name]);
    expect(attached!.n).toBe(1);
  });
});
