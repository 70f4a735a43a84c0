import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rootDb, withTransaction, type Claims, type TestTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createUser, one, roleClaims, type TestUser } from "../../helpers/fixtures.ts";
import { until } from "../../helpers/until.ts";

// The audit change log: tracking triggers, append-only enforcement, who reads
// what, and the hash chain. Most cases run in a rolled-back transaction on a
// table made for the test. Sealing only covers committed rows, so the chain
// cases commit rows of their own (in a schema dropped afterwards); other test
// files write audit rows at the same time, so they assert on their own rows and
// on the integrity of the chain, never on totals.

type Entry = {
  action: string;
  record_id: string;
  changed_by: string;
  owner_id: string | null;
  payload: { old?: Record<string, unknown>; new?: Record<string, unknown> };
};


/** test_audit.items, tracked with owner_id as owner and secret left out; gw_user may write it. */
async function createItems(tx: TestTransaction): Promise<void> {
  await tx.asRoot(async () => {
    await tx.query("create schema test_audit");
    await tx.query(
      "create table test_audit.items (item_id uuid primary key default gen_random_uuid(), owner_id uuid, name text not null, secret text)",
    );
    await tx.query("grant usage on schema test_audit to gw_user");
    await tx.query("grant select, insert, update, delete on test_audit.items to gw_user");
    await tx.query("select audit.enable_tracking('test_audit.items', 'owner_id', array['secret'])");
  });
}

/** The change-log entries of test_audit tables, oldest first, read as root. */
const entriesOf = (tx: TestTransaction, table = "items") =>
  tx.asRoot(async () => {
    const { rows } = await tx.query<Entry>(
      `select action, record_id, changed_by, owner_id, payload from audit.change_log
        where schema_name = 'test_audit' and table_name = $1 order by audit_id`,
      [table],
    );
    return rows;
  });

const insertItem = async (tx: TestTransaction, values: { owner_id?: string | null; name: string; secret?: string }) =>
  (
    await one<{ item_id: string }>(tx, "insert into test_audit.items (owner_id, name, secret) values ($1, $2, $3) returning item_id", [
      values.owner_id ?? null,
      values.name,
      values.secret ?? null,
    ])
  ).item_id;

