import { describe, expect, it } from "vitest";
import { withTransaction, type Claims, type TestTransaction } from "../../helpers/db.ts";
import { addMember, anonymous, countAsRoot, createOrganization, createUser, one, type TestUser } from "../../helpers/fixtures.ts";

// Row level security and grants on the auth schema, as the request roles see
// them. Every "cannot" is checked against rows that exist (countAsRoot).

const requestRoles = ["gw_user", "gw_anonymous"] as const;
const claimsFor = (role: (typeof requestRoles)[number], user: TestUser): Claims => (role === "gw_user" ? user.claims : anonymous);

describe("a user's private data", () => {
  it("sees only their own row of auth.users", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "rlsa");
      const bob = await createUser(tx, "rlsb");
      await tx.become(alice.claims);
      const { rows } = await tx.query("select user_id from auth.users");
      expect(rows).toEqual([{ user_id: alice.userId }]);
      expect(await countAsRoot(tx, "auth.users where user_id = $1", [bob.userId])).toBe(1);
    });
  });

  it("sees only their own sessions", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "rlsa");
      const bob = await createUser(tx, "rlsb");
      await tx.become(alice.claims);
      const { rows } = await tx.query("select session_id, user_id from auth.sessions");
      expect(rows).toEqual([{ session_id: alice.sessionId, user_id: alice.userId }]);
      expect(await countAsRoot(tx, "auth.sessions where user_id = $1", [bob.userId])).toBe(1);
    });
  });

  it("sees only their own staff role grants", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "rlsa");
      const bob = await createUser(tx, "rlsb");
      await tx.asRoot(() =>
        tx.query("insert into auth.user_roles (user_id, role_name) values ($1, 'role_sales'), ($2, 'role_finance')", [
          alice.userId,
          bob.userId,
        ]),
      );
      await tx.become(alice.claims);
      const { rows } = await tx.query("select user_id, role_name from auth.user_roles");
      expect(rows).toEqual([{ user_id: alice.userId, role_name: "role_sales" }]);
      expect(await countAsRoot(tx, "auth.user_roles where user_id = $1", [bob.userId])).toBe(1);
    });
  });

  it("updates 0 rows when changing another user's row, which stays as it was", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "rlsa");
      const bob = await createUser(tx, "rlsb");
      await tx.become(alice.claims);
      const result = await tx.query(
        "update auth.users set username = $2, has_completed_onboarding = true where user_id = $1",
        [bob.userId, `${alice.username}x`],
      );
      expect(result.rowCount).toBe(0);
      const row = await tx.asRoot(() =>
        one(tx, "select username, currency, has_completed_onboarding from auth.users where user_id = $1", [bob.userId]),
      );
      expect(row).toEqual({ username: bob.username, currency: "USD", has_completed_onboarding: false });
    });
  });

  it("can change their own username and onboarding flag", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "rlsa");
      await tx.become(alice.claims);
      const result = await tx.query(
        "update auth.users set username = $2, has_completed_onboarding = true where user_id = $1 returning username, currency, has_completed_onboarding",
        [alice.userId, `${alice.username}x`],
      );
      expect(result.rows).toEqual([{ username: `${alice.username}x`, currency: "USD", has_completed_onboarding: true }]);
    });
  });

  it("cannot set their display currency directly (42501): the budget's settings set it (issue 20)", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "rlsa");
      await tx.become(alice.claims);
      expect(await tx.errorCode(() => tx.query("update auth.users set currency = 'EUR' where user_id = $1", [alice.userId]))).toBe("42501");
      await tx.query("select budget.complete_onboarding(100000, 50, 30, 20, 'EUR')");
      expect(await tx.asRoot(() => one(tx, "select currency from auth.users where user_id = $1", [alice.userId]))).toEqual({ currency: "EUR" });
    });
  });

  it("cannot change their own email, tokens_revoked_at, user_id or created_at, nor delete their row (42501)", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "rlsa");
      await tx.become(alice.claims);
      const attempts = {
        email: "update auth.users set email = 'other@example.com' where user_id = $1",
        tokens_revoked_at: "update auth.users set tokens_revoked_at = null where user_id = $1",
        user_id: "update auth.users set user_id = gen_random_uuid() where user_id = $1",
        created_at: "update auth.users set created_at = now() where user_id = $1",
        delete: "delete from auth.users where user_id = $1",
      };
      const codes: Record<string, string | undefined> = {};
      for (const [what, sql] of Object.entries(attempts)) codes[what] = await tx.errorCode(() => tx.query(sql, [alice.userId]));
      expect(codes).toEqual({ email: "42501", tokens_revoked_at: "42501", user_id: "42501", created_at: "42501", delete: "42501" });
      expect(await countAsRoot(tx, "auth.users where user_id = $1 and email = $2", [alice.userId, alice.email])).toBe(1);
    });
  });

  it("gets BADUN for an invalid username and UNTKN for one another user holds (in any case)", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "rlsa");
      const bob = await createUser(tx, "rlsb");
      await tx.become(alice.claims);
      const rename = (username: string) => tx.errorCode(() => tx.query("update auth.users set username = $2 where user_id = $1", [alice.userId, username]));
      expect(await rename("1starts-with-a-digit")).toBe("BADUN");
      expect(await rename(bob.username.toUpperCase())).toBe("UNTKN");
      // Renaming to one's own name in another case is not "taken".
      expect(await rename(alice.username.toUpperCase())).toBeUndefined();
    });
  });
});

