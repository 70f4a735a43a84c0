import { describe, expect, it } from "vitest";
import { authFields, codesOf, registerUser, useTestApi, type SignedIn, type TestApi } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";

const api = useTestApi();

async function createOrganization(api: TestApi, owner: SignedIn, slug: string) {
  const result = await api.graphql(
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId name slug } } }`,
    { input: { name: `Org ${slug}`, slug } },
    owner.accessToken,
  );
  const organization = result.body.data?.createOrganization?.organization;
  if (!organization) throw new Error(`createOrganization failed: ${JSON.stringify(result.body)}`);
  return organization as { organizationId: string; name: string; slug: string };
}

const slug = (label: string) => `${label}-${process.pid}-${Date.now().toString(36)}`.toLowerCase();
// Paginated: unbounded nested lists are priced at full pages and go over the default cost budget.
const organizations = "query { organizations(first: 50) { nodes { organizationId slug memberships(first: 50) { nodes { userId role } } } } }";

describe("organizations and memberships", () => {
  it("shows an organization to its members only, and anonymous sees none (the rows exist)", async () => {
    const alice = await registerUser(api, "orga");
    const bob = await registerUser(api, "orgb");
    const org = await createOrganization(api, alice, slug("acme"));

    const asAlice = await api.graphql(organizations, {}, alice.accessToken);
    expect(asAlice.body.data?.organizations.nodes).toEqual([
      { organizationId: org.organizationId, slug: org.slug, memberships: { nodes: [{ userId: alice.userId, role: "owner" }] } },
    ]);
    const asBob = await api.graphql(organizations, {}, bob.accessToken);
    expect(asBob.body.data?.organizations.nodes).toEqual([]);
    const asAnonymous = await api.graphql(organizations);
    expect(asAnonymous.body.data?.organizations?.nodes ?? []).toEqual([]);

    const { rows } = await rootDb().query("select count(*)::int as n from auth.memberships where organization_id = $1", [org.organizationId]);
    expect(rows[0].n).toBe(1);
  });

  it("lets owners add members, who then see the organization; non-members cannot add anyone", async () => {
    const owner = await registerUser(api, "orgo");
    const member = await registerUser(api, "orgm");
    const outsider = await registerUser(api, "orgx");
    const org = await createOrganization(api, owner, slug("team"));
    const add = (caller: SignedIn, userId: string) =>
      api.graphql(
        `mutation($input: AddMemberInput!) { addMember(input: $input) { membership { userId role } } }`,
        { input: { organizationId: org.organizationId, userId, role: "member" } },
        caller.accessToken,
      );

    expect(codesOf(await add(outsider, outsider.userId))).toEqual(["DNIED"]);
    expect((await add(owner, member.userId)).body.data?.addMember.membership).toEqual({ userId: member.userId, role: "member" });
    expect(codesOf(await add(owner, member.userId))).toEqual(["MEMBR"]);

    const seen = await api.graphql(organizations, {}, member.accessToken);
    expect(seen.body.data?.organizations.nodes.map((o: { slug: string }) => o.slug)).toEqual([org.slug]);
    // A plain member cannot add others either.
    expect(codesOf(await add(member, outsider.userId))).toEqual(["DNIED"]);
  });

  it("switchOrganization issues an org_id token for members only, and the claim dies when the member leaves", async () => {
    const owner = await registerUser(api, "orgs");
    const member = await registerUser(api, "orgt");
    const org = await createOrganization(api, owner, slug("switch"));
    await api.graphql(
      `mutation($input: AddMemberInput!) { addMember(input: $input) { membership { userId } } }`,
      { input: { organizationId: org.organizationId, userId: member.userId } },
      owner.accessToken,
    );
    const refused = await api.graphql(
      `mutation($input: SwitchOrganizationInput!) { switchOrganization(input: $input) { accessToken } }`,
      { input: { organizationId: org.organizationId } },
      (await registerUser(api, "orgu")).accessToken,
    );
    expect(codesOf(refused)).toEqual(["NOMEM"]);

    const switched = await api.graphql(
      `mutation($input: SwitchOrganizationInput!) { switchOrganization(input: $input) { ${authFields} } }`,
      { input: { organizationId: org.organizationId } },
      member.accessToken,
    );
    const token = switched.body.data?.switchOrganization.accessToken;
    const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
    expect(claims.org_id).toBe(org.organizationId);

    const currentOrg = async () => (await api.graphql("query { currentOrgId }", {}, token)).body.data?.currentOrgId;
    expect(await currentOrg()).toBe(org.organizationId);

    const removed = await api.graphql(
      `mutation($input: RemoveMemberInput!) { removeMember(input: $input) { membership { userId } } }`,
      { input: { organizationId: org.organizationId, userId: member.userId } },
      owner.accessToken,
    );
    expect(removed.body.data?.removeMember.membership.userId).toBe(member.userId);
    expect(await currentOrg()).toBeNull();
  });

  it("keeps the last owner", async () => {
    const owner = await registerUser(api, "orgl");
    const org = await createOrganization(api, owner, slug("last"));
    const result = await api.graphql(
      `mutation($input: RemoveMemberInput!) { removeMember(input: $input) { membership { userId } } }`,
      { input: { organizationId: org.organizationId, userId: owner.userId } },
      owner.accessToken,
    );
    expect(codesOf(result)).toEqual(["LOWNR"]);
  });

  it("rejects a taken slug with its own code", async () => {
    const owner = await registerUser(api, "orgd");
    const taken = slug("dup");
    await createOrganization(api, owner, taken);
    const again = await api.graphql(
      `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { slug } } }`,
      { input: { name: "Again", slug: taken } },
      owner.accessToken,
    );
    expect(codesOf(again)).toEqual(["SLUGT"]);
  });
});
