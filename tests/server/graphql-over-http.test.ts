import { serverAudits, type AuditResult } from "graphql-http";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestApi } from "../helpers/api.ts";

const api = useTestApi();

/**
 * The notices (MAY) left on purpose: all three ask for queries over GET, and
 * /graphql answers POST only (grafserv's default): a query and its variables
 * in a URL end up in proxy logs and browser history, and a GET is a "simple"
 * cross-origin request that no CORS preflight guards.
 */
const acceptedNotices = {
  "5A70": "MAY accept application/x-www-form-urlencoded formatted GET requests",
  D6D5: "MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/graphql-response+json",
  "6A70": "MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/json",
};

describe("GraphQL over HTTP: graphql-http's reference audit against /graphql", () => {
  const results: AuditResult[] = [];
  beforeAll(async () => {
    for (const audit of serverAudits({ url: () => `${api.url}/graphql` })) results.push(await audit.fn());
  });

  it("runs every audit", () => {
    expect(results.length).toBeGreaterThan(50);
  });

  it("has no error (MUST) and no warning (SHOULD)", () => {
    const failed = results.filter((result) => result.status === "error" || result.status === "warn");
    expect(failed.map((result) => `${result.status} ${result.id} ${result.name}: ${"reason" in result ? result.reason : ""}`)).toEqual([]);
  });

  it("leaves only the notices about GET", () => {
    const notices = results.filter((result) => result.status === "notice");
    expect(Object.fromEntries(notices.map((result) => [result.id, result.name]))).toEqual(acceptedNotices);
    expect(results.filter((result) => result.status === "ok").length).toBe(results.length - notices.length);
  });
});
