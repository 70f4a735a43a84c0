import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, one } from "../../helpers/fixtures.ts";
import { createEvent, createPost, createTenant, publishedEvent } from "./fixtures.ts";

// Bad input to events: each refused with its own code (a 4xx class), nothing
// written. Text is stored as it came and never interpreted.

const eventCount = (tx: Parameters<typeof countAsRoot>[0], organizationId: string) =>
  countAsRoot(tx, "events.events where owner_context_id = $1", [organizationId]);

describe("bad input to events", () => {
  it("refuses unknown country, category and time zone codes with EVCTY, EVCAT and EVTZN", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evbad");
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { countryCode: "XX" }))).toBe("EVCTY");
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { countryCode: "ng" }))).toBe("EVCTY");
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { categoryCode: "music.polka" }))).toBe("EVCAT");
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { timezone: "Mars/Olympus_Mons" }))).toBe("EVTZN");
      expect(await eventCount(tx, acme.organization.organizationId)).toBe(0);
      // The same on an update, and through the table.
      const id = await createEvent(tx, acme.claims);
      expect(await tx.errorCode(() => tx.query("update events.events set country_code = 'ZZ' where event_id = $1", [id]))).toBe("EVCTY");
      expect(await tx.errorCode(() => tx.query("update events.events set category_code = 'nope' where event_id = $1", [id]))).toBe("EVCAT");
      expect(
        await tx.errorCode(() => tx.query("insert into events.events (title, starts_at, ends_at, country_code) values ('x', now() + interval '1 day', now() + interval '2 days', 'QQ')")),
      ).toBe("EVCTY");
      expect(await tx.asRoot(() => one(tx, "select country_code, category_code from events.events where event_id = $1", [id]))).toEqual({ country_code: "NG", category_code: "music.jazz" });
    });
  });

  it("refuses an end before (or at) the start with EVDAT", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evbad");
      const start = new Date(Date.now() + 86400e3);
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { startsAt: start, endsAt: new Date(start.getTime() - 3600e3) }))).toBe("EVDAT");
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { startsAt: start, endsAt: start }))).toBe("EVDAT");
      const id = await createEvent(tx, acme.claims, { startsAt: start });
      expect(await tx.errorCode(() => tx.query("update events.events set ends_at = starts_at - interval '1 minute' where event_id = $1", [id]))).toBe("EVDAT");
      expect(await eventCount(tx, acme.organization.organizationId)).toBe(1);
    });
  });

  it("refuses a 1 MB description, a blank or 201-character title, bad visibility, capacity and metadata with BADIN", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evbad");
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { description: "x".repeat(1024 * 1024) }))).toBe("BADIN");
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { title: "   " }))).toBe("BADIN");
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { title: "t".repeat(201) }))).toBe("BADIN");
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { visibility: "secret" as "private" }))).toBe("BADIN");
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { capacity: 0 }))).toBe("BADIN");
      expect(await tx.errorCode(() => createEvent(tx, acme.claims, { metadata: { blob: "m".repeat(70_000) } }))).toBe("BADIN");
      await tx.become(acme.claims); // a failed step rolls back its savepoint, claims included
      expect(await tx.errorCode(() => tx.query("select events.create_event('x', now(), now() + interval '1 hour', metadata => '[1, 2]'::jsonb)"))).toBe("BADIN");
      expect(await tx.errorCode(() => tx.query("select events.create_event('x', null, now())"))).toBe("BADIN");
      // A description at the limit is fine.
      await createEvent(tx, acme.claims, { description: "d".repeat(20_000) });
      expect(await eventCount(tx, acme.organization.organizationId)).toBe(1);
    });
  });

  it("stores HTML and script in text fields as text, byte for byte, and never interprets it", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evbad");
      const markup = `<script>alert("x")</script><img src=x onerror=alert(1)>' or 1=1; --`;
      const id = await publishedEvent(tx, acme, { title: markup.slice(0, 200), description: markup, venue: markup });
      const post = await createPost(tx, acme, id, markup);
      await tx.become(anonymous);
      expect(await one(tx, "select title, description, venue from events.events where event_id = $1", [id])).toEqual({
        title: markup.slice(0, 200),
        description: markup,
        venue: markup,
      });
      expect(await one(tx, "select body from events.event_posts where post_id = $1", [post])).toEqual({ body: markup });
    });
  });

  it("refuses oversized posts, comments and guides with check violations (23514), storing nothing", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evbad");
      const id = await publishedEvent(tx, acme);
      expect(await tx.errorCode(() => createPost(tx, acme, id, "p".repeat(10_001)))).toBe("23514");
      expect(await tx.errorCode(() => createPost(tx, acme, id, ""))).toBe("23514");
      const post = await createPost(tx, acme, id);
      expect(await tx.errorCode(() => tx.query("insert into events.event_comments (post_id, body) values ($1, $2)", [post, "c".repeat(5001)]))).toBe("23514");
      expect(await tx.errorCode(() => tx.query("insert into events.cultural_guides (event_id, locale, title, body) values ($1, 'english', 'Guide', 'b')", [id]))).toBe("23514");
      expect(await countAsRoot(tx, "events.event_posts where event_id = $1", [id])).toBe(1);
      expect(await countAsRoot(tx, "events.event_comments where post_id = $1", [post])).toBe(0);
    });
  });
});
