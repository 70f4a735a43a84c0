import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { uniqueName } from "../../helpers/fixtures.ts";
import { fundOrganization } from "../sponsorship/fixtures.ts";

// Real concurrency on committed data: every batch runs on its own connection
// as gw_user with the advertiser's claims (acting in its organization), READ
// COMMITTED, exactly as the API does. Many batches race against a nearly
// exhausted budget (and, separately, a daily cap): the campaign spends exactly
// its budget (cap), never a unit more, and every counter agrees.

let pool: pg.Pool;
let root: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 32 });
  root = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 4 });
});
afterAll(async () => {
  await pool.end();
  await root.end();
});

interface Setup {
  claims: string;
  campaignId: string;
  creativeId: string;
}

/** An organization with an owner, a funded wallet and an active campaign with an approved creative; as root (committed). */
async function setUp(budget: number, dailyCap: number | null, rate: number): Promise<Setup> {
  const tag = uniqueName("cr", "-").toLowerCase();
  const { rows: [org] } = await root.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id", [tag]);
  const { rows: [user] } = await root.query<{ user_id: string }>(
    "insert into auth.users (username, email) values ($1, $1 || '@example.com') returning user_id", [tag.replace(/-/g, "_")]);
  await root.query("insert into auth.memberships (organization_id, user_id, role) values ($1, $2, 'owner')", [org!.organization_id, user!.user_id]);
  await fundOrganization(root, org!.organization_id, 10_000_000);
  const { rows: [campaign] } = await root.query<{ campaign_id: string }>(
    "insert into campaigns.campaigns (organization_id, name, budget, daily_cap, impression_rate) values ($1, 'Race', $2, $3, $4) returning campaign_id",
    [org!.organization_id, budget, dailyCap, rate]);
  const { rows: [creative] } = await root.query<{ creative_id: string }>(
    "insert into campaigns.ad_creatives (campaign_id, format, content) values ($1, 'banner', '{}') returning creative_id", [campaign!.campaign_id]);
  await root.query("update campaigns.ad_creatives set approval_status = 'approved' where creative_id = $1", [creative!.creative_id]);
  await root.query("update campaigns.campaigns set status = 'active' where campaign_id = $1", [campaign!.campaign_id]);
  const claims = JSON.stringify({ role: "gw_user", sub: user!.user_id, org_id: org!.organization_id, iat: Math.floor(Date.now() / 1000) });
  return { claims, campaignId: campaign!.campaign_id, creativeId: creative!.creative_id };
}

/** One batch on its own connection; returns what it counted (or the error code). */
async function batch(setup: Setup, n: number): Promise<{ accepted: number; refused: number } | string> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [setup.claims]);
    const { rows } = await client.query<{ accepted: number; refused: number }>(
      "select accepted, refused from campaigns.record_impressions($1, $2, $3::uuid[])",
      [setup.campaignId, setup.creativeId, Array.from({ length: n }, () => randomUUID())]);
    await client.query("commit");
    return rows[0]!;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    return (error as { code?: string }).code ?? "NO_CODE";
  } finally {
    client.release();
  }
}

async function totals(setup: Setup) {
  const { rows: [row] } = await root.query<{ spent: string; impressions: string; rows: string; cost: string; day: string }>(
    `select c.spent, c.impressions,
            (select count(*) from campaigns.ad_impressions i where i.campaign_id = c.campaign_id) as rows,
            (select coalesce(sum(cost), 0) from campaigns.ad_impressions i where i.campaign_id = c.campaign_id) as cost,
            (select coalesce(sum(spent), 0) from campaigns_private.daily_spend d where d.campaign_id = c.campaign_id) as day
       from campaigns.campaigns c where c.campaign_id = $1`, [setup.campaignId]);
  return row!;
}

describe("campaign budget under concurrency", () => {
  it("spends exactly the budget when 64 concurrent batches race for the last of it, never a unit more", async () => {
    // Budget 3,000 at rate 7: 428 impressions (2,996) fit; 64 batches of 25 ask for 1,600.
    const setup = await setUp(3_000, null, 7);
    const results = await Promise.all(Array.from({ length: 64 }, () => batch(setup, 25)));
    expect(results.filter((r) => typeof r === "string")).toEqual([]);
    const counted = results.reduce((sum, r) => sum + (r as { accepted: number }).accepted, 0);
    const refused = results.reduce((sum, r) => sum + (r as { refused: number }).refused, 0);
    expect(counted).toBe(428);
    expect(refused).toBe(1_600 - 428);
    expect(await totals(setup)).toEqual({ spent: "2996", impressions: "428", rows: "428", cost: "2996", day: "2996" });
  });

  it("never spends beyond the daily cap under 48 concurrent batches", async () => {
    const setup = await setUp(1_000_000, 500, 3);
    const results = await Promise.all(Array.from({ length: 48 }, () => batch(setup, 10)));
    expect(results.filter((r) => typeof r === "string")).toEqual([]);
    // 166 impressions (498) fit the cap of 500 at rate 3.
    expect(await totals(setup)).toEqual({ spent: "498", impressions: "166", rows: "166", cost: "498", day: "498" });
    // Settling the race: the ledger and the spend record agree with the rows.
    await root.query("select campaigns_private.settle_campaign($1, now())", [setup.campaignId]);
    const { rows: [reconciled] } = await root.query<{ consistent: boolean; ledger: string }>("select consistent, ledger from campaigns.reconcile($1)", [setup.campaignId]);
    expect(reconciled).toEqual({ consistent: true, ledger: "498" });
    expect((await root.query("select * from ledger.verify()")).rows).toEqual([]);
  });
});
