import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import {
  addMember,
  anonymous,
  countAsRoot,
  createOrganization,
  createUser,
  one,
  roleClaims,
  type TestOrganization,
  type TestUser,
} from "../../helpers/fixtures.ts";

// What membership changes leave behind: an activity entry ("alice added bob to
// Acme"), an outbox event and a notification for the person concerned; and who
// may read the activity. Every "cannot see" is checked against rows that exist.

type Activity = {
  verb: string;
  actor_id: string | null;
  subject_id: string | null;
  organization_id: string | null;
  object_type: string;
  object_id: string | null;
  summary: string;
  context: Record<string, unknown>;
};

interface Scene {
  alice: TestUser;
  bob: TestUser;
  org: TestOrganization;
  membershipId: string;
}

/** alice creates an organization and adds bob to it as a member. Leaves the transaction as alice. */
async function aliceAddsBob(tx: TestTransaction): Promise<Scene> {
  const alice = await createUser(tx, "acta");
  const bob = await createUser(tx, "actb");
  const org = await createOrganization(tx, alice, "act");
  await addMember(tx, alice, org, bob);
  const { membership_id: membershipId } = await tx.asRoot(() =>
    one<{ membership_id: string }>(tx, "select membership_id from auth.memberships where organization_id = $1 and user_id = $2", [
      org.organizationId,
      bob.userId,
    ]),
  );
  return { alice, bob, org, membershipId };
}

/** The activity of an organization with this verb, as the current role sees it. */
const activity = async (tx: TestTransaction, org: TestOrganization, verb: string) =>
  (
    await tx.query<Activity>(
      `select verb, actor_id, subject_id, organization_id, object_type, object_id, summary, context
         from audit.activity where organization_id = $1 and verb = $2 order by activity_id`,
      [org.organizationId, verb],
    )
  ).rows;

const summaries = async (tx: TestTransaction, org: TestOrganization) =>
  (await tx.query<{ summary: string }>("select summary from audit.activity where organization_id = $1 order by activity_id", [org.organizationId])).rows.map(
    (row) => row.summary,
  );

