import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createUser, one, roleClaims } from "../../helpers/fixtures.ts";
import { lockTypesForDdl } from "./fixtures.ts";

// The generic state machine: a table made in the test (as root, rolled back with
// it) gets a status column (add_type_column) and its moves (add_state_machine);
// the database refuses every move registry.transitions does not list.

const namespace = "parcel_status";

/** test_sm.parcels, whose status moves: (new) -> packed -> shipped -> delivered, packed -> lost, shipped -> lost. */
async function createParcels(tx: TestTransaction): Promise<void> {
  await lockTypesForDdl(tx); // before the inserts below: see lockTypesForDdl
  await tx.query("create schema test_sm");
  await tx.query("create table test_sm.parcels (parcel_id bigint generated always as identity primary key, label text not null)");
  await tx.query(
    `insert into registry.types (namespace, code, label, sort_order)
     values ($1, 'packed', 'Packed', 10), ($1, 'shipped', 'Shipped', 20), ($1, 'delivered', 'Delivered', 30), ($1, 'lost', 'Lost', 40)`,
    [namespace],
  );
  await tx.query(
    `insert into registry.transitions (namespace, from_code, to_code, label)
     values ($1, null, 'packed', 'Pack'), ($1, 'packed', 'shipped', 'Ship'), ($1, 'shipped', 'delivered', 'Deliver'),
            ($1, 'packed', 'lost', 'Lose'), ($1, 'shipped', 'lost', 'Lose')`,
    [namespace],
  );
  await tx.query("select registry.add_type_column('test_sm.parcels', 'status', $1, true, 'packed')", [namespace]);
  await tx.query("select registry.add_state_machine('test_sm.parcels', 'status', $1)", [namespace]);
}

const newParcel = async (tx: TestTransaction, status?: string) =>
  (
    await one<{ parcel_id: string }>(
      tx,
      status ? "insert into test_sm.parcels (label, status) values ('box', $1) returning parcel_id" : "insert into test_sm.parcels (label) values ('box') returning parcel_id",
      status ? [status] : [],
    )
  ).parcel_id;

const move = (tx: TestTransaction, id: string, status: string) => tx.query("update test_sm.parcels set status = $2 where parcel_id = $1", [id, status]);

