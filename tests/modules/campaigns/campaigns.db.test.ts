import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { countAsRoot, one } from "../../helpers/fixtures.ts";
import { createTenant } from "../events/fixtures.ts";
import { balance, revenueOf, verify } from "../sponsorship/fixtures.ts";
import { activeCampaign, clicks, createAdvertiser, footprint, ids, impressions } from "./fixtures.ts";

describe("campaigns: counting", () => {
  it("counts a batch once (a replayed batch is free), charges the impression rate, and stops at the budget", async () => {
    await withTransaction(async (tx) => {
      const ad = await createAdvertiser(tx, "cnt");
      const { campaignId, creativeId } = await activeCampaign(tx, ad, { budget: 250, impressionRate: 2 });
      const batch = ids(100);
      expect(await impressions(tx, ad.tenant.claims, campaignId, creativeId, batch)).toEqual({ accepted: 100, duplicates: 0, refused: 0, spent: "200", remaining: "50" });
      expect(await impressions(tx, ad.tenant.claims, campaignId, creativeId, batch)).toEqual({ accepted: 0, duplicates: 100, refused: 0, spent: "200", remaining: "50" });
      const more = ids(40);
      expect(await impressions(tx, ad.tenant.claims, campaignId, creativeId, [...more, more[0]!])).toEqual({ accepted: 25, duplicates: 1, refused: 15, spent: "250", remaining: "0" });
      expect(await countAsRoot(tx, "campaigns.ad_impressions where campaign_id = $1", [campaignId])).toBe(125);
      // Exhausted: no longer served.
      await tx.become(ad.tenant.claims);
      const servable = await one<{ s: boolean }>(tx, "select campaigns.campaigns_servable(c) as s from campaigns.campaigns c where campaign_id = $1", [campaignId]);
      expect(servable.s).toBe(false);
      expect(await impressions(tx, ad.tenant.claims, campaignId, creativeId, ids(5))).toMatchObject({ accepted: 0, refused: 5, spent: "250" });
    });
  });

  it("never spends beyond the daily cap in a UTC day, and starts again the next day", async () => {
    await withTransaction(async (tx) => {
      const ad = await createAdvertiser(tx, "cap");
      const { campaignId, creativeId } = await activeCampaign(tx, ad, { budget: 1_000, dailyCap: 30, impressionRate: 3 });
      expect(await impressions(tx, ad.tenant.claims, campaignId, creativeId, ids(12))).toMatchObject({ accepted: 10, refused: 2, spent: "30" });
      // The next day, by the time parameter of the function the API wrapper calls with now().
      const next = await tx.asRoot(() =>
        one<{ accepted: number; spent: string }>(tx, "select * from campaigns_private.record_impressions($1, $2, $3::uuid[], null, now() + interval '1 day', true)", [campaignId, creativeId, ids(12)]),
      );
      expect(next).toMatchObject({ accepted: 10, spent: "60" });
    });
  });

  it("counts one click per impression, refuses a batch with a click without an impression of the campaign, and charges the click rate", async () => {
    await withTransaction(async (tx) => {
      const ad = await createAdvertiser(tx, "clk");
      const { campaignId, creativeId } = await activeCampaign(tx, ad, { budget: 10_000, impressionRate: 1, clickRate: 10 });
      const other = await activeCampaign(tx, ad, { budget: 10_000 });
      const shown = ids(10);
      const otherShown = ids(1);
      await impressions(tx, ad.tenant.claims, campaignId, creativeId, shown);
      await impressions(tx, ad.tenant.claims, other.campaignId, other.creativeId, otherShown);
      expect(await clicks(tx, ad.tenant.claims, campaignId, shown.slice(0, 3))).toMatchObject({ accepted: 3, duplicates: 0, spent: "40" });
      expect(await clicks(tx, ad.tenant.claims, campaignId, [shown[0]!, shown[0]!, shown[3]!])).toMatchObject({ accepted: 1, duplicates: 2, spent: "50" });
      const before = await footprint(tx);
      expect(await tx.errorCode(() => clicks(tx, ad.tenant.claims, campaignId, [shown[4]!, ids(1)[0]!]))).toBe("CPIMP");
      expect(await tx.errorCode(() => clicks(tx, ad.tenant.claims, campaignId, otherShown))).toBe("CPIMP");
      expect(await footprint(tx)).toEqual(before);
      expect(await countAsRoot(tx, "campaigns.ad_clicks where campaign_id = $1", [campaignId])).toBe(4);
    });
  });

  it("refuses bad input with a coded error, writing nothing: another organization's campaign, a paused one, an unapproved creative, negative rates", async () => {
    await withTransaction(async (tx) => {
      const ad = await createAdvertiser(tx, "bad");
      const third = await createTenant(tx, "badt");
      const { campaignId, creativeId } = await activeCampaign(tx, ad);
      await tx.become(ad.tenant.claims);
      const { creative_id: pendingCreative } = await one<{ creative_id: string }>(
        tx, "insert into campaigns.ad_creatives (campaign_id, format, content) values ($1, 'text', '{}') returning creative_id", [campaignId]);
      const before = await footprint(tx);
      expect(await tx.errorCode(() => impressions(tx, third.claims, campaignId, creativeId, ids(3)))).toBe("NTFND");
      expect(await tx.errorCode(() => impressions(tx, ad.tenant.owner.claims, campaignId, creativeId, ids(3)))).toBe("NTFND");
      expect(await tx.errorCode(() => impressions(tx, ad.tenant.claims, campaignId, pendingCreative, ids(3)))).toBe("CPCRE");
      expect(await tx.errorCode(() => impressions(tx, ad.tenant.claims, campaignId, creativeId, ids(10_001)))).toBe("CPBAT");
      expect(await tx.errorCode(() => tx.query("select campaigns.record_impressions($1, $2, array[null]::uuid[])", [campaignId, creativeId]))).toBe("BADIN");
      await tx.become(ad.tenant.claims);
      await tx.query("update campaigns.campaigns set status = 'paused' where campaign_id = $1", [campaignId]);
      const paused = await footprint(tx);
      expect(await tx.errorCode(() => impressions(tx, ad.tenant.claims, campaignId, creativeId, ids(3)))).toBe("CPOFF");
      expect(await tx.errorCode(() => clicks(tx, ad.tenant.claims, campaignId, ids(1)))).toBe("CPOFF");
      expect(await footprint(tx)).toEqual(paused);
      await tx.become(ad.tenant.claims);
      for (const [sql, code] of [
        ["insert into campaigns.campaigns (name, budget, impression_rate) values ('x', 100, -1)", "CPRAT"],
        ["insert into campaigns.campaigns (name, budget, click_rate) values ('x', 100, -5)", "CPRAT"],
        ["insert into campaigns.campaigns (name, budget) values ('x', -100)", "CPBUD"],
        ["insert into campaigns.campaigns (name, budget, currency) values ('x', 100, 'ZZZ')", "CPCUR"],
        ["insert into campaigns.campaigns (name, budget, starts_at, ends_at) values ('x', 100, now(), now() - interval '1 day')", "CPDAT"],
      ] as const) {
        expect(await tx.errorCode(() => tx.query(sql)), sql).toBe(code);
      }
      expect(await tx.errorCode(() => tx.query("update campaigns.campaigns set click_rate = -1 where campaign_id = $1", [campaignId]))).toBe("CPRAT");
      expect(await tx.errorCode(() => tx.query("update campaigns.campaigns set status = 'draft' where campaign_id = $1", [campaignId]))).toBe("RGTRN");
      // A member who is not an admin cannot create or edit campaigns; a third organization cannot touch them.
      await tx.become(third.claims);
      expect((await tx.query("update campaigns.campaigns set budget = 1 where campaign_id = $1", [campaignId])).rowCount).toBe(0);
      expect(await footprint(tx)).toEqual(before);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("shows an organization only its own campaigns, creatives, impressions, clicks and spend", async () => {
    await withTransaction(async (tx) => {
      const ad = await createAdvertiser(tx, "vis");
      const third = await createTenant(tx, "vist");
      const { campaignId, creativeId } = await activeCampaign(tx, ad);
      const shown = ids(5);
      await impressions(tx, ad.tenant.claims, campaignId, creativeId, shown);
      await clicks(tx, ad.tenant.claims, campaignId, shown.slice(0, 1));
      await tx.asRoot(() => tx.query("select campaigns_private.settle_campaign($1, now())", [campaignId]));
      for (const table of ["campaigns", "ad_creatives", "ad_impressions", "ad_clicks", "ad_spend_ledger"]) {
        const exists = await countAsRoot(tx, `campaigns.${table} where campaign_id = $1`, [campaignId]);
        expect(exists, table).toBeGreaterThan(0);
        for (const [claims, seen] of [[ad.tenant.claims, exists], [third.claims, 0], [ad.tenant.owner.claims, 0], [ad.operator, exists]] as const) {
          await tx.become(claims);
          const n = await one<{ n: number }>(tx, `select count(*)::int as n from campaigns.${table} where campaign_id = $1`, [campaignId]);
          expect(n.n, `${table} as ${JSON.stringify(claims.org_id ?? claims.role)}`).toBe(seen);
        }
      }
    });
  });
});

describe("campaigns: settlement", () => {
  it("settles accrued spend in batches from the wallet to platform revenue, and the spend ledger reconciles exactly with the ledger and the counted rows", async () => {
    await withTransaction(async (tx) => {
      const ad = await createAdvertiser(tx, "stl", 100_000);
      const { campaignId, creativeId } = await activeCampaign(tx, ad, { budget: 50_000, impressionRate: 3, clickRate: 25 });
      const revenue = await revenueOf(tx, ad.tenant.organization.organizationId);
      const before = await footprint(tx);
      const first = ids(400);
      await impressions(tx, ad.tenant.claims, campaignId, creativeId, first.slice(0, 200));
      await impressions(tx, ad.tenant.claims, campaignId, creativeId, first.slice(200));
      await clicks(tx, ad.tenant.claims, campaignId, first.slice(0, 7));
      // Counting wrote no ledger transaction.
      expect((await footprint(tx)).transactions).toBe(before.transactions);
      expect(await tx.asRoot(() => one<{ n: number }>(tx, "select campaigns_private.settle_spend(now()) as n"))).toEqual({ n: 1 });
      await impressions(tx, ad.tenant.claims, campaignId, creativeId, ids(100));
      await clicks(tx, ad.tenant.claims, campaignId, first.slice(7, 9));
      expect(await tx.asRoot(() => one<{ n: number }>(tx, "select campaigns_private.settle_spend(now() + interval '5 minutes') as n"))).toEqual({ n: 1 });
      // Nothing new: nothing to settle.
      expect(await tx.asRoot(() => one<{ n: number }>(tx, "select campaigns_private.settle_spend(now() + interval '10 minutes') as n"))).toEqual({ n: 0 });

      const spend = 500 * 3 + 9 * 25;
      const rows = await tx.asRoot(async () => (await tx.query<{ amount: string; impressions: string; clicks: string; wallet_id: string }>(
        "select amount, impressions, clicks, wallet_id from campaigns.ad_spend_ledger where campaign_id = $1 order by spend_id", [campaignId])).rows);
      expect(rows).toEqual([
        { amount: String(400 * 3 + 7 * 25), impressions: "400", clicks: "7", wallet_id: ad.walletId },
        { amount: String(100 * 3 + 2 * 25), impressions: "100", clicks: "2", wallet_id: ad.walletId },
      ]);
      expect((await footprint(tx)).transactions).toBe(before.transactions! + 2);
      expect(await balance(tx, ad.walletId)).toBe(100_000 - spend);
      expect(await balance(tx, revenue)).toBe(spend);
      const reconciled = await tx.asRoot(() => one<Record<string, unknown>>(tx, "select * from campaigns.reconcile($1)", [campaignId]));
      expect(reconciled).toMatchObject({ spent: String(spend), settled: String(spend), spend_ledger: String(spend), ledger: String(spend),
        counted_cost: String(spend), impressions: "500", counted_impressions: "500", clicks: "9", counted_clicks: "9", consistent: true });
      expect(await verify(tx)).toEqual([]);
      // Operators only.
      await tx.become(ad.tenant.claims);
      expect(await tx.errorCode(() => tx.query("select * from campaigns.reconcile($1)", [campaignId]))).toBe("42501");
    });
  });

  it("leaves spend unsettled and pauses the campaign when the wallet cannot pay, with the books balanced", async () => {
    await withTransaction(async (tx) => {
      const ad = await createAdvertiser(tx, "poor", 100);
      const { campaignId, creativeId } = await activeCampaign(tx, ad, { budget: 5_000, impressionRate: 1 });
      await impressions(tx, ad.tenant.claims, campaignId, creativeId, ids(500));
      const before = await footprint(tx);
      expect(await tx.asRoot(() => one<{ n: number }>(tx, "select campaigns_private.settle_spend(now()) as n"))).toEqual({ n: 0 });
      const after = await footprint(tx);
      expect(after.transactions).toBe(before.transactions);
      expect(after.settlements).toBe(before.settlements);
      const campaign = await tx.asRoot(() => one<{ status: string; settled: string }>(tx, "select status, settled from campaigns.campaigns where campaign_id = $1", [campaignId]));
      expect(campaign).toEqual({ status: "paused", settled: "0" });
      expect(await countAsRoot(tx, "outbox.events where topic = 'campaign.settlement_failed' and aggregate_id = $1", [campaignId])).toBe(1);
      expect(await balance(tx, ad.walletId)).toBe(100);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("reads only the months asked for: a query on a month of impressions scans that month's partition alone", async () => {
    await withTransaction(async (tx) => {
      const ad = await createAdvertiser(tx, "prn");
      const { campaignId, creativeId } = await activeCampaign(tx, ad);
      await impressions(tx, ad.tenant.claims, campaignId, creativeId, ids(3));
      const plan = await tx.asRoot(async () => {
        const month = await one<{ start: string; partitions: number }>(
          tx,
          `select date_trunc('month', now() at time zone 'UTC')::text as start,
                  (select count(*)::int from pg_inherits where inhparent = 'campaigns.ad_impressions'::regclass) as partitions`,
        );
        expect(month.partitions).toBeGreaterThanOrEqual(4);
        const { rows } = await tx.query<{ "QUERY PLAN": string }>(
          `explain (costs off) select count(*) from campaigns.ad_impressions
            where campaign_id = '${campaignId}' and occurred_at >= '${month.start}'::timestamp at time zone 'UTC'
              and occurred_at < ('${month.start}'::timestamp + interval '1 month') at time zone 'UTC'`,
        );
        return rows.map((row) => row["QUERY PLAN"]).join("\n");
      });
      const scanned = [...new Set(plan.match(/ad_impressions_\d{4}_\d{2}/g) ?? [])];
      expect(scanned, plan).toHaveLength(1);
      const now = new Date();
      expect(scanned[0]).toBe(`ad_impressions_${now.getUTCFullYear()}_${String(now.getUTCMonth() + 1).padStart(2, "0")}`);
    });
  });
});
