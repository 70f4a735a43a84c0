import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createUser, one, roleClaims } from "../../helpers/fixtures.ts";
import { createTenant, publishedEvent } from "../events/fixtures.ts";
import { ingest } from "../analytics/fixtures.ts";

// Embeddings without a model download: feature hashing in SQL, exact cosine,
// operators' own vectors checked before they are stored.

describe("hash-v1 embeddings", () => {
  it("turns text into a deterministic unit vector of 256 numbers where related events are closer than unrelated ones", async () => {
    await withTransaction(async (tx) => {
      const { v, again, norm } = await one<{ v: number[]; again: number[]; norm: number }>(
        tx,
        `select ml.hash_embedding('music.jazz', 'Lagos Jazz Night', 'Freedom Park', 'Live jazz by the lagoon') as v,
                ml.hash_embedding('music.jazz', 'Lagos Jazz Night', 'Freedom Park', 'Live jazz by the lagoon') as again,
                sqrt((select sum(x * x) from unnest(ml.hash_embedding('music.jazz', 'Lagos Jazz Night', 'Freedom Park', 'Live jazz by the lagoon')) x)) as norm`,
      );
      expect(v.length).toBe(256);
      expect(again).toEqual(v);
      expect(norm).toBeCloseTo(1, 5);
      const { near, far, self } = await one<{ near: number; far: number; self: number }>(
        tx,
        `select ml.cosine(ml.hash_embedding('music.jazz', 'Lagos Jazz Night', null, 'Live jazz'), ml.hash_embedding('music.jazz', 'Abuja Jazz Evening', null, 'jazz quartet live')) as near,
                ml.cosine(ml.hash_embedding('music.jazz', 'Lagos Jazz Night', null, 'Live jazz'), ml.hash_embedding('technology', 'Cloud Summit', null, 'Kubernetes talks')) as far,
                ml.cosine(ml.hash_embedding('music.jazz', 'Lagos Jazz Night', null, 'Live jazz'), ml.hash_embedding('music.jazz', 'Lagos Jazz Night', null, 'Live jazz')) as self`,
      );
      expect(self).toBeCloseTo(1, 6);
      expect(near).toBeGreaterThan(0.4);
      expect(far).toBeLessThan(near);
    });
  });

  it("embeds new events and re-embeds those whose text changed, and records their features", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "mlemb");
      const event = await publishedEvent(tx, acme, { title: "Harmattan Jazz" });
      await ingest(tx, anonymous, [{ clientId: "f1", id: event }, { clientId: "f2", id: event, visitorId: "x" }]);
      await tx.asRoot(async () => {
        await tx.query("select ml_private.embed_events(100000)");
        await tx.query("select analytics_private.refresh_stats()");
        await tx.query("select ml_private.record_event_features()");
      });
      const embedding = () => tx.asRoot(() => one<{ vector: number[]; embedding_id: string; source_hash: string }>(tx, "select vector, embedding_id, source_hash from ml.embeddings where entity_id = $1", [event]));
      const before = await embedding();
      // Nothing changed: not recomputed (same hash, same row; other files' committed events may be embedded meanwhile).
      await tx.asRoot(() => tx.query("select ml_private.embed_events(100000)"));
      expect(await embedding()).toEqual(before);
      await tx.become(acme.claims);
      await tx.query("update events.events set title = 'Harmattan Highlife' where event_id = $1", [event]);
      await tx.asRoot(() => tx.query("select ml_private.embed_events(100000)"));
      const after = await embedding();
      expect(after.embedding_id).toBe(before.embedding_id);
      expect(after.source_hash).not.toBe(before.source_hash);
      expect(after.vector).not.toEqual(before.vector);
      // The batch computation (every distinct token hashed once) gives ml.hash_embedding's vector, and the
      // inverted index follows the vector: its nonzero components, each divided by the norm.
      const check = await tx.asRoot(() =>
        one<{ same: boolean; terms: number; nonzero: number; unit_ok: boolean }>(
          tx,
          `select m.vector = ml.hash_embedding(e.category_code, e.title, e.venue, e.description) as same,
                  (select count(*)::int from ml.embedding_terms t where t.entity_id = m.entity_id and t.model_id = m.model_id) as terms,
                  (select count(*)::int from unnest(m.vector) x where x <> 0) as nonzero,
                  (select bool_and(abs(t.unit - m.vector[t.position] / m.norm) < 1e-6 and t.value = m.vector[t.position])
                     from ml.embedding_terms t where t.entity_id = m.entity_id and t.model_id = m.model_id) as unit_ok
             from ml.embeddings m join events.events e on e.event_id = m.entity_id where m.entity_id = $1`,
          [event],
        ),
      );
      expect(check).toEqual({ same: true, terms: check.nonzero, nonzero: check.nonzero, unit_ok: true });
      expect(check.nonzero).toBeGreaterThan(3);
      await tx.become(acme.claims);
      const features = (await tx.query("select name, value from ml.features where entity_id = $1 order by name", [event])).rows;
      expect(features).toEqual([
        { name: "organization_followers", value: 0 },
        { name: "unique_viewers_30d", value: 2 },
        { name: "views_30d", value: 2 },
      ]);
      // Features are the organization's business only.
      const other = await createTenant(tx, "mlemb2");
      await tx.become(other.claims);
      expect((await tx.query("select * from ml.features where entity_id = $1", [event])).rows).toEqual([]);
      expect(await countAsRoot(tx, "ml.features where entity_id = $1", [event])).toBe(3);
    });
  });
});