describe("adding a member", () => {
  it("records '<alice> added <bob> to <organization>' with alice as actor, bob as subject and the organization", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, org, membershipId } = await aliceAddsBob(tx);
      expect(await tx.asRoot(() => activity(tx, org, "member.added"))).toEqual([
        {
          verb: "member.added",
          actor_id: alice.userId,
          subject_id: bob.userId,
          organization_id: org.organizationId,
          object_type: "membership",
          object_id: membershipId,
          summary: `${alice.username} added ${bob.username} to ${org.name}`,
          context: { role: "member" },
        },
      ]);
    });
  });

  it("records the organization's creation, but no 'added' entry for the creator joining their own organization", async () => {
    await withTransaction(async (tx) => {
      const { alice, org } = await aliceAddsBob(tx);
      expect(await tx.asRoot(() => activity(tx, org, "organization.created"))).toEqual([
        expect.objectContaining({ actor_id: alice.userId, subject_id: null, summary: `${alice.username} created ${org.name}` }),
      ]);
      expect(await countAsRoot(tx, "audit.activity where organization_id = $1 and verb = 'member.added' and subject_id = $2", [org.organizationId, alice.userId])).toBe(0);
      expect(await countAsRoot(tx, "auth.memberships where organization_id = $1 and user_id = $2 and role = 'owner'", [org.organizationId, alice.userId])).toBe(1);
    });
  });

  it("shows the entry to bob, its subject", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, org } = await aliceAddsBob(tx);
      await tx.become(bob.claims);
      expect(await summaries(tx, org)).toEqual([`${alice.username} created ${org.name}`, `${alice.username} added ${bob.username} to ${org.name}`]);
    });
  });

  it("still shows the entry to bob after he left, because he is its subject", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, org } = await aliceAddsBob(tx);
      await tx.become(bob.claims);
      await tx.query("select auth.remove_member($1, $2)", [org.organizationId, bob.userId]);
      expect(await summaries(tx, org)).toEqual([`${alice.username} added ${bob.username} to ${org.name}`, `${bob.username} left ${org.name}`]);
      // The organization's history that is not about bob is now hidden from him.
      expect(await countAsRoot(tx, "audit.activity where organization_id = $1 and verb = 'organization.created'", [org.organizationId])).toBe(1);
    });
  });

  it("shows the entry to alice, its actor, even after she left the organization", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "acta");
      const bob = await createUser(tx, "actb");
      const org = await createOrganization(tx, alice, "act");
      await addMember(tx, alice, org, bob, "owner");
      await tx.query("select auth.remove_member($1, $2)", [org.organizationId, alice.userId]);
      expect(await countAsRoot(tx, "auth.memberships where organization_id = $1 and user_id = $2", [org.organizationId, alice.userId])).toBe(0);
      expect(await summaries(tx, org)).toEqual([
        `${alice.username} created ${org.name}`,
        `${alice.username} added ${bob.username} to ${org.name}`,
        `${alice.username} left ${org.name}`,
      ]);
    });
  });

  it("shows the entry to another member of the organization", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, org } = await aliceAddsBob(tx);
      const carol = await createUser(tx, "actc");
      await addMember(tx, alice, org, carol);
      await tx.become(carol.claims);
      const seen = await activity(tx, org, "member.added");
      expect(seen.map((entry) => entry.subject_id)).toEqual([bob.userId, carol.userId]);
    });
  });

  it("hides the entry from a user outside the organization", async () => {
    await withTransaction(async (tx) => {
      const { org } = await aliceAddsBob(tx);
      const dave = await createUser(tx, "actd");
      await tx.become(dave.claims);
      expect(await summaries(tx, org)).toEqual([]);
      expect(await tx.query("select 1 from audit.activity").then((result) => result.rowCount)).toBe(0);
      expect(await countAsRoot(tx, "audit.activity where organization_id = $1", [org.organizationId])).toBe(2);
    });
  });

  it("shows an operator (gw_admin) every organization's activity", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, org } = await aliceAddsBob(tx);
      const operator = await createUser(tx, "actop");
      await tx.become(await roleClaims(tx, operator, "gw_admin"));
      expect(await summaries(tx, org)).toEqual([`${alice.username} created ${org.name}`, `${alice.username} added ${bob.username} to ${org.name}`]);
    });
  });

  it("refuses a signed-out visitor reading activity (42501)", async () => {
    await withTransaction(async (tx) => {
      const { org } = await aliceAddsBob(tx);
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select * from audit.activity"))).toBe("42501");
      expect(await countAsRoot(tx, "audit.activity where organization_id = $1", [org.organizationId])).toBe(2);
    });
  });

  it("notifies bob, and only bob, that alice added him", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, org } = await aliceAddsBob(tx);
      const { event_id: eventId } = await tx.asRoot(() =>
        one<{ event_id: string }>(tx, "select event_id from outbox.events where topic = 'member.added' and organization_id = $1 and payload ->> 'userId' = $2", [
          org.organizationId,
          bob.userId,
        ]),
      );
      await tx.become(bob.claims);
      const { rows } = await tx.query("select user_id, topic, message, payload, event_id, read_at from outbox.notifications");
      expect(rows).toEqual([
        {
          user_id: bob.userId,
          topic: "member.added",
          message: `${alice.username} added you to ${org.name} as member`,
          payload: { organizationId: org.organizationId, role: "member" },
          event_id: eventId,
          read_at: null,
        },
      ]);
      await tx.become(alice.claims);
      expect((await tx.query("select 1 from outbox.notifications")).rowCount).toBe(0);
      expect(await countAsRoot(tx, "outbox.notifications where user_id = $1", [bob.userId])).toBe(1);
      expect(await countAsRoot(tx, "outbox.notifications where user_id = $1", [alice.userId])).toBe(0);
    });
  });

  it("publishes a member.added event for the organization, which its owner reads and a plain member does not", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, org } = await aliceAddsBob(tx);
      const eventsOf = () =>
        tx.query(
          `select topic, payload, aggregate_type, aggregate_id, organization_id, actor_id
             from outbox.events where organization_id = $1 and payload ->> 'userId' = $2`,
          [org.organizationId, bob.userId],
        );
      await tx.become(alice.claims);
      expect((await eventsOf()).rows).toEqual([
        {
          topic: "member.added",
          payload: { organizationId: org.organizationId, userId: bob.userId, role: "member", addedBy: alice.userId },
          aggregate_type: "organization",
          aggregate_id: org.organizationId,
          organization_id: org.organizationId,
          actor_id: alice.userId,
        },
      ]);
      await tx.become(bob.claims);
      expect((await eventsOf()).rows).toEqual([]);
      expect(await countAsRoot(tx, "outbox.events where topic = 'member.added' and organization_id = $1", [org.organizationId])).toBe(2);
    });
  });
});

