import { randomUUID } from "node:crypto";
import type { Claims, TestTransaction } from "../../helpers/db.ts";
import { createUser, one, ownFootprint, roleClaims } from "../../helpers/fixtures.ts";
import { createTenant, type Tenant } from "../events/fixtures.ts";
import { fundOrganization } from "../sponsorship/fixtures.ts";

/**
 * Campaign fixtures for SQL tests: an advertising organization with a funded
 * wallet, an active campaign with an approved creative, batches recorded as
 * its owner acting in it.
 */

export interface CampaignInput {
  budget?: number;
  dailyCap?: number | null;
  impressionRate?: number;
  clickRate?: number;
}

export interface Advertiser {
  tenant: Tenant;
  operator: Claims;
  walletId: string;
}

/** A tenant whose wallet holds `funds`, and an operator. */
export async function createAdvertiser(tx: TestTransaction, label: string, funds = 1_000_000): Promise<Advertiser> {
  const tenant = await createTenant(tx, label);
  const walletId = await tx.asRoot(() => fundOrganization(tx, tenant.organization.organizationId, funds));
  const operator = await roleClaims(tx, await createUser(tx, `${label}op`), "gw_admin");
  return { tenant, operator, walletId };
}

/** An active campaign with one approved creative; returns both ids. Leaves the transaction as the tenant. */
export async function activeCampaign(tx: TestTransaction, advertiser: Advertiser, input: CampaignInput = {}): Promise<{ campaignId: string; creativeId: string }> {
  await tx.become(advertiser.tenant.claims);
  const { campaign_id: campaignId } = await one<{ campaign_id: string }>(
    tx,
    "insert into campaigns.campaigns (name, budget, daily_cap, impression_rate, click_rate) values ('Spring', $1, $2, $3, $4) returning campaign_id",
    [input.budget ?? 10_000, input.dailyCap ?? null, input.impressionRate ?? 1, input.clickRate ?? 10],
  );
  const { creative_id: creativeId } = await one<{ creative_id: string }>(
    tx,
    "insert into campaigns.ad_creatives (campaign_id, format, content) values ($1, 'banner', '{\"headline\": \"Jazz tonight\"}') returning creative_id",
    [campaignId],
  );
  await tx.become(advertiser.operator);
  await tx.query("select campaigns.review_creative($1, true)", [creativeId]);
  await tx.become(advertiser.tenant.claims);
  await tx.query("update campaigns.campaigns set status = 'active' where campaign_id = $1", [campaignId]);
  return { campaignId, creativeId };
}

export const ids = (n: number): string[] => Array.from({ length: n }, () => randomUUID());

export type BatchResult = {
  accepted: number;
  duplicates: number;
  refused: number;
  spent: string;
  remaining: string;
};

/** campaigns.record_impressions as `claims`. */
export async function impressions(tx: TestTransaction, claims: Claims, campaignId: string, creativeId: string, impressionIds: string[]): Promise<BatchResult> {
  await tx.become(claims);
  return one<BatchResult>(tx, "select * from campaigns.record_impressions($1, $2, $3::uuid[])", [campaignId, creativeId, impressionIds]);
}

/** campaigns.record_clicks as `claims`. */
export async function clicks(tx: TestTransaction, claims: Claims, campaignId: string, impressionIds: string[]): Promise<BatchResult> {
  await tx.become(claims);
  return one<BatchResult>(tx, "select * from campaigns.record_clicks($1, $2::uuid[])", [campaignId, impressionIds]);
}

/** Row counts of what recording and settlement write, of this test's own rows. */
export async function footprint(tx: TestTransaction): Promise<Record<string, number>> {
  return ownFootprint(tx, {
    impressions: ["count(*)", "campaigns.ad_impressions"],
    clicks: ["count(*)", "campaigns.ad_clicks"],
    spent: ["coalesce(sum(spent), 0)", "campaigns.campaigns"],
    settlements: ["count(*)", "campaigns.ad_spend_ledger"],
    transactions: ["count(*)", "ledger.transactions"],
    daily: ["coalesce(sum(spent), 0)", "campaigns_private.daily_spend"],
  });
}