describe("tracking a table", () => {
  it("records an insert with the new row (secrets left out), its primary key, its owner and the signed-in user", async () => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      const alice = await createUser(tx, "auda");
      await tx.become(alice.claims);
      const id = await insertItem(tx, { owner_id: alice.userId, name: "lamp", secret: "s3cret" });
      expect(await entriesOf(tx)).toEqual([
        {
          action: "insert",
          record_id: id,
          changed_by: alice.userId,
          owner_id: alice.userId,
          payload: { new: { item_id: id, owner_id: alice.userId, name: "lamp" } },
        },
      ]);
    });
  });

  it("records an update with the row before and after", async () => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      const alice = await createUser(tx, "auda");
      await tx.become(alice.claims);
      const id = await insertItem(tx, { owner_id: alice.userId, name: "lamp" });
      await tx.query("update test_audit.items set name = 'desk lamp' where item_id = $1", [id]);
      expect((await entriesOf(tx))[1]).toEqual({
        action: "update",
        record_id: id,
        changed_by: alice.userId,
        owner_id: alice.userId,
        payload: {
          old: { item_id: id, owner_id: alice.userId, name: "lamp" },
          new: { item_id: id, owner_id: alice.userId, name: "desk lamp" },
        },
      });
    });
  });

  it("records a delete with the row before only", async () => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      const alice = await createUser(tx, "auda");
      await tx.become(alice.claims);
      const id = await insertItem(tx, { owner_id: alice.userId, name: "lamp" });
      await tx.query("delete from test_audit.items where item_id = $1", [id]);
      const entries = await entriesOf(tx);
      expect(entries.map((entry) => entry.action)).toEqual(["insert", "delete"]);
      expect(entries[1]).toEqual({
        action: "delete",
        record_id: id,
        changed_by: alice.userId,
        owner_id: alice.userId,
        payload: { old: { item_id: id, owner_id: alice.userId, name: "lamp" } },
      });
    });
  });

  it("names the database role as changed_by for system work without a signed-in user", async () => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      const { session_user: root } = await one<{ session_user: string }>(tx, "select session_user");
      await insertItem(tx, { name: "as root" });
      await tx.become({ role: "gw_user" });
      await insertItem(tx, { name: "as a role without a user" });
      const entries = await entriesOf(tx);
      expect(entries.map((entry) => [entry.payload.new?.name, entry.changed_by, entry.owner_id])).toEqual([
        ["as root", root, null],
        ["as a role without a user", "gw_user", null],
      ]);
    });
  });

  it("writes nothing for an update that changes nothing visible", async () => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      const id = await insertItem(tx, { name: "lamp", secret: "one" });
      const same = await tx.query("update test_audit.items set name = name where item_id = $1", [id]);
      const secretOnly = await tx.query("update test_audit.items set secret = 'two' where item_id = $1", [id]);
      expect([same.rowCount, secretOnly.rowCount]).toEqual([1, 1]);
      expect((await entriesOf(tx)).map((entry) => entry.action)).toEqual(["insert"]);
    });
  });

  it("records a composite primary key as a JSON array of its values, in key order", async () => {
    await withTransaction(async (tx) => {
      await tx.query("create schema test_audit");
      await tx.query("create table test_audit.pairs (b text, a integer, note text, primary key (a, b))");
      await tx.query("select audit.enable_tracking('test_audit.pairs')");
      await tx.query("insert into test_audit.pairs (a, b, note) values (1, 'x', 'first')");
      const entries = await entriesOf(tx, "pairs");
      expect(entries.map((entry) => [entry.record_id, JSON.parse(entry.record_id), entry.owner_id])).toEqual([['[1, "x"]', [1, "x"], null]]);
    });
  });

  it("refuses a table without a primary key (NOPKY) and an owner column that does not exist (BADIN)", async () => {
    await withTransaction(async (tx) => {
      await tx.query("create schema test_audit");
      await tx.query("create table test_audit.loose (note text)");
      await tx.query("create table test_audit.keyed (id integer primary key)");
      expect(await tx.errorCode(() => tx.query("select audit.enable_tracking('test_audit.loose')"))).toBe("NOPKY");
      expect(await tx.errorCode(() => tx.query("select audit.enable_tracking('test_audit.keyed', 'owner_id')"))).toBe("BADIN");
      const tracked = await one(
        tx,
        "select audit.is_tracked('test_audit.loose') as loose, audit.is_tracked('test_audit.keyed') as keyed",
      );
      expect(tracked).toEqual({ loose: false, keyed: false });
    });
  });

  it("is idempotent to enable, and re-enabling applies the new options", async () => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      await tx.query("select audit.enable_tracking('test_audit.items', 'owner_id', array['secret'])");
      await insertItem(tx, { name: "once", secret: "hidden" });
      expect((await entriesOf(tx)).map((entry) => entry.payload.new)).toEqual([expect.not.objectContaining({ secret: "hidden" })]);
      await tx.query("select audit.enable_tracking('test_audit.items')");
      await insertItem(tx, { name: "twice", secret: "shown" });
      const entries = await entriesOf(tx);
      expect(entries).toHaveLength(2);
      expect(entries[1]?.payload.new).toMatchObject({ name: "twice", secret: "shown" });
      expect(await countAsRoot(tx, "pg_trigger where tgrelid = 'test_audit.items'::regclass and tgname = '_900_audit'")).toBe(1);
    });
  });

  it("names a partitioned table, not the partition, in the entries of every partition, also ones added later", async () => {
    await withTransaction(async (tx) => {
      await tx.asRoot(async () => {
        await tx.query("create schema test_audit");
        await tx.query(
          "create table test_audit.events (event_id integer, day date, owner_id uuid, note text, primary key (event_id, day)) partition by range (day)",
        );
        await tx.query("create table test_audit.events_2020 partition of test_audit.events for values from ('2020-01-01') to ('2021-01-01')");
        await tx.query("select audit.enable_tracking('test_audit.events', 'owner_id')");
        // One created after tracking began, one built standalone and attached.
        await tx.query("create table test_audit.events_2021 partition of test_audit.events for values from ('2021-01-01') to ('2022-01-01')");
        await tx.query("create table test_audit.events_2022 (event_id integer not null, day date not null, owner_id uuid, note text)");
        await tx.query("alter table test_audit.events attach partition test_audit.events_2022 for values from ('2022-01-01') to ('2023-01-01')");
      });
      const alice = await createUser(tx, "audp");
      await tx.asRoot(async () => {
        await tx.query(
          "insert into test_audit.events values (1, '2020-05-01', $1, 'a'), (2, '2021-05-01', $1, 'b'), (3, '2022-05-01', $1, 'c')",
          [alice.userId],
        );
        await tx.query("insert into test_audit.events_2021 values (4, '2021-06-01', $1, 'straight into the partition')", [alice.userId]);
        await tx.query("update test_audit.events set note = 'changed' where event_id = 2");
        await tx.query("delete from test_audit.events where event_id = 3");
      });
      const entries = await entriesOf(tx, "events");
      expect(entries.map((entry) => [entry.action, entry.record_id, entry.owner_id])).toEqual([
        ["insert", '[1, "2020-05-01"]', alice.userId],
        ["insert", '[2, "2021-05-01"]', alice.userId],
        ["insert", '[3, "2022-05-01"]', alice.userId],
        ["insert", '[4, "2021-06-01"]', alice.userId],
        ["update", '[2, "2021-05-01"]', alice.userId],
        ["delete", '[3, "2022-05-01"]', alice.userId],
      ]);
      expect(await countAsRoot(tx, "audit.change_log where schema_name = 'test_audit' and table_name like 'events\\_%'")).toBe(0);
      // The owner column works through the partitions: alice reads the entries of her rows.
      await tx.become(alice.claims);
      expect((await one<{ n: number }>(tx, "select count(*)::int as n from audit.change_log where schema_name = 'test_audit' and table_name = 'events'")).n).toBe(6);
      // Ordinary tables keep three trigger arguments (and their own name at run time).
      await tx.asRoot(async () => {
        const args = await one<{ parent: number; partition: number }>(
          tx,
          `select (select tgnargs from pg_trigger where tgrelid = 'test_audit.events'::regclass and tgname = '_900_audit')::int as parent,
                  (select tgnargs from pg_trigger where tgrelid = 'test_audit.events_2022'::regclass and tgname = '_900_audit')::int as partition`,
        );
        expect(args).toEqual({ parent: 5, partition: 5 });
        expect(await countAsRoot(tx, "pg_trigger where tgrelid = 'auth.users'::regclass and tgname = '_900_audit' and tgnargs = 3")).toBe(1);
      });
    });
  });

  it("stops writing once tracking is disabled, keeps the past entries, and may be disabled twice", async () => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      await insertItem(tx, { name: "before" });
      await tx.query("select audit.disable_tracking('test_audit.items')");
      await tx.query("select audit.disable_tracking('test_audit.items')");
      await insertItem(tx, { name: "after" });
      expect(await one(tx, "select audit.is_tracked('test_audit.items') as tracked")).toEqual({ tracked: false });
      expect((await entriesOf(tx)).map((entry) => entry.payload.new?.name)).toEqual(["before"]);
    });
  });

  it("tracks the auth tables", async () => {
    await withTransaction(async (tx) => {
      const { rows } = await tx.query(
        `select t as table_name, audit.is_tracked(t::regclass) as tracked
           from unnest(array['auth.users', 'auth.memberships', 'auth.user_roles', 'auth.sessions', 'auth.organizations', 'auth.roles']) t`,
      );
      expect(rows.filter((row) => row.tracked !== true)).toEqual([]);
      expect(rows).toHaveLength(6);
    });
  });

  it("never writes a session's token_hash to the log, on sign-up, refresh or sign-out", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "auds");
      await tx.become(anonymous);
      const refreshed = await one<{ error_code: string | null }>(tx, "select error_code from auth.refresh_session($1)", [alice.refreshToken]);
      expect(refreshed.error_code).toBeNull();
      const entries = await tx.asRoot(async () => {
        const { rows } = await tx.query<{ action: string; has_hash: boolean; mentions_hash: boolean }>(
          `select action,
                  coalesce(payload -> 'old' ? 'token_hash', false) or coalesce(payload -> 'new' ? 'token_hash', false) as has_hash,
                  payload::text like '%token_hash%' as mentions_hash
             from audit.change_log
            where schema_name = 'auth' and table_name = 'sessions' and owner_id = $1
            order by audit_id`,
          [alice.userId],
        );
        return rows;
      });
      expect(entries.map((entry) => entry.action)).toEqual(["insert", "update", "insert"]);
      expect(entries.filter((entry) => entry.has_hash || entry.mentions_hash)).toEqual([]);
      // The hashes do exist, in the table itself.
      expect(await countAsRoot(tx, "auth.sessions where user_id = $1 and token_hash is not null", [alice.userId])).toBe(2);
    });
  });
});

