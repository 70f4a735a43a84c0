import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { codesOf, registerWithRole, useTestApi } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";
import { organizationToken } from "../sponsorship/api-fixtures.ts";

/** Campaigns over GraphQL: a campaign, a creative approved by an operator, batches counted under the budget; coded errors. */
const api = useTestApi();
const tag = `cpapi${process.pid}${Date.now().toString(36)}`;
let advertiser: { token: string; organizationId: string };
let other: { token: string };
let operatorToken = "";

beforeAll(async () => {
  advertiser = await organizationToken(api, `${tag}a`);
  other = await organizationToken(api, `${tag}o`);
  operatorToken = (await registerWithRole(api, "gw_admin", "cpapiop")).roleToken;
});

describe("campaigns over GraphQL", () => {
  it("counts batches of impressions and clicks within the budget and refuses bad input with codes", async () => {
    const created = await api.graphql(
      `mutation($input: CreateCampaignsCampaignInput!) { createCampaignsCampaign(input: $input) { campaignsCampaign { campaignId status servable } } }`,
      { input: { campaignsCampaign: { name: "Launch", budget: "100", impressionRate: "2", clickRate: "5" } } }, advertiser.token);
    expect(created.body.errors).toBeUndefined();
    const campaignId = created.body.data?.createCampaignsCampaign.campaignsCampaign.campaignId;
    const negative = await api.graphql(
      `mutation($input: CreateCampaignsCampaignInput!) { createCampaignsCampaign(input: $input) { campaignsCampaign { campaignId } } }`,
      { input: { campaignsCampaign: { name: "Bad", budget: "100", impressionRate: "-2" } } }, advertiser.token);
    expect(codesOf(negative)).toEqual(["CPRAT"]);
    const creative = await api.graphql(
      `mutation($input: CreateCampaignsAdCreativeInput!) { createCampaignsAdCreative(input: $input) { campaignsAdCreative { creativeId approvalStatus } } }`,
      { input: { campaignsAdCreative: { campaignId, format: "banner", content: { headline: "Hi" } } } }, advertiser.token);
    const creativeId = creative.body.data?.createCampaignsAdCreative.campaignsAdCreative.creativeId;
    const record = (token: string, ids: string[]) =>
      api.graphql(`mutation($input: CampaignsRecordImpressionsInput!) { campaignsRecordImpressions(input: $input) { result { accepted duplicates refused spent remaining } } }`,
        { input: { campaignId, creativeId, impressionIds: ids } }, token);
    expect(codesOf(await record(advertiser.token, [randomUUID()]))).toEqual(["CPOFF"]);
    const review = (token: string) => api.graphql(`mutation($input: CampaignsReviewCreativeInput!) { campaignsReviewCreative(input: $input) { creative { approvalStatus } } }`,
      { input: { creativeId, approve: true } }, token);
    expect(codesOf(await review(advertiser.token))).toEqual(["DNIED"]);
    expect((await review(operatorToken)).body.data?.campaignsReviewCreative.creative.approvalStatus).toBe("approved");
    await api.graphql(`mutation($input: UpdateCampaignsCampaignInput!) { updateCampaignsCampaign(input: $input) { campaignsCampaign { status } } }`,
      { input: { campaignId, patch: { status: "active" } } }, advertiser.token);

    const ids = Array.from({ length: 60 }, () => randomUUID());
    const counted = await record(advertiser.token, ids);
    expect(counted.body.data?.campaignsRecordImpressions.result).toEqual({ accepted: 50, duplicates: 0, refused: 10, spent: "100", remaining: "0" });
    expect(codesOf(await record(other.token, [randomUUID()]))).toEqual(["NTFND"]);
    const clicks = await api.graphql(`mutation($input: CampaignsRecordClicksInput!) { campaignsRecordClicks(input: $input) { result { accepted } } }`,
      { input: { campaignId, impressionIds: [randomUUID()] } }, advertiser.token);
    expect(codesOf(clicks)).toEqual(["CPIMP"]);
    const read = await api.graphql(`{ campaignsCampaigns { nodes { campaignId spent impressions servable } } }`, {}, advertiser.token);
    expect(read.body.data?.campaignsCampaigns.nodes).toEqual([{ campaignId, spent: "100", impressions: "50", servable: false }]);
    expect((await api.graphql(`{ campaignsCampaigns { nodes { campaignId } } }`, {}, other.token)).body.data?.campaignsCampaigns.nodes).toEqual([]);
    const { rows } = await rootDb().query<{ n: number }>("select count(*)::int as n from campaigns.ad_impressions where campaign_id = $1", [campaignId]);
    expect(rows[0]!.n).toBe(50);
  });
});
