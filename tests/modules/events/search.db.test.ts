import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { anonymous, createUser } from "../../helpers/fixtures.ts";
import { createEvent, createTenant, inDays, publishedEvent, type Tenant } from "./fixtures.ts";

// events.search_events: published public events, upcoming first, by text,
// category (a top-level one includes its children), country and date range,
// paged by GraphQL cursors or by keyset; the same for anonymous and signed-in
// callers, because it is the caller's own query under RLS.

interface Seeded {
  acme: Tenant;
  ids: Record<string, string>;
}

/** Events of two organizations; only the published public ones are found. */
async function seed(tx: TestTransaction): Promise<Seeded> {
  const acme = await createTenant(tx, "evsearch");
  const globex = await createTenant(tx, "evsearchg");
  const ids: Record<string, string> = {};
  ids.jazz = await publishedEvent(tx, acme, { title: "Lagos Jazz Night", startsAt: inDays(3), categoryCode: "music.jazz", countryCode: "NG" });
  ids.concerts = await publishedEvent(tx, globex, { title: "Summer Concert Series", description: "Three concerts under the stars.", startsAt: inDays(5), categoryCode: "music.concerts", countryCode: "GH" });
  ids.hackathon = await publishedEvent(tx, acme, { title: "Civic Hackathon", description: "Build tools for the city.", startsAt: inDays(1), categoryCode: "technology.hackathons", countryCode: "NG", venue: "Yaba Tech Hub" });
  ids.festival = await publishedEvent(tx, globex, { title: "Accra Food Festival", description: "Jollof, kelewele and more.", startsAt: inDays(20), categoryCode: "food-drink.festivals", countryCode: "GH" });
  ids.online = await publishedEvent(tx, acme, { title: "Online Jazz Masterclass", startsAt: inDays(9), categoryCode: "education.classes", countryCode: null });
  ids.past = await publishedEvent(tx, acme, { title: "Jazz of yesterday", startsAt: inDays(-3), categoryCode: "music.jazz" });
  ids.draft = await createEvent(tx, acme.claims, { title: "Jazz draft", startsAt: inDays(2) });
  ids.hidden = await publishedEvent(tx, acme, { title: "Private jazz", startsAt: inDays(2), visibility: "private" });
  ids.unlisted = await publishedEvent(tx, acme, { title: "Unlisted jazz", startsAt: inDays(2), visibility: "unlisted" });
  ids.cancelled = await publishedEvent(tx, globex, { title: "Cancelled jazz", startsAt: inDays(2) });
  await tx.query("select events.cancel_event($1)", [ids.cancelled]);
  for (const id of Object.values(ids)) mine.add(id);
  return { acme, ids };
}

/** Events this test made (other test files commit events to the same database meanwhile). */
const mine = new Set<string>();

/** Titles of search_events(args) as `claims`, in the order returned, of this test's events only. */
async function search(tx: TestTransaction, claims: Parameters<TestTransaction["become"]>[0], args: Record<string, unknown> = {}): Promise<string[]> {
  await tx.become(claims);
  const names = Object.keys(args);
  const sql = `select event_id, title from events.search_events(${names.map((name, i) => `${name} => $${i + 1}`).join(", ")})`;
  const { rows } = await tx.query<{ event_id: string; title: string }>(sql, Object.values(args));
  return rows.filter((row) => mine.has(row.event_id)).map((row) => row.title);
}

