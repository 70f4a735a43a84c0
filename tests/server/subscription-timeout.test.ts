import { createClient, type Client, type FormattedExecutionResult } from "graphql-ws";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { registerUser, testLimits, useTestApi } from "../helpers/api.ts";
import { rootDb } from "../helpers/db.ts";
import { probeMessage, untilLive } from "../helpers/realtime.ts";
import { until } from "../helpers/until.ts";

/**
 * A subscription outlives GRAPHQL_EXECUTION_TIMEOUT_MS: grafast measures that
 * budget from the start of an operation, and a subscription's events all share
 * its start, so without plugins/limits.ts's `subscribe` middleware every event
 * after the budget came back as EXECUTION_TIMEOUT (found by the e2e suite).
 */
const executionTimeoutMs = 300;
const api = useTestApi({}, { limits: testLimits({ executionTimeoutMs }) });
// Signing up hashes a password, which can take longer than that budget on a busy machine: done on a second API.
const signUp = useTestApi();
const clients: Client[] = [];
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
});

type Result = FormattedExecutionResult<{ notificationAdded: { event: string; notification: { message: string } | null } }>;

describe("a subscription past the execution timeout", () => {
  it("still delivers events without errors (EXECUTION_TIMEOUT stays for queries: tests/server/transport-codes.test.ts)", async () => {
    const user = await registerUser(signUp, "subto");
    const client = createClient({
      url: `${api.url.replace(/^http/, "ws")}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${user.accessToken}` },
      retryAttempts: 0,
    });
    clients.push(client);
    const results: Result[] = [];
    client.subscribe({ query: "subscription { notificationAdded { event notification { message } } }" }, {
      next: (result) => results.push(result as Result),
      error: () => undefined,
      complete: () => undefined,
    });
    // Live once a probe notification comes back.
    await untilLive(rootDb(), user.userId, () => results.some((r) => r.data?.notificationAdded.notification?.message === probeMessage), { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, executionTimeoutMs * 3));
    await rootDb().query("select outbox.notify_user($1, 'test.late', 'Still here.', '{}')", [user.userId]);
    await until(async () => results.find((r) => r.data?.notificationAdded.notification?.message === "Still here." || r.errors), Boolean, {
      timeoutMs: 5_000,
      intervalMs: 20,
      what: "the late notification",
    });
    expect(results.filter((r) => r.errors)).toEqual([]);
  });
});
