import { describe, expect, it } from "vitest";
import { codesOf, testLimits, useTestApi } from "../helpers/api.ts";
import { sleepPreset } from "./fixtures/sleep-plugin.ts";

const api = useTestApi({}, { limits: testLimits({ statementTimeoutMs: 1000, executionTimeoutMs: 1500 }), extraPresets: [sleepPreset] });
const planner = useTestApi({}, {
  limits: testLimits({ planningTimeoutMs: 20, maxOperations: 1000, maxCost: 100_000_000, maxDocumentBytes: 1_000_000 }),
  extraPresets: [sleepPreset],
});

describe("statement_timeout (STATEMENT_TIMEOUT_MS)", () => {
  it("lets a statement shorter than the timeout finish", async () => {
    const response = await api.graphql("{ testSleep(seconds: 0.2) }");
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.testSleep).toBe(0.2);
  });

  it("cancels a longer one with STATEMENT_TIMEOUT, and the connection serves the next request", async () => {
    const started = Date.now();
    const response = await api.graphql("{ testSleep(seconds: 3) }");
    expect(Date.now() - started).toBeLessThan(2900);
    expect(response.status).toBe(200);
    expect(codesOf(response)).toEqual(["STATEMENT_TIMEOUT"]);
    expect(response.body.errors?.[0]?.message).toMatch(/statement timeout/i);
    const after = await Promise.all(Array.from({ length: 10 }, () => api.graphql("{ testSleep(seconds: 0) }")));
    for (const next of after) expect(next.body.errors).toBeUndefined();
  });
});

describe("grafast execution timeout (GRAPHQL_EXECUTION_TIMEOUT_MS)", () => {
  it("runs mutations whose steps all start within the budget", async () => {
    const response = await api.graphql("mutation { a: testSleep(seconds: 0.2) b: testSleep(seconds: 0.2) c: testSleep(seconds: 0.2) }");
    expect(response.body.errors).toBeUndefined();
  });

  it("does not start steps past the budget, and says so with EXECUTION_TIMEOUT", async () => {
    const response = await api.graphql(
      "mutation { a: testSleep(seconds: 0.6) b: testSleep(seconds: 0.6) c: testSleep(seconds: 0.6) d: testSleep(seconds: 0) }",
    );
    expect(response.status).toBe(200);
    expect(response.body.data?.a).toBe(0.6);
    expect(response.body.data?.d).toBeNull();
    expect(codesOf(response)).toContain("EXECUTION_TIMEOUT");
    expect(codesOf(response).every((code) => code === "EXECUTION_TIMEOUT")).toBe(true);
  });
});

describe("grafast planning timeout (GRAPHQL_PLANNING_TIMEOUT_MS)", () => {
  it("plans a small operation within a 20 ms budget", async () => {
    const response = await planner.graphql("{ testSleep(seconds: 0) }");
    expect(response.body.errors).toBeUndefined();
  });

  it("stops planning a huge one with PLANNING_TIMEOUT", async () => {
    const field = (i: number) =>
      `f${i}: currentUser { userId memberships(first: 1) { nodes { role organization { name slug memberships(first: ${(i % 50) + 1}) { totalCount nodes { role user { username } } } } } } }`;
    const response = await planner.graphql(`{ ${Array.from({ length: 300 }, (_, i) => field(i)).join("\n")} }`);
    // Unlike the execution errors above (200, with the errors beside the data), the operation never started: 400.
    expect(response.status).toBe(400);
    expect(codesOf(response)).toEqual(["PLANNING_TIMEOUT"]);
  });
});