describe("searching events", () => {
  it("lists published public events upcoming first, nothing past, drafts, private, unlisted or cancelled", async () => {
    await withTransaction(async (tx) => {
      const { acme } = await seed(tx);
      const expected = ["Civic Hackathon", "Lagos Jazz Night", "Summer Concert Series", "Online Jazz Masterclass", "Accra Food Festival"];
      expect(await search(tx, anonymous)).toEqual(expected);
      // The owner acting in its organization sees its drafts elsewhere, not in search.
      expect(await search(tx, acme.claims)).toEqual(expected);
      const someone = await createUser(tx, "evsearcher");
      expect(await search(tx, someone.claims)).toEqual(expected);
    });
  });

  it("matches words with english stemming, phrases and exclusions, over title, venue and description", async () => {
    await withTransaction(async (tx) => {
      await seed(tx);
      expect(await search(tx, anonymous, { query: "jazz" })).toEqual(["Lagos Jazz Night", "Online Jazz Masterclass"]);
      expect(await search(tx, anonymous, { query: "concert" })).toEqual(["Summer Concert Series"]);
      expect(await search(tx, anonymous, { query: "stars" })).toEqual(["Summer Concert Series"]);
      expect(await search(tx, anonymous, { query: "yaba" })).toEqual(["Civic Hackathon"]);
      expect(await search(tx, anonymous, { query: '"jazz night"' })).toEqual(["Lagos Jazz Night"]);
      expect(await search(tx, anonymous, { query: "jazz -online" })).toEqual(["Lagos Jazz Night"]);
      expect(await search(tx, anonymous, { query: "<script>" })).toEqual([]);
    });
  });

  it("filters by category (a top-level category includes its children), country and date range", async () => {
    await withTransaction(async (tx) => {
      await seed(tx);
      expect(await search(tx, anonymous, { category_code: "music.jazz" })).toEqual(["Lagos Jazz Night"]);
      expect(await search(tx, anonymous, { category_code: "music" })).toEqual(["Lagos Jazz Night", "Summer Concert Series"]);
      expect(await search(tx, anonymous, { country_code: "GH" })).toEqual(["Summer Concert Series", "Accra Food Festival"]);
      expect(await search(tx, anonymous, { query: "jazz", country_code: "NG" })).toEqual(["Lagos Jazz Night"]);
      expect(await search(tx, anonymous, { starts_from: inDays(4), starts_before: inDays(10) })).toEqual(["Summer Concert Series", "Online Jazz Masterclass"]);
      expect(await search(tx, anonymous, { query: "jazz", starts_from: inDays(-10) })).toEqual(["Jazz of yesterday", "Lagos Jazz Night", "Online Jazz Masterclass"]);
    });
  });

  it("pages by keyset without skipping or repeating an event, also when several start at the same time", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evpage");
      const start = inDays(30);
      const made: string[] = [];
      for (let i = 0; i < 7; i++) made.push(await publishedEvent(tx, acme, { title: `Paged ${i}`, startsAt: i < 4 ? start : inDays(31 + i), categoryCode: "sports.running", countryCode: "KE" }));
      // Keyset from just before this test's first event, so events committed by other files (none are in Kenya, but still) cannot interleave.
      await tx.become(anonymous);
      const seen: string[] = [];
      type Row = { event_id: string; starts_at: Date };
      let after: Row | undefined = { starts_at: new Date(start.getTime() - 1000), event_id: "ffffffff-ffff-ffff-ffff-ffffffffffff" };
      for (let page = 0; page < 10; page++) {
        const { rows }: { rows: Row[] } = await tx.query<Row>(
          "select event_id, starts_at from events.search_events(country_code => 'KE', category_code => 'sports.running', after_starts_at => $1, after_event_id => $2) limit 3",
          [after?.starts_at ?? null, after?.event_id ?? null],
        );
        if (rows.length === 0) break;
        seen.push(...rows.map((row: Row) => row.event_id).filter((id: string) => made.includes(id)));
        after = rows.at(-1);
      }
      expect(seen).toHaveLength(7);
      expect(new Set(seen)).toEqual(new Set(made));
      const ordered = await tx.query<{ event_id: string }>("select event_id from events.search_events(country_code => 'KE', category_code => 'sports.running')");
      expect(seen).toEqual(ordered.rows.map((row) => row.event_id).filter((id) => made.includes(id)));
    });
  });

  it("is served by the events' indexes (inlined into the caller's query, so a page's limit reaches the scan)", async () => {
    await withTransaction(async (tx) => {
      await seed(tx);
      await tx.become(anonymous);
      await tx.query("set local enable_seqscan = off");
      const plan = async (sql: string) => (await tx.query<{ "QUERY PLAN": string }>(`explain ${sql}`)).rows.map((row) => row["QUERY PLAN"]).join("\n");
      expect(await plan("select * from events.search_events() limit 20")).toMatch(/events_listed_idx/);
      expect(await plan("select * from events.search_events(query => 'jazz') limit 20")).toMatch(/events_search_vector_idx|events_listed_idx/);
      expect(await plan("select * from events.search_events(query => 'jazz') limit 20")).not.toMatch(/Function Scan/);
    });
  });
});
