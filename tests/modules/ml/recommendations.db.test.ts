import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createUser } from "../../helpers/fixtures.ts";
import { createEvent, createPost, createTenant, inDays, publishedEvent } from "../events/fixtures.ts";
import { checkout, createBuyer, createTier } from "../ticketing/fixtures.ts";

// Recommendations run with the caller's rights: a private event, a draft or
// another organization's hidden event is never recommended, however similar.

const embedAll = (tx: TestTransaction) => tx.asRoot(() => tx.query("select ml_private.embed_events(100000)"));

describe("similar events", () => {
  it("ranks similar events first and never returns an event the caller cannot see, though it exists and matches", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "mlsim");
      const globex = await createTenant(tx, "mlsim2");
      const source = await publishedEvent(tx, acme, { title: "Lagos Jazz Night", categoryCode: "music.jazz", description: "Live jazz by the lagoon." });
      const twin = await publishedEvent(tx, globex, { title: "Lagos Jazz Night Encore", categoryCode: "music.jazz", description: "Live jazz by the lagoon, again." });
      const unrelated = await publishedEvent(tx, globex, { title: "Cloud Summit", categoryCode: "technology", description: "Kubernetes and serverless." });
      const secret = await publishedEvent(tx, globex, { title: "Lagos Jazz Night", categoryCode: "music.jazz", description: "Live jazz by the lagoon.", visibility: "private" });
      const draft = await createEvent(tx, globex.claims, { title: "Lagos Jazz Night", categoryCode: "music.jazz", description: "Live jazz by the lagoon." });
      await embedAll(tx);

      const similar = async (claims: Parameters<typeof tx.become>[0], id = source) => {
        await tx.become(claims);
        return (await tx.query<{ event_id: string; score: number }>("select event_id, score from ml.similar_events($1, 100)", [id])).rows;
      };
      const asAnonymous = await similar(anonymous);
      const ids = asAnonymous.map((row) => row.event_id);
      expect(ids[0]).toBe(twin);
      expect(ids).not.toContain(secret);
      expect(ids).not.toContain(draft);
      expect(ids).not.toContain(source);
      const rank = (id: string) => ids.indexOf(id);
      if (ids.includes(unrelated)) expect(rank(unrelated)).toBeGreaterThan(rank(twin));
      expect(asAnonymous[0]!.score).toBeGreaterThan(0.5);
      // The scores from the inverted index are the exact cosine of the stored vectors.
      const exact = await tx.asRoot(async () =>
        (await tx.query<{ event_id: string; cosine: number }>(
          `select c.entity_id as event_id, ml.cosine(s.vector, c.vector) as cosine from ml.embeddings s, ml.embeddings c
            where s.entity_id = $1 and c.entity_id = any($2::uuid[]) and c.model_id = s.model_id`,
          [source, ids],
        )).rows,
      );
      for (const row of asAnonymous) expect(row.score).toBeCloseTo(exact.find((e) => e.event_id === row.event_id)!.cosine, 6);
      // Acting as itself, globex sees its private event, and it matches best (same text): it exists and would have matched.
      // Drafts are never recommended, not even to their organization.
      const asGlobex = (await similar(globex.claims)).map((row) => row.event_id);
      expect(asGlobex[0]).toBe(secret);
      expect(asGlobex).not.toContain(draft);
      // Asking about a hidden event answers nothing at all.
      expect(await similar(acme.claims, secret)).toEqual([]);
      expect(await similar(anonymous, draft)).toEqual([]);
      expect(await countAsRoot(tx, "ml.embeddings where entity_id = any($1::uuid[])", [[secret, draft]])).toBe(2);
    });
  });
});

describe("similar events behind many hidden ones", () => {
  it("widens the ranked head until enough visible events remain, and the ranking step alone never hands out a hidden one", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "mlwide");
      const globex = await createTenant(tx, "mlwide2");
      const text = { title: "Salsa Night at the Pier", categoryCode: "music", description: "Salsa dancing with a live band." };
      const source = await publishedEvent(tx, acme, text);
      // More hidden twins than the first head holds (4 × the limit), each a perfect match.
      const hidden: string[] = [];
      for (let i = 0; i < 6; i++) hidden.push(await publishedEvent(tx, globex, { ...text, visibility: "private" }));
      const visible = await publishedEvent(tx, globex, { title: "Salsa Lessons", categoryCode: "music", description: "Dancing for beginners." });
      await embedAll(tx);
      await tx.become(anonymous);
      const rows = (await tx.query<{ event_id: string }>("select event_id from ml.similar_events($1, 1)", [source])).rows;
      expect(rows.map((row) => row.event_id)).toEqual([visible]);
      const ranked = (await tx.query<{ event_id: string }>("select event_id from ml.rank_similar_events($1, 100)", [source])).rows.map((row) => row.event_id);
      expect(ranked).toContain(visible);
      for (const id of hidden) expect(ranked).not.toContain(id);
      expect((await tx.query("select * from ml.rank_similar_events($1, 100)", [hidden[0]])).rows).toEqual([]);
      // They exist, embedded, and are the best matches for their own organization.
      expect(await countAsRoot(tx, "ml.embeddings where entity_id = any($1::uuid[])", [hidden])).toBe(6);
      await tx.become(globex.claims);
      const asGlobex = (await tx.query<{ event_id: string }>("select event_id from ml.similar_events($1, 6)", [source])).rows.map((row) => row.event_id);
      expect(asGlobex.sort()).toEqual([...hidden].sort());
    });
  });
});