describe("the change log is append-only", () => {
  /**
   * TRUNCATE needs an exclusive lock before its trigger can refuse. Queueing for
   * it behind other files' open transactions could deadlock them, so take it
   * without waiting (retrying), inside the caller's savepoint, which releases it.
   */
  async function truncateChangeLog(tx: TestTransaction): Promise<void> {
    const locked = async () => {
      await tx.query("savepoint take_lock");
      try {
        await tx.query("lock table audit.change_log in access exclusive mode nowait");
        await tx.query("release savepoint take_lock");
        return true;
      } catch (error) {
        await tx.query("rollback to savepoint take_lock");
        if ((error as { code?: string }).code !== "55P03") throw error;
        return false;
      }
    };
    await until(locked, Boolean, { timeoutMs: 10_000, intervalMs: 25, what: "an exclusive lock on audit.change_log" });
    await tx.query("truncate audit.change_log");
  }

  it("refuses UPDATE, DELETE and TRUNCATE with AUDRO, even for the superuser", async () => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      await insertItem(tx, { name: "lamp" });
      const { audit_id: auditId } = await one<{ audit_id: string }>(
        tx,
        "select audit_id from audit.change_log where schema_name = 'test_audit' and table_name = 'items'",
      );
      const codes = {
        update: await tx.errorCode(() => tx.query("update audit.change_log set changed_by = 'someone else' where audit_id = $1", [auditId])),
        delete: await tx.errorCode(() => tx.query("delete from audit.change_log where audit_id = $1", [auditId])),
        truncate: await tx.errorCode(() => truncateChangeLog(tx)),
      };
      expect(codes).toEqual({ update: "AUDRO", delete: "AUDRO", truncate: "AUDRO" });
      expect(await countAsRoot(tx, "audit.change_log where audit_id = $1 and changed_by <> 'someone else'", [auditId])).toBe(1);
    });
  });

  it("refuses changing content with AUDRO even under the sealer's flag", async () => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      await insertItem(tx, { name: "lamp" });
      await tx.query("select set_config('audit.sealing', 'on', true)");
      const code = await tx.errorCode(() =>
        tx.query(
          `update audit.change_log set payload = '{"new": {"name": "forged"}}', chain_seq = -1, hash = '\\x00', sealed_at = now()
            where schema_name = 'test_audit' and table_name = 'items'`,
        ),
      );
      expect(code).toBe("AUDRO");
      expect(await countAsRoot(tx, "audit.change_log where schema_name = 'test_audit' and payload -> 'new' ->> 'name' = 'lamp'")).toBe(1);
    });
  });

  it.each([
    ["gw_user", async (_tx: TestTransaction, user: TestUser) => user.claims],
    ["gw_admin", (tx: TestTransaction, user: TestUser) => roleClaims(tx, user, "gw_admin")],
  ])("refuses %s inserting, updating or deleting entries (42501)", async (_role, claimsOf) => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      const alice = await createUser(tx, "audw");
      await tx.asRoot(() => insertItem(tx, { owner_id: alice.userId, name: "lamp" }));
      await tx.become(await claimsOf(tx, alice));
      const attempts = {
        insert: `insert into audit.change_log (schema_name, table_name, record_id, action, changed_by, payload, owner_id)
                 values ('test_audit', 'items', 'x', 'insert', 'me', '{"new": {}}', '${alice.userId}')`,
        update: "update audit.change_log set changed_by = 'me' where owner_id = $1",
        delete: "delete from audit.change_log where owner_id = $1",
      };
      const codes: Record<string, string | undefined> = {};
      for (const [what, sql] of Object.entries(attempts)) {
        codes[what] = await tx.errorCode(() => tx.query(sql, what === "insert" ? [] : [alice.userId]));
      }
      expect(codes).toEqual({ insert: "42501", update: "42501", delete: "42501" });
      // The one entry the update and delete aimed at is still there, unchanged.
      expect(await countAsRoot(tx, "audit.change_log where schema_name = 'test_audit' and owner_id = $1 and changed_by <> 'me'", [alice.userId])).toBe(1);
      expect(await countAsRoot(tx, "audit.change_log where owner_id = $1 and changed_by = 'me'", [alice.userId])).toBe(0);
    });
  });
});

