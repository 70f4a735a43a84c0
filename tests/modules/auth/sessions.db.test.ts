import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createUser, one, password, type TestUser } from "../../helpers/fixtures.ts";

// The sign-in functions as SQL: login throttling, refresh-token rotation and
// reuse detection, and the blacklist cleanup job. now() is constant inside a
// transaction, so time passes by moving stored timestamps back.

type Grant = {
  user_id: string | null;
  session_id: string | null;
  refresh_token: string | null;
  error_code: string | null;
};
const grantColumns = "user_id, session_id, refresh_token, error_code";

async function login(tx: TestTransaction, identifier: string, secret: string): Promise<Grant> {
  await tx.become(anonymous);
  return one<Grant>(tx, `select ${grantColumns} from auth.login($1, $2)`, [identifier, secret]);
}

async function refresh(tx: TestTransaction, refreshToken: string | null): Promise<Grant> {
  await tx.become(anonymous);
  return one<Grant>(tx, `select ${grantColumns} from auth.refresh_session($1)`, [refreshToken]);
}

const wrongPassword = "wrong password 99";

async function failFiveTimes(tx: TestTransaction, user: TestUser): Promise<void> {
  const codes: Array<string | null> = [];
  for (let i = 0; i < 5; i++) codes.push((await login(tx, user.username, wrongPassword)).error_code);
  expect(codes).toEqual(["CREDS", "CREDS", "CREDS", "CREDS", "CREDS"]);
}

/** Moves the start of the user's failure window `minutes` into the past. */
async function moveFailureWindowBack(tx: TestTransaction, user: TestUser, minutes: number): Promise<void> {
  await tx.asRoot(() =>
    tx.query("update auth_private.user_secrets set first_failed_login_at = first_failed_login_at - make_interval(mins => $2) where user_id = $1", [
      user.userId,
      minutes,
    ]),
  );
}

const secretsOf = (tx: TestTransaction, user: TestUser) =>
  tx.asRoot(() =>
    one<{ failed_login_count: number; window_started_now: boolean | null; logged_in_now: boolean | null }>(
      tx,
      `select failed_login_count, first_failed_login_at = now() as window_started_now, last_login_at = now() as logged_in_now
         from auth_private.user_secrets where user_id = $1`,
      [user.userId],
    ),
  );

describe("login throttling", () => {
  it("answers CREDS to each of 5 wrong passwords, then LOCKD, even to the right password", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "throttle");
      await failFiveTimes(tx, alice);
      expect((await login(tx, alice.username, wrongPassword)).error_code).toBe("LOCKD");
      expect(await login(tx, alice.email, password)).toMatchObject({ error_code: "LOCKD", user_id: null, refresh_token: null });
      expect(await secretsOf(tx, alice)).toEqual({ failed_login_count: 5, window_started_now: true, logged_in_now: null });
    });
  });

  it("still answers LOCKD 14 minutes after the first failure", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "throttle");
      await failFiveTimes(tx, alice);
      await moveFailureWindowBack(tx, alice, 14);
      expect((await login(tx, alice.username, password)).error_code).toBe("LOCKD");
    });
  });

  it("lets the right password in once 15 minutes have passed since the first failure, and resets the counter", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "throttle");
      await failFiveTimes(tx, alice);
      await moveFailureWindowBack(tx, alice, 16);
      const grant = await login(tx, alice.username, password);
      expect(grant).toMatchObject({ error_code: null, user_id: alice.userId });
      expect(grant.refresh_token).toEqual(expect.any(String));
      expect(await secretsOf(tx, alice)).toEqual({ failed_login_count: 0, window_started_now: null, logged_in_now: true });
    });
  });

  it("starts a new window counting from 1 for a wrong password once 15 minutes have passed", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "throttle");
      await failFiveTimes(tx, alice);
      await moveFailureWindowBack(tx, alice, 16);
      expect((await login(tx, alice.username, wrongPassword)).error_code).toBe("CREDS");
      expect(await secretsOf(tx, alice)).toEqual({ failed_login_count: 1, window_started_now: true, logged_in_now: null });
    });
  });
});