describe("secrets", () => {
  it.each(requestRoles)("as %s, reading auth_private.user_secrets fails with 42501", async (role) => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "seca");
      await tx.become(claimsFor(role, alice));
      expect(await tx.errorCode(() => tx.query("select * from auth_private.user_secrets"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("select failed_login_count from auth_private.user_secrets where user_id = $1", [alice.userId]))).toBe("42501");
      expect(await countAsRoot(tx, "auth_private.user_secrets where user_id = $1 and password_hash like '$2%'", [alice.userId])).toBe(1);
    });
  });

  it.each(requestRoles)("as %s, reading or filtering on auth.sessions.token_hash fails with 42501", async (role) => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "seca");
      await tx.become(claimsFor(role, alice));
      expect(await tx.errorCode(() => tx.query("select token_hash from auth.sessions"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("select * from auth.sessions"))).toBe("42501");
      // No oracle either: the column cannot be used in a condition.
      expect(
        await tx.errorCode(() => tx.query("select session_id from auth.sessions where token_hash = sha256(convert_to($1, 'UTF8'))", [alice.refreshToken])),
      ).toBe("42501");
      expect(await countAsRoot(tx, "auth.sessions where user_id = $1 and token_hash is not null", [alice.userId])).toBe(1);
    });
  });

  it("lets a signed-in user read every other column of their sessions", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "seca");
      await tx.become(alice.claims);
      const { rows } = await tx.query(
        "select session_id, family_id, parent_id, user_id, role, org_id, user_agent, created_at, expires_at, rotated_at, revoked_at from auth.sessions",
      );
      expect(rows).toHaveLength(1);
    });
  });

  it.each(requestRoles)("as %s, auth.refresh_token_blacklist is unreadable (42501)", async (role) => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "seca");
      await tx.asRoot(() =>
        tx.query("insert into auth.refresh_token_blacklist (jti, user_id, expires_at) values (gen_random_uuid()::text, $1, now() + interval '1 day')", [
          alice.userId,
        ]),
      );
      await tx.become(claimsFor(role, alice));
      expect(await tx.errorCode(() => tx.query("select * from auth.refresh_token_blacklist"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("select count(*) from auth.refresh_token_blacklist"))).toBe("42501");
      expect(await countAsRoot(tx, "auth.refresh_token_blacklist where user_id = $1", [alice.userId])).toBe(1);
    });
  });
});

describe("anonymous callers", () => {
  it("see no users, organizations, memberships or sessions: reading them fails with 42501", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "anona");
      const organization = await createOrganization(tx, alice, "anon");
      await tx.become(anonymous);
      const reads = {
        users: "select user_id from auth.users",
        organizations: "select organization_id from auth.organizations",
        memberships: "select membership_id from auth.memberships",
        sessions: "select session_id from auth.sessions",
      };
      const codes: Record<string, string | undefined> = {};
      for (const [table, sql] of Object.entries(reads)) codes[table] = await tx.errorCode(() => tx.query(sql));
      expect(codes).toEqual({ users: "42501", organizations: "42501", memberships: "42501", sessions: "42501" });

      expect(await one(tx, 'select auth.uid() as uid, auth."current_user"() is null as no_user')).toEqual({ uid: null, no_user: true });
      expect(await countAsRoot(tx, "auth.users where user_id = $1", [alice.userId])).toBe(1);
      expect(await countAsRoot(tx, "auth.organizations where organization_id = $1", [organization.organizationId])).toBe(1);
      expect(await countAsRoot(tx, "auth.memberships where organization_id = $1", [organization.organizationId])).toBe(1);
      expect(await countAsRoot(tx, "auth.sessions where user_id = $1", [alice.userId])).toBe(1);
    });
  });

  it.each(requestRoles)("as %s, cannot insert into or delete from any table of auth or auth_private (42501)", async (role) => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "anona");
      const { rows: tables } = await tx.asRoot(() =>
        tx.query<{ name: string }>(
          "select format('%I.%I', schemaname, tablename) as name from pg_tables where schemaname in ('auth', 'auth_private') order by 1",
        ),
      );
      expect(tables.length).toBeGreaterThanOrEqual(8);
      await tx.become(claimsFor(role, alice));
      const codes: Record<string, string | undefined> = {};
      const expected: Record<string, string> = {};
      for (const { name } of tables) {
        codes[`insert into ${name}`] = await tx.errorCode(() => tx.query(`insert into ${name} default values`));
        codes[`delete from ${name}`] = await tx.errorCode(() => tx.query(`delete from ${name}`));
        expected[`insert into ${name}`] = "42501";
        expected[`delete from ${name}`] = "42501";
      }
      expect(codes).toEqual(expected);
      // The tables are not empty: alice's rows would have been deletable.
      expect(await countAsRoot(tx, "auth.sessions where user_id = $1", [alice.userId])).toBe(1);
    });
  });
});

