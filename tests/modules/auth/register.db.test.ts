import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { anonymous, confirmationToken, countAsRoot, createUser, one, password, uniqueName } from "../../helpers/fixtures.ts";

// auth.register's input rules (docs/errors.md): each bad input raises its
// own code and leaves nothing behind; a valid one leaves a pending sign-up and
// a mail job, never an account, whether or not the address is known; the
// account comes from auth.verify_email, once.

interface Attempt {
  username: string | null;
  email: string | null;
  password: string | null;
}

/** A valid registration, with the given fields replaced. */
function attempt(overrides: Partial<Attempt> = {}): Attempt {
  const username = uniqueName("reg");
  return { username, email: `${username}@example.com`, password, ...overrides };
}

async function registerCode(tx: TestTransaction, input: Attempt): Promise<string | undefined> {
  await tx.become(anonymous);
  return tx.errorCode(() => tx.query("select auth.register($1, $2, $3)", [input.username, input.email, input.password]));
}

/** Users, secrets, sessions and pending sign-ups stored under the attempt's username or e-mail address. */
async function rowsFor(tx: TestTransaction, input: Attempt): Promise<number> {
  const accounts = await countAsRoot(
    tx,
    `auth.users u
       left join auth_private.user_secrets s using (user_id)
       left join auth.sessions ss using (user_id)
      where lower(u.username) = lower($1) or lower(u.email) = lower($2)`,
    [input.username, input.email],
  );
  return accounts + (await countAsRoot(tx, "auth_private.signups where lower(username) = lower($1) or lower(email) = lower($2)", [input.username, input.email]));
}

/** auth_send_mail jobs queued in this transaction for a kind. */
const mailJobs = (tx: TestTransaction, kind: string) =>
  countAsRoot(tx, "graphile_worker.jobs where task_identifier = 'auth_send_mail' and key like 'auth_send_mail:' || $1 || ':%'", [kind]);

const cases: Array<{ label: string; input: Partial<Attempt>; code: string }> = [
  { label: "a missing username", input: { username: null }, code: "BADIN" },
  { label: "a blank username", input: { username: "   " }, code: "BADIN" },
  { label: "a missing e-mail address", input: { email: null }, code: "BADIN" },
  { label: "a blank e-mail address", input: { email: " " }, code: "BADIN" },
  { label: "a missing password", input: { password: null }, code: "BADIN" },
  { label: "an empty password", input: { password: "" }, code: "BADIN" },
  { label: "a one-character username", input: { username: "a" }, code: "BADUN" },
  { label: "a 33-character username", input: { username: `a${"b".repeat(32)}` }, code: "BADUN" },
  { label: "a username starting with a digit", input: { username: "1abc" }, code: "BADUN" },
  { label: "a username with a space", input: { username: "has space" }, code: "BADUN" },
  { label: "a username with an @", input: { username: "who@there" }, code: "BADUN" },
  { label: "a username with a non-ASCII letter", input: { username: "émile" }, code: "BADUN" },
  { label: "an e-mail address without @", input: { email: "not-an-email" }, code: "BADEM" },
  { label: "an e-mail address without a dot in the domain", input: { email: "someone@localhost" }, code: "BADEM" },
  { label: "an e-mail address with two @", input: { email: "two@@example.com" }, code: "BADEM" },
  { label: "an e-mail address with a space", input: { email: "some one@example.com" }, code: "BADEM" },
  { label: "an e-mail address over 254 characters", input: { email: `${"a".repeat(243)}@example.com` }, code: "BADEM" },
  { label: "a password under 10 characters", input: { password: "short1abc" }, code: "WEAKP" },
  { label: "a password without a digit", input: { password: "onlyletters here" }, code: "WEAKP" },
  { label: "a password without a letter", input: { password: "1234567890" }, code: "WEAKP" },
  { label: "a password over 72 bytes (bcrypt would truncate it)", input: { password: `a1${"é".repeat(36)}` }, code: "WEAKP" },
];