describe("refresh token rotation", () => {
  it("exchanges a refresh token for a new one in the same family, storing only its sha256", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "rotate");
      const next = await refresh(tx, alice.refreshToken);
      expect(next).toMatchObject({ error_code: null, user_id: alice.userId, session_id: alice.sessionId });
      expect(next.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(next.refresh_token).not.toBe(alice.refreshToken);

      const rows = await tx.asRoot(async () =>
        (
          await tx.query(
            `select parent_id is null as root, rotated_at is not null as rotated, revoked_at is not null as revoked,
                    token_hash = sha256(convert_to($2, 'UTF8')) as holds_new_token
               from auth.sessions where family_id = $1 order by created_at, parent_id nulls first`,
            [alice.sessionId, next.refresh_token],
          )
        ).rows,
      );
      expect(rows).toEqual([
        { root: true, rotated: true, revoked: false, holds_new_token: false },
        { root: false, rotated: false, revoked: false, holds_new_token: true },
      ]);
    });
  });

  it("answers RTRSE to a spent token, then revokes and blacklists every token of that family only", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "reuse");
      const second = await refresh(tx, alice.refreshToken);
      const third = await refresh(tx, second.refresh_token);
      expect(third.error_code).toBeNull();
      const otherFamily = await login(tx, alice.username, password);

      expect(await refresh(tx, alice.refreshToken)).toMatchObject({ error_code: "RTRSE", refresh_token: null });

      const family = await tx.asRoot(async () =>
        (
          await tx.query<{ session_id: string; revoked: boolean; blacklisted: boolean }>(
            `select s.session_id, s.revoked_at is not null as revoked,
                    exists (select 1 from auth.refresh_token_blacklist b where b.jti = s.session_id::text and b.expires_at = s.expires_at) as blacklisted
               from auth.sessions s where s.family_id = $1`,
            [alice.sessionId],
          )
        ).rows,
      );
      expect(family).toHaveLength(3);
      expect(family.every((row) => row.revoked && row.blacklisted)).toBe(true);

      // The live token of the revoked family is dead too, and so is its access token.
      expect((await refresh(tx, third.refresh_token)).error_code).toBe("RTINV");
      await tx.become(alice.claims);
      expect(await one(tx, "select auth.uid() as uid")).toEqual({ uid: null });

      // Another sign-in of the same user is untouched.
      expect(await countAsRoot(tx, "auth.sessions where family_id = $1 and revoked_at is null", [otherFamily.session_id])).toBe(1);
      expect((await refresh(tx, otherFamily.refresh_token)).error_code).toBeNull();
    });
  });

  it("answers RTINV to an expired token and issues nothing", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "expired");
      await tx.asRoot(() => tx.query("update auth.sessions set expires_at = now() - interval '1 second' where session_id = $1", [alice.sessionId]));
      expect(await refresh(tx, alice.refreshToken)).toMatchObject({ error_code: "RTINV", refresh_token: null });
      expect(await countAsRoot(tx, "auth.sessions where family_id = $1", [alice.sessionId])).toBe(1);
      expect(await countAsRoot(tx, "auth.sessions where session_id = $1 and rotated_at is null and revoked_at is null", [alice.sessionId])).toBe(1);
    });
  });

  it("answers RTINV to unknown, empty, missing and oversized tokens", async () => {
    await withTransaction(async (tx) => {
      const codes: Array<string | null> = [];
      for (const token of ["A".repeat(43), "", null, "A".repeat(10_000)]) codes.push((await refresh(tx, token)).error_code);
      expect(codes).toEqual(["RTINV", "RTINV", "RTINV", "RTINV"]);
    });
  });
});

describe("auth_private.cleanup_refresh_token_blacklist()", () => {
  it("deletes only the expired rows and returns how many it deleted", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "cleanup");
      // Other test files commit (and clean up) blacklist rows in the shared database: keep
      // them out until this transaction rolls back, then count what is already due.
      await tx.asRoot(() => tx.query("lock table auth.refresh_token_blacklist in share row exclusive mode"));
      const alreadyExpired = await countAsRoot(tx, "auth.refresh_token_blacklist where expires_at < now()");
      const jtis = await tx.asRoot(async () =>
        (
          await tx.query<{ jti: string; expired: boolean }>(
            `insert into auth.refresh_token_blacklist (jti, user_id, expires_at)
             select gen_random_uuid()::text, $1, now() + offsets.o
               from unnest(array[interval '-1 day', interval '-1 second', interval '1 second', interval '30 days']) as offsets(o)
             returning jti, expires_at < now() as expired`,
            [alice.userId],
          )
        ).rows,
      );

      // The worker's crontab runs it as the owner.
      await tx.become({ role: "gw_owner" });
      expect(await one(tx, "select auth_private.cleanup_refresh_token_blacklist() as deleted")).toEqual({ deleted: alreadyExpired + 2 });

      const left = await tx.asRoot(async () =>
        (await tx.query<{ jti: string }>("select jti from auth.refresh_token_blacklist where jti = any($1)", [jtis.map((row) => row.jti)])).rows,
      );
      expect(left.map((row) => row.jti).sort()).toEqual(
        jtis
          .filter((row) => !row.expired)
          .map((row) => row.jti)
          .sort(),
      );
    });
  });

  it.each(["gw_user", "gw_anonymous"])("cannot be run as %s (42501)", async (role) => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "cleanup");
      await tx.asRoot(() =>
        tx.query("insert into auth.refresh_token_blacklist (jti, user_id, expires_at) values (gen_random_uuid()::text, $1, now() - interval '1 day')", [
          alice.userId,
        ]),
      );
      await tx.become(role === "gw_user" ? alice.claims : anonymous);
      expect(await tx.errorCode(() => tx.query("select auth_private.cleanup_refresh_token_blacklist()"))).toBe("42501");
      expect(await countAsRoot(tx, "auth.refresh_token_blacklist where user_id = $1", [alice.userId])).toBe(1);
    });
  });
});