describe("organizations", () => {
  /** alice owns the organization, carol is an admin, bob a member; dave is not in it. */
  async function organizationWithMembers(tx: TestTransaction) {
    const alice = await createUser(tx, "orgalice");
    const bob = await createUser(tx, "orgbob");
    const carol = await createUser(tx, "orgcarol");
    const dave = await createUser(tx, "orgdave");
    const organization = await createOrganization(tx, alice, "rls");
    await addMember(tx, alice, organization, carol, "admin");
    await addMember(tx, alice, organization, bob, "member");
    return { alice, bob, carol, dave, organization };
  }

  it("shows a member the organization and every membership of it, and a non-member none", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, carol, dave, organization } = await organizationWithMembers(tx);

      await tx.become(bob.claims);
      expect((await tx.query("select organization_id from auth.organizations")).rows).toEqual([
        { organization_id: organization.organizationId },
      ]);
      const { rows: memberships } = await tx.query("select user_id, role from auth.memberships order by role");
      expect(memberships).toEqual([
        { user_id: carol.userId, role: "admin" },
        { user_id: bob.userId, role: "member" },
        { user_id: alice.userId, role: "owner" },
      ]);

      await tx.become(dave.claims);
      expect((await tx.query("select organization_id from auth.organizations")).rows).toEqual([]);
      expect((await tx.query("select membership_id from auth.memberships")).rows).toEqual([]);
      expect(await countAsRoot(tx, "auth.organizations where organization_id = $1", [organization.organizationId])).toBe(1);
      expect(await countAsRoot(tx, "auth.memberships where organization_id = $1", [organization.organizationId])).toBe(3);
    });
  });

  it("lets owners and admins rename the organization, while a member's or an outsider's update touches 0 rows", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, carol, dave, organization } = await organizationWithMembers(tx);
      const rename = async (user: TestUser, name: string) => {
        await tx.become(user.claims);
        const result = await tx.query("update auth.organizations set name = $2 where organization_id = $1", [organization.organizationId, name]);
        return result.rowCount;
      };
      expect(await rename(alice, "Renamed by the owner")).toBe(1);
      expect(await rename(carol, "Renamed by an admin")).toBe(1);
      expect(await rename(bob, "Renamed by a member")).toBe(0);
      expect(await rename(dave, "Renamed by an outsider")).toBe(0);
      const row = await tx.asRoot(() => one(tx, "select name from auth.organizations where organization_id = $1", [organization.organizationId]));
      expect(row).toEqual({ name: "Renamed by an admin" });
    });
  });

  it("refuses even an owner to change the slug, or to insert, update or delete memberships or organizations directly (42501)", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, dave, organization } = await organizationWithMembers(tx);
      await tx.become(alice.claims);
      const attempts = {
        "insert membership": [
          "insert into auth.memberships (organization_id, user_id, role) values ($1, $2, 'member')",
          [organization.organizationId, dave.userId],
        ],
        "update membership": ["update auth.memberships set role = 'owner' where organization_id = $1 and user_id = $2", [organization.organizationId, bob.userId]],
        "delete membership": ["delete from auth.memberships where organization_id = $1 and user_id = $2", [organization.organizationId, bob.userId]],
        "update slug": ["update auth.organizations set slug = 'taken-over' where organization_id = $1", [organization.organizationId]],
        "insert organization": ["insert into auth.organizations (name, slug) values ('Direct', $1)", [`${organization.slug}-2`]],
        "delete organization": ["delete from auth.organizations where organization_id = $1", [organization.organizationId]],
      } satisfies Record<string, [string, unknown[]]>;
      const codes: Record<string, string | undefined> = {};
      for (const [what, [sql, values]] of Object.entries(attempts)) codes[what] = await tx.errorCode(() => tx.query(sql, values));
      expect(codes).toEqual(Object.fromEntries(Object.keys(attempts).map((what) => [what, "42501"])));
      expect(await countAsRoot(tx, "auth.memberships where organization_id = $1 and user_id = $2", [organization.organizationId, dave.userId])).toBe(0);
      expect(
        await countAsRoot(tx, "auth.memberships where organization_id = $1 and user_id = $2 and role = 'member'", [organization.organizationId, bob.userId]),
      ).toBe(1);
    });
  });
});