describe("events you may like", () => {
  it("recommends upcoming events like those of the organizations you follow and the posts you reacted to, only ones you can see", async () => {
    await withTransaction(async (tx) => {
      const jazzClub = await createTenant(tx, "mllike");
      const other = await createTenant(tx, "mllike2");
      const fan = await createUser(tx, "mlfan");
      const past = await publishedEvent(tx, jazzClub, { title: "Jazz Brunch", categoryCode: "music.jazz", startsAt: inDays(-10), endsAt: inDays(-10, 3) });
      const reacted = await publishedEvent(tx, other, { title: "Afrobeat Jazz Fusion", categoryCode: "music.jazz" });
      const post = await createPost(tx, other, reacted);
      const upcomingJazz = await publishedEvent(tx, other, { title: "Jazz on the Lagoon", categoryCode: "music.jazz", description: "Jazz quartet." });
      const fromFollowed = await publishedEvent(tx, jazzClub, { title: "Jazz Brunch Returns", categoryCode: "music.jazz" });
      const privateJazz = await publishedEvent(tx, other, { title: "Jazz on the Lagoon", categoryCode: "music.jazz", description: "Jazz quartet.", visibility: "private" });
      const tech = await publishedEvent(tx, other, { title: "Cloud Summit", categoryCode: "technology" });
      await tx.become(fan.claims);
      await tx.query("select users.follow_organization($1)", [jazzClub.organization.organizationId]);
      await tx.query("insert into events.event_reactions (post_id, kind) values ($1, 'like')", [post]);
      await embedAll(tx);

      await tx.become(fan.claims);
      const rows = (await tx.query<{ event_id: string; score: number; reason: string }>("select event_id, score, reason from ml.events_you_may_like(50)")).rows;
      const ids = rows.map((row) => row.event_id);
      expect(ids).toContain(upcomingJazz);
      expect(ids).toContain(fromFollowed);
      expect(ids).not.toContain(privateJazz);
      expect(ids).not.toContain(reacted);
      expect(ids).not.toContain(past);
      expect(rows.find((row) => row.event_id === fromFollowed)!.reason).toBe("from an organization you follow");
      if (ids.includes(tech)) expect(ids.indexOf(tech)).toBeGreaterThan(ids.indexOf(upcomingJazz));
      expect(await countAsRoot(tx, "ml.embeddings where entity_id = $1", [privateJazz])).toBe(1);

      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select * from ml.events_you_may_like()"))).toBe("42501");
      const nobody = await createUser(tx, "mlnobody");
      await tx.become(nobody.claims);
      expect((await tx.query("select * from ml.events_you_may_like()")).rows).toEqual([]);
    });
  });

  it("counts the events whose tickets you hold as interests, and never recommends a private event you cannot see", async () => {
    await withTransaction(async (tx) => {
      const club = await createTenant(tx, "mltix");
      const other = await createTenant(tx, "mltix2");
      const bought = await publishedEvent(tx, club, { title: "Highlife Evening", categoryCode: "music", description: "Highlife guitar band, palm wine." });
      const tier = await createTier(tx, club, bought);
      const alike = await publishedEvent(tx, other, { title: "Highlife Evening Encore", categoryCode: "music", description: "Highlife guitar band again." });
      const hidden = await publishedEvent(tx, other, { title: "Highlife Evening", categoryCode: "music", description: "Highlife guitar band, palm wine.", visibility: "private" });
      const draft = await createEvent(tx, other.claims, { title: "Highlife Evening", categoryCode: "music", description: "Highlife guitar band, palm wine." });
      const buyer = await createBuyer(tx, "mltixb");
      // Before buying: no follows, no reactions, no tickets, no interests.
      await embedAll(tx);
      await tx.become(buyer.claims);
      expect((await tx.query("select * from ml.events_you_may_like(50)")).rows).toEqual([]);
      await checkout(tx, buyer.claims, tier, 1);
      await tx.become(buyer.claims);
      const rows = (await tx.query<{ event_id: string; reason: string }>("select event_id, reason from ml.events_you_may_like(50)")).rows;
      const ids = rows.map((row) => row.event_id);
      expect(ids[0]).toBe(alike);
      expect(rows[0]!.reason).toBe("like events you follow, hold tickets for and react to");
      expect(ids).not.toContain(bought);
      expect(ids).not.toContain(hidden);
      expect(ids).not.toContain(draft);
      // The hidden one exists, is embedded, and matches the ticket better than the one recommended.
      expect(await countAsRoot(tx, "ml.embeddings where entity_id = any($1::uuid[])", [[hidden, draft]])).toBe(2);
      const cosine = await tx.asRoot(async () =>
        (await tx.query<{ hidden: number; alike: number }>(
          `select ml.cosine(b.vector, h.vector) as hidden, ml.cosine(b.vector, a.vector) as alike
             from ml.embeddings b, ml.embeddings h, ml.embeddings a where b.entity_id = $1 and h.entity_id = $2 and a.entity_id = $3`,
          [bought, hidden, alike],
        )).rows[0]!,
      );
      expect(cosine.hidden).toBeGreaterThan(cosine.alike);
    });
  });
});
