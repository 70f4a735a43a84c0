import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { addMember, anonymous, countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { actingIn, createTenant, publishedEvent } from "../events/fixtures.ts";
import { daysAgo, ingest } from "./fixtures.ts";

// The dashboard: daily stats in a materialized view (no RLS possible), read
// through a security-barrier view that shows an organization its own events;
// audience insights by country and new vs returning.

describe("daily stats", () => {
  it("aggregates impressions per event and UTC day, and shows each organization only its own events", async () => {
    // In a month's first days, yesterday's (or three days ago's) month has no partition yet: the ingestion attaches one.
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "andash");
      const globex = await createTenant(tx, "andash2");
      const mine = await publishedEvent(tx, acme);
      const theirs = await publishedEvent(tx, globex);
      const viewer = await createUser(tx, "andashv");
      const yesterday = daysAgo(1);
      await ingest(tx, anonymous, [
        { clientId: "m1", id: mine, visitorId: "v1", countryCode: "NG", occurredAt: yesterday },
        { clientId: "m2", id: mine, visitorId: "v1", countryCode: "NG", occurredAt: yesterday },
        { clientId: "m3", id: mine, visitorId: "v2", countryCode: "GH", occurredAt: yesterday },
        { clientId: "t1", id: theirs, visitorId: "v9" },
      ]);
      await ingest(tx, viewer.claims, [{ clientId: "m4", id: mine, occurredAt: yesterday }]);
      await tx.asRoot(() => tx.query("select analytics_private.refresh_stats()"));

      const statsAs = async (claims: Parameters<typeof tx.become>[0]) => {
        await tx.become(claims);
        return (await tx.query("select event_id, day::text as day, total_views::int, unique_viewers::int, signed_in_views::int, countries from analytics.event_daily_stats order by event_id, day")).rows;
      };
      const day = yesterday.slice(0, 10);
      expect(await statsAs(acme.claims)).toEqual([{ event_id: mine, day, total_views: 4, unique_viewers: 3, signed_in_views: 1, countries: 2 }]);
      expect((await statsAs(globex.claims)).map((row) => row.event_id)).toEqual([theirs]);
      // Not acting in the organization, or acting in one you left: nothing.
      expect(await statsAs(acme.owner.claims)).toEqual([]);
      const member = await createUser(tx, "andashm");
      await addMember(tx, acme.owner, acme.organization, member);
      expect((await statsAs(actingIn(member, acme.organization))).length).toBe(1);
      expect(await statsAs(actingIn(viewer, acme.organization))).toEqual([]);
      // The rows exist; the materialized view itself is closed to request roles.
      expect(await countAsRoot(tx, "analytics.mv_event_daily_stats where event_id = any($1::uuid[])", [[mine, theirs]])).toBe(2);
      await tx.become(acme.claims);
      expect(await tx.errorCode(() => tx.query("select * from analytics.mv_event_daily_stats"))).toBe("42501");
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select * from analytics.event_daily_stats"))).toBe("42501");
    }, { attachesPartitions: true });
  });

  it("cannot be tricked into showing other rows by a leaky function in the query (security barrier)", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "anleak");
      const globex = await createTenant(tx, "anleak2");
      await publishedEvent(tx, acme);
      const theirs = await publishedEvent(tx, globex);
      await ingest(tx, anonymous, [{ clientId: "l1", id: theirs }]);
      await tx.asRoot(async () => {
        await tx.query("select analytics_private.refresh_stats()");
        await tx.query(`create function pg_temp.leak(t bigint, e uuid) returns boolean language plpgsql cost 0.0000001 as $$ begin raise notice 'leak % %', e, t; return true; end $$`);
      });
      await tx.become(acme.claims);
      const notices: string[] = [];
      const listener = (message: { message?: string }) => notices.push(message.message ?? "");
      tx.client.on("notice", listener);
      const { rows } = await tx.query("select * from analytics.event_daily_stats s where pg_temp.leak(s.total_views, s.event_id)");
      tx.client.off("notice", listener);
      expect(rows).toEqual([]);
      expect(notices.filter((text) => text.includes(theirs))).toEqual([]);
      expect(await countAsRoot(tx, "analytics.mv_event_daily_stats where event_id = $1", [theirs])).toBe(1);
    });
  });
});

describe("audience insights", () => {
  it("counts viewers by country and new vs returning (seen on two or more days), for the event's organization only", async () => {
    // In a month's first days, yesterday's (or three days ago's) month has no partition yet: the ingestion attaches one.
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "anaud");
      const globex = await createTenant(tx, "anaud2");
      const event = await publishedEvent(tx, acme);
      await ingest(tx, anonymous, [
        { clientId: "a1", id: event, visitorId: "back", countryCode: "NG", occurredAt: daysAgo(3) },
        { clientId: "a2", id: event, visitorId: "back", countryCode: "NG", occurredAt: daysAgo(1) },
        { clientId: "a3", id: event, visitorId: "once", countryCode: "KE", occurredAt: daysAgo(1) },
        { clientId: "a4", id: event, visitorId: "nowhere", occurredAt: daysAgo(1) },
      ]);
      // Every event with impressions is recomputed (other test files' committed events too): at least this one.
      expect((await tx.asRoot(() => one<{ n: number }>(tx, "select analytics_private.compute_audience_insights() as n"))).n).toBeGreaterThanOrEqual(1);
      await tx.become(acme.claims);
      const { rows } = await tx.query("select dimension, value, viewers::int, views::int from analytics.event_audience_insights where event_id = $1 order by 1, 2", [event]);
      expect(rows).toEqual([
        { dimension: "country", value: "KE", viewers: 1, views: 1 },
        { dimension: "country", value: "NG", viewers: 1, views: 2 },
        { dimension: "country", value: "unknown", viewers: 1, views: 1 },
        { dimension: "visitor", value: "new", viewers: 2, views: 2 },
        { dimension: "visitor", value: "returning", viewers: 1, views: 2 },
      ]);
      // Only events with impressions since `since` are recomputed.
      expect(await tx.asRoot(() => one<{ n: number }>(tx, "select analytics_private.compute_audience_insights(now() + interval '1 hour') as n"))).toEqual({ n: 0 });
      await tx.become(globex.claims);
      expect((await tx.query("select * from analytics.event_audience_insights where event_id = $1", [event])).rows).toEqual([]);
      expect(await countAsRoot(tx, "analytics.event_audience_insights where event_id = $1", [event])).toBe(5);
    }, { attachesPartitions: true });
  });
});
