import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { createEvent, createPost, createTenant, publishedEvent } from "../events/fixtures.ts";
import { daysAgo, ingest } from "./fixtures.ts";

// The one ingestion mechanism: a batch is checked whole, deduplicated by
// client id within the stream's window, routed to its month's partition.
// Bad input: a coded error and nothing written.

const impressionsOf = (tx: Parameters<typeof countAsRoot>[0], eventId: string) => countAsRoot(tx, "analytics.event_impressions where event_id = $1", [eventId]);

describe("ingesting impressions", () => {
  it("accepts a batch from an anonymous caller and records the signed-in caller when there is one", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "aning");
      const event = await publishedEvent(tx, acme);
      const viewer = await createUser(tx, "anviewer");
      expect(await ingest(tx, anonymous, [{ clientId: "a1", id: event, visitorId: "v-1", countryCode: "NG", metadata: { page: "home" } }])).toEqual({
        received: 1,
        accepted: 1,
        duplicates: 0,
      });
      await ingest(tx, viewer.claims, [{ clientId: "a2", id: event, source: "app" }]);
      const rows = await tx.asRoot(async () => (await tx.query("select client_id, user_id, visitor_id, country_code, source, metadata from analytics.event_impressions where event_id = $1 order by client_id", [event])).rows);
      expect(rows).toEqual([
        { client_id: "a1", user_id: null, visitor_id: "v-1", country_code: "NG", source: "web", metadata: { page: "home" } },
        { client_id: "a2", user_id: viewer.userId, visitor_id: null, country_code: null, source: "app", metadata: {} },
      ]);
    });
  });

  it("ignores a beacon whose client id was seen within the window, in the batch or before, and accepts it again after the window", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "aning");
      const event = await publishedEvent(tx, acme);
      expect(await ingest(tx, anonymous, [{ clientId: "d1", id: event }, { clientId: "d1", id: event }, { clientId: "d2", id: event }])).toEqual({
        received: 3,
        accepted: 2,
        duplicates: 1,
      });
      expect(await ingest(tx, anonymous, [{ clientId: "d1", id: event }, { clientId: "d3", id: event }])).toEqual({ received: 2, accepted: 1, duplicates: 1 });
      expect(await impressionsOf(tx, event)).toBe(3);
      // 25 hours later (the window is 24): the id counts again.
      await tx.asRoot(() => tx.query("update analytics_private.ingest_keys set seen_at = seen_at - interval '25 hours' where stream = 'event' and client_id = 'd1'"));
      expect(await ingest(tx, anonymous, [{ clientId: "d1", id: event }])).toEqual({ received: 1, accepted: 1, duplicates: 0 });
      // The same client id on another stream is another beacon.
      const post = await createPost(tx, acme, event);
      expect(await ingest(tx, anonymous, [{ stream: "post", clientId: "d2", id: post }])).toEqual({ received: 1, accepted: 1, duplicates: 0 });
      expect(await countAsRoot(tx, "analytics.post_impressions where post_id = $1", [post])).toBe(1);
      // Forgetting ids past their window: d1 was just seen again; an old one goes.
      await tx.asRoot(() => tx.query("update analytics_private.ingest_keys set seen_at = seen_at - interval '2 days' where stream = 'event' and client_id = 'd3'"));
      expect((await tx.asRoot(() => one<{ n: number }>(tx, "select analytics_private.prune_ingest_keys() as n"))).n).toBeGreaterThanOrEqual(1);
      expect(await countAsRoot(tx, "analytics_private.ingest_keys where stream = 'event' and client_id in ('d1', 'd2', 'd3')")).toBe(2);
      expect(await countAsRoot(tx, "analytics_private.ingest_keys where stream = 'event' and client_id = 'd3'")).toBe(0);
    });
  });
});

