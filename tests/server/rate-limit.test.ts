import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { codesOf, registerUser, testLimits, useTestApi, type SignedIn, type TestApi } from "../helpers/api.ts";
import { rootDb } from "../helpers/db.ts";

const windowSeconds = 4;
const rateLimit = (overrides: Partial<ReturnType<typeof testLimits>["rateLimit"]>) =>
  testLimits({ rateLimit: { windowSeconds, perIp: 0, perUser: 0, signInPerIp: 0, signInWindowSeconds: windowSeconds, ...overrides } });

// Two API processes' worth of servers sharing one limit: the counters live in PostgreSQL.
const first = useTestApi({}, { limits: rateLimit({ perIp: 6 }) });
const second = useTestApi({}, { limits: rateLimit({ perIp: 6 }) });
const perUser = useTestApi({}, { limits: rateLimit({ perUser: 3 }) });
const signIn = useTestApi({}, { limits: rateLimit({ perIp: 1000, signInPerIp: 2 }) });
// Registers users without spending anyone's budget.
const open = useTestApi();

/** Fixed windows start at multiples of the window length: begin each test at the start of one. */
async function freshWindow() {
  const into = Date.now() % (windowSeconds * 1000);
  await sleep(windowSeconds * 1000 - into + 50);
  await rootDb().query("delete from ops_private.rate_limits");
}

const ping = (api: TestApi, token?: string) => api.graphql("{ __typename }", {}, token);

let alice: SignedIn;
let bob: SignedIn;
beforeAll(async () => {
  alice = await registerUser(open, "rl-alice");
  bob = await registerUser(open, "rl-bob");
});

describe("rate limits (one fixed window per key, shared by all API processes)", () => {
  it("counts an IP's requests across processes, answers 429 with Retry-After past the limit, and recovers in the next window", async () => {
    await freshWindow();
    for (let i = 0; i < 3; i++) expect((await ping(first)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await ping(second)).status).toBe(200);
    const refused = await ping(first);
    expect(refused.status).toBe(429);
    expect(codesOf(refused)).toEqual(["RATE_LIMITED"]);
    expect(refused.body.errors?.[0]?.extensions?.limit).toBe("ip");
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
    expect((await ping(second)).status).toBe(429);
    const { rows } = await rootDb().query("select hits from ops_private.rate_limits where key = 'ip:127.0.0.1'");
    expect(rows[0].hits).toBe(8);

    await sleep(retryAfter * 1000 + 100);
    expect((await ping(first)).status).toBe(200);
    expect((await ping(second)).status).toBe(200);
  });

  it("limits each signed-in user on their own", async () => {
    await freshWindow();
    for (let i = 0; i < 3; i++) expect((await ping(perUser, alice.accessToken)).status).toBe(200);
    const refused = await ping(perUser, alice.accessToken);
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions?.limit).toBe("user");
    expect((await ping(perUser, bob.accessToken)).status).toBe(200);
    // Anonymous callers have no user budget (only the IP's, which is off here).
    expect((await ping(perUser)).status).toBe(200);
  });

  it("holds sign-in mutations to a tighter budget per IP than other requests", async () => {
    await freshWindow();
    const login = () =>
      signIn.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, {
        input: { identifier: alice.username, password: alice.password },
      });
    expect((await login()).body.data?.login?.accessToken).toEqual(expect.any(String));
    expect((await login()).status).toBe(200);
    const refused = await login();
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions?.limit).toBe("sign_in");
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    // Other requests from the same IP still pass.
    expect((await ping(signIn)).status).toBe(200);
    expect((await signIn.graphql("{ currentUser { userId } }", {}, alice.accessToken)).status).toBe(200);
  });
});
