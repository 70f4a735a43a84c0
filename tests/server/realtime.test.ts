import { performance } from "node:perf_hooks";
import { createClient, type Client, type FormattedExecutionResult } from "graphql-ws";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { maxBearerTokenBytes } from "../../src/config.ts";
import { codesOf, registerUser, startCutOffApi, testJwt, useTestApi, type SignedIn } from "../helpers/api.ts";
import { rootDb } from "../helpers/db.ts";
import { probeTopic, sendProbe } from "../helpers/realtime.ts";
import { until } from "../helpers/until.ts";


const revocationCheckIntervalMs = 200;
const api = useTestApi({}, { revocationCheckIntervalMs });

// Two more APIs on the test database, started once before the tests (starting one builds the schema, which
// blocks this process for a moment: not in the middle of a test's requests).
// quiet: re-checks sockets' sessions only every 10 minutes, so a socket outlives its session's logout.
// cutOff: its connections go through a proxy a test cuts; it polls every 50 ms and never gives up within a test.
let quiet: Awaited<ReturnType<typeof startCutOffApi>>;
let cutOff: Awaited<ReturnType<typeof startCutOffApi>>;
beforeAll(async () => {
  quiet = await startCutOffApi(api, { revocationCheckIntervalMs: 600_000 });
  cutOff = await startCutOffApi(api, { realtime: { pollIntervalMs: 50, interruptAfterMs: 60_000 } });
});
afterAll(async () => {
  await quiet?.stop();
  await cutOff?.stop();
});

const notificationAdded = `subscription {
  notificationAdded { event notification { notificationId userId topic message payload } }
}`;

type Notification = { notificationId: string; userId: string; topic: string; message: string; payload: unknown };
type Result = FormattedExecutionResult<{ notificationAdded: { event: string; notification: Notification | null } }> & { at: number };
type Closed = { code: number; reason: string };

/** Items arriving over time; `take` waits for one that matches, up to a deadline. */
class Mailbox<T> {
  readonly items: T[] = [];
  private waiters: Array<{ match: (item: T) => boolean; resolve: (item: T) => void }> = [];

  push(item: T): void {
    this.items.push(item);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(item)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(item);
      }
    }
  }

  take(match: (item: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    const found = this.items.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (item: T) => {
          clearTimeout(timer);
          resolve(item);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.dispose()));
});

