import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createUser, one, roleClaims } from "../../helpers/fixtures.ts";
import { lockTypesForDdl } from "./fixtures.ts";

// The type registry: a domain table made in the test (as root, rolled back with
// it) gets a status column through registry.add_type_column, and the database
// itself accepts registered codes and refuses unknown and retired ones.

const namespace = "thing_status";

/** test_x.things with a status column of thing_status, whose codes are active and archived. */
async function createThings(tx: TestTransaction): Promise<void> {
  await lockTypesForDdl(tx); // before the inserts below: see lockTypesForDdl
  await tx.query("create schema test_x");
  await tx.query("create table test_x.things (thing_id bigint generated always as identity primary key, name text not null)");
  await tx.query(
    `insert into registry.types (namespace, code, label, sort_order)
     values ($1, 'active', 'Active', 10), ($1, 'archived', 'Archived', 20)`,
    [namespace],
  );
  await tx.query("select registry.add_type_column('test_x.things', 'status', $1)", [namespace]);
}

const insertThing = (tx: TestTransaction, name: string, status: string | null) =>
  tx.query<{ thing_id: string }>("insert into test_x.things (name, status) values ($1, $2) returning thing_id", [name, status]);

const retire = (tx: TestTransaction, code: string) =>
  tx.query("update registry.types set is_active = false where namespace = $1 and code = $2", [namespace, code]);

describe("a table with a registry type column", () => {
  it("accepts a registered code and fills the namespace column itself", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      await insertThing(tx, "lamp", "active");
      const row = await one(tx, "select name, status, status_namespace from test_x.things");
      expect(row).toEqual({ name: "lamp", status: "active", status_namespace: namespace });
    });
  });

  it("refuses a code that is not registered with RTYPE, before the foreign key is reached", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      expect(await tx.errorCode(() => insertThing(tx, "lamp", "lost"))).toBe("RTYPE");
      // The code is registered in another namespace only: still unknown here.
      await tx.query("insert into registry.types (namespace, code, label) values ('other_status', 'lost', 'Lost')");
      expect(await tx.errorCode(() => insertThing(tx, "lamp", "lost"))).toBe("RTYPE");
      expect(await countAsRoot(tx, "test_x.things")).toBe(0);
    });
  });

  it("refuses an unknown code through the foreign key (23503) even when the active-type trigger is off", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      await tx.query("alter table test_x.things disable trigger _050_active_status");
      expect(await tx.errorCode(() => insertThing(tx, "lamp", "lost"))).toBe("23503");
      expect(await countAsRoot(tx, "test_x.things")).toBe(0);
    });
  });

  it("cannot write the namespace column, so a code cannot be pointed at another namespace (428C9)", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      await tx.query("insert into registry.types (namespace, code, label) values ('other_status', 'lost', 'Lost')");
      expect(
        await tx.errorCode(() => tx.query("insert into test_x.things (name, status, status_namespace) values ('lamp', 'lost', 'other_status')")),
      ).toBe("428C9");
    });
  });

  it("refuses a missing code (23502) because the column is not null by default", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      expect(await tx.errorCode(() => insertThing(tx, "lamp", null))).toBe("23502");
    });
  });

  it("refuses a retired code for a new row with RTYPE", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      await retire(tx, "archived");
      expect(await tx.errorCode(() => insertThing(tx, "lamp", "archived"))).toBe("RTYPE");
      expect(await countAsRoot(tx, "registry.types where namespace = $1 and code = 'archived' and not is_active", [namespace])).toBe(1);
    });
  });

  it("lets a row keep a code retired after it was written, and still change its other columns", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      const { rows } = await insertThing(tx, "lamp", "archived");
      const id = rows[0]?.thing_id;
      await retire(tx, "archived");
      expect(await tx.errorCode(() => tx.query("update test_x.things set name = 'old lamp' where thing_id = $1", [id]))).toBeUndefined();
      // Naming the unchanged code in the update is no change either.
      expect(await tx.errorCode(() => tx.query("update test_x.things set status = 'archived' where thing_id = $1", [id]))).toBeUndefined();
      expect(await one(tx, "select name, status from test_x.things where thing_id = $1", [id])).toEqual({ name: "old lamp", status: "archived" });
    });
  });

  it("refuses changing a row to a retired code with RTYPE, and allows changing it to an active one", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      const { rows } = await insertThing(tx, "lamp", "archived");
      const id = rows[0]?.thing_id;
      await tx.query("update test_x.things set status = 'active' where thing_id = $1", [id]);
      await retire(tx, "archived");
      expect(await tx.errorCode(() => tx.query("update test_x.things set status = 'archived' where thing_id = $1", [id]))).toBe("RTYPE");
      expect(await one(tx, "select status from test_x.things where thing_id = $1", [id])).toEqual({ status: "active" });
    });
  });

  it("accepts a new status as soon as it is inserted into registry.types", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      expect(await tx.errorCode(() => insertThing(tx, "lamp", "lent"))).toBe("RTYPE");
      await tx.query("insert into registry.types (namespace, code, label) values ($1, 'lent', 'Lent out')", [namespace]);
      await insertThing(tx, "lamp", "lent");
      expect(await countAsRoot(tx, "test_x.things where status = 'lent'")).toBe(1);
    });
  });

  it("refuses deleting a type still in use (23503)", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      await insertThing(tx, "lamp", "active");
      expect(await tx.errorCode(() => tx.query("delete from registry.types where namespace = $1 and code = 'active'", [namespace]))).toBe("23503");
      expect(await tx.errorCode(() => tx.query("delete from registry.types where namespace = $1 and code = 'archived'", [namespace]))).toBeUndefined();
      expect(await countAsRoot(tx, "registry.types where namespace = $1", [namespace])).toBe(1);
    });
  });

  it("honours not_null and default_code", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      await tx.query("select registry.add_type_column('test_x.things', 'grade', $1, false)", [namespace]);
      await tx.query("select registry.add_type_column('test_x.things', 'phase', $1, true, 'active')", [namespace]);
      await tx.query("insert into test_x.things (name, status) values ('lamp', 'active')");
      expect(await one(tx, "select grade, grade_namespace, phase from test_x.things")).toEqual({
        grade: null,
        grade_namespace: namespace,
        phase: "active",
      });
    });
  });

  it("holds a signed-in user writing the table to the same rules", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      await retire(tx, "archived");
      await tx.query("grant usage on schema test_x to gw_user");
      await tx.query("grant select, insert on test_x.things to gw_user");
      const alice = await createUser(tx, "regw");
      await tx.become(alice.claims);
      const codes = {
        active: await tx.errorCode(() => insertThing(tx, "lamp", "active")),
        retired: await tx.errorCode(() => insertThing(tx, "lamp", "archived")),
        unknown: await tx.errorCode(() => insertThing(tx, "lamp", "lost")),
      };
      expect(codes).toEqual({ active: undefined, retired: "RTYPE", unknown: "RTYPE" });
      expect(await countAsRoot(tx, "test_x.things")).toBe(1);
    });
  });

  it("refuses a malformed namespace with BADIN", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      expect(await tx.errorCode(() => tx.query("select registry.add_type_column('test_x.things', 'kind', 'Bad Namespace')"))).toBe("BADIN");
      expect(await countAsRoot(tx, "pg_attribute where attrelid = 'test_x.things'::regclass and attname = 'kind'")).toBe(0);
    });
  });
});