describe("uploaded vectors", () => {
  it("stores an operator's vector of the model's dimension", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "mlput");
      const event = await publishedEvent(tx, acme);
      const admin = await roleClaims(tx, await createUser(tx, "mladm"), "gw_admin");
      await tx.become(admin);
      await tx.query("insert into ml.models (name, version, dimension, active) values ('mine', '1', 3, true)");
      const row = await one<{ vector: number[] }>(tx, "select vector from ml.put_embedding('mine', '1', 'event', $1, '{0.5, -0.25, 1}')", [event]);
      expect(row.vector).toEqual([0.5, -0.25, 1]);
    });
  });

  it("refuses wrong dimensions with MLDIM, NaN and infinities with MLNAN, unknown models with MLMOD and non-operators, writing nothing", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "mlput");
      const event = await publishedEvent(tx, acme);
      const operator = await createUser(tx, "mladm");
      const admin = await roleClaims(tx, operator, "gw_admin");
      await tx.become(admin);
      await tx.query("insert into ml.models (name, version, dimension) values ('mine', '1', 3)");
      const put = (vector: string, model = "mine") => tx.query("select ml.put_embedding($1, '1', 'event', $2, $3::real[])", [model, event, vector]);
      expect(await tx.errorCode(() => put("{1, 2}"))).toBe("MLDIM");
      expect(await tx.errorCode(() => put("{1, 2, 3, 4}"))).toBe("MLDIM");
      expect(await tx.errorCode(() => put("{{1, 2, 3}}"))).toBe("MLDIM");
      expect(await tx.errorCode(() => put("{}"))).toBe("MLDIM");
      expect(await tx.errorCode(() => put("{1, NaN, 3}"))).toBe("MLNAN");
      expect(await tx.errorCode(() => put("{1, Infinity, 3}"))).toBe("MLNAN");
      expect(await tx.errorCode(() => put("{1, -Infinity, 3}"))).toBe("MLNAN");
      expect(await tx.errorCode(() => put("{1, null, 3}"))).toBe("MLNAN");
      expect(await tx.errorCode(() => put("{1, 2, 3}", "theirs"))).toBe("MLMOD");
      expect(await tx.errorCode(() => tx.query("select ml.put_embedding('mine', '1', 'event', '00000000-0000-4000-8000-000000000000', '{1,2,3}')"))).toBe("NTFND");
      await tx.become(acme.claims);
      expect(await tx.errorCode(() => put("{1, 2, 3}"))).toBe("42501");
      await tx.asRoot(() => tx.query("delete from auth.user_roles where user_id = $1", [operator.userId]));
      await tx.become(admin);
      expect(await tx.errorCode(() => put("{1, 2, 3}"))).toBe("DNIED");
      expect(await countAsRoot(tx, "ml.embeddings e join ml.models m using (model_id) where m.name = 'mine'")).toBe(0);
    });
  });
});
