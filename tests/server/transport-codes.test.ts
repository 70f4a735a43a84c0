import { randomUUID } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient } from "graphql-ws";
import { beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { transportErrorCodes } from "../../src/errors.ts";
import { projectRoot } from "../../src/paths.ts";
import { signStandard } from "../../src/signature.ts";
import { registerUser, startCutOffApi, testLimits, useTestApi, type SignedIn, type TestApi } from "../helpers/api.ts";
import { rootDb } from "../helpers/db.ts";
import { probeTopic, untilLive } from "../helpers/realtime.ts";
import { failingPreset } from "./fixtures/failing-plugin.ts";
import { sleepPreset } from "./fixtures/sleep-plugin.ts";

// One case (or more) per row of docs/errors.md's transport table: each provokes
// its code over real HTTP and checks the code and the HTTP status answered.

const documents = path.join(projectRoot, "tests", "server", "fixtures", "persisted");
const manifestFile = path.join(mkdtempSync(path.join(tmpdir(), "gw-transport-")), "manifest.json");
execFileSync(process.execPath, [path.join(projectRoot, "src", "cli.ts"), "persisted", documents, "--out", manifestFile], { stdio: "pipe" });

const api = useTestApi({}, { extraPresets: [failingPreset] });
const tight = useTestApi({}, {
  limits: testLimits({ maxDepth: 4, maxListDepth: 1, maxPageSize: 5, maxCost: 30, maxOperations: 2, maxDocumentBytes: 600, introspection: false, persistedOperations: "allow", persistedOperationsFile: manifestFile }),
});
const only = useTestApi({}, { limits: testLimits({ persistedOperations: "only", persistedOperationsFile: manifestFile }) });
const slow = useTestApi({}, { limits: testLimits({ statementTimeoutMs: 300, executionTimeoutMs: 400 }), extraPresets: [sleepPreset] });
const planner = useTestApi({}, { limits: testLimits({ planningTimeoutMs: 20, maxOperations: 1000, maxCost: 100_000_000, maxDocumentBytes: 1_000_000 }) });
// Per user (not per IP): the per-IP counter of 127.0.0.1 is shared with tests/server/rate-limit.test.ts.
const limited = useTestApi({}, { limits: testLimits({ rateLimit: { ...testLimits().rateLimit, perUser: 2 } }) });
// The inbox route works on one message at a time here, so a burst of them finds it busy.
const narrowInbox = useTestApi({}, { limits: testLimits({ inbox: { ratePerMinute: 0, concurrency: 1 } }) });

interface Answer {
  status: number;
  /** The distinct extensions.code of the errors answered. */
  codes: Array<string | undefined>;
}

async function send(target: TestApi, init: RequestInit & { path?: string } = {}): Promise<Answer> {
  const response = await fetch(`${target.url}${init.path ?? "/graphql"}`, init);
  const text = await response.text();
  const body = JSON.parse(text) as { errors?: Array<{ extensions?: { code?: string } }> };
  return { status: response.status, codes: [...new Set((body.errors ?? []).map((error) => error.extensions?.code))] };
}

const json = { "content-type": "application/json", accept: "application/graphql-response+json, application/json" };
const post = (target: TestApi, body: unknown, token?: string, headers: Record<string, string> = {}) =>
  send(target, { method: "POST", headers: { ...json, ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
const query = (target: TestApi, text: string, variables: Record<string, unknown> = {}, token?: string) => post(target, { query: text, variables }, token);

let alice: SignedIn;
let bob: SignedIn;
beforeAll(async () => {
  alice = await registerUser(api, "tcalice");
  bob = await registerUser(api, "tcbob");
});

type Case = { what: string; status: number; provoke: () => Promise<Answer> };
type TransportCode = keyof typeof transportErrorCodes;

const cases: Record<TransportCode, Case[]> = {
  UNAUTHENTICATED: [
    { what: "a bearer token that is not a JWT", status: 401, provoke: () => query(api, "{ __typename }", {}, "not-a-jwt") },
    { what: "an Authorization header that is not Bearer", status: 401, provoke: () => post(api, { query: "{ __typename }" }, undefined, { authorization: "Basic YTpi" }) },
  ],
  FORBIDDEN: [
    {
      what: "a valid token whose role the API does not accept",
      status: 403,
      provoke: async () => query(api, "{ __typename }", {}, (await api.tokens.sign({ sub: alice.userId, role: "postgres", sid: randomUUID() })).token),
    },
  ],
  BAD_REQUEST: [
    { what: "a body that is not JSON", status: 400, provoke: () => post(api, "{ not json") },
    { what: "a body without a query", status: 400, provoke: () => post(api, { variables: {} }) },
    { what: "variables that are not an object", status: 400, provoke: () => post(api, { query: "{ __typename }", variables: [1] }) },
    { what: "no Content-Type", status: 400, provoke: () => send(api, { method: "POST", headers: { accept: "application/json" }, body: new Blob(['{"query":"{ __typename }"}']) }) },
    { what: "an unsupported Content-Type (415)", status: 415, provoke: () => post(api, "{ __typename }", undefined, { "content-type": "text/plain" }) },
    { what: "GET instead of POST (405)", status: 405, provoke: () => send(api, { method: "GET", path: "/graphql?query=%7B__typename%7D", headers: { accept: "application/json" } }) },
    { what: "PUT instead of POST (405)", status: 405, provoke: () => send(api, { method: "PUT", headers: json, body: JSON.stringify({ query: "{ __typename }" }) }) },
    { what: "an Accept header with no GraphQL media type (406)", status: 406, provoke: () => post(api, { query: "{ __typename }" }, undefined, { accept: "text/html" }) },
  ],
  NOT_FOUND: [
    {
      what: "deleteRole of a role that does not exist (gw_admin)",
      status: 200,
      provoke: async () => query(api, `mutation { deleteRole(input: { roleName: "no_such_role_${Date.now()}" }) { role { roleName } } }`, {}, await operatorToken()),
    },
    {
      what: "updateUser of another user (RLS hides the row)",
      status: 200,
      provoke: async () => {
        expect(await countAsRoot("select count(*)::int as n from auth.users where user_id = $1", [bob.userId])).toBe(1);
        return query(api, `mutation($id: UUID!) { updateUser(input: { userId: $id, patch: { hasCompletedOnboarding: true } }) { user { userId } } }`, { id: bob.userId }, alice.accessToken);
      },
    },
    {
      what: "updateOrganization with an unknown id",
      status: 200,
      provoke: () => query(api, `mutation($id: UUID!) { updateOrganization(input: { organizationId: $id, patch: { name: "Renamed" } }) { organization { name } } }`, { id: randomUUID() }, alice.accessToken),
    },
    {
      what: "updateOutboxNotification of another user's notification",
      status: 200,
      provoke: async () => {
        const { rows } = await rootDb().query<{ notification_id: string }>(
          "insert into outbox.notifications (user_id, topic, message) values ($1, 'member.added', 'for bob only') returning notification_id",
          [bob.userId],
        );
        return query(
          api,
          `mutation($id: BigInt!) { updateOutboxNotification(input: { notificationId: $id, patch: { readAt: "2026-01-01T00:00:00Z" } }) { outboxNotification { readAt } } }`,
          { id: rows[0]!.notification_id },
          alice.accessToken,
        );
      },
    },
    {
      what: "updateOutboxWebhookSubscription with an unknown id",
      status: 200,
      provoke: () =>
        query(api, `mutation($id: UUID!) { updateOutboxWebhookSubscription(input: { subscriptionId: $id, patch: { isActive: false } }) { outboxWebhookSubscription { isActive } } }`, { id: randomUUID() }, alice.accessToken),
    },
  ],
  PAYLOAD_TOO_LARGE: [{ what: "a body over 1,000,000 bytes", status: 413, provoke: () => post(api, { query: `{ __typename } # ${"x".repeat(1_000_001)}` }) }],
  GRAPHQL_PARSE_FAILED: [{ what: "a document that does not parse", status: 400, provoke: () => query(api, "{ currentUser {") }],
  GRAPHQL_VALIDATION_FAILED: [
    { what: "an unknown field", status: 400, provoke: () => query(api, "{ currentUser { passwordHash } }") },
    { what: "a variable of the wrong type", status: 400, provoke: () => query(api, "query($n: Int) { organizations(first: $n) { totalCount } }", { n: "many" }) },
  ],
  BATCHING_NOT_SUPPORTED: [{ what: "a JSON array of operations", status: 400, provoke: () => post(api, [{ query: "{ __typename }" }, { query: "{ __typename }" }]) }],
  DOCUMENT_TOO_LARGE: [{ what: "a document over GRAPHQL_MAX_DOCUMENT_BYTES", status: 413, provoke: () => query(tight, `{ __typename } # ${"x".repeat(700)}`) }],
  TOO_MANY_OPERATIONS: [{ what: "more root fields than GRAPHQL_MAX_OPERATIONS", status: 400, provoke: () => query(tight, "{ a: __typename b: currentUser { userId } c: currentUser { userId } d: currentUser { userId } }") }],
  DEPTH_LIMIT_EXCEEDED: [
    { what: "a selection deeper than GRAPHQL_MAX_DEPTH", status: 400, provoke: () => query(tight, "{ currentUser { memberships(first: 1) { nodes { organization { name } } } } }", {}, alice.accessToken) },
  ],
  LIST_DEPTH_LIMIT_EXCEEDED: [
    { what: "lists nested deeper than GRAPHQL_MAX_LIST_DEPTH", status: 400, provoke: () => query(tight, "{ organizations(first: 1) { nodes { memberships(first: 1) { totalCount } } } }", {}, alice.accessToken) },
  ],
  PAGE_SIZE_LIMIT_EXCEEDED: [{ what: "first over GRAPHQL_MAX_PAGE_SIZE", status: 400, provoke: () => query(tight, "{ organizations(first: 6) { totalCount } }", {}, alice.accessToken) }],
  COST_LIMIT_EXCEEDED: [{ what: "an estimate over GRAPHQL_MAX_COST", status: 400, provoke: () => query(tight, "{ organizations(first: 5) { nodes { a: name b: name c: name d: name e: name f: name } } }", {}, alice.accessToken) }],
  FILTER_TOO_COMPLEX: [
    {
      what: "a 10,000-item in list in a filter (a variable)",
      status: 400,
      provoke: () =>
        query(api, "query($ids: [BigInt!]) { outboxNotifications(filter: { notificationId: { in: $ids } }) { totalCount } }", { ids: Array.from({ length: 10_000 }, (_, i) => String(i)) }, alice.accessToken),
    },
  ],
  INTROSPECTION_DISABLED: [{ what: "__schema while introspection is off", status: 400, provoke: () => query(tight, "{ __schema { queryType { name } } }") }],
  PERSISTED_OPERATION_NOT_FOUND: [{ what: "a documentId the manifest lacks", status: 400, provoke: () => post(tight, { documentId: "0".repeat(64) }) }],
  PERSISTED_OPERATION_REQUIRED: [{ what: "a document that is not in the manifest (only)", status: 400, provoke: () => query(only, "{ __typename }") }],
  PLANNING_TIMEOUT: [
    {
      what: "an operation that takes longer than GRAPHQL_PLANNING_TIMEOUT_MS to plan",
      status: 400,
      provoke: () => {
        const field = (i: number) =>
          `f${i}: currentUser { userId memberships(first: 1) { nodes { role organization { name slug memberships(first: ${(i % 50) + 1}) { totalCount nodes { role user { username } } } } } } }`;
        return query(planner, `{ ${Array.from({ length: 300 }, (_, i) => field(i)).join("\n")} }`);
      },
    },
  ],
  EXECUTION_TIMEOUT: [{ what: "steps not started within GRAPHQL_EXECUTION_TIMEOUT_MS (an execution error)", status: 200, provoke: () => query(slow, "mutation { a: testSleep(seconds: 0.15) b: testSleep(seconds: 0.15) c: testSleep(seconds: 0.15) d: testSleep(seconds: 0.15) }") }],
  STATEMENT_TIMEOUT: [{ what: "a statement longer than STATEMENT_TIMEOUT_MS (an execution error)", status: 200, provoke: () => query(slow, "{ testSleep(seconds: 1) }") }],
  RATE_LIMITED: [
    {
      what: "a user past RATE_LIMIT_PER_USER",
      status: 429,
      provoke: async () => {
        // Fixed windows: a window may turn between two requests, so go on until refused.
        let answer: Answer = { status: 0, codes: [] };
        for (let i = 0; i < 10 && answer.status !== 429; i++) answer = await query(limited, "{ __typename }", {}, alice.accessToken);
        return answer;
      },
    },
  ],
  SERVER_BUSY: [
    {
      what: "more inbound webhooks at once than INBOX_CONCURRENCY",
      status: 503,
      provoke: async () => {
        const source = `tc-busy-${process.pid}`;
        const { rows } = await rootDb().query<{ secret: string }>(
          "insert into inbox.sources (source) values ($1) on conflict (source) do update set source = excluded.source returning secret",
          [source],
        );
        const secret = rows[0]!.secret;
        // Bodies large enough that reading, verifying and storing them overlap: go on until one is refused.
        for (let round = 0; round < 5; round++) {
          const answers = await Promise.all(
            Array.from({ length: 12 }, (_, i) => {
              const body = JSON.stringify({ type: "busy", pad: "x".repeat(200_000), round, i });
              return send(narrowInbox, {
                path: `/webhooks/${source}`,
                method: "POST",
                headers: { "content-type": "application/json", ...signStandard(secret, `${source}-${round}-${i}`, body) },
                body,
              });
            }),
          );
          const busy = answers.find((answer) => answer.status === 503);
          if (busy) return busy;
        }
        return { status: 200, codes: [] };
      },
    },
  ],
  SUBSCRIPTION_INTERRUPTED: [
    {
      what: "a subscription on an API that could not reach the database for longer than its interruption delay (over a WebSocket, opened with 101)",
      status: 101,
      provoke: async () => {
        // Signed up first: starting an API blocks this process for a moment, not between a test's requests.
        const subscriber = await registerUser(api, "tcsub");
        const cutOff = await startCutOffApi(api, { realtime: { pollIntervalMs: 50, interruptAfterMs: 300 } });
        const client = createClient({ url: `${cutOff.url.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${subscriber.accessToken}` }, retryAttempts: 0 });
        try {
          let live = false;
          const ended = new Promise<unknown>((resolve) => {
            client.subscribe<{ notificationAdded: { notification: { topic: string } | null } }>(
              { query: "subscription { notificationAdded { notification { topic } } }" },
              { next: (result) => (live ||= result.data?.notificationAdded.notification?.topic === probeTopic), error: resolve, complete: () => resolve([]) },
            );
          });
          // Live once a probe comes back; then the API loses the database.
          await untilLive(rootDb(), subscriber.userId, () => live, { waitMs: 200, timeoutMs: 10_000 });
          cutOff.proxy.cut();
          const errors = (await ended) as Array<{ extensions?: { code?: string } }>;
          return { status: 101, codes: [...new Set(errors.map((error) => error.extensions?.code))] };
        } finally {
          await client.dispose();
          await cutOff.stop();
        }
      },
    },
  ],
  INTERNAL_SERVER_ERROR: [{ what: "an unexpected error during execution", status: 200, provoke: () => query(api, "{ testUnexpectedError }") }],
};

async function countAsRoot(text: string, values: unknown[]): Promise<number> {
  const { rows } = await rootDb().query<{ n: number }>(text, values);
  return rows[0]!.n;
}

/** An access token of a user granted gw_admin in auth.user_roles. */
async function operatorToken(): Promise<string> {
  const operator = await registerUser(api, "tcop");
  await rootDb().query("insert into auth.user_roles (user_id, role_name) values ($1, 'gw_admin')", [operator.userId]);
  const assumed = await api.graphql<{ assumeRole: { accessToken: string } }>(`mutation { assumeRole(input: { role: "gw_admin" }) { accessToken } }`, {}, operator.accessToken);
  return assumed.body.data!.assumeRole.accessToken;
}

/** Codes in the first column of the "Transport codes" table of docs/errors.md. */
function documentedTransportCodes(): string[] {
  const markdown = readFileSync(path.join(projectRoot, "docs", "errors.md"), "utf8");
  const section = markdown.split(/^## /m).find((part) => part.startsWith("Transport codes")) ?? "";
  return [...section.matchAll(/^\|\s*`([A-Z_]+)`\s*\|/gm)].map((match) => match[1]!);
}

describe("transport codes (docs/errors.md)", () => {
  it("has a case for every row of the table, and no other", () => {
    expect(documentedTransportCodes().length).toBeGreaterThan(15);
    expect(Object.keys(cases).sort()).toEqual([...documentedTransportCodes()].sort());
  });

  for (const [code, list] of Object.entries(cases)) {
    for (const { what, status, provoke } of list) {
      it(`${code}: ${what} (HTTP ${status})`, async () => {
        expect(await provoke()).toEqual({ status, codes: [code] });
      });
    }
  }
});
