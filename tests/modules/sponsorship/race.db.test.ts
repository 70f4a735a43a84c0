import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { uniqueName } from "../../helpers/fixtures.ts";
import { fundOrganization } from "./fixtures.ts";

// Real concurrency on committed data: each step runs on its own connection as
// gw_user with the acting party's claims, READ COMMITTED, as the API does.

let pool: pg.Pool;
let root: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 16 });
  root = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 4 });
});
afterAll(async () => {
  await pool.end();
  await root.end();
});

/** An organization with an owner; as root (committed). Returns its claims. */
async function tenant(label: string): Promise<{ organizationId: string; claims: string }> {
  const tag = uniqueName(label, "-").toLowerCase();
  const { rows: [org] } = await root.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id", [tag]);
  const { rows: [user] } = await root.query<{ user_id: string }>("insert into auth.users (username, email) values ($1, $1 || '@example.com') returning user_id", [tag.replace(/-/g, "_")]);
  await root.query("insert into auth.memberships (organization_id, user_id, role) values ($1, $2, 'owner')", [org!.organization_id, user!.user_id]);
  return {
    organizationId: org!.organization_id,
    claims: JSON.stringify({ role: "gw_user", sub: user!.user_id, org_id: org!.organization_id, iat: Math.floor(Date.now() / 1000) }),
  };
}

async function as<R extends pg.QueryResultRow>(claims: string, sql: string, values: unknown[]): Promise<R | string> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [claims]);
    const { rows } = await client.query<R>(sql, values);
    await client.query("commit");
    return rows[0]!;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    return (error as { code?: string }).code ?? "NO_CODE";
  } finally {
    client.release();
  }
}

const must = <R>(value: R | string): R => {
  if (typeof value === "string") throw new Error(`failed with ${value}`);
  return value;
};

describe("escrow under concurrency", () => {
  it("releases exactly once when the sponsor approves the last deliverables concurrently, and a concurrent refund and lock leave one winner", async () => {
    const organizer = await tenant("rg");
    const sponsor = await tenant("rs");
    await fundOrganization(root, sponsor.organizationId, 1_000_000);
    const { rows: [event] } = await root.query<{ event_id: string }>(
      `insert into events.events (owner_context_id, title, starts_at, ends_at) values ($1, 'Race gala', now() + interval '7 days', now() + interval '7 days 3 hours') returning event_id`,
      [organizer.organizationId]);
    await root.query("update events.events set status = 'published' where event_id = $1", [event!.event_id]);
    const { sponsor_id: sponsorId } = must(await as<{ sponsor_id: string }>(sponsor.claims, "insert into sponsorship.sponsors (name) values ('Race Co') returning sponsor_id", []));

    const order = async (): Promise<string> => {
      const p = must(await as<{ proposal_id: string }>(organizer.claims, "select proposal_id from sponsorship.create_proposal($1, $2, 100000, 'Banner')", [event!.event_id, sponsorId]));
      must(await as(organizer.claims, "select 1 from sponsorship.send_proposal($1)", [p.proposal_id]));
      must(await as(sponsor.claims, "select 1 from sponsorship.view_proposal($1)", [p.proposal_id]));
      return must(await as<{ order_id: string }>(sponsor.claims, "select order_id from sponsorship.accept_proposal($1)", [p.proposal_id])).order_id;
    };

    // Eight deliverables, all submitted; the sponsor approves them all at once.
    const a = await order();
    const deliverables: string[] = [];
    for (let i = 0; i < 8; i++) {
      deliverables.push(must(await as<{ deliverable_id: string }>(organizer.claims, "select deliverable_id from sponsorship.add_deliverable($1, $2, now() + interval '5 days')", [a, `Item ${i}`])).deliverable_id);
    }
    must(await as(sponsor.claims, "select 1 from sponsorship.fund_order($1)", [a]));
    must(await as(organizer.claims, "select 1 from sponsorship.lock_order($1)", [a]));
    for (const id of deliverables) must(await as(organizer.claims, "select 1 from sponsorship.submit_deliverable($1, '{\"ok\": true}')", [id]));
    const approvals = await Promise.all(deliverables.map((id) => as(sponsor.claims, "select status from sponsorship.review_deliverable($1, true)", [id])));
    expect(approvals.filter((r) => typeof r === "string")).toEqual([]);
    const { rows: [released] } = await root.query<{ status: string; escrow: string; releases: string }>(
      `select o.status, a.balance as escrow,
              (select count(*) from ledger.transactions t where t.kind = 'sponsorship.escrow_release' and t.metadata ->> 'orderId' = o.order_id::text) as releases
         from sponsorship.orders o join ledger.accounts a on a.account_id = o.escrow_account_id where o.order_id = $1`, [a]);
    expect(released).toEqual({ status: "released", escrow: "0", releases: "1" });

    // A funded order: the sponsor refunds while the organizer locks, eight times each; one of the two wins.
    const b = await order();
    must(await as(sponsor.claims, "select 1 from sponsorship.fund_order($1)", [b]));
    const race = await Promise.all(Array.from({ length: 16 }, (_, i) =>
      i % 2 === 0 ? as(sponsor.claims, "select status from sponsorship.refund_order($1)", [b]) : as(organizer.claims, "select status from sponsorship.lock_order($1)", [b])));
    const wins = race.filter((r) => typeof r !== "string");
    expect(wins).toHaveLength(1);
    expect(new Set(race.filter((r) => typeof r === "string"))).toEqual(new Set(["SPSTA"]));
    const { rows: [final] } = await root.query<{ status: string; escrow: string }>(
      "select o.status, a.balance as escrow from sponsorship.orders o join ledger.accounts a on a.account_id = o.escrow_account_id where o.order_id = $1", [b]);
    expect(final!.escrow).toBe(final!.status === "refunded" ? "0" : "100000");
    expect((await root.query("select * from ledger.verify()")).rows).toEqual([]);
  });
});
