import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { anonymous, countAsRoot, createUser, password, uniqueName } from "../../helpers/fixtures.ts";

// auth.register's input rules (docs/errors.md): each bad input raises its
// own code and leaves nothing behind.

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

/** Users, secrets and sessions stored under the attempt's username or e-mail address. */
function rowsFor(tx: TestTransaction, input: Attempt): Promise<number> {
  return countAsRoot(
    tx,
    `auth.users u
       left join auth_private.user_secrets s using (user_id)
       left join auth.sessions ss using (user_id)
      where lower(u.username) = lower($1) or lower(u.email) = lower($2)`,
    [input.username, input.email],
  );
}

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
  it("stores a user, their password hash and one session for valid input (what the cases below must not leave)", async () => {
    await withTransaction(async (tx) => {
      const input = attempt();
      expect(await registerCode(tx, input)).toBeUndefined();
      expect(await rowsFor(tx, input)).toBe(1);
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

  it("raises EMTKN for an e-mail address taken in another case, and stores nothing", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "taken");
      const input = attempt({ email: alice.email.toUpperCase() });
      expect(await registerCode(tx, input)).toBe("EMTKN");
      expect(await countAsRoot(tx, "auth.users where lower(username) = lower($1)", [input.username])).toBe(0);
      expect(await countAsRoot(tx, "auth.users where lower(email) = lower($1)", [alice.email])).toBe(1);
    });
  });
});
