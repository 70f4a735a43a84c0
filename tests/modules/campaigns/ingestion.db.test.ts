import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { countAsRoot, one } from "../../helpers/fixtures.ts";
import { createTenant } from "../events/fixtures.ts";
import { activeCampaign, createAdvertiser, footprint, ids } from "./fixtures.ts";

// Campaign impressions through analytics' one ingestion mechanism
// (analytics.ingest_impressions, stream "ad"): its batch shape, client-id
// dedupe and partition routing; campaigns' budget, daily cap and counting.

const beacon = (creativeId: string, clientId: string, eventId?: string) => ({
  stream: "ad", clientId, id: creativeId, occurredAt: new Date().toISOString(), ...(eventId ? { metadata: { eventId } } : {}),
});

describe("campaign impressions through analytics' ingestion", () => {
  it("counts ad beacons under the budget, once per client id, and refuses another organization's or a paused campaign's creative", async () => {
    await withTransaction(async (tx) => {
      const ad = await createAdvertiser(tx, "ing");
      const third = await createTenant(tx, "ingt");
      const { campaignId, creativeId } = await activeCampaign(tx, ad, { budget: 30, impressionRate: 2 });
      const clientIds = ids(20);
      await tx.become(ad.tenant.claims);
      const first = await one<{ result: { received: number; accepted: number } }>(tx, "select analytics.ingest_impressions($1::jsonb) as result",
        [JSON.stringify(clientIds.map((id) => beacon(creativeId, id)))]);
      // 15 fit the budget (30 at 2 each); the other 5 were refused by campaigns, so not accepted.
      expect(first.result).toMatchObject({ received: 20, accepted: 15 });
      const again = await one<{ result: { accepted: number } }>(tx, "select analytics.ingest_impressions($1::jsonb) as result",
        [JSON.stringify(clientIds.slice(0, 5).map((id) => beacon(creativeId, id)))]);
      expect(again.result.accepted).toBe(0);
      const campaign = await tx.asRoot(() => one<{ spent: string; impressions: string }>(tx, "select spent, impressions from campaigns.campaigns where campaign_id = $1", [campaignId]));
      expect(campaign).toEqual({ spent: "30", impressions: "15" });
      expect(await countAsRoot(tx, "campaigns.ad_impressions where campaign_id = $1", [campaignId])).toBe(15);

      const before = await footprint(tx);
      await tx.become(third.claims);
      expect(await tx.errorCode(() => tx.query("select analytics.ingest_impressions($1::jsonb)", [JSON.stringify([beacon(creativeId, randomUUID())])]))).toBe("ANENT");
      await tx.become(ad.tenant.claims);
      expect(await tx.errorCode(() => tx.query("select analytics.ingest_impressions($1::jsonb)", [JSON.stringify([beacon(creativeId, "not-a-uuid")])]))).toBe("BADIN");
      await tx.query("update campaigns.campaigns set status = 'paused' where campaign_id = $1", [campaignId]);
      expect(await tx.errorCode(() => tx.query("select analytics.ingest_impressions($1::jsonb)", [JSON.stringify([beacon(creativeId, randomUUID())])]))).toBe("ANENT");
      expect(await footprint(tx)).toEqual(before);
    });
  });
});
