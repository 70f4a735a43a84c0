import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { rootDb, withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createOrganization, createUser, one } from "../../helpers/fixtures.ts";

// Follows: no self-follow, no duplicates (following twice is a no-op, also
// when two requests race), counts kept by the database and right under
// concurrency.

const counts = (tx: TestTransaction, userId: string) =>
  tx.asRoot(() => one<{ followers: string; following: string }>(tx, "select followers, following from users.user_follow_counts where user_id = $1", [userId]));

describe("following", () => {
  it("follows a person or an organization once, however often asked, and counts both sides", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "usalice");
      const bob = await createUser(tx, "usbob");
      const organization = await createOrganization(tx, bob, "usorg");
      await tx.become(alice.claims);
      const first = await one<{ follow_id: string }>(tx, "select follow_id from users.follow_user($1)", [bob.userId]);
      const again = await one<{ follow_id: string }>(tx, "select follow_id from users.follow_user($1)", [bob.userId]);
      expect(again.follow_id).toBe(first.follow_id);
      await tx.query("select users.follow_organization($1)", [organization.organizationId]);
      await tx.query("select users.follow_organization($1)", [organization.organizationId]);
      expect(await counts(tx, alice.userId)).toEqual({ followers: "0", following: "2" });
      expect(await counts(tx, bob.userId)).toEqual({ followers: "1", following: "0" });
      expect(await tx.asRoot(() => one(tx, "select followers from users.organization_follow_counts where organization_id = $1", [organization.organizationId]))).toEqual({
        followers: "1",
      });
      // A second row by hand is refused by the unique keys.
      expect(await tx.errorCode(() => tx.query("insert into users.follows (followed_user_id) values ($1)", [bob.userId]))).toBe("23505");
      expect(await countAsRoot(tx, "users.follows where follower_id = $1", [alice.userId])).toBe(2);
    });
  });

  it("unfollows, bringing the counts back down", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "usalice");
      const bob = await createUser(tx, "usbob");
      const organization = await createOrganization(tx, bob, "usorg");
      await tx.become(alice.claims);
      await tx.query("select users.follow_user($1)", [bob.userId]);
      await tx.query("select users.follow_organization($1)", [organization.organizationId]);
      expect(await one(tx, "select users.unfollow_user($1) as unfollowed", [bob.userId])).toEqual({ unfollowed: true });
      expect(await one(tx, "select users.unfollow_user($1) as unfollowed", [bob.userId])).toEqual({ unfollowed: false });
      expect((await tx.query("delete from users.follows where follower_id = $1", [alice.userId])).rowCount).toBe(1);
      expect(await counts(tx, alice.userId)).toEqual({ followers: "0", following: "0" });
      expect(await counts(tx, bob.userId)).toEqual({ followers: "0", following: "0" });
      expect(await tx.asRoot(() => one(tx, "select followers from users.organization_follow_counts where organization_id = $1", [organization.organizationId]))).toEqual({
        followers: "0",
      });
    });
  });

  it("refuses following oneself (USSLF), someone one cannot see or nobody (NTFND), and anonymous callers (LOGIN)", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "usalice");
      const hermit = await createUser(tx, "ushermit");
      await tx.become(hermit.claims);
      await tx.query("update users.profiles set visibility = 'private' where user_id = $1", [hermit.userId]);
      await tx.become(alice.claims);
      expect(await tx.errorCode(() => tx.query("select users.follow_user($1)", [alice.userId]))).toBe("USSLF");
      expect(await tx.errorCode(() => tx.query("insert into users.follows (followed_user_id) values ($1)", [alice.userId]))).toBe("23514");
      expect(await tx.errorCode(() => tx.query("select users.follow_user($1)", [hermit.userId]))).toBe("NTFND");
      expect(await tx.errorCode(() => tx.query("insert into users.follows (followed_user_id) values ($1)", [hermit.userId]))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("select users.follow_organization($1)", ["00000000-0000-0000-0000-000000000000"]))).toBe("NTFND");
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select users.follow_user($1)", [alice.userId]))).toBe("LOGIN");
      expect(await countAsRoot(tx, "users.follows where follower_id = $1", [alice.userId])).toBe(0);
    });
  });

  it("shows users their own follows and their followers, and organizations' owners who follows them; counts to everyone", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "usalice");
      const bob = await createUser(tx, "usbob");
      const carol = await createUser(tx, "uscarol");
      const organization = await createOrganization(tx, carol, "usorg");
      await tx.become(alice.claims);
      await tx.query("select users.follow_user($1)", [bob.userId]);
      await tx.query("select users.follow_organization($1)", [organization.organizationId]);
      const seen = async (claims: Parameters<typeof tx.become>[0]) => {
        await tx.become(claims);
        return (await tx.query("select count(*)::int as n from users.follows where follower_id = $1", [alice.userId])).rows[0]!.n;
      };
      expect(await seen(alice.claims)).toBe(2);
      expect(await seen(bob.claims)).toBe(1);
      expect(await seen(carol.claims)).toBe(1);
      const dave = await createUser(tx, "usdave");
      expect(await seen(dave.claims)).toBe(0);
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select 1 from users.follows"))).toBe("42501");
      expect(await one(tx, "select followers from users.user_follow_counts where user_id = $1", [bob.userId])).toEqual({ followers: "1" });
    });
  });
});

