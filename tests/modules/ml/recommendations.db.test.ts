import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createUser } from "../../helpers/fixtures.ts";
import { createEvent, createPost, createTenant, inDays, publishedEvent } from "../events/fixtures.ts";

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
});