describe("bad impressions", () => {
  it("refuses impressions dated before the retention window or ahead of the clock with ANRNG, writing nothing of the batch", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "anbad");
      const event = await publishedEvent(tx, acme);
      const good = { clientId: "ok", id: event };
      for (const occurredAt of [daysAgo(450), "1970-01-01T00:00:00Z", daysAgo(-1), "2999-01-01T00:00:00Z"]) {
        expect(await tx.errorCode(() => ingest(tx, anonymous, [good, { clientId: "far", id: event, occurredAt }]))).toBe("ANRNG");
      }
      expect(await impressionsOf(tx, event)).toBe(0);
      expect(await countAsRoot(tx, "analytics_private.ingest_keys where client_id in ('ok', 'far')")).toBe(0);
      // No partition was made for the far months either.
      expect(await countAsRoot(tx, "pg_class where relname in ('event_impressions_1970_01', 'event_impressions_2999_01')")).toBe(0);
    });
  });

  it("refuses malformed batches and items with ANBAT", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "anbad");
      const event = await publishedEvent(tx, acme);
      const bad: unknown[] = [
        { clientId: "x" },
        [],
        Array.from({ length: 1001 }, (_, i) => ({ clientId: `c${i}`, id: event, stream: "event", occurredAt: new Date().toISOString() })),
        [{ clientId: "x", id: event, stream: "campaign" }],
        [{ clientId: "", id: event }],
        [{ clientId: "x".repeat(101), id: event }],
        [{ clientId: "x", id: "not-a-uuid" }],
        [{ clientId: "x", id: event, occurredAt: "yesterday" }],
        [{ clientId: "x", id: event, occurredAt: "2026-02-30T10:00:00Z" }],
        [{ clientId: "x", id: event, countryCode: "XX" }],
        [{ clientId: "x", id: event, source: "Robert'); drop table analytics.event_impressions;--" }],
        [{ clientId: "x", id: event, metadata: [1, 2] }],
        [{ clientId: "x", id: event, metadata: { blob: "y".repeat(5000) } }],
        [{ clientId: "x", id: event, userId: "00000000-0000-4000-8000-000000000000" }],
        ["just a string"],
      ];
      for (const batch of bad) {
        expect(await tx.errorCode(() => ingest(tx, anonymous, batch))).toBe("ANBAT");
      }
      expect(await impressionsOf(tx, event)).toBe(0);
      expect(await countAsRoot(tx, "pg_class where relname = 'event_impressions'")).toBe(1);
    });
  });

  it("refuses impressions of events the caller may not see with ANENT, as if they did not exist, though they do", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "anbad");
      const globex = await createTenant(tx, "anbad2");
      const open = await publishedEvent(tx, acme);
      const secret = await publishedEvent(tx, acme, { visibility: "private" });
      const draft = await createEvent(tx, acme.claims);
      const unlisted = await publishedEvent(tx, acme, { visibility: "unlisted" });
      for (const id of [secret, draft, "00000000-0000-4000-8000-000000000000"]) {
        expect(await tx.errorCode(() => ingest(tx, anonymous, [{ clientId: "g", id: open }, { clientId: "s", id }]))).toBe("ANENT");
        expect(await tx.errorCode(() => ingest(tx, globex.claims, [{ clientId: "s", id }]))).toBe("ANENT");
      }
      expect(await countAsRoot(tx, "events.events where event_id = any($1::uuid[])", [[secret, draft]])).toBe(2);
      expect(await countAsRoot(tx, "analytics.event_impressions where event_id = any($1::uuid[])", [[open, secret, draft]])).toBe(0);
      // The organization itself may record views of its private event (a preview); anyone may of an unlisted one (it has a link).
      expect((await ingest(tx, acme.claims, [{ clientId: "own", id: secret }])).accepted).toBe(1);
      expect((await ingest(tx, anonymous, [{ clientId: "link", id: unlisted }])).accepted).toBe(1);
    });
  });
});

describe("who reads impressions", () => {
  it("shows an organization acting as itself the impressions of its events, and nobody else", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "anread");
      const globex = await createTenant(tx, "anread2");
      const event = await publishedEvent(tx, acme);
      await ingest(tx, anonymous, [{ clientId: "r1", id: event }]);
      const post = await createPost(tx, acme, event);
      await ingest(tx, anonymous, [{ stream: "post", clientId: "r2", id: post }]);
      const count = async (claims: Parameters<typeof tx.become>[0], table: string) => {
        await tx.become(claims);
        return (await one<{ n: number }>(tx, `select count(*)::int as n from ${table}`)).n;
      };
      expect(await count(acme.claims, "analytics.event_impressions")).toBe(1);
      expect(await count(acme.claims, "analytics.post_impressions")).toBe(1);
      expect(await count(globex.claims, "analytics.event_impressions")).toBe(0);
      expect(await count(globex.claims, "analytics.post_impressions")).toBe(0);
      expect(await count(acme.owner.claims, "analytics.event_impressions")).toBe(0);
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select count(*) from analytics.event_impressions"))).toBe("42501");
      expect(await impressionsOf(tx, event)).toBe(1);
      // Nobody writes them directly.
      await tx.become(acme.claims);
      expect(await tx.errorCode(() => tx.query("insert into analytics.event_impressions (event_id, client_id, occurred_at) values ($1, 'x', now())", [event]))).toBe("42501");
    });
  });
});