describe("who reads the change log", () => {
  it("lets a user read the entries of records they own, and not another user's", async () => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      const alice = await createUser(tx, "audr");
      const bob = await createUser(tx, "audr");
      await tx.asRoot(async () => {
        await insertItem(tx, { owner_id: alice.userId, name: "alice's lamp" });
        await insertItem(tx, { owner_id: bob.userId, name: "bob's lamp" });
      });
      await tx.become(alice.claims);
      const items = await tx.query("select owner_id, payload -> 'new' ->> 'name' as name from audit.change_log where schema_name = 'test_audit'");
      expect(items.rows).toEqual([{ owner_id: alice.userId, name: "alice's lamp" }]);
      const users = await tx.query("select record_id from audit.change_log where schema_name = 'auth' and table_name = 'users'");
      expect(users.rows).toEqual([{ record_id: alice.userId }]);
      expect(await countAsRoot(tx, "audit.change_log where schema_name = 'test_audit' and owner_id = $1", [bob.userId])).toBe(1);
      expect(await countAsRoot(tx, "audit.change_log where table_name = 'users' and record_id = $1", [bob.userId])).toBe(1);
    });
  });

  it("lets an operator (gw_admin) read every entry, including records nobody owns", async () => {
    await withTransaction(async (tx) => {
      await createItems(tx);
      const alice = await createUser(tx, "audr");
      const operator = await createUser(tx, "audop");
      await tx.asRoot(async () => {
        await insertItem(tx, { owner_id: alice.userId, name: "alice's lamp" });
        await insertItem(tx, { name: "nobody's lamp" });
      });
      await tx.become(await roleClaims(tx, operator, "gw_admin"));
      const { rows } = await tx.query(
        "select payload -> 'new' ->> 'name' as name from audit.change_log where schema_name = 'test_audit' order by audit_id",
      );
      expect(rows).toEqual([{ name: "alice's lamp" }, { name: "nobody's lamp" }]);
      const users = await tx.query("select record_id from audit.change_log where table_name = 'users' and record_id = any($1)", [[alice.userId]]);
      expect(users.rows).toEqual([{ record_id: alice.userId }]);
    });
  });

  it("refuses a signed-out visitor reading the change log (42501)", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "audr");
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select * from audit.change_log"))).toBe("42501");
      expect(await countAsRoot(tx, "audit.change_log where table_name = 'users' and record_id = $1", [alice.userId])).toBe(1);
    });
  });

  it("lets an operator run audit.verify_chain, but not a user (42501)", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "audv");
      await tx.become(alice.claims);
      expect(await tx.errorCode(() => tx.query("select * from audit.verify_chain()"))).toBe("42501");
      await tx.become(await roleClaims(tx, alice, "gw_admin"));
      const { rows } = await tx.query("select * from audit.verify_chain()");
      expect(rows).toEqual([]);
    });
  });
});