describe("following, concurrently (committed data)", () => {
  const tag = `fol${process.pid}${Date.now().toString(36)}`;
  const users: string[] = [];
  let pool: pg.Pool;

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 10 });
    const { rows } = await rootDb().query<{ user_id: string }>(
      "insert into auth.users (username, email) select $1 || 'u' || i, $1 || 'u' || i || '@example.com' from generate_series(1, 4) i returning user_id",
      [tag],
    );
    users.push(...rows.map((row) => row.user_id));
  });

  afterAll(async () => {
    await rootDb().query("delete from auth.users where username like $1 || 'u%'", [tag]);
    await pool.end();
  });

  /** Runs `sql` as the user in its own committed transaction. */
  async function asUser(userId: string, sql: string, values: unknown[]): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query("begin");
      await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [
        JSON.stringify({ role: "gw_user", sub: userId, iat: Math.floor(Date.now() / 1000) }),
      ]);
      await client.query(sql, values);
      await client.query("commit");
    } catch (error) {
      await client.query("rollback");
      throw error;
    } finally {
      client.release();
    }
  }

  it("makes one row and counts it once when the same follow arrives eight times at once", async () => {
    const [alice, bob] = users as [string, string];
    await Promise.all(Array.from({ length: 8 }, () => asUser(alice, "select users.follow_user($1)", [bob])));
    const { rows } = await rootDb().query("select count(*)::int as n from users.follows where follower_id = $1 and followed_user_id = $2", [alice, bob]);
    expect(rows).toEqual([{ n: 1 }]);
    const counted = await rootDb().query("select user_id, followers, following from users.user_follow_counts where user_id = any($1::uuid[]) order by user_id", [[alice, bob]]);
    expect(counted.rows).toEqual(
      [
        { user_id: alice, followers: "0", following: "1" },
        { user_id: bob, followers: "1", following: "0" },
      ].sort((a, b) => (a.user_id < b.user_id ? -1 : 1)),
    );
  });

  it("keeps counts equal to the follows through racing follows and unfollows in both directions, without deadlock", async () => {
    const [, , carol, dave] = users as [string, string, string, string];
    const work: Array<Promise<void>> = [];
    for (let i = 0; i < 40; i++) {
      const [from, to] = i % 2 === 0 ? [carol, dave] : [dave, carol];
      work.push(asUser(from, i % 4 < 2 ? "select users.follow_user($1)" : "select users.unfollow_user($1)", [to]));
    }
    const results = await Promise.allSettled(work);
    expect(results.filter((result) => result.status === "rejected")).toEqual([]);
    const { rows } = await rootDb().query<{ mismatched: number }>(
      `select count(*)::int as mismatched
         from users.user_follow_counts c
        where c.user_id = any($1::uuid[])
          and (c.followers <> (select count(*) from users.follows f where f.followed_user_id = c.user_id)
               or c.following <> (select count(*) from users.follows f where f.follower_id = c.user_id))`,
      [[carol, dave]],
    );
    expect(rows).toEqual([{ mismatched: 0 }]);
  });
});