describe("registry.add_type_column", () => {
  it("is idempotent: a second call adds no second column, constraint, index or trigger", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      const shape = () =>
        one(
          tx,
          `select
             (select count(*)::int from pg_attribute where attrelid = 'test_x.things'::regclass and attnum > 0 and not attisdropped) as columns,
             (select count(*)::int from pg_constraint where conrelid = 'test_x.things'::regclass and contype = 'f') as foreign_keys,
             (select count(*)::int from pg_index where indrelid = 'test_x.things'::regclass) as indexes,
             (select count(*)::int from pg_trigger where tgrelid = 'test_x.things'::regclass and not tgisinternal) as triggers`,
        );
      const before = await shape();
      expect(before).toEqual({ columns: 4, foreign_keys: 1, indexes: 2, triggers: 1 });
      await tx.query("select registry.add_type_column('test_x.things', 'status', $1)", [namespace]);
      expect(await shape()).toEqual(before);
      await insertThing(tx, "lamp", "active");
      expect(await tx.errorCode(() => insertThing(tx, "lamp", "lost"))).toBe("RTYPE");
    });
  });

  it("is not executable by API roles (42501)", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      const alice = await createUser(tx, "rega");
      for (const claims of [alice.claims, { ...alice.claims, role: "gw_admin" }]) {
        await tx.become(claims);
        expect(await tx.errorCode(() => tx.query("select registry.add_type_column('test_x.things', 'kind', 'thing_status')"))).toBe("42501");
      }
      expect(await countAsRoot(tx, "pg_attribute where attrelid = 'test_x.things'::regclass and attname = 'kind'")).toBe(0);
    });
  });
});

