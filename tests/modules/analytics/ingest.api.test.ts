import { beforeAll, describe, expect, it } from "vitest";
import { registerUser, testLimits, useTestApi } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";

// POST /analytics/impressions: the beacon endpoint, anonymous-friendly and
// rate-limited per client address, over the one ingestion function (which
// GraphQL exposes too as analyticsIngestImpressions).

const api = useTestApi();
const limited = useTestApi({}, { limits: testLimits({ ingest: { batchesPerMinute: 3 } }) });
const tag = `ani${process.pid}${Date.now().toString(36)}`;
let publicEvent = "";
let privateEvent = "";

async function beacon(url: string, body: unknown, token?: string) {
  const response = await fetch(`${url}/analytics/impressions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

const count = async (eventId: string) =>
  (await rootDb().query<{ n: number }>("select count(*)::int as n from analytics.event_impressions where event_id = $1", [eventId])).rows[0]!.n;

beforeAll(async () => {
  const db = rootDb();
  const { rows } = await db.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id", [tag]);
  const make = async (visibility: string) => {
    const { rows: events } = await db.query<{ event_id: string }>(
      `insert into events.events (owner_context_id, title, starts_at, ends_at, visibility) values ($1, 'Beacons', now() + interval '1 day', now() + interval '2 days', $2) returning event_id`,
      [rows[0]!.organization_id, visibility],
    );
    await db.query("update events.events set status = 'published' where event_id = $1", [events[0]!.event_id]);
    return events[0]!.event_id;
  };
  publicEvent = await make("public");
  privateEvent = await make("private");
});

describe("POST /analytics/impressions", () => {
  it("stores an anonymous batch, deduplicates it, and records a signed-in caller", async () => {
    const now = new Date().toISOString();
    const batch = [
      { stream: "event", clientId: `${tag}-1`, id: publicEvent, occurredAt: now },
      { stream: "event", clientId: `${tag}-2`, id: publicEvent, occurredAt: now },
    ];
    expect(await beacon(api.url, { impressions: batch })).toEqual({ status: 200, body: { received: 2, accepted: 2, duplicates: 0 } });
    expect(await beacon(api.url, batch)).toEqual({ status: 200, body: { received: 2, accepted: 0, duplicates: 2 } });
    const user = await registerUser(api, "anapi");
    expect((await beacon(api.url, [{ stream: "event", clientId: `${tag}-3`, id: publicEvent, occurredAt: now }], user.accessToken)).body.accepted).toBe(1);
    const { rows } = await rootDb().query("select user_id from analytics.event_impressions where client_id = $1", [`${tag}-3`]);
    expect(rows).toEqual([{ user_id: user.userId }]);
    expect(await count(publicEvent)).toBe(3);
  });

  it("answers bad batches with their code and status, writing nothing", async () => {
    const now = new Date().toISOString();
    const before = await count(publicEvent);
    expect(await beacon(api.url, "{not json")).toMatchObject({ status: 400, body: { errors: [{ extensions: { code: "BAD_REQUEST" } }] } });
    // An array is handed to PostgreSQL as it came: its syntax error is still a 400.
    expect(await beacon(api.url, "[{\"stream\": ")).toMatchObject({ status: 400, body: { errors: [{ extensions: { code: "BAD_REQUEST" } }] } });
    expect(await beacon(api.url, { nothing: true })).toMatchObject({ status: 400, body: { errors: [{ extensions: { code: "ANBAT" } }] } });
    expect(await beacon(api.url, [{ stream: "event", clientId: "x", id: publicEvent, occurredAt: "2001-01-01T00:00:00Z" }])).toMatchObject({
      status: 422,
      body: { errors: [{ extensions: { code: "ANRNG" } }] },
    });
    expect(await beacon(api.url, [{ stream: "event", clientId: "x", id: privateEvent, occurredAt: now }])).toMatchObject({
      status: 404,
      body: { errors: [{ extensions: { code: "ANENT" } }] },
    });
    expect(await beacon(api.url, [{ stream: "event", clientId: "x", id: publicEvent, occurredAt: now }], "not.a.token")).toMatchObject({ status: 401 });
    expect(await count(publicEvent)).toBe(before);
    expect(await count(privateEvent)).toBe(0);
  });

  it("is the same mechanism as the GraphQL mutation", async () => {
    const response = await api.graphql(`mutation ($batch: JSON!) { analyticsIngestImpressions(input: { impressions: $batch }) { result } }`, {
      batch: [{ stream: "event", clientId: `${tag}-1`, id: publicEvent, occurredAt: new Date().toISOString() }],
    });
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.analyticsIngestImpressions.result).toEqual({ received: 1, accepted: 0, duplicates: 1 });
  });

  it("refuses more batches per minute from one address than the limit with 429 and Retry-After", async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${limited.url}/analytics/impressions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([{ stream: "event", clientId: `${tag}-rl${i}`, id: publicEvent, occurredAt: new Date().toISOString() }]),
      });
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get("retry-after");
      await response.body?.cancel();
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect((await rootDb().query("select count(*)::int as n from analytics.event_impressions where client_id like $1", [`${tag}-rl%`])).rows[0]!.n).toBe(3);
  });
});