describe("a status column under registry.add_state_machine", () => {
  it("lets a row take every listed move, one after the other", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      const id = await newParcel(tx);
      await move(tx, id, "shipped");
      await move(tx, id, "delivered");
      expect(await one(tx, "select status from test_sm.parcels where parcel_id = $1", [id])).toEqual({ status: "delivered" });
    });
  });

  it("refuses a move that is not listed with RGTRN, naming table, from and to, and changes nothing", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      const id = await newParcel(tx);
      const error = await tx.errorOf(() => move(tx, id, "delivered"));
      expect(error).toBe("RGTRN: test_sm.parcels.status cannot move from packed to delivered.");
      await move(tx, id, "shipped");
      await move(tx, id, "delivered");
      // Terminal: nothing leaves delivered, not even back to where it came from.
      expect(await tx.errorCode(() => move(tx, id, "shipped"))).toBe("RGTRN");
      expect(await tx.errorCode(() => move(tx, id, "lost"))).toBe("RGTRN");
      expect(await one(tx, "select status from test_sm.parcels where parcel_id = $1", [id])).toEqual({ status: "delivered" });
    });
  });

  it("names the allowed moves in the error's hint and detail", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      const id = await newParcel(tx);
      try {
        await tx.query("savepoint s");
        await move(tx, id, "delivered");
        expect.unreachable();
      } catch (error) {
        await tx.query("rollback to savepoint s");
        expect(error).toMatchObject({
          code: "RGTRN",
          hint: "Allowed from packed: lost, shipped.",
          detail: "table test_sm.parcels, column status, namespace parcel_status, from packed, to delivered",
        });
      }
    });
  });

  it("makes a new row start in an initial state (a transition from nothing)", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      expect(await tx.errorOf(() => newParcel(tx, "shipped"))).toBe("RGTRN: test_sm.parcels.status cannot start in shipped.");
      await newParcel(tx, "packed");
      expect(await countAsRoot(tx, "test_sm.parcels")).toBe(1);
    });
  });

  it("lets other columns change, and a status set to what it already is, without a transition", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      const id = await newParcel(tx);
      await tx.query("update test_sm.parcels set label = 'crate' where parcel_id = $1", [id]);
      await move(tx, id, "packed");
      expect(await one(tx, "select label, status from test_sm.parcels where parcel_id = $1", [id])).toEqual({ label: "crate", status: "packed" });
    });
  });

  it("takes a new move as soon as it is inserted, and drops one as soon as it is deleted: the moves are data", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      const id = await newParcel(tx);
      await move(tx, id, "shipped");
      await move(tx, id, "delivered");
      await tx.query("insert into registry.transitions (namespace, from_code, to_code) values ($1, 'delivered', 'shipped')", [namespace]);
      await move(tx, id, "shipped");
      await tx.query("delete from registry.transitions where namespace = $1 and from_code = 'shipped' and to_code = 'delivered'", [namespace]);
      expect(await tx.errorCode(() => move(tx, id, "delivered"))).toBe("RGTRN");
    });
  });

  it("keeps the active-type check in front: an unknown code is RTYPE, not RGTRN", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      const id = await newParcel(tx);
      expect(await tx.errorCode(() => move(tx, id, "teleported"))).toBe("RTYPE");
    });
  });

  it("holds for a signed-in user writing the table, who cannot read the registry's transitions themselves", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      await tx.query("grant usage on schema test_sm to gw_anonymous; grant select, update on test_sm.parcels to gw_anonymous");
      const id = await newParcel(tx);
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select count(*) from registry.transitions"))).toBe("42501");
      expect(await tx.errorCode(() => move(tx, id, "delivered"))).toBe("RGTRN");
      await move(tx, id, "shipped");
    });
  });

  it("is idempotent, and refuses a bad namespace or an unknown column with BADIN", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      await tx.query("select registry.add_state_machine('test_sm.parcels', 'status', $1)", [namespace]);
      const triggers = await tx.query("select tgname from pg_trigger where tgrelid = 'test_sm.parcels'::regclass and tgname like '\\_060%' order by 1");
      expect(triggers.rows).toEqual([{ tgname: "_060_initial_status" }, { tgname: "_060_transition_status" }]);
      expect(await tx.errorCode(() => tx.query("select registry.add_state_machine('test_sm.parcels', 'status', 'Bad Namespace')"))).toBe("BADIN");
      expect(await tx.errorCode(() => tx.query("select registry.add_state_machine('test_sm.parcels', 'nope', $1)", [namespace]))).toBe("BADIN");
    });
  });

  it("checks one move with one index scan (no table scan, whatever the table's size)", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      await tx.query("set local enable_seqscan = off");
      const { rows } = await tx.query<{ "QUERY PLAN": string }>(
        "explain select 1 from registry.transitions t where t.namespace = 'parcel_status' and t.from_code = 'packed' and t.to_code = 'shipped'",
      );
      const plan = rows.map((row) => row["QUERY PLAN"]).join("\n");
      expect(plan).toMatch(/^Index (Only )?Scan using transitions_(move_key|to_idx)/);
      expect(plan).not.toMatch(/Seq Scan|Bitmap/);
    });
  });
});

describe("who may read and change registry.transitions", () => {
  it("lets signed-in users read the moves, operators add and remove them, and nobody else write", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      const user = await createUser(tx, "smuser");
      await tx.become(user.claims);
      const seen = await tx.query("select from_code, to_code from registry.transitions where namespace = $1 order by 1 nulls first, 2", [namespace]);
      expect(seen.rows).toHaveLength(5);
      expect(await tx.errorCode(() => tx.query("insert into registry.transitions (namespace, from_code, to_code) values ($1, 'lost', 'packed')", [namespace]))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("delete from registry.transitions where namespace = $1", [namespace]))).toBe("42501");
      await tx.become(await roleClaims(tx, user, "gw_admin"));
      await tx.query("insert into registry.transitions (namespace, from_code, to_code) values ($1, 'lost', 'packed')", [namespace]);
      await tx.query("delete from registry.transitions where namespace = $1 and from_code = 'lost'", [namespace]);
      expect(await countAsRoot(tx, "registry.transitions where namespace = $1", [namespace])).toBe(5);
    });
  });

  it("registers a move once (a null from_code counts once) and never a move to the same state", async () => {
    await withTransaction(async (tx) => {
      await createParcels(tx);
      expect(await tx.errorCode(() => tx.query("insert into registry.transitions (namespace, from_code, to_code) values ($1, null, 'packed')", [namespace]))).toBe("23505");
      expect(await tx.errorCode(() => tx.query("insert into registry.transitions (namespace, from_code, to_code) values ($1, 'packed', 'packed')", [namespace]))).toBe("23514");
      expect(await tx.errorCode(() => tx.query("insert into registry.transitions (namespace, from_code, to_code) values ($1, 'packed', 'vanished')", [namespace]))).toBe("23503");
    });
  });
});