describe("who may read and change registry.types", () => {
  it("lets a signed-in user read every type", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      const alice = await createUser(tx, "rega");
      await tx.become(alice.claims);
      const { rows } = await tx.query("select code, label, is_active from registry.types where namespace = $1 order by sort_order", [namespace]);
      expect(rows).toEqual([
        { code: "active", label: "Active", is_active: true },
        { code: "archived", label: "Archived", is_active: true },
      ]);
    });
  });

  it("refuses a signed-in user adding, changing, retiring or deleting a type (42501)", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      const alice = await createUser(tx, "rega");
      await tx.become(alice.claims);
      const attempts = {
        insert: "insert into registry.types (namespace, code, label) values ('thing_status', 'lent', 'Lent')",
        update: "update registry.types set label = 'Live' where namespace = 'thing_status' and code = 'active'",
        retire: "update registry.types set is_active = false where namespace = 'thing_status' and code = 'active'",
        delete: "delete from registry.types where namespace = 'thing_status' and code = 'archived'",
      };
      const codes: Record<string, string | undefined> = {};
      for (const [what, sql] of Object.entries(attempts)) codes[what] = await tx.errorCode(() => tx.query(sql));
      expect(codes).toEqual({ insert: "42501", update: "42501", retire: "42501", delete: "42501" });
      expect(await countAsRoot(tx, "registry.types where namespace = $1 and label in ('Active', 'Archived') and is_active", [namespace])).toBe(2);
      expect(await countAsRoot(tx, "registry.types where namespace = $1 and code = 'lent'", [namespace])).toBe(0);
    });
  });

  it("lets an operator (gw_admin) add a type and retire one, which bumps updated_at", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      const operator = await createUser(tx, "regop");
      // Written a day ago (an update would touch updated_at itself).
      await tx.asRoot(async () => {
        await tx.query("delete from registry.types where namespace = $1", [namespace]);
        await tx.query(
          `insert into registry.types (namespace, code, label, created_at, updated_at)
           values ($1, 'active', 'Active', now() - interval '1 day', now() - interval '1 day'),
                  ($1, 'archived', 'Archived', now() - interval '1 day', now() - interval '1 day')`,
          [namespace],
        );
      });
      await tx.become(await roleClaims(tx, operator, "gw_admin"));
      await tx.query("insert into registry.types (namespace, code, label, description) values ($1, 'lent', 'Lent out', 'Borrowed by someone')", [
        namespace,
      ]);
      const retired = await tx.query("update registry.types set is_active = false where namespace = $1 and code = 'archived'", [namespace]);
      expect(retired.rowCount).toBe(1);
      const { rows } = await tx.asRoot(() =>
        tx.query("select code, is_active, updated_at = now() as touched from registry.types where namespace = $1 order by code", [namespace]),
      );
      expect(rows).toEqual([
        { code: "active", is_active: true, touched: false },
        { code: "archived", is_active: false, touched: true },
        { code: "lent", is_active: true, touched: true },
      ]);
      expect(await tx.asRoot(() => tx.errorCode(() => insertThing(tx, "lamp", "archived")))).toBe("RTYPE");
      expect(await tx.asRoot(() => tx.errorCode(() => insertThing(tx, "lamp", "lent")))).toBeUndefined();
    });
  });

  it("refuses an operator renaming a namespace or code, which other tables point at (42501)", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      const operator = await createUser(tx, "regop");
      await tx.become(await roleClaims(tx, operator, "gw_admin"));
      expect(await tx.errorCode(() => tx.query("update registry.types set code = 'live' where namespace = $1 and code = 'active'", [namespace]))).toBe(
        "42501",
      );
      expect(await tx.errorCode(() => tx.query("update registry.types set namespace = 'other' where namespace = $1", [namespace]))).toBe("42501");
      expect(await countAsRoot(tx, "registry.types where namespace = $1 and code = 'active'", [namespace])).toBe(1);
    });
  });

  it("refuses a signed-out visitor reading the registry (42501)", async () => {
    await withTransaction(async (tx) => {
      await createThings(tx);
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select * from registry.types"))).toBe("42501");
      expect(await countAsRoot(tx, "registry.types where namespace = $1", [namespace])).toBe(2);
    });
  });
});