describe("leaving and removing members", () => {
  it("records member.left when bob removes himself, publishes member.removed and notifies nobody", async () => {
    await withTransaction(async (tx) => {
      const { bob, org, membershipId } = await aliceAddsBob(tx);
      await tx.become(bob.claims);
      await tx.query("select auth.remove_member($1, $2)", [org.organizationId, bob.userId]);
      expect(await tx.asRoot(() => activity(tx, org, "member.left"))).toEqual([
        {
          verb: "member.left",
          actor_id: bob.userId,
          subject_id: bob.userId,
          organization_id: org.organizationId,
          object_type: "membership",
          object_id: membershipId,
          summary: `${bob.username} left ${org.name}`,
          context: { role: "member", userId: bob.userId },
        },
      ]);
      const event = await tx.asRoot(() =>
        one(tx, "select payload, actor_id from outbox.events where topic = 'member.removed' and organization_id = $1", [org.organizationId]),
      );
      expect(event).toEqual({ payload: { organizationId: org.organizationId, userId: bob.userId, role: "member", removedBy: bob.userId }, actor_id: bob.userId });
      expect(await countAsRoot(tx, "outbox.notifications where user_id = $1 and topic = 'member.removed'", [bob.userId])).toBe(0);
    });
  });

  it("records member.removed when alice removes bob, and notifies bob", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, org } = await aliceAddsBob(tx);
      await tx.become(alice.claims);
      await tx.query("select auth.remove_member($1, $2)", [org.organizationId, bob.userId]);
      expect(await tx.asRoot(() => activity(tx, org, "member.removed"))).toEqual([
        expect.objectContaining({
          actor_id: alice.userId,
          subject_id: bob.userId,
          summary: `${alice.username} removed ${bob.username} from ${org.name}`,
        }),
      ]);
      await tx.become(bob.claims);
      const { rows } = await tx.query("select topic, message from outbox.notifications order by notification_id");
      expect(rows).toEqual([
        { topic: "member.added", message: `${alice.username} added you to ${org.name} as member` },
        { topic: "member.removed", message: `${alice.username} removed you from ${org.name}` },
      ]);
    });
  });
});

describe("writing activity", () => {
  it("refuses a signed-in user inserting, updating or deleting activity (42501)", async () => {
    await withTransaction(async (tx) => {
      const { alice, org } = await aliceAddsBob(tx);
      await tx.become(alice.claims);
      const attempts: Record<string, [string, unknown[]]> = {
        insert: [
          "insert into audit.activity (actor_id, verb, object_type, summary, organization_id) values ($1, 'member.added', 'membership', 'forged', $2)",
          [alice.userId, org.organizationId],
        ],
        update: ["update audit.activity set summary = 'forged' where organization_id = $1", [org.organizationId]],
        delete: ["delete from audit.activity where organization_id = $1", [org.organizationId]],
      };
      const codes: Record<string, string | undefined> = {};
      for (const [what, [sql, values]] of Object.entries(attempts)) codes[what] = await tx.errorCode(() => tx.query(sql, values));
      expect(codes).toEqual({ insert: "42501", update: "42501", delete: "42501" });
      expect(await countAsRoot(tx, "audit.activity where organization_id = $1 and summary <> 'forged'", [org.organizationId])).toBe(2);
      expect(await countAsRoot(tx, "audit.activity where organization_id = $1 and summary = 'forged'", [org.organizationId])).toBe(0);
    });
  });

  it("refuses a signed-in user calling record_activity, outbox.publish or outbox.notify_user (42501)", async () => {
    await withTransaction(async (tx) => {
      const { alice, bob, org } = await aliceAddsBob(tx);
      await tx.become(alice.claims);
      const attempts: Record<string, [string, unknown[]]> = {
        record_activity: ["select audit.record_activity('member.added', 'membership', null, 'forged', $1)", [org.organizationId]],
        publish: ["select outbox.publish('member.added', '{}', null, null, $1)", [org.organizationId]],
        notify_user: ["select outbox.notify_user($1, 'member.added', 'forged')", [bob.userId]],
      };
      const codes: Record<string, string | undefined> = {};
      for (const [what, [sql, values]] of Object.entries(attempts)) codes[what] = await tx.errorCode(() => tx.query(sql, values));
      expect(codes).toEqual({ record_activity: "42501", publish: "42501", notify_user: "42501" });
      expect(await countAsRoot(tx, "audit.activity where summary = 'forged'")).toBe(0);
      expect(await countAsRoot(tx, "outbox.notifications where message = 'forged'")).toBe(0);
    });
  });
});

describe("deleting a user who belongs to organizations", () => {
  it("succeeds, and the organization's history keeps the removal without pointing at the deleted user", async () => {
    await withTransaction(async (tx) => {
      const { bob, org } = await aliceAddsBob(tx);
      await tx.asRoot(() => tx.query("delete from auth.users where user_id = $1", [bob.userId]));
      expect(await countAsRoot(tx, "auth.users where user_id = $1", [bob.userId])).toBe(0);
      const removed = await tx.asRoot(() =>
        one(tx, "select summary, subject_id, context from audit.activity where verb = 'member.removed' and organization_id = $1", [
          org.organizationId,
        ]),
      );
      expect(removed).toEqual({
        summary: expect.stringMatching(new RegExp(` removed a deleted user from ${org.name}$`)),
        subject_id: null,
        context: { role: "member", userId: bob.userId },
      });
    });
  });
});
