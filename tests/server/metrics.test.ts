import { describe, expect, it } from "vitest";
import { registerUser, useTestApi } from "../helpers/api.ts";

const api = useTestApi();

/** The value of one series in Prometheus text format, or undefined. */
function series(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return undefined;
}

describe("/metrics", () => {
  it("exposes request counts and latency by operation, errors by code, pool, job queue and outbox series", async () => {
    const user = await registerUser(api, "metrics");
    for (let i = 0; i < 3; i++) await api.graphql("query MetricsProbe { currentUser { userId } }", {}, user.accessToken);
    await api.graphql("{ noSuchField }");
    await api.graphql("{ __typename }", {}, "not-a-token");

    const response = await fetch(`${api.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await response.text();

    expect(series(text, "groundwork_graphql_requests_total", { operation_name: "MetricsProbe", operation_type: "query" })).toBe(3);
    expect(series(text, "groundwork_graphql_request_duration_seconds_count", { operation_name: "MetricsProbe" })).toBe(3);
    expect(series(text, "groundwork_graphql_request_duration_seconds_bucket", { operation_name: "MetricsProbe", le: "+Inf" })).toBe(3);
    expect(series(text, "groundwork_http_requests_total", { method: "POST", route: "/graphql", status: "200" })).toBeGreaterThanOrEqual(4);
    expect(series(text, "groundwork_http_request_duration_seconds_count", { route: "/graphql", status: "401" })).toBe(1);
    expect(series(text, "groundwork_errors_total", { code: "GRAPHQL_VALIDATION_FAILED" })).toBe(1);
    expect(series(text, "groundwork_errors_total", { code: "UNAUTHENTICATED" })).toBe(1);
    expect(series(text, "groundwork_db_pool_connections", { state: "total" })).toBeGreaterThanOrEqual(1);
    expect(series(text, "groundwork_db_pool_connections", { state: "waiting" })).toBe(0);
    for (const state of ["ready", "scheduled", "running", "retrying", "dead"]) {
      expect(series(text, "groundwork_job_queue_depth", { state })).toBeGreaterThanOrEqual(0);
    }
    expect(series(text, "groundwork_outbox_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(series(text, "groundwork_outbox_pending_dispatches")).toBeGreaterThanOrEqual(0);
    expect(series(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("labels operation names past 64 characters as other (client-chosen names must not explode the series count)", async () => {
    await api.graphql("query Short_name { __typename }");
    await api.graphql(`query ${"L".repeat(65)} { __typename }`);
    const text = await (await fetch(`${api.url}/metrics`)).text();
    expect(series(text, "groundwork_graphql_requests_total", { operation_name: "Short_name" })).toBe(1);
    expect(series(text, "groundwork_graphql_requests_total", { operation_name: "other" })).toBe(1);
  });
});