describe("sealing the change log into a hash chain", () => {
  // Committed, because only rows of finished transactions are sealed.
  const schema = `gwtest_audit_seal_${process.pid}_${randomBytes(3).toString("hex")}`;
  const table = `${schema}.items`;

  beforeAll(async () => {
    const client = await rootDb().connect();
    try {
      await client.query("begin");
      await client.query(`create schema ${schema}`);
      await client.query(`create table ${table} (item_id integer primary key, name text not null)`);
      // Every table has RLS (tests/project/rls-coverage.test.ts runs meanwhile).
      await client.query(`alter table ${table} enable row level security`);
      await client.query("select audit.enable_tracking($1)", [table]);
      // A partitioned table, whose entries are written by its partition's trigger.
      await client.query(`create table ${schema}.events (event_id integer, day date, primary key (event_id, day)) partition by range (day)`);
      await client.query(`create table ${schema}.events_2020 partition of ${schema}.events for values from ('2020-01-01') to ('2021-01-01')`);
      await client.query(`alter table ${schema}.events enable row level security`);
      await client.query(`alter table ${schema}.events_2020 enable row level security`);
      await client.query("select audit.enable_tracking($1)", [`${schema}.events`]);
      await client.query("commit");
    } finally {
      client.release();
    }
  });

  afterAll(async () => {
    await rootDb().query(`drop schema if exists ${schema} cascade`);
  });

  let nextItem = 0;
  /** Inserts a row in its own committed transaction; returns its change-log entry's audit_id. */
  async function commitItem(name: string): Promise<string> {
    const itemId = ++nextItem;
    await rootDb().query(`insert into ${table} (item_id, name) values ($1, $2)`, [itemId, name]);
    const { rows } = await rootDb().query<{ audit_id: string }>(
      "select audit_id from audit.change_log where schema_name = $1 and table_name = 'items' and record_id = $2 and action = 'insert'",
      [schema, String(itemId)],
    );
    const auditId = rows[0]?.audit_id;
    if (!auditId) throw new Error(`no change-log entry for item ${itemId}`);
    return auditId;
  }

  /** Runs the sealer until these entries are sealed (other files' open transactions may hold it back a moment). */
  async function sealUntil(auditIds: string[]): Promise<void> {
    const unsealedAfterSealing = async () => {
      await rootDb().query("select audit_private.seal()");
      const { rows } = await rootDb().query<{ n: number }>(
        "select count(*)::int as n from audit.change_log where audit_id = any($1) and chain_seq is null",
        [auditIds],
      );
      return rows[0]?.n;
    };
    await until(unsealedAfterSealing, (unsealed) => unsealed === 0, { timeoutMs: 30_000, intervalMs: 100, what: `sealing entries ${auditIds.join(", ")}` });
  }

  type Link = { audit_id: string; chain_seq: string; linked: boolean; hash_ok: boolean; sealed: boolean };
  const linksOf = async (auditIds: string[]) =>
    (
      await rootDb().query<Link>(
        `select c.audit_id, c.chain_seq,
                coalesce(c.prev_hash = p.hash, c.chain_seq = 1 and c.prev_hash is null) as linked,
                c.hash = audit_private.row_hash(c.prev_hash, c) as hash_ok,
                c.sealed_at is not null as sealed
           from audit.change_log c
           left join audit.change_log p on p.chain_seq = c.chain_seq - 1
          where c.audit_id = any($1)
          order by c.audit_id`,
        [auditIds],
      )
    ).rows;

  const verify = async (fromSeq?: string, toSeq?: string) =>
    (await rootDb().query("select * from audit.verify_chain($1, $2)", [fromSeq ?? 1, toSeq ?? null])).rows;

  it("seals committed entries in order, each linked to the one before and hashed over its content", async () => {
    const auditIds = [await commitItem("first"), await commitItem("second"), await commitItem("third")];
    await sealUntil(auditIds);
    const links = await linksOf(auditIds);
    expect(links.map((link) => [link.linked, link.hash_ok, link.sealed])).toEqual([
      [true, true, true],
      [true, true, true],
      [true, true, true],
    ]);
    const seqs = links.map((link) => BigInt(link.chain_seq));
    expect([...seqs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(seqs);
    expect(await verify(links[0]?.chain_seq, links[2]?.chain_seq)).toEqual([]);
    expect(await verify()).toEqual([]);
  });

  it("seals and verifies the entry of a partitioned table, named after the partitioned table", async () => {
    await rootDb().query(`insert into ${schema}.events values (1, '2020-03-01')`);
    const { rows } = await rootDb().query<{ audit_id: string; table_name: string }>(
      "select audit_id, table_name from audit.change_log where schema_name = $1 and record_id = $2",
      [schema, '[1, "2020-03-01"]'],
    );
    expect(rows.map((row) => row.table_name)).toEqual(["events"]);
    await sealUntil([rows[0]!.audit_id]);
    const [link] = await linksOf([rows[0]!.audit_id]);
    expect(link).toMatchObject({ linked: true, hash_ok: true, sealed: true });
    expect(await verify(link!.chain_seq, link!.chain_seq)).toEqual([]);
  });

  it("leaves the entries of a transaction still running unsealed", async () => {
    const committed = await commitItem("committed");
    await withTransaction(async (tx) => {
      await tx.query(`insert into ${table} (item_id, name) values ($1, 'in flight')`, [++nextItem]);
      const { audit_id: inFlight } = await one<{ audit_id: string }>(
        tx,
        "select audit_id from audit.change_log where schema_name = $1 and record_id = $2",
        [schema, String(nextItem)],
      );
      // Another connection seals while this transaction is open.
      await sealUntil([committed]);
      expect(await one(tx, "select chain_seq from audit.change_log where audit_id = $1", [inFlight])).toEqual({ chain_seq: null });
      expect(await one(tx, "select chain_seq is not null as sealed from audit.change_log where audit_id = $1", [committed])).toEqual({
        sealed: true,
      });
    });
  });

  it("refuses resealing or changing a sealed entry with AUDRO, even under the sealer's flag", async () => {
    const auditId = await commitItem("sealed");
    await sealUntil([auditId]);
    await withTransaction(async (tx) => {
      await tx.query("select set_config('audit.sealing', 'on', true)");
      const reseal = await tx.errorCode(() => tx.query("update audit.change_log set hash = sha256('x'::bytea) where audit_id = $1", [auditId]));
      const rewrite = await tx.errorCode(() =>
        tx.query("update audit.change_log set payload = jsonb_set(payload, '{new,name}', '\"forged\"') where audit_id = $1", [auditId]),
      );
      expect({ reseal, rewrite }).toEqual({ reseal: "AUDRO", rewrite: "AUDRO" });
    });
    expect((await linksOf([auditId]))[0]).toMatchObject({ linked: true, hash_ok: true });
  });

  /**
   * Changes a sealed entry behind the append-only trigger's back (as a
   * superuser with triggers off for this session only), runs `check`, then puts
   * the entry back exactly, so the chain is whole again for everyone else.
   */
  async function tampered(auditId: string, change: string, check: () => Promise<void>): Promise<void> {
    const client = await rootDb().connect();
    let broken = false;
    try {
      const { rows } = await client.query<{ payload: string; prev_hash: Buffer | null }>(
        "select payload::text as payload, prev_hash from audit.change_log where audit_id = $1",
        [auditId],
      );
      const original = rows[0];
      if (!original) throw new Error(`no entry ${auditId}`);
      try {
        await client.query("set session_replication_role = replica");
        await client.query(`update audit.change_log set ${change} where audit_id = $1`, [auditId]);
        broken = true;
        await client.query("reset session_replication_role");
        await check();
      } finally {
        if (broken) {
          await client.query("set session_replication_role = replica");
          await client.query("update audit.change_log set payload = $2::jsonb, prev_hash = $3 where audit_id = $1", [
            auditId,
            original.payload,
            original.prev_hash,
          ]);
        }
        await client.query("reset session_replication_role");
      }
    } finally {
      client.release(true);
    }
  }

  it("names an entry whose content was changed behind the trigger's back as a hash mismatch, until it is restored", async () => {
    const auditIds = [await commitItem("before"), await commitItem("victim"), await commitItem("after")];
    await sealUntil(auditIds);
    const [, victim] = await linksOf(auditIds);
    if (!victim) throw new Error("no victim");
    expect(await verify()).toEqual([]);
    await tampered(victim.audit_id, "payload = jsonb_set(payload, '{new,name}', '\"tampered\"')", async () => {
      expect(await countTampered(victim.audit_id)).toBe(1);
      expect(await verify()).toEqual([{ audit_id: victim.audit_id, chain_seq: victim.chain_seq, problem: "hash mismatch" }]);
    });
    expect(await verify()).toEqual([]);

    async function countTampered(auditId: string): Promise<number> {
      const { rows } = await rootDb().query<{ n: number }>(
        "select count(*)::int as n from audit.change_log where audit_id = $1 and payload -> 'new' ->> 'name' = 'tampered'",
        [auditId],
      );
      return rows[0]?.n ?? 0;
    }
  });

  it("names an entry relinked to another predecessor as a prev_hash mismatch, until it is restored", async () => {
    const auditIds = [await commitItem("before"), await commitItem("relinked")];
    await sealUntil(auditIds);
    const [, relinked] = await linksOf(auditIds);
    if (!relinked) throw new Error("no relinked entry");
    await tampered(relinked.audit_id, "prev_hash = sha256('another chain'::bytea)", async () => {
      expect(await verify()).toEqual([{ audit_id: relinked.audit_id, chain_seq: relinked.chain_seq, problem: "prev_hash mismatch" }]);
      // Verifying from the entry after it is unaffected.
      expect(await verify(String(BigInt(relinked.chain_seq) + 1n))).toEqual([]);
    });
    expect(await verify()).toEqual([]);
  });
});
