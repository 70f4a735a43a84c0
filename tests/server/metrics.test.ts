import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { projectRoot } from "../../src/paths.ts";
import { registerUser, testLimits, useTestApi } from "../helpers/api.ts";

const api = useTestApi();
const metricsToken = "a-scraper-token-that-is-long-enough-0123456789";
const guarded = useTestApi({}, { limits: testLimits({ metricsToken }) });

const documents = path.join(projectRoot, "tests", "server", "fixtures", "persisted");
const manifestFile = path.join(mkdtempSync(path.join(tmpdir(), "gw-metrics-")), "manifest.json");
execFileSync(process.execPath, [path.join(projectRoot, "src", "cli.ts"), "persisted", documents, "--out", manifestFile], { stdio: "pipe" });
const persisted = useTestApi({}, { limits: testLimits({ persistedOperations: "allow", persistedOperationsFile: manifestFile }) });

const production = { NODE_ENV: "production", DATABASE_URL: "postgres://gw_owner@db/groundwork", JWT_SECRET: "x".repeat(32), SMTP_URL: "smtp://mail.example:587" };

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

describe("/metrics is for the scraper only (issue 15)", () => {
  it("answers 401 without the bearer METRICS_TOKEN, or with another, and the series with it", async () => {
    const none = await fetch(`${guarded.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(((await none.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe("UNAUTHENTICATED");
    expect((await fetch(`${guarded.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}x` } })).status).toBe(401);
    expect((await fetch(`${guarded.url}/metrics`, { headers: { authorization: "Bearer short" } })).status).toBe(401);
    const scraped = await fetch(`${guarded.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^groundwork_http_requests_total/m);
  });

  it("is off in production unless METRICS_TOKEN is set, and METRICS=true there without one does not start", () => {
    expect(loadConfig(production).api.metrics).toBe(false);
    expect(loadConfig({ ...production, METRICS_TOKEN: metricsToken }).api).toMatchObject({ metrics: true, metricsToken });
    expect(() => loadConfig({ ...production, METRICS: "true" })).toThrow(/METRICS_TOKEN/);
    expect(() => loadConfig({ METRICS_TOKEN: "short" })).toThrow(/METRICS_TOKEN/);
    // Development stays as convenient as before: open, on 127.0.0.1.
    expect(loadConfig({}).api).toMatchObject({ metrics: true, metricsToken: undefined });
  });

  it("labels only the manifest's operation names when there is one: any other name a client makes up is other", async () => {
    const user = await registerUser(persisted, "metrics-persisted");
    await persisted.graphql("query CurrentUser { currentUser { userId username } }", {}, user.accessToken);
    await persisted.graphql("query Customer_Alice_Smith_owes_5000 { __typename }");
    const text = await (await fetch(`${persisted.url}/metrics`)).text();
    expect(series(text, "groundwork_graphql_requests_total", { operation_name: "CurrentUser" })).toBe(1);
    expect(series(text, "groundwork_graphql_requests_total", { operation_name: "other" })).toBe(1);
    expect(text).not.toMatch(/Alice/);
  });

  it("labels at most 200 first-seen names without a manifest; the rest are other", async () => {
    for (let i = 0; i < 205; i++) await api.graphql(`query Flood${i} { __typename }`);
    const text = await (await fetch(`${api.url}/metrics`)).text();
    const names = new Set([...text.matchAll(/groundwork_graphql_requests_total\{operation_name="([^"]+)"/g)].map((m) => m[1]!));
    names.delete("anonymous");
    names.delete("other");
    expect(names.size).toBe(200);
    expect(series(text, "groundwork_graphql_requests_total", { operation_name: "Flood204" })).toBeUndefined();
  });
});
