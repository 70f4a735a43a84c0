import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createUser, one, roleClaims } from "../../helpers/fixtures.ts";
import { createTenant, publishedEvent } from "../events/fixtures.ts";

// Reference data: complete against the standards, readable by everyone,
// written by operators only.

describe("reference data is complete", () => {
  it("has all 249 ISO 3166-1 countries, each with its three codes", async () => {
    await withTransaction(async (tx) => {
      await tx.become(anonymous);
      expect(await one(tx, "select count(*)::int as n, count(distinct alpha3)::int as a3, count(distinct numeric_code)::int as num from ref.countries")).toEqual({
        n: 249,
        a3: 249,
        num: 249,
      });
      expect(await one(tx, "select code, alpha3, numeric_code, display_name from ref.countries where code = 'KR'")).toEqual({
        code: "KR",
        alpha3: "KOR",
        numeric_code: "410",
        display_name: "South Korea",
      });
      expect(await one(tx, "select name from ref.countries where code = 'CI'")).toEqual({ name: "Côte d'Ivoire" });
    });
  });

  it("has the 179 active ISO 4217 currencies with their minor units, in the ledger's one list", async () => {
    await withTransaction(async (tx) => {
      await tx.become(anonymous);
      expect(await one(tx, "select count(*)::int as n from ref.currencies where numeric_code is not null")).toEqual({ n: 179 });
      const { rows } = await tx.query("select code, numeric_code, minor_units from ref.currencies where code in ('USD', 'JPY', 'KWD', 'CLF', 'XAU', 'XCG', 'NGN', 'ISK') order by code");
      expect(rows).toEqual([
        { code: "CLF", numeric_code: "990", minor_units: 4 },
        { code: "ISK", numeric_code: "352", minor_units: 0 },
        { code: "JPY", numeric_code: "392", minor_units: 0 },
        { code: "KWD", numeric_code: "414", minor_units: 3 },
        { code: "NGN", numeric_code: "566", minor_units: 2 },
        { code: "USD", numeric_code: "840", minor_units: 2 },
        { code: "XAU", numeric_code: "959", minor_units: null },
        { code: "XCG", numeric_code: "532", minor_units: 2 },
      ]);
      // Withdrawn codes are not there; the ledger's private unit is, without a numeric code.
      expect((await tx.query("select code from ref.currencies where code in ('HRK', 'ANG', 'ZWL')")).rows).toEqual([]);
      expect(await one(tx, "select numeric_code from ref.currencies where code = 'XCR'")).toEqual({ numeric_code: null });
      // One list: the view is the ledger's table.
      expect(await one(tx, "select (select count(*) from ref.currencies) = (select count(*) from ledger.currencies) as same")).toEqual({ same: true });
    });
  });

  it("has exactly the server's own time zone names (less the posix/ and right/ copies)", async () => {
    await withTransaction(async (tx) => {
      const server = await tx.query<{ name: string }>(
        "select name from pg_timezone_names where name !~ '^(posix|right)/' and name not in ('posixrules', 'localtime') order by name",
      );
      await tx.become(anonymous);
      const stored = await tx.query<{ name: string }>("select name from ref.timezones order by name");
      expect(stored.rows.length).toBeGreaterThan(300);
      expect(stored.rows).toEqual(server.rows);
      expect(await one(tx, "select ref.timezones_utc_offset(z) as offset from ref.timezones z where name = 'UTC'")).toMatchObject({ offset: {} });
    });
  });

  it("has the 20 NAICS sectors and a two-level tree of event categories", async () => {
    await withTransaction(async (tx) => {
      await tx.become(anonymous);
      expect(await one(tx, "select count(*)::int as n from ref.industries")).toEqual({ n: 20 });
      expect(
        await one(
          tx,
          `select count(*) filter (where parent_code is null)::int as top,
                  count(*) filter (where parent_code is not null)::int as children,
                  count(*) filter (where parent_code is not null and not starts_with(code, parent_code || '.'))::int as misnamed,
                  count(*) filter (where exists (select 1 from ref.event_categories p where p.code = c.parent_code and p.parent_code is not null))::int as deep
             from ref.event_categories c`,
        ),
      ).toEqual({ top: 12, children: 36, misnamed: 0, deep: 0 });
    });
  });
});

describe("who writes reference data", () => {
  it("lets anonymous and signed-in callers read and nobody but operators write", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "refuser");
      for (const claims of [anonymous, user.claims]) {
        await tx.become(claims);
        expect(await tx.errorCode(() => tx.query("insert into ref.countries (code, alpha3, numeric_code, name) values ('XZ', 'XZZ', '999', 'Nowhere')"))).toBe("42501");
        expect(await tx.errorCode(() => tx.query("update ref.event_categories set name = 'Noise' where code = 'music'"))).toBe("42501");
        expect(await tx.errorCode(() => tx.query("delete from ref.industries"))).toBe("42501");
        expect(await tx.errorCode(() => tx.query("insert into ref.timezones (name) values ('Mars/Base')"))).toBe("42501");
        expect(await tx.errorCode(() => tx.query("select ref.sync_timezones()"))).toBe("42501");
      }
      await tx.become(await roleClaims(tx, user, "gw_admin"));
      await tx.query("insert into ref.event_categories (code, parent_code, name) values ('music.highlife', 'music', 'Highlife')");
      expect(await one(tx, "select ref.sync_timezones() as added")).toEqual({ added: 0 });
      expect(await countAsRoot(tx, "ref.event_categories where code = 'music.highlife'")).toBe(1);
    });
  });

  it("keeps the category tree two levels deep (RFDEP) and a category or country in use undeletable (23503)", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "refacme");
      await publishedEvent(tx, acme, { categoryCode: "music.jazz", countryCode: "GH" });
      const operator = await roleClaims(tx, acme.owner, "gw_admin");
      await tx.become(operator);
      expect(await tx.errorCode(() => tx.query("insert into ref.event_categories (code, parent_code, name) values ('music.jazz.bebop', 'music.jazz', 'Bebop')"))).toBe("RFDEP");
      expect(await tx.errorCode(() => tx.query("update ref.event_categories set parent_code = 'film' where code = 'music'"))).toBe("RFDEP");
      expect(await tx.errorCode(() => tx.query("delete from ref.event_categories where code = 'music.jazz'"))).toBe("23503");
      expect(await tx.errorCode(() => tx.query("delete from ref.countries where code = 'GH'"))).toBe("23503");
    });
  });
});