describe("auth.register", () => {
  it("stores a pending sign-up and queues its confirmation mail for valid input, but no account (what the cases below must not leave)", async () => {
    await withTransaction(async (tx) => {
      const input = attempt();
      const before = await mailJobs(tx, "verify_email");
      expect(await registerCode(tx, input)).toBeUndefined();
      expect(await rowsFor(tx, input)).toBe(1);
      expect(await countAsRoot(tx, "auth.users where lower(email) = lower($1)", [input.email])).toBe(0);
      expect(await mailJobs(tx, "verify_email")).toBe(before + 1);
    });
  });

  it.each(cases)("raises $code for $label, and stores nothing", async ({ input: overrides, code }) => {
    await withTransaction(async (tx) => {
      const input = attempt(overrides);
      expect(await registerCode(tx, input)).toBe(code);
      expect(await rowsFor(tx, input)).toBe(0);
    });
  });

  it("raises UNTKN for a username taken in another case, and stores nothing", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "taken");
      const input = attempt({ username: alice.username.toUpperCase() });
      expect(await registerCode(tx, input)).toBe("UNTKN");
      expect(await countAsRoot(tx, "auth.users where lower(email) = lower($1)", [input.email])).toBe(0);
      expect(await countAsRoot(tx, "auth.users where lower(username) = lower($1)", [alice.username])).toBe(1);
    });
  });

  it("answers an e-mail address taken in another case like a new one, stores nothing and queues a notice to its owner", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "taken");
      const input = attempt({ email: alice.email.toUpperCase() });
      const fresh = attempt();
      await tx.become(anonymous);
      const known = await one<{ expires_at: Date }>(tx, "select auth.register($1, $2, $3) as expires_at", [input.username, input.email, input.password]);
      const unknown = await one<{ expires_at: Date }>(tx, "select auth.register($1, $2, $3) as expires_at", [fresh.username, fresh.email, fresh.password]);
      // The same answer: a link expiry 24 hours out (one transaction: the same now()).
      expect(known).toEqual(unknown);
      expect(await countAsRoot(tx, "auth.users where lower(username) = lower($1)", [input.username])).toBe(0);
      expect(await countAsRoot(tx, "auth_private.signups where lower(email) = lower($1)", [input.email])).toBe(0);
      expect(await countAsRoot(tx, "graphile_worker.jobs where key = $1", [`auth_send_mail:signup_attempt:${alice.userId}`])).toBe(1);
    });
  });
});

describe("auth.verify_email", () => {
  it("creates the account with a verified address and a session, once", async () => {
    await withTransaction(async (tx) => {
      const input = attempt();
      expect(await registerCode(tx, input)).toBeUndefined();
      const token = await tx.asRoot(() => confirmationToken(tx, input.email!));
      const grant = await one<{ user_id: string; session_id: string; error_code: string | null }>(tx, "select * from auth.verify_email($1)", [token]);
      expect(grant).toMatchObject({ user_id: expect.any(String), session_id: expect.any(String), error_code: null });
      expect(await tx.asRoot(() => one(tx, "select username, email_verified_at is not null as verified from auth.users where user_id = $1", [grant.user_id]))).toEqual({
        username: input.username,
        verified: true,
      });
      expect(await countAsRoot(tx, "auth_private.signups where lower(email) = lower($1)", [input.email])).toBe(0);
      expect(await tx.errorCode(() => tx.query("select * from auth.verify_email($1)", [token]))).toBe("AUTOK");
    });
  });

  it("refuses a wrong and an expired token with AUTOK, and every mail's token once one was used", async () => {
    await withTransaction(async (tx) => {
      const input = attempt();
      expect(await registerCode(tx, input)).toBeUndefined();
      // Each mail (a resend, a retried send) carries its own token.
      const first = await tx.asRoot(() => confirmationToken(tx, input.email!));
      const second = await tx.asRoot(() => confirmationToken(tx, input.email!));
      expect(first).not.toBe(second);
      expect(await tx.errorCode(() => tx.query("select * from auth.verify_email($1)", ["not-a-token"]))).toBe("AUTOK");
      expect(await tx.errorCode(() => tx.query("select * from auth.verify_email($1)", ["x".repeat(10_000)]))).toBe("AUTOK");
      // Either mail's link works, once: the first used spends the other.
      await tx.query("select * from auth.verify_email($1)", [second]);
      expect(await tx.errorCode(() => tx.query("select * from auth.verify_email($1)", [first]))).toBe("AUTOK");
      expect(await countAsRoot(tx, "auth.users where lower(email) = lower($1)", [input.email])).toBe(1);
      // An expired link.
      const late = attempt();
      expect(await registerCode(tx, late)).toBeUndefined();
      const token = await tx.asRoot(() => confirmationToken(tx, late.email!));
      await tx.asRoot(() => tx.query("update auth_private.signups set expires_at = now() - interval '1 second' where lower(email) = lower($1)", [late.email]));
      expect(await tx.errorCode(() => tx.query("select * from auth.verify_email($1)", [token]))).toBe("AUTOK");
      expect(await countAsRoot(tx, "auth.users where lower(email) = lower($1)", [late.email])).toBe(0);
    });
  });

  it("lets the first of two sign-ups of one address win; the other link then fails", async () => {
    await withTransaction(async (tx) => {
      const a = attempt();
      const b = attempt({ email: a.email!.toUpperCase() });
      expect(await registerCode(tx, a)).toBeUndefined();
      const tokenA = await tx.asRoot(() => confirmationToken(tx, a.email!));
      expect(await registerCode(tx, b)).toBeUndefined();
      const tokenB = await tx.asRoot(() => confirmationToken(tx, a.email!));
      expect(tokenA).not.toBe(tokenB);
      await tx.query("select * from auth.verify_email($1)", [tokenB]);
      expect(await tx.errorCode(() => tx.query("select * from auth.verify_email($1)", [tokenA]))).toBe("AUTOK");
      expect(await countAsRoot(tx, "auth.users where lower(email) = lower($1)", [a.email])).toBe(1);
    });
  });
});
