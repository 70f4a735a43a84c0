import { describe, expect, it } from "vitest";
import { codesOf, registerUser, uniqueUser, useTestApi } from "../helpers/api.ts";
import { rootDb } from "../helpers/db.ts";

const api = useTestApi();
const register = (input: Record<string, unknown>) =>
  api.graphql(`mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, { input });

async function usersNamed(username: string): Promise<number> {
  const { rows } = await rootDb().query("select count(*)::int as n from auth.users where lower(username) = lower($1)", [username]);
  return rows[0].n;
}

function expectClientError(response: { status: number; body: { errors?: Array<{ message: string; extensions?: { code?: string } }> } }, code: string) {
  expect(response.status).toBeLessThan(500);
  expect(codesOf(response as never)).toEqual([code]);
  expect(JSON.stringify(response.body)).not.toMatch(/\n\s+at |stack/i);
}

describe("bad input gets a coded 4xx-class error and writes nothing", () => {
  it("malformed JSON", async () => {
    const response = await api.post("{ this is not json");
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).errors[0].extensions.code).toBe("BAD_REQUEST");
  });

  it("a body without a query", async () => {
    const response = await api.post(JSON.stringify({ variables: {} }));
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).errors[0].extensions.code).toBeDefined();
  });

  it("unknown fields and wrong types", async () => {
    const user = uniqueUser("types");
    const unknownField = await register({ ...user, isAdmin: true });
    expect(unknownField.status).toBe(400);
    expect(codesOf(unknownField)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
    const wrongType = await register({ ...user, password: 12345678901 });
    expect(wrongType.status).toBe(400);
    expect(codesOf(wrongType)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
    const unknownQueryField = await api.graphql("query { currentUser { passwordHash } }");
    expect(codesOf(unknownQueryField)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
    expect(await usersNamed(user.username)).toBe(0);
  });

  it("empty strings", async () => {
    const user = uniqueUser("empty");
    expectClientError(await register({ ...user, username: "" }), "BADIN");
    expectClientError(await register({ ...user, email: "" }), "BADIN");
    expectClientError(await register({ ...user, password: "" }), "BADIN");
    expect(await usersNamed(user.username)).toBe(0);
  });

  it("a 10 MB string is refused before it reaches the database", async () => {
    const user = uniqueUser("huge");
    const response = await api.post(JSON.stringify({
      query: "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }",
      variables: { input: { ...user, username: "a".repeat(10 * 1024 * 1024) } },
    }));
    expect(response.status).toBe(413);
    expect(JSON.parse(response.text).errors[0].extensions.code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("long strings that fit the request limit get the field's own code", async () => {
    const user = uniqueUser("long");
    expectClientError(await register({ ...user, username: "a".repeat(100_000) }), "BADUN");
    expectClientError(await register({ ...user, email: `${"a".repeat(100_000)}@example.com` }), "BADEM");
    expectClientError(await register({ ...user, password: "a1".repeat(50_000) }), "WEAKP");
  });

  it("invalid e-mail addresses", async () => {
    for (const email of ["plainaddress", "@no-local.org", "two@@example.com", "spaces in@example.com", "no-tld@example"]) {
      const user = uniqueUser("mail");
      expectClientError(await register({ ...user, email }), "BADEM");
      expect(await usersNamed(user.username)).toBe(0);
    }
  });

  it("weak passwords, with the rule in the message", async () => {
    for (const password of ["short1", "onlyletterslong", "1234567890123", "ü".repeat(40) + "1"]) {
      const response = await register({ ...uniqueUser("weak"), password });
      expectClientError(response, "WEAKP");
      expect(response.body.errors?.[0]?.message).toMatch(/10/);
    }
  });

  it("duplicate usernames and e-mail addresses, case-insensitively, each with its own code", async () => {
    const existing = await registerUser(api, "dup");
    expectClientError(await register({ ...uniqueUser("dup2"), username: existing.username.toUpperCase() }), "UNTKN");
    expectClientError(await register({ ...uniqueUser("dup3"), email: existing.email.toUpperCase() }), "EMTKN");
    expect(await usersNamed(existing.username)).toBe(1);
  });

  it("SQL metacharacters are data, not SQL", async () => {
    const user = uniqueUser("sqli");
    expectClientError(await register({ ...user, username: "robert'); drop table auth.users;--" }), "BADUN");
    const login = await api.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, {
      input: { identifier: "' or 1=1 --", password: "' or '1'='1" },
    });
    expectClientError(login, "CREDS");
    const { rows } = await rootDb().query("select count(*)::int as n from auth.users");
    expect(rows[0].n).toBeGreaterThan(0);
  });
});

describe("mutations by key that match nothing", () => {
  it("answer NOT_FOUND, not an internal error", async () => {
    const user = await registerUser(api, "nf");
    const claims = JSON.parse(Buffer.from(user.accessToken.split(".")[1]!, "base64url").toString());
    const { token: admin } = await api.tokens.sign({ sub: claims.sub, role: "gw_admin", sid: claims.sid });
    const result = await api.graphql(`mutation { deleteRole(input: {roleName: "no_such_role"}) { role { roleName } } }`, {}, admin);
    expect(codesOf(result)).toEqual(["NOT_FOUND"]);
  });
});
