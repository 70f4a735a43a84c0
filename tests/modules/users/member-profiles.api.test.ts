import { beforeAll, describe, expect, it } from "vitest";
import { codesOf, registerUser, useTestApi, type SignedIn } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";

/**
 * Members of an organization see each other's public face (handle, display
 * name) through membership.profile, and nothing of auth.users (email,
 * onboarding flags); someone outside the organization sees neither.
 */
const api = useTestApi();
let owner: SignedIn;
let member: SignedIn;
let outsider: SignedIn;
let organizationId = "";

const roster = `query Roster($id: UUID!) {
  organization(organizationId: $id) {
    memberships(orderBy: PRIMARY_KEY_ASC) { nodes { userId role user { email } profile { handle displayName } } }
  }
}`;

beforeAll(async () => {
  owner = await registerUser(api, "mpowner");
  member = await registerUser(api, "mpmember");
  outsider = await registerUser(api, "mpout");
  const created = await api.graphql(
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId } } }`,
    { input: { name: "Roster", slug: `roster-${Date.now().toString(36)}` } },
    owner.accessToken,
  );
  organizationId = created.body.data?.createOrganization.organization.organizationId;
  const added = await api.graphql(`mutation($input: AddMemberInput!) { addMember(input: $input) { membership { userId } } }`, { input: { organizationId, userId: member.userId, role: "member" } }, owner.accessToken);
  expect(added.body.errors).toBeUndefined();
  // Private profiles: only fellow members (and the owner of the profile) may read them.
  await rootDb().query("update users.profiles set visibility = 'private', display_name = 'Member ' || user_id where user_id = any($1)", [[owner.userId, member.userId]]);
});

describe("members see each other", () => {
  it("a member reads the handle and display name of every fellow member", async () => {
    const result = await api.graphql(roster, { id: organizationId }, member.accessToken);
    expect(result.body.errors).toBeUndefined();
    const nodes = result.body.data?.organization.memberships.nodes as Array<{ userId: string; user: { email: string } | null; profile: { handle: string; displayName: string } | null }>;
    expect(nodes.map((n) => n.profile?.handle).sort()).toEqual([owner.username, member.username].sort());
    expect(nodes.find((n) => n.userId === owner.userId)?.profile?.displayName).toBe(`Member ${owner.userId}`);
    // auth.users stays the user's own: the fellow member's email is not readable.
    expect(nodes.find((n) => n.userId === owner.userId)?.user).toBeNull();
    expect(nodes.find((n) => n.userId === member.userId)?.user?.email).toBe(member.email);
  });

  it("exposes no email or onboarding flag on a profile", async () => {
    const result = await api.graphql(`query($id: UUID!) { organization(organizationId: $id) { memberships { nodes { profile { email } } } } }`, { id: organizationId }, member.accessToken);
    expect(codesOf(result)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
    const flags = await api.graphql(`query($id: UUID!) { organization(organizationId: $id) { memberships { nodes { profile { hasCompletedOnboarding } } } } }`, { id: organizationId }, member.accessToken);
    expect(codesOf(flags)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
  });

  it("a non-member sees neither the memberships nor the private profiles", async () => {
    const result = await api.graphql(roster, { id: organizationId }, outsider.accessToken);
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data?.organization).toBeNull();
    const profiles = await api.graphql(`query($ids: [UUID!]) { usersProfiles(filter: { userId: { in: $ids } }) { totalCount } }`, { ids: [owner.userId, member.userId] }, outsider.accessToken);
    expect(profiles.body.errors).toBeUndefined();
    expect(profiles.body.data?.usersProfiles.totalCount).toBe(0);
    // Not vacuous: as root, the organization has both memberships and both profiles exist.
    const { rows } = await rootDb().query<{ n: string }>(
      "select count(*) as n from auth.memberships m join users.profiles p using (user_id) where m.organization_id = $1",
      [organizationId],
    );
    expect(Number(rows[0]!.n)).toBe(2);
  });
});
