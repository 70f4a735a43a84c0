import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "graphql-ws";
import { beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { signInFields } from "../../src/server/rateLimit.ts";
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

/**
 * Fixed windows start at multiples of the window length: begin each test at the start of one.
 * Forgets only this file's keys (loopback's IP, alice's and bob's): rate-limit-processes.test.ts
 * reserves in the same table at the same time, and wiping its rows handed it a second budget.
 */
async function freshWindow() {
  const into = Date.now() % (windowSeconds * 1000);
  await sleep(windowSeconds * 1000 - into + 50);
  await rootDb().query("delete from ops_private.rate_limit_reservations where key = any($1::text[])", [
    ["ip:127.0.0.1", "signin:127.0.0.1", `user:${alice.userId}`, `user:${bob.userId}`],
  ]);
}

const ping = (api: TestApi, token?: string) => api.graphql("{ __typename }", {}, token);

let alice: SignedIn;
let bob: SignedIn;
beforeAll(async () => {
  alice = await registerUser(open, "rl-alice");
  bob = await registerUser(open, "rl-bob");
});

describe("rate limits (one fixed window per key, shared by all API processes through reservations)", () => {
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
    // Reserved one at a time (a limit this small has chunks of 1), never past the limit; refusals write nothing.
    const { rows } = await rootDb().query("select reserved from ops_private.rate_limit_reservations where key = 'ip:127.0.0.1'");
    expect(rows[0].reserved).toBe(6);

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

// Issue 15: the per-IP sign-in limit could be bypassed. Each client below has its own
// address (X-Forwarded-For, trusted from loopback), so the cases never share a counter.
const signInLimit = 20;
const bypass = useTestApi({}, {
  limits: testLimits({
    trustProxy: "loopback",
    rateLimit: { windowSeconds: 3600, perIp: 0, perUser: 0, signInPerIp: signInLimit, signInWindowSeconds: 3600 },
  }),
});
const perOperation = useTestApi({}, {
  limits: testLimits({ trustProxy: "loopback", rateLimit: { windowSeconds: 3600, perIp: 6, perUser: 4, signInPerIp: 0, signInWindowSeconds: 3600 } }),
});

let clients = 0;
/** An address no other case (or earlier run on the same database) uses. */
const freshIp = () => `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${++clients}`;

/** Fixed windows: when the current one ends within `seconds`, wait for the next, so a case never straddles two. */
async function roomInWindow(windowSeconds: number, seconds: number) {
  const left = windowSeconds * 1000 - (Date.now() % (windowSeconds * 1000));
  if (left < seconds * 1000) await sleep(left + 50);
}

const loginLiteral = (alias = "") =>
  `${alias ? `${alias}: ` : ""}login(input: { identifier: "nobody-${randomUUID()}", password: "not the password 1" }) { accessToken }`;

interface Answer {
  status: number;
  codes: string[];
}

async function postAs(target: TestApi, ip: string, body: string, contentType: string, token?: string): Promise<Answer> {
  const response = await fetch(`${target.url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": contentType,
      accept: "application/graphql-response+json, application/json",
      "x-forwarded-for": ip,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body,
  });
  const payload = (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
  return { status: response.status, codes: (payload.errors ?? []).map((error) => error.extensions?.code ?? "") };
}

/** Sign-in attempts that reached auth.login: each answers CREDS (the accounts do not exist). */
const attemptsIn = (answer: Answer) => answer.codes.filter((code) => code === "CREDS").length;

/** A graphql-ws client from `ip`, optionally signed in; it never retries, so a close would show. */
function socketFrom(target: TestApi, ip: string, token?: string) {
  class ForwardedWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers: { "x-forwarded-for": ip } });
    }
  }
  let closed = false;
  const client = createClient({
    url: `${target.url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: ForwardedWebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => undefined,
    on: { closed: () => (closed = true) },
  });
  /** Runs one operation; resolves with the codes of its errors (an operation refused outright has no result). */
  const run = (query: string) =>
    new Promise<Answer>((resolve) => {
      const codes: string[] = [];
      client.subscribe(
        { query },
        {
          next: (result) => codes.push(...(result.errors ?? []).map((error) => String(error.extensions?.code ?? ""))),
          error: (errors) => resolve({ status: 0, codes: (Array.isArray(errors) ? errors : [errors]).map((error) => String((error as { extensions?: { code?: string } }).extensions?.code ?? "")) }),
          complete: () => resolve({ status: 0, codes }),
        },
      );
    });
  return { client, run, isOpen: () => !closed };
}

describe("the per-IP sign-in limit (RATE_LIMIT_SIGN_IN_PER_IP) holds whatever the request looks like", () => {
  const paths: Record<string, (ip: string) => Promise<Answer>> = {
    "plain": (ip) => postAs(bypass, ip, JSON.stringify({ query: `mutation { ${loginLiteral()} }` }), "application/json"),
    "in a named fragment": (ip) =>
      postAs(bypass, ip, JSON.stringify({ query: `mutation { ...Attempt } fragment Attempt on Mutation { ${loginLiteral()} }` }), "application/json"),
    "in nested named fragments": (ip) =>
      postAs(bypass, ip, JSON.stringify({ query: `mutation { ...A } fragment A on Mutation { ...B } fragment B on Mutation { ${loginLiteral()} }` }), "application/json"),
    "in an inline fragment on Mutation": (ip) => postAs(bypass, ip, JSON.stringify({ query: `mutation { ... on Mutation { ${loginLiteral()} } }` }), "application/json"),
    "in an inline fragment without a type": (ip) => postAs(bypass, ip, JSON.stringify({ query: `mutation { ... { ${loginLiteral()} } }` }), "application/json"),
    "sent as application/graphql": (ip) => postAs(bypass, ip, `mutation { ${loginLiteral()} }`, "application/graphql"),
    "sent as application/graphql; charset=utf-8": (ip) => postAs(bypass, ip, `mutation { ${loginLiteral()} }`, "application/graphql; charset=utf-8"),
    "one of two operations, chosen by operationName": (ip) =>
      postAs(bypass, ip, JSON.stringify({ query: `query Q { __typename } mutation M { ${loginLiteral()} }`, operationName: "M" }), "application/json"),
  };

  for (const [path, send] of Object.entries(paths)) {
    it(`admits ${signInLimit} attempts per IP, then RATE_LIMITED: ${path}`, async () => {
      await roomInWindow(3600, 60);
      const ip = freshIp();
      const answers: Answer[] = [];
      for (let i = 0; i < signInLimit + 4; i++) answers.push(await send(ip));
      const admitted = answers.reduce((sum, answer) => sum + attemptsIn(answer), 0);
      console.info(`sign-in attempts admitted per IP, ${path}: ${admitted} of ${answers.length}`);
      expect(admitted).toBe(signInLimit);
      expect(answers.slice(signInLimit).map((answer) => [answer.status, answer.codes])).toEqual(Array(4).fill([429, ["RATE_LIMITED"]]));
    });
  }

  it("names only mutations the schema has (a renamed sign-in mutation would escape the limit)", async () => {
    const response = await open.graphql<{ __type: { fields: Array<{ name: string }> } }>('{ __type(name: "Mutation") { fields { name } } }');
    const mutations = new Set(response.body.data!.__type.fields.map((field) => field.name));
    expect([...signInFields].filter((name) => !mutations.has(name))).toEqual([]);
  });

  it("counts every aliased attempt: a request of 20 aliased logins spends the whole budget", async () => {
    await roomInWindow(3600, 60);
    const ip = freshIp();
    const aliases = (n: number) => Array.from({ length: n }, (_, i) => loginLiteral(`a${i}`)).join(" ");
    const first = await postAs(bypass, ip, JSON.stringify({ query: `mutation { ${aliases(signInLimit)} }` }), "application/json");
    expect(attemptsIn(first)).toBe(signInLimit);
    const second = await postAs(bypass, ip, JSON.stringify({ query: `mutation { ${aliases(5)} }` }), "application/json");
    const third = await postAs(bypass, ip, JSON.stringify({ query: `mutation { ${loginLiteral()} }` }), "application/json");
    console.info(`sign-in attempts admitted per IP, 20 aliases per request: ${attemptsIn(first) + attemptsIn(second) + attemptsIn(third)}`);
    expect([second.status, second.codes]).toEqual([429, ["RATE_LIMITED"]]);
    expect([third.status, third.codes]).toEqual([429, ["RATE_LIMITED"]]);
  });

  it("counts aliases spread through fragments, and one response name spread twice once (GraphQL runs it once)", async () => {
    await roomInWindow(3600, 60);
    const ip = freshIp();
    const twice = await postAs(
      bypass,
      ip,
      JSON.stringify({ query: `mutation { ...A ...A ... on Mutation { ...A } } fragment A on Mutation { x: ${loginLiteral().replace(/nobody-[^"]+/, "nobody-same")} }` }),
      "application/json",
    );
    expect(attemptsIn(twice)).toBe(1);
    const spread = `mutation { ...A ...B } fragment A on Mutation { ${loginLiteral("a1")} ${loginLiteral("a2")} } fragment B on Mutation { ...A ${loginLiteral("b1")} }`;
    const three = await postAs(bypass, ip, JSON.stringify({ query: spread }), "application/json");
    expect(attemptsIn(three)).toBe(3);
    // The query a request runs (operationName) spends nothing, whatever mutation sits beside it.
    const beside = await postAs(bypass, ip, JSON.stringify({ query: `query Q { __typename } mutation M { ${loginLiteral()} }`, operationName: "Q" }), "application/json");
    expect(beside).toEqual({ status: 200, codes: [] });
    const { rows } = await rootDb().query("select reserved from ops_private.rate_limit_reservations where key = $1", [`signin:${ip}`]);
    expect(rows[0].reserved).toBe(4);
  });

  it("refuses every other request type before the limiter (415): no body reaches grafserv unread", async () => {
    const ip = freshIp();
    const login = `mutation { ${loginLiteral()} }`;
    for (const type of ["application/x-www-form-urlencoded", "text/plain"]) {
      const body = type.startsWith("application/x-www") ? `query=${encodeURIComponent(login)}` : type.startsWith("text/") ? login : JSON.stringify({ query: login });
      expect([type, await postAs(bypass, ip, body, type)]).toEqual([type, { status: 415, codes: ["BAD_REQUEST"] }]);
    }
  });

  it("holds over a WebSocket too: 20 of 24 logins on one anonymous socket, then RATE_LIMITED, the socket left open", async () => {
    await roomInWindow(3600, 60);
    const ip = freshIp();
    const socket = socketFrom(bypass, ip);
    try {
      const answers: Answer[] = [];
      for (let i = 0; i < signInLimit + 4; i++) answers.push(await socket.run(`mutation { ${loginLiteral()} }`));
      const admitted = answers.reduce((sum, answer) => sum + attemptsIn(answer), 0);
      console.info(`sign-in attempts admitted per IP, WebSocket: ${admitted} of ${answers.length}`);
      expect(admitted).toBe(signInLimit);
      expect(answers.slice(signInLimit).map((answer) => answer.codes)).toEqual(Array(4).fill(["RATE_LIMITED"]));
      expect(socket.isOpen()).toBe(true);
      // HTTP from the same address draws on the same budget.
      expect((await paths.plain!(ip)).codes).toEqual(["RATE_LIMITED"]);
    } finally {
      await socket.client.dispose();
    }
  });
});

describe("WebSocket operations count against the per-IP and per-user limits", () => {
  it("refuses a signed-in socket's operations past RATE_LIMIT_PER_USER with RATE_LIMITED, and HTTP shares the budget", async () => {
    await roomInWindow(3600, 60);
    const user = await registerUser(open, "rl-ws");
    const socket = socketFrom(perOperation, freshIp(), user.accessToken);
    try {
      const answers = await Promise.all(Array.from({ length: 7 }, () => socket.run("{ currentUser { userId } }")));
      const refused = answers.filter((answer) => answer.codes.includes("RATE_LIMITED")).length;
      console.info(`per-user limit 4 over one socket: ${answers.length - refused} of ${answers.length} answered`);
      expect(refused).toBe(3);
      expect(socket.isOpen()).toBe(true);
      expect((await postAs(perOperation, freshIp(), JSON.stringify({ query: "{ __typename }" }), "application/json", user.accessToken)).codes).toEqual(["RATE_LIMITED"]);
    } finally {
      await socket.client.dispose();
    }
  });

  it("refuses an anonymous socket's operations past RATE_LIMIT_PER_IP", async () => {
    await roomInWindow(3600, 60);
    const ip = freshIp();
    const socket = socketFrom(perOperation, ip);
    try {
      const answers: Answer[] = [];
      for (let i = 0; i < 9; i++) answers.push(await socket.run("{ __typename }"));
      expect(answers.map((answer) => answer.codes.join(","))).toEqual([...Array(6).fill(""), ...Array(3).fill("RATE_LIMITED")]);
      expect(socket.isOpen()).toBe(true);
    } finally {
      await socket.client.dispose();
    }
  });
});
