import { describe, expect, it } from "vitest";
import { withTransaction, type Claims, type TestTransaction } from "../../helpers/db.ts";
import { addMember, countAsRoot, createOrganization, createUser, one } from "../../helpers/fixtures.ts";

// The claim helpers every policy relies on: auth.uid(), auth.current_org_id()
// and auth.has_role(). Each "null" is checked against a user who exists.

async function uidAs(tx: TestTransaction, claims: Claims): Promise<string | null> {
  await tx.become(claims);
  return (await one<{ uid: string | null }>(tx, "select auth.uid() as uid")).uid;
}

describe("auth.uid()", () => {
  it("is the sub claim while the session family named by sid is live", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "uida");
      expect(await uidAs(tx, alice.claims)).toBe(alice.userId);
      // Identity is the uuid, whatever its case in the claim.
      expect(await uidAs(tx, { ...alice.claims, sub: alice.userId.toUpperCase() })).toBe(alice.userId);
    });
  });

  it("is null once auth.logout() has revoked the family", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "uida");
      await tx.become(alice.claims);
      expect(await one(tx, "select auth.logout() as revoked")).toEqual({ revoked: true });
      expect(await uidAs(tx, alice.claims)).toBeNull();
      expect(await one(tx, "select auth.logout() as revoked")).toEqual({ revoked: false });
      expect(await countAsRoot(tx, "auth.sessions where family_id = $1 and revoked_at is not null", [alice.sessionId])).toBe(1);
    });
  });

  it("is null for a token issued (iat) in a second before tokens_revoked_at, or without iat, and the sub from that second on", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "uida");
      const revokedAt = Math.floor(Date.now() / 1000) - 60;
      await tx.asRoot(() => tx.query("update auth.users set tokens_revoked_at = to_timestamp($2) where user_id = $1", [alice.userId, revokedAt + 0.5]));
      expect(await uidAs(tx, { ...alice.claims, iat: revokedAt - 1 })).toBeNull();
      expect(await uidAs(tx, { ...alice.claims, iat: undefined })).toBeNull();
      expect(await uidAs(tx, { ...alice.claims, iat: revokedAt })).toBe(alice.userId);
      expect(await uidAs(tx, { ...alice.claims, iat: revokedAt + 1 })).toBe(alice.userId);
    });
  });

  it("is null for a malformed sub or sid, and for a well-formed sub of no user", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "uida");
      const subs: unknown[] = ["", "not-a-uuid", `${alice.userId}x`, `x${alice.userId}`, `${alice.userId}' or true --`, 42, null, "00000000-0000-0000-0000-000000000000"];
      const uids: Array<string | null> = [];
      for (const sub of subs) uids.push(await uidAs(tx, { ...alice.claims, sub: sub as string }));
      expect(uids).toEqual(subs.map(() => null));
      expect(await uidAs(tx, { ...alice.claims, sid: "not-a-uuid" })).toBeNull();
      expect(await uidAs(tx, { ...alice.claims, sid: `${alice.sessionId}0` })).toBeNull();
      expect(await countAsRoot(tx, "auth.users where user_id = $1", [alice.userId])).toBe(1);
    });
  });

  it("is null when the sid names another user's live session", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "uida");
      const bob = await createUser(tx, "uidb");
      expect(await uidAs(tx, { ...alice.claims, sid: bob.sessionId })).toBeNull();
      expect(await uidAs(tx, bob.claims)).toBe(bob.userId);
    });
  });
});

describe("auth.current_org_id()", () => {
  it("is the org_id claim while the caller is a member, and null once they are removed", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "orgida");
      const bob = await createUser(tx, "orgidb");
      const organization = await createOrganization(tx, alice, "orgid");
      await addMember(tx, alice, organization, bob);
      const bobInOrganization = { ...bob.claims, org_id: organization.organizationId };

      await tx.become(bobInOrganization);
      expect(await one(tx, "select auth.current_org_id() as org_id")).toEqual({ org_id: organization.organizationId });

      await tx.become(alice.claims);
      await tx.query("select auth.remove_member($1, $2)", [organization.organizationId, bob.userId]);
      await tx.become(bobInOrganization);
      expect(await one(tx, "select auth.current_org_id() as org_id")).toEqual({ org_id: null });
      expect(await countAsRoot(tx, "auth.organizations where organization_id = $1", [organization.organizationId])).toBe(1);
    });
  });

  it("is null for an organization the caller never joined, and for a malformed org_id", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "orgida");
      const bob = await createUser(tx, "orgidb");
      const organization = await createOrganization(tx, alice, "orgid");
      for (const org_id of [organization.organizationId, "not-a-uuid"]) {
        await tx.become({ ...bob.claims, org_id });
        expect(await one(tx, "select auth.current_org_id() as org_id")).toEqual({ org_id: null });
      }
      expect(await countAsRoot(tx, "auth.organizations where organization_id = $1", [organization.organizationId])).toBe(1);
    });
  });
});

describe("auth.has_role()", () => {
  it("is true only with the role claim and the grant in auth.user_roles, and false again once the grant is withdrawn", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "rolea");
      const asFinance = { ...alice.claims, role: "role_finance" };
      const hasRole = async (claims: Claims, role: string) => {
        await tx.become(claims);
        return (await one<{ has: boolean }>(tx, "select auth.has_role($1) as has", [role])).has;
      };

      expect(await hasRole(asFinance, "role_finance")).toBe(false); // claim without grant

      await tx.asRoot(() => tx.query("insert into auth.user_roles (user_id, role_name) values ($1, 'role_finance')", [alice.userId]));
      expect(await hasRole(alice.claims, "role_finance")).toBe(false); // grant without claim
      expect(await hasRole(alice.claims, "gw_user")).toBe(true);
      expect(await hasRole(asFinance, "role_finance")).toBe(true); // both
      expect(await hasRole({ ...asFinance, sid: undefined, sub: "not-a-uuid" }, "role_finance")).toBe(false); // both, but signed out

      await tx.asRoot(() => tx.query("delete from auth.user_roles where user_id = $1 and role_name = 'role_finance'", [alice.userId]));
      expect(await hasRole(asFinance, "role_finance")).toBe(false);
      expect(await countAsRoot(tx, "auth.users where user_id = $1", [alice.userId])).toBe(1);
    });
  });
});