/** A graphql-ws client that connects at once and never retries, so every close is visible. */
function connect(token?: string, url = api.url) {
  const acks = new Mailbox<true>();
  const closes = new Mailbox<Closed>();
  const client = createClient({
    url: `${url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => undefined,
    on: {
      connected: () => acks.push(true),
      closed: (event) => closes.push(event as Closed),
    },
  });
  clients.push(client);
  return {
    client,
    acknowledged: () => acks.take(() => true, 5000, "connection_ack"),
    closed: (timeoutMs = 5000) => closes.take(() => true, timeoutMs, "the socket to close"),
    isOpen: () => closes.items.length === 0,
  };
}

function subscribe(client: Client, query: string) {
  const results = new Mailbox<Result>();
  const failures = new Mailbox<unknown>();
  const completions = new Mailbox<true>();
  client.subscribe(
    { query },
    {
      next: (result) => results.push({ ...(result as Result), at: performance.now() }),
      error: (error) => failures.push(error),
      complete: () => completions.push(true),
    },
  );
  return { results, failures, completions };
}

type Feed = ReturnType<typeof subscribe>;

/** Runs one query or mutation over the socket. */
function execute<D = Record<string, any>>(client: Client, query: string): Promise<FormattedExecutionResult<D, unknown>> {
  return new Promise((resolve, reject) => {
    let last: FormattedExecutionResult<D, unknown> | undefined;
    client.subscribe<D>({ query }, { next: (result) => (last = result), error: reject, complete: () => resolve(last ?? {}) });
  });
}

const isProbe = (result: Result) => result.data?.notificationAdded.notification?.topic === probeTopic;
const realNotifications = (result: Result) => !isProbe(result);

/**
 * The server registers a subscription after the subscribe message arrives, so
 * a notification committed at once could come before it. Commit probes until
 * one comes back: from then on the subscription is live.
 */
async function untilListening(feed: Feed, userId: string): Promise<void> {
  const probeAnswered = async () => {
    await sendProbe(rootDb(), userId);
    return feed.results.take(isProbe, 1000, "a probe").then(
      () => true,
      () => false,
    );
  };
  // Each probe waits up to a second (a few poll intervals) for its answer itself.
  await until(probeAnswered, Boolean, { timeoutMs: 15_000, intervalMs: 0, what: "a probe coming back over the subscription" });
}

async function notify(userId: string, topic: string, message: string, payload: unknown = {}): Promise<string> {
  const { rows } = await rootDb().query<{ id: string }>("select outbox.notify_user($1, $2, $3, $4) as id", [
    userId,
    topic,
    message,
    JSON.stringify(payload),
  ]);
  return rows[0]!.id;
}

function claimsOf(token: string): { sub: string; sid: string } {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
}

/** A token signed like the API's own, with the claims and lifetime a test needs. */
async function signToken(claims: Record<string, unknown>, sub: string, expiresAt: number): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuer(testJwt.issuer)
    .setAudience(testJwt.audience)
    .setIssuedAt()
    .setExpirationTime(expiresAt)
    .sign(new TextEncoder().encode(testJwt.secret));
}

async function subscribed(user: SignedIn, url = api.url) {
  const socket = connect(user.accessToken, url);
  const feed = subscribe(socket.client, notificationAdded);
  await untilListening(feed, user.userId);
  return { socket, feed };
}

describe("notificationAdded", () => {
  it("delivers your own notification within a second of its commit", async () => {
    const alice = await registerUser(api, "rta");
    const { feed } = await subscribed(alice);

    const id = await notify(alice.userId, "test.hello", "Hello, Alice.", { n: 1 });
    const committedAt = performance.now();
    const event = await feed.results.take((r) => r.data?.notificationAdded.notification?.notificationId === id, 2000, "the notification");

    expect(event.at - committedAt).toBeLessThan(1000);
    expect(event.errors).toBeUndefined();
    expect(event.data?.notificationAdded).toEqual({
      event: "added",
      notification: { notificationId: id, userId: alice.userId, topic: "test.hello", message: "Hello, Alice.", payload: { n: 1 } },
    });
  });

  it("delivers member.added when someone adds you to an organization", async () => {
    const owner = await registerUser(api, "rto");
    const member = await registerUser(api, "rtm");
    const { feed } = await subscribed(member);

    const slug = `rt-${process.pid}-${Date.now().toString(36)}`;
    const created = await api.graphql(
      `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId } } }`,
      { input: { name: "Realtime Org", slug } },
      owner.accessToken,
    );
    const organizationId = created.body.data?.createOrganization.organization.organizationId;
    const added = await api.graphql(
      `mutation($input: AddMemberInput!) { addMember(input: $input) { membership { userId } } }`,
      { input: { organizationId, userId: member.userId, role: "member" } },
      owner.accessToken,
    );
    expect(added.body.data?.addMember.membership.userId).toBe(member.userId);

    const event = await feed.results.take((r) => r.data?.notificationAdded.notification?.topic === "member.added", 2000, "member.added");
    expect(event.data?.notificationAdded.notification?.userId).toBe(member.userId);
  });

  it("never delivers another user's notification (which exists, and reaches its owner)", async () => {
    const alice = await registerUser(api, "rtx");
    const bob = await registerUser(api, "rty");
    const a = await subscribed(alice);
    const b = await subscribed(bob);

    const id = await notify(alice.userId, "test.private", "For Alice only.");
    const { rows } = await rootDb().query("select user_id from outbox.notifications where notification_id = $1", [id]);
    expect(rows).toEqual([{ user_id: alice.userId }]);
    await a.feed.results.take((r) => r.data?.notificationAdded.notification?.notificationId === id, 2000, "Alice's notification");

    // Alice's arrived, so Bob's would have by now; give it a generous window anyway.
    await expect(b.feed.results.take(realNotifications, 500, "anything for Bob")).rejects.toThrow(/timed out/);
    expect(b.feed.failures.items).toEqual([]);
  });

  it("re-reads each notification as the subscriber, so RLS hides what a revoked session may no longer see", async () => {
    // On the quiet API Bob's socket outlives his logout.
    const bob = await registerUser(api, "rts");
    const { feed } = await subscribed(bob, quiet.url);
    expect((await api.graphql("mutation { logout { success } }", {}, bob.accessToken)).body.data?.logout.success).toBe(true);

    const id = await notify(bob.userId, "test.after-logout", "Committed after Bob logged out.");
    const event = await feed.results.take(realNotifications, 2000, "the event of Bob's notification");
    expect(event.data?.notificationAdded).toEqual({ event: "added", notification: null });
    // The row exists and is Bob's: only his revoked session hides it.
    const { rows } = await rootDb().query("select user_id from outbox.notifications where notification_id = $1", [id]);
    expect(rows).toEqual([{ user_id: bob.userId }]);
  });

  it("delivers a notification whose transaction commits after a later one was delivered", async () => {
    const alice = await registerUser(api, "rtq");
    const { feed } = await subscribed(alice);
    const slow = await rootDb().connect();
    try {
      await slow.query("begin");
      const { rows } = await slow.query<{ id: string }>("select outbox.notify_user($1, 'test.slow', 'Written first, committed last.') as id", [alice.userId]);
      const first = rows[0]!.id;
      const second = await notify(alice.userId, "test.fast", "Written second, committed first.");
      expect(BigInt(first)).toBeLessThan(BigInt(second));
      await feed.results.take((r) => r.data?.notificationAdded.notification?.notificationId === second, 2000, "the second notification");
      // Several polls pass while the first is still uncommitted; its lower id must not be taken as seen.
      await new Promise((resolve) => setTimeout(resolve, 800));
      await slow.query("commit");
      await feed.results.take((r) => r.data?.notificationAdded.notification?.notificationId === first, 2000, "the first notification, committed late");
      expect(feed.results.items.filter(realNotifications).map((r) => r.data?.notificationAdded.notification?.notificationId)).toEqual([second, first]);
    } finally {
      await slow.query("rollback").catch(() => undefined);
      slow.release();
    }
  });

  it("loses nothing committed while the API could not reach the database for a moment", async () => {
    try {
      const alice = await registerUser(api, "rtc");
      const { feed } = await subscribed(alice, cutOff.url);
      cutOff.proxy.cut();
      // Polls fail for a while; meanwhile a notification is committed (directly, not through the cut).
      await new Promise((resolve) => setTimeout(resolve, 400));
      const id = await notify(alice.userId, "test.during-cut", "Committed while the API was cut off.");
      await new Promise((resolve) => setTimeout(resolve, 400));
      cutOff.proxy.restore();

      const event = await feed.results.take((r) => r.data?.notificationAdded.notification?.notificationId === id, 10_000, "the notification committed during the cut");
      expect(event.errors).toBeUndefined();
      expect(feed.failures.items).toEqual([]);
    } finally {
      cutOff.proxy.restore();
    }
  });

  it("refuses an anonymous subscriber with LOGIN", async () => {
    const socket = connect();
    await socket.acknowledged();
    const feed = subscribe(socket.client, notificationAdded);
    await feed.completions.take(() => true, 5000, "the subscription to end");
    expect(feed.results.items.map((result) => result.errors?.map((error) => error.extensions?.code))).toEqual([["LOGIN"]]);
    expect(feed.results.items[0]?.data ?? null).toBeNull();
    // Only the subscription is refused: the socket stays usable for queries.
    expect(socket.isOpen()).toBe(true);
    expect(await execute(socket.client, "{ currentUser { userId } }")).toEqual({ data: { currentUser: null } });
  });
});

describe("the WebSocket endpoint", () => {
  it("refuses a subscription over HTTP, where nothing would end it when the token dies", async () => {
    const alice = await registerUser(api, "rth");
    const result = await api.graphql(notificationAdded, {}, alice.accessToken);
    expect(codesOf(result)).toEqual(["BAD_REQUEST"]);
  });

  it("answers an upgrade on any path but /graphql with 404", async () => {
    const Socket = WebSocket as new (url: string, protocol: string) => {
      on(event: "unexpected-response", listener: (req: unknown, res: { statusCode: number }) => void): void;
      on(event: "error", listener: () => void): void;
    };
    const status = await new Promise<number>((resolve) => {
      const socket = new Socket(`${api.url.replace(/^http/, "ws")}/elsewhere`, "graphql-transport-ws");
      socket.on("unexpected-response", (_req, res) => resolve(res.statusCode));
      socket.on("error", () => resolve(0));
    });
    expect(status).toBe(404);
  });
});

describe("WebSocket authentication", () => {
  it("runs operations on the socket as the token's user, and as anonymous without one", async () => {
    const alice = await registerUser(api, "rtq");
    const signedIn = connect(alice.accessToken);
    const me = await execute<{ currentUser: { userId: string } | null }>(signedIn.client, "{ currentUser { userId } }");
    expect(me).toEqual({ data: { currentUser: { userId: alice.userId } } });

    const anonymous = connect();
    expect(await execute(anonymous.client, "{ currentUser { userId } }")).toEqual({ data: { currentUser: null } });
  });

  it("closes the connection with 4401 for a token that does not verify", async () => {
    const alice = await registerUser(api, "rtb");
    const [header, body] = alice.accessToken.split(".");
    for (const token of ["not-a-jwt", `${header}.${body}.${"A".repeat(43)}`]) {
      const socket = connect(token);
      expect((await socket.closed()).code).toBe(4401);
    }
  });

  it("caps a correctly signed token at maxBearerTokenBytes on both transports (a 700 kB one was accepted in connection_init)", async () => {
    const alice = await registerUser(api, "rtbig");
    const sid = claimsOf(alice.accessToken).sid;
    const expiresAt = Math.floor(Date.now() / 1000) + 300;
    /** A valid token of about `bytes` bytes (a padding claim). */
    const tokenOf = async (bytes: number) => {
      const bare = await signToken({ role: "gw_user", sid, pad: "" }, alice.userId, expiresAt);
      return signToken({ role: "gw_user", sid, pad: "x".repeat(Math.floor(((bytes - bare.length) * 3) / 4)) }, alice.userId, expiresAt);
    };
    const fits = await tokenOf(maxBearerTokenBytes - 16);
    const over = await tokenOf(maxBearerTokenBytes + 2000);
    const huge = await tokenOf(700_000);
    expect(fits.length).toBeLessThanOrEqual(maxBearerTokenBytes);
    expect(over.length).toBeGreaterThan(maxBearerTokenBytes);

    // Under the cap: both transports run as the token.
    expect((await api.graphql("{ currentUser { userId } }", {}, fits)).body.data?.currentUser?.userId).toBe(alice.userId);
    expect(await execute(connect(fits).client, "{ currentUser { userId } }")).toEqual({ data: { currentUser: { userId: alice.userId } } });

    // Over it: HTTP 401 token_too_large, and the socket is closed 4401 with the same reason.
    const refused = await api.graphql("{ currentUser { userId } }", {}, over);
    expect([refused.status, codesOf(refused), refused.body.errors?.[0]?.extensions?.reason]).toEqual([401, ["UNAUTHENTICATED"], "token_too_large"]);
    expect(await connect(over).closed()).toMatchObject({ code: 4401, reason: "token too large" });

    // 700 kB: node's own header limit refuses it over HTTP (431); the socket now refuses it too.
    const http = await fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${huge}` },
      body: JSON.stringify({ query: "{ __typename }" }),
    }).then((response) => response.status);
    expect(http).toBe(431);
    expect(await connect(huge).closed()).toMatchObject({ code: 4401, reason: "token too large" });
  });

  it("closes the connection with 4403 for a token whose role the API refuses", async () => {
    const alice = await registerUser(api, "rtf");
    const token = await signToken({ role: "postgres", sid: claimsOf(alice.accessToken).sid }, alice.userId, Math.floor(Date.now() / 1000) + 60);
    expect((await connect(token).closed()).code).toBe(4403);
  });

  it("closes the socket with 4401 when its token expires", async () => {
    const alice = await registerUser(api, "rte");
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const token = await signToken({ role: "gw_user", sid: claimsOf(alice.accessToken).sid }, alice.userId, expiresAt);
    const socket = connect(token);
    const feed = subscribe(socket.client, notificationAdded);
    await socket.acknowledged();

    const closed = await socket.closed(6000);
    expect(closed.code).toBe(4401);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt * 1000);
    // The open subscription ends with the socket.
    await feed.failures.take(() => true, 1000, "the subscription to fail");
  });

  it("closes the socket with 4401 soon after logout revokes its session, and leaves other sessions open", async () => {
    const alice = await registerUser(api, "rtl");
    const bob = await registerUser(api, "rtk");
    const a = await subscribed(alice);
    const b = await subscribed(bob);

    const loggedOut = await api.graphql("mutation { logout { success } }", {}, alice.accessToken);
    expect(loggedOut.body.data?.logout.success).toBe(true);
    const revokedAt = performance.now();

    expect((await a.socket.closed(revocationCheckIntervalMs * 10)).code).toBe(4401);
    expect(performance.now() - revokedAt).toBeLessThan(revocationCheckIntervalMs * 10);
    expect(b.socket.isOpen()).toBe(true);
    const id = await notify(bob.userId, "test.still-here", "Still connected.");
    await b.feed.results.take((r) => r.data?.notificationAdded.notification?.notificationId === id, 2000, "Bob's notification");
  });

  it("refuses at connect a token whose session is already revoked", async () => {
    const alice = await registerUser(api, "rtv");
    expect((await api.graphql("mutation { logout { success } }", {}, alice.accessToken)).body.data?.logout.success).toBe(true);
    expect((await connect(alice.accessToken).closed()).code).toBe(4401);
  });
});
