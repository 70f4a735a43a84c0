import { describe, expect, it } from "vitest";
import { withTransaction, type Claims, type TestTransaction } from "../../helpers/db.ts";
import { addMember, countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { createTenant, inDays, publishedEvent } from "../events/fixtures.ts";
import { createParties, pendingOrder, registerSponsor, step } from "./fixtures.ts";

const tables = ["proposals", "orders", "deliverables", "matches", "packages"] as const;

async function visible(tx: TestTransaction, claims: Claims, table: string, where: string, values: unknown[]): Promise<number> {
  await tx.become(claims);
  return (await one<{ n: number }>(tx, `select count(*)::int as n from sponsorship.${table} where ${where}`, values)).n;
}

describe("sponsorship isolation", () => {
  it("shows proposals, orders, deliverables and matches to the sponsor and the organizer acting as themselves, packages to the organizer only, and nothing to a third organization", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "iso");
      const third = await createTenant(tx, "isot");
      const member = await createUser(tx, "isom");
      await addMember(tx, parties.organizer.owner, parties.organizer.organization, member, "member");
      const memberClaims = { ...member.claims, org_id: parties.organizer.organization.organizationId };

      await tx.become(parties.organizer.claims);
      await tx.query("insert into sponsorship.packages (event_id, title, price) values ($1, 'Silver', 50000)", [parties.eventId]);
      const order = await pendingOrder(tx, parties);
      await step(tx, parties.organizer.claims, "select * from sponsorship.add_deliverable($1, 'Banner', $2)", [order.order_id, inDays(3)]);
      await tx.asRoot(() => tx.query("select sponsorship_private.compute_matches()"));

      const where = "event_id = $1";
      const byTable: Record<(typeof tables)[number], [string, unknown[]]> = {
        proposals: [where, [parties.eventId]],
        orders: [where, [parties.eventId]],
        deliverables: ["order_id = $1", [order.order_id]],
        // Sponsors committed by other test files may match this event too: count this test's sponsor's.
        matches: ["event_id = $1 and sponsor_id = $2", [parties.eventId, parties.sponsor.sponsorId]],
        packages: [where, [parties.eventId]],
      };
      for (const table of tables) {
        const [w, v] = byTable[table];
        const exists = await countAsRoot(tx, `sponsorship.${table} where ${w}`, v);
        expect(exists, `${table} exist`).toBeGreaterThan(0);
        expect(await visible(tx, parties.organizer.claims, table, w, v), `organizer sees ${table}`).toBe(exists);
        expect(await visible(tx, memberClaims, table, w, v), `an organizer's member sees ${table}`).toBe(exists);
        expect(await visible(tx, parties.sponsor.claims, table, w, v), `sponsor sees ${table}`).toBe(table === "packages" ? 0 : exists);
        expect(await visible(tx, third.claims, table, w, v), `a third organization sees no ${table}`).toBe(0);
        expect(await visible(tx, parties.sponsor.owner.claims, table, w, v), `the sponsor's owner not acting in it sees no ${table}`).toBe(0);
        expect(await visible(tx, parties.operator, table, w, v), `operators see ${table}`).toBe(table === "packages" ? 0 : exists);
      }
    });
  });

  it("keeps packages under the seed's tenant_isolation policy: another organization can neither read nor write them", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "pkg");
      const third = await createTenant(tx, "pkgt");
      const member = await createUser(tx, "pkgm");
      await addMember(tx, parties.organizer.owner, parties.organizer.organization, member, "member");
      await tx.become(parties.organizer.claims);
      const { package_id: id } = await one<{ package_id: string }>(tx, "insert into sponsorship.packages (event_id, title, price) values ($1, 'Gold', 100000) returning package_id", [parties.eventId]);
      const policy = await tx.asRoot(() => one<{ cmd: string; qual: string }>(tx, "select cmd, qual from pg_policies where schemaname = 'sponsorship' and tablename = 'packages' and policyname = 'tenant_isolation'"));
      expect(policy.cmd).toBe("ALL");
      expect(policy.qual).toContain("current_org_id()");

      await tx.become(third.claims);
      expect((await tx.query("update sponsorship.packages set title = 'Mine' where package_id = $1", [id])).rowCount).toBe(0);
      expect((await tx.query("delete from sponsorship.packages where package_id = $1", [id])).rowCount).toBe(0);
      expect(await tx.errorCode(() => tx.query("insert into sponsorship.packages (event_id, organization_id, title, price) values ($1, $2, 'Fake', 1)", [parties.eventId, parties.organizer.organization.organizationId]))).toBe("42501");
      // A member (not an admin) reads but does not write.
      await tx.become({ ...member.claims, org_id: parties.organizer.organization.organizationId });
      expect((await tx.query("update sponsorship.packages set title = 'Mine' where package_id = $1", [id])).rowCount).toBe(0);
      // An organization's packages are for its own events only.
      const otherEvent = await publishedEvent(tx, third, { startsAt: inDays(9) });
      await tx.become(parties.organizer.claims);
      expect(await tx.errorCode(() => tx.query("insert into sponsorship.packages (event_id, title, price) values ($1, 'Gold', 100)", [otherEvent]))).toBe("NTFND");
      expect(await tx.errorCode(() => tx.query("insert into sponsorship.packages (event_id, title, price) values ($1, 'Gold', -1)", [parties.eventId]))).toBe("SPAMT");
      const row = await tx.asRoot(() => one<{ title: string }>(tx, "select title from sponsorship.packages where package_id = $1", [id]));
      expect(row.title).toBe("Gold");
    });
  });

  it("computes matches from the sponsor's interests and country, never for the organizer itself", async () => {
    await withTransaction(async (tx) => {
      const parties = await createParties(tx, "mt");
      const own = await registerSponsor(tx, parties.organizer, { interests: ["music.jazz"] });
      const far = await createTenant(tx, "mtf");
      const farId = await registerSponsor(tx, far, { interests: ["sports"], countryCode: "FR" });
      const mine = [parties.sponsor.sponsorId, own, farId];
      await tx.asRoot(() => tx.query("select sponsorship_private.compute_matches()"));
      const { rows } = await tx.asRoot(() =>
        tx.query<{ sponsor_id: string; score: string; reason: string }>(
          "select sponsor_id, score, reason from sponsorship.matches where event_id = $1 and sponsor_id = any($2::uuid[])", [parties.eventId, mine]),
      );
      expect(rows).toEqual([{ sponsor_id: parties.sponsor.sponsorId, score: "0.9000", reason: "sponsors music.jazz; active in NG" }]);
      // Once the event has started, the job forgets its matches.
      await tx.asRoot(() => tx.query("select sponsorship_private.compute_matches(now() + interval '30 days')"));
      expect(await countAsRoot(tx, "sponsorship.matches where event_id = $1", [parties.eventId])).toBe(0);
    });
  });
});
