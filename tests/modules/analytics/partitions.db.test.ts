import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createUser, one, roleClaims } from "../../helpers/fixtures.ts";
import { createTenant, publishedEvent } from "../events/fixtures.ts";
import { daysAgo, ingest, monthOf, partitionsOf } from "./fixtures.ts";

// Monthly partitions: made ahead by the job, on demand by the ingestion,
// dropped past the retention window; the seed's index list on every table;
// partition pruning visible in the plan.

const tables = ["analytics.event_impressions", "analytics.post_impressions", "analytics.ticket_analytics"];

describe("partitions ahead of time", () => {
  it("creates the current month's and the next three months' partitions of every table, once", async () => {
    await withTransaction(async (tx) => {
      // Every registered table (campaigns.ad_impressions too, since issue 22) gets four months.
      const registered = (await one<{ n: number }>(tx, "select count(*)::int as n from analytics_private.partitioned_tables")).n;
      const first = await one<{ n: number }>(tx, "select analytics_private.create_partitions('2031-05-15T12:00:00Z') as n");
      expect(first.n).toBe(4 * registered);
      for (const table of tables) {
        const name = table.split(".")[1]!;
        expect((await partitionsOf(tx, table)).filter((p) => p.startsWith(`${name}_2031`))).toEqual(
          ["2031_05", "2031_06", "2031_07", "2031_08"].map((m) => `${name}_${m}`),
        );
      }
      expect((await one<{ n: number }>(tx, "select analytics_private.create_partitions('2031-05-20T00:00:00Z') as n")).n).toBe(0);
      // A month later, only the one new month per table.
      expect((await one<{ n: number }>(tx, "select analytics_private.create_partitions('2031-06-01T00:00:00Z') as n")).n).toBe(registered);
    }, { attachesPartitions: true });
  });

  it("keeps the seed's indexes on every table and its partitions: BRIN on occurred_at, B-tree lookups, the composite, GIN on metadata", async () => {
    await withTransaction(async (tx) => {
      const { rows } = await tx.query<{ table: string; method: string; columns: string }>(
        `select c.relname as table, am.amname as method, pg_get_indexdef(i.indexrelid) as columns
           from pg_index i join pg_class c on c.oid = i.indrelid join pg_class x on x.oid = i.indexrelid join pg_am am on am.oid = x.relam
          where c.oid = any(array['analytics.event_impressions', 'analytics.post_impressions', 'analytics.ticket_analytics']::regclass[])
          order by 1, 3`,
      );
      const of = (table: string) => rows.filter((row) => row.table === table).map((row) => `${row.method} ${row.columns.replace(/^.* USING \w+ /, "")}`);
      expect(of("event_impressions")).toEqual(
        expect.arrayContaining(["brin (occurred_at)", "btree (event_id)", "btree (user_id)", "btree (event_id, occurred_at)", "gin (metadata jsonb_path_ops)"]),
      );
      expect(of("post_impressions")).toEqual(
        expect.arrayContaining(["brin (occurred_at)", "btree (post_id)", "btree (user_id)", "btree (post_id, occurred_at)", "gin (metadata jsonb_path_ops)"]),
      );
      expect(of("ticket_analytics")).toEqual(
        expect.arrayContaining(["brin (occurred_at)", "btree (ticket_id)", "btree (user_id)", "btree (event_id, occurred_at)", "gin (metadata jsonb_path_ops)"]),
      );
      // A partition made later carries them too (attached partitions get the parent's indexes).
      await tx.query("select analytics_private.ensure_month_partition('analytics.event_impressions', '2032-01-10')");
      const partitionIndexes = await one<{ methods: string[] }>(
        tx,
        `select array_agg(am.amname::text order by am.amname) as methods from pg_index i join pg_class x on x.oid = i.indexrelid join pg_am am on am.oid = x.relam
          where i.indrelid = 'analytics_private.event_impressions_2032_01'::regclass`,
      );
      expect(partitionIndexes.methods).toEqual(["brin", "btree", "btree", "btree", "btree", "gin"]);
    }, { attachesPartitions: true });
  });
});

describe("partitions on demand", () => {
  it("creates a missing month's partition when an impression of that month arrives, so the insert never fails", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "anpart");
      const event = await publishedEvent(tx, acme);
      const when = daysAgo(200);
      const month = `event_impressions_${monthOf(when)}`;
      expect(await partitionsOf(tx, "analytics.event_impressions")).not.toContain(month);
      expect(await ingest(tx, anonymous, [{ clientId: "b1", id: event, occurredAt: when }])).toEqual({ received: 1, accepted: 1, duplicates: 0 });
      expect(await partitionsOf(tx, "analytics.event_impressions")).toContain(month);
      expect(await countAsRoot(tx, `analytics_private.${month} where event_id = $1`, [event])).toBe(1);
    }, { attachesPartitions: true });
  });

  it("records ticket activity for ticketing the same way, refusing dates outside the window with ANRNG", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "anpart");
      const event = await publishedEvent(tx, acme);
      const ticket = "00000000-0000-4000-8000-000000000001";
      await tx.asRoot(() => tx.query("select analytics_private.record_ticket_activity($1, $2, null, 'purchased', 2, '{}', $3)", [ticket, event, daysAgo(100)]));
      expect(await countAsRoot(tx, "analytics.ticket_analytics where ticket_id = $1", [ticket])).toBe(1);
      for (const when of [daysAgo(800), daysAgo(-2)]) {
        expect(
          await tx.asRoot(() => tx.errorCode(() => tx.query("select analytics_private.record_ticket_activity($1, $2, null, 'viewed', 1, '{}', $3)", [ticket, event, when]))),
        ).toBe("ANRNG");
      }
      expect(await countAsRoot(tx, "analytics.ticket_analytics where ticket_id = $1", [ticket])).toBe(1);
    }, { attachesPartitions: true });
  });
});

