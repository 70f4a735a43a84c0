import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { addMember, anonymous, countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { actingIn, createEvent, createTenant, publishedEvent } from "../events/fixtures.ts";
import { activeCampaign, createAdvertiser } from "../campaigns/fixtures.ts";
import { checkout, createBuyer, createShop } from "../ticketing/fixtures.ts";

// The seed's SQL surface in public, for clients written against the seed:
// the same rows and rules as the modules' own tables and functions.

describe("public.events", () => {
  it("shows each caller exactly what events.events shows them (security_invoker keeps RLS)", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "pcacme");
      const globex = await createTenant(tx, "pcglobex");
      const draft = await createEvent(tx, acme.claims, { title: "Draft" });
      const open = await publishedEvent(tx, acme, { title: "Open" });
      const ids = [draft, open];
      for (const [claims, expected] of [
        [anonymous, [open]],
        [globex.claims, [open]],
        [acme.claims, [draft, open].sort()],
      ] as const) {
        await tx.become(claims);
        const { rows } = await tx.query<{ id: string }>("select id from public.events where id = any($1::uuid[]) order by id", [ids]);
        expect(rows.map((row) => row.id)).toEqual(expected);
      }
      expect(await countAsRoot(tx, "public.events where id = any($1::uuid[])", [ids])).toBe(2);
      await tx.become(acme.claims);
      expect(await tx.errorCode(() => tx.query("update public.events set title = 'x' where id = $1", [draft]))).toBe("42501");
    });
  });
});

describe("public.tickets and public.campaigns", () => {
  it("public.tickets shows owners their tickets and the event's organization its tickets, nobody else; read-only", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "pctix");
      const buyer = await createBuyer(tx, "pcbuyer");
      const stranger = await createUser(tx, "pcstranger");
      const other = await createTenant(tx, "pcother");
      const order = await checkout(tx, buyer.claims, shop.tierId, 2);
      const byOrder = "public.tickets t join ticketing.order_items i on i.order_item_id = t.order_item_id where i.order_id = $1";
      expect(await countAsRoot(tx, byOrder, [order.order_id])).toBe(2);
      for (const [claims, expected] of [
        [buyer.claims, 2],
        [shop.tenant.claims, 2],
        [stranger.claims, 0],
        [other.claims, 0],
      ] as const) {
        await tx.become(claims);
        const { rows } = await tx.query<{ n: number }>(
          "select count(*)::int as n from public.tickets where owner_user_id = $1",
          [buyer.userId],
        );
        expect(rows[0]!.n).toBe(expected);
      }
      await tx.become(buyer.claims);
      expect(await tx.errorCode(() => tx.query("update public.tickets set owner_user_id = $1", [stranger.userId]))).toBe("42501");
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select count(*) from public.tickets"))).toBe("42501");
    });
  });

  it("public.campaigns shows the advertising organization its campaigns, nobody else; read-only", async () => {
    await withTransaction(async (tx) => {
      const advertiser = await createAdvertiser(tx, "pcads");
      const { campaignId } = await activeCampaign(tx, advertiser);
      const other = await createTenant(tx, "pcrival");
      expect(await countAsRoot(tx, "public.campaigns where id = $1 and status = 'active'", [campaignId])).toBe(1);
      for (const [claims, expected] of [
        [advertiser.tenant.claims, 1],
        [other.claims, 0],
      ] as const) {
        await tx.become(claims);
        const { rows } = await tx.query<{ n: number }>("select count(*)::int as n from public.campaigns where id = $1", [campaignId]);
        expect(rows[0]!.n).toBe(expected);
      }
      await tx.become(advertiser.tenant.claims);
      expect(await tx.errorCode(() => tx.query("update public.campaigns set budget = 1 where id = $1", [campaignId]))).toBe("42501");
    });
  });
});

describe("the seed's RPCs", () => {
  it("current_org_id() and user_orgs() are the auth helpers under the seed's names", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "pcacme");
      const globex = await createTenant(tx, "pcglobex");
      const both = await createUser(tx, "pcboth");
      await addMember(tx, acme.owner, acme.organization, both);
      await addMember(tx, globex.owner, globex.organization, both);
      await tx.become(actingIn(both, acme.organization));
      expect(await one(tx, "select public.current_org_id() as org")).toEqual({ org: acme.organization.organizationId });
      const { rows } = await tx.query<{ id: string }>("select public.user_orgs() as id");
      expect(rows.map((row) => row.id).sort()).toEqual([acme.organization.organizationId, globex.organization.organizationId].sort());
      await tx.become(anonymous);
      expect(await one(tx, "select public.current_org_id() as org")).toEqual({ org: null });
      expect((await tx.query("select public.user_orgs()")).rowCount).toBe(0);
    });
  });

  it("create_event(...) creates a draft of the organization the caller acts in, with the same rules and codes", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "pcacme");
      await tx.become(acme.claims);
      const row = await one<{ id: string; owner_context_id: string; status: string }>(
        tx,
        "select id, owner_context_id, status from public.create_event('Seed night', now() + interval '1 day', now() + interval '1 day 3 hours', 'music.jazz', 'NG')",
      );
      expect(row).toMatchObject({ owner_context_id: acme.organization.organizationId, status: "draft" });
      expect(await countAsRoot(tx, "events.events where event_id = $1", [row.id])).toBe(1);
      expect(await tx.errorCode(() => tx.query("select public.create_event('Bad', now() + interval '2 days', now() + interval '1 day')"))).toBe("EVDAT");
      await tx.become(acme.owner.claims);
      expect(await tx.errorCode(() => tx.query("select public.create_event('No org', now() + interval '1 day', now() + interval '2 days')"))).toBe("DNIED");
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select public.create_event('Anon', now() + interval '1 day', now() + interval '2 days')"))).toBe("LOGIN");
    });
  });

  it("gives request roles public for these objects only: no creating there, no other table", async () => {
    await withTransaction(async (tx) => {
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("create table public.mine (id int)"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("create function public.mine() returns int language sql as 'select 1'"))).toBe("42501");
    });
  });
});