describe("retention", () => {
  it("drops exactly the partitions of months before the retention window, and nothing else", async () => {
    await withTransaction(async (tx) => {
      for (const month of ["2029-12-01", "2030-01-01", "2030-02-01", "2031-01-01", "2031-02-01"]) {
        for (const table of tables) await tx.query("select analytics_private.ensure_month_partition($1, $2)", [table, month]);
      }
      // At 2031-02-10 with 13 months kept, the first kept month is 2030-01: only 2029-12 (and older) goes.
      const { rows } = await tx.query<{ dropped: string }>("select dropped from analytics_private.drop_expired_partitions('2031-02-10T00:00:00Z')");
      const dropped = rows.map((row) => row.dropped).filter((name) => /_20(29|30|31)_/.test(name));
      expect(dropped.sort()).toEqual(
        ["event_impressions_2029_12", "post_impressions_2029_12", "ticket_analytics_2029_12"].map((name) => `analytics_private.${name}`),
      );
      const kept = await partitionsOf(tx, "analytics.event_impressions");
      expect(kept).toEqual(expect.arrayContaining(["event_impressions_2030_01", "event_impressions_2030_02", "event_impressions_2031_01", "event_impressions_2031_02"]));
      expect(kept).not.toContain("event_impressions_2029_12");
    }, { attachesPartitions: true });
  });

  it("follows a retention window an operator changes, and refuses others with DNIED and bad values with ANRET", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "anop");
      const operator = await createUser(tx, "anadm");
      const admin = await roleClaims(tx, operator, "gw_admin");
      await tx.become(user.claims);
      expect(await tx.errorCode(() => tx.query("select analytics.set_retention('analytics.event_impressions', 2)"))).toBe("42501");
      await tx.become(admin);
      expect(await tx.errorCode(() => tx.query("select analytics.set_retention('analytics.event_impressions', 0)"))).toBe("ANRET");
      expect(await tx.errorCode(() => tx.query("select analytics.set_retention('analytics.nothing', 5)"))).toBe("NTFND");
      await tx.query("select analytics.set_retention('analytics.event_impressions', 2)");
      await tx.asRoot(async () => {
        for (const month of ["2031-01-01", "2031-02-01", "2031-03-01"]) await tx.query("select analytics_private.ensure_month_partition('analytics.event_impressions', $1)", [month]);
        const { rows } = await tx.query<{ dropped: string }>("select dropped from analytics_private.drop_expired_partitions('2031-03-15T00:00:00Z')");
        // Two months kept before March: January and February stay; post impressions keep their 13 months.
        expect(rows.map((row) => row.dropped).filter((name) => name.includes("_2031_"))).toEqual([]);
        const again = await tx.query<{ dropped: string }>("select dropped from analytics_private.drop_expired_partitions('2031-04-15T00:00:00Z')");
        expect(again.rows.map((row) => row.dropped).filter((name) => name.includes("_2031_"))).toEqual(["analytics_private.event_impressions_2031_01"]);
      });
      // A gw_admin token whose role grant was withdrawn is refused by the function itself.
      await tx.asRoot(() => tx.query("delete from auth.user_roles where user_id = $1", [operator.userId]));
      await tx.become(admin);
      expect(await tx.errorCode(() => tx.query("select analytics.set_retention('analytics.event_impressions', 5)"))).toBe("DNIED");
    }, { attachesPartitions: true });
  });
});

describe("pruning", () => {
  it("scans only the partitions of the months a time range covers", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "anprune");
      const event = await publishedEvent(tx, acme);
      await ingest(tx, anonymous, [
        { clientId: "p1", id: event, occurredAt: daysAgo(95) },
        { clientId: "p2", id: event, occurredAt: daysAgo(65) },
        { clientId: "p3", id: event, occurredAt: daysAgo(1) },
      ]);
      const target = monthOf(daysAgo(65));
      const start = `${daysAgo(65).slice(0, 7)}-01T00:00:00Z`;
      const plan = await tx.asRoot(async () => {
        const { rows } = await tx.query<{ "QUERY PLAN": string }>(
          `explain (costs off) select count(*) from analytics.event_impressions
            where event_id = $1 and occurred_at >= $2::timestamptz and occurred_at < $2::timestamptz + interval '1 month'`,
          [event, start],
        );
        return rows.map((row) => row["QUERY PLAN"]).join("\n");
      });
      const scanned = [...plan.matchAll(/event_impressions_(\d{4}_\d{2})/g)].map((match) => match[1]);
      expect(new Set(scanned)).toEqual(new Set([target]));
      expect((await partitionsOf(tx, "analytics.event_impressions")).length).toBeGreaterThan(3);
    }, { attachesPartitions: true });
  });
});
