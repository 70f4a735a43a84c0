import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { uniqueName } from "../../helpers/fixtures.ts";
import { fund, verify } from "./fixtures.ts";

// Real concurrency on committed data: every buyer runs on its own connection
// (a pool of 50: at most 50 transactions in flight, 200 queued buyers),
// as gw_user with its own claims, READ COMMITTED, exactly as the API does.
// 200 buyers race for the last 50 seats of a tier: exactly 50 tickets are
// sold, the other 150 get TKSLD and nothing else, and the books are exact.

const buyers = 200;
const seats = 50;
const price = 10_000;

let pool: pg.Pool;
let root: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 50 });
  root = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 4 });
});
afterAll(async () => {
  await pool.end();
  await root.end();
});

/** A published event of a new organization with one tier; as root (committed). */
async function openShop(capacity: number): Promise<{ organizationId: string; eventId: string; tierId: string }> {
  const slug = uniqueName("race", "-").toLowerCase();
  const { rows: [org] } = await root.query<{ organization_id: string }>(
    "insert into auth.organizations (name, slug) values ($1, $1) returning organization_id", [slug]);
  const { rows: [event] } = await root.query<{ event_id: string }>(
    `insert into events.events (owner_context_id, title, starts_at, ends_at) values ($1, 'Race night', now() + interval '7 days', now() + interval '7 days 3 hours') returning event_id`,
    [org!.organization_id]);
  await root.query("update events.events set status = 'published' where event_id = $1", [event!.event_id]);
  const { rows: [tier] } = await root.query<{ tier_id: string }>(
    "insert into ticketing.ticket_tiers (event_id, name, price, currency, capacity) values ($1, 'GA', $2, 'USD', $3) returning tier_id",
    [event!.event_id, price, capacity]);
  return { organizationId: org!.organization_id, eventId: event!.event_id, tierId: tier!.tier_id };
}

async function createBuyers(n: number, amount: number): Promise<{ userId: string; walletId: string }[]> {
  const tag = uniqueName("rb").replace(/_/g, "");
  const { rows } = await root.query<{ user_id: string }>(
    "insert into auth.users (username, email) select $1 || 'u' || i, $1 || 'u' || i || '@example.com' from generate_series(1, $2) i returning user_id",
    [tag, n]);
  const out = [];
  for (const row of rows) out.push({ userId: row.user_id, walletId: await fund(root, row.user_id, amount) });
  return out;
}

/** ticketing.checkout on its own connection as the buyer; returns the error code, or undefined on success. */
async function buy(userId: string, args: { tierId?: string; holdId?: string; quantity?: number; key: string }): Promise<string | undefined> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [
      JSON.stringify({ role: "gw_user", sub: userId, iat: Math.floor(Date.now() / 1000) }),
    ]);
    await client.query("select ticketing.checkout(client_key => $1, hold_id => $2, tier_id => $3, quantity => $4)", [
      args.key, args.holdId ?? null, args.tierId ?? null, args.quantity ?? null]);
    await client.query("commit");
    return undefined;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    return (error as { code?: string }).code ?? "NO_CODE";
  } finally {
    client.release();
  }
}

async function assertBooks() {
  expect(await verify(root)).toEqual([]);
  const totals = await root.query<{ net: string }>("select net from ledger.currency_totals()");
  for (const total of totals.rows) expect(total.net).toBe("0");
}

describe("checkout under concurrency", () => {
  it(`sells exactly ${seats} tickets to ${buyers} concurrent buyers of the last ${seats} seats, with exact books`, async () => {
    const shop = await openShop(seats);
    const people = await createBuyers(buyers, 2 * price);
    const codes = await Promise.all(people.map((p, i) => buy(p.userId, { tierId: shop.tierId, quantity: 1, key: `race-${i}` })));
    const sold = codes.filter((c) => c === undefined).length;
    const refused = codes.filter((c) => c === "TKSLD").length;
    expect(codes.filter((c) => c !== undefined && c !== "TKSLD")).toEqual([]);
    expect(sold).toBe(seats);
    expect(refused).toBe(buyers - seats);

    const { rows: [tier] } = await root.query<{ sold: number; tickets: string; orders: string }>(
      `select t.sold, (select count(*) from ticketing.tickets k where k.tier_id = t.tier_id) as tickets,
              (select count(*) from ticketing.order_items i where i.tier_id = t.tier_id) as orders
         from ticketing.ticket_tiers t where t.tier_id = $1`, [shop.tierId]);
    expect(tier).toEqual({ sold: seats, tickets: String(seats), orders: String(seats) });

    // Every buyer paid exactly once or not at all; the organization and the platform got their shares.
    const { rows: wallets } = await root.query<{ balance: string; owner_user_id: string; tickets: string }>(
      `select a.balance, a.owner_user_id, (select count(*) from ticketing.tickets k where k.owner_user_id = a.owner_user_id) as tickets
         from ledger.accounts a where a.account_id = any ($1::bigint[])`, [people.map((p) => p.walletId)]);
    for (const wallet of wallets) expect(Number(wallet.balance)).toBe(2 * price - Number(wallet.tickets) * price);
    const { rows: shares } = await root.query<{ code: string; balance: string }>(
      `select a.code, a.balance from ledger.accounts a
        where a.organization_id = $1 or a.code = 'payments.revenue.' || $1 || '.usd' order by a.code`, [shop.organizationId]);
    expect(shares.map((s) => [s.code.split(".")[1], Number(s.balance)])).toEqual([
      ["receivable", seats * price * 0.95],
      ["revenue", seats * price * 0.05],
    ]);
    await assertBooks();
  });

  it("turns 16 concurrent replays of one client key into one order", async () => {
    const shop = await openShop(100);
    const [person] = await createBuyers(1, 10 * price);
    const codes = await Promise.all(Array.from({ length: 16 }, () => buy(person!.userId, { tierId: shop.tierId, quantity: 2, key: "same-key" })));
    expect(codes).toEqual(Array.from({ length: 16 }, () => undefined));
    const { rows } = await root.query<{ orders: string; tickets: string; balance: string }>(
      `select (select count(*) from ticketing.orders where user_id = $1) as orders,
              (select count(*) from ticketing.tickets where owner_user_id = $1) as tickets,
              (select balance from ledger.accounts where account_id = $2) as balance`, [person!.userId, person!.walletId]);
    expect(rows[0]).toEqual({ orders: "1", tickets: "2", balance: String(8 * price) });
    await assertBooks();
  });

  it("never sells a seat held by someone else, whatever the timing", async () => {
    const shop = await openShop(10);
    const people = await createBuyers(40, 2 * price);
    // Ten holders take one seat each (committed), then forty buyers without holds race the holders' checkouts.
    const holds: { userId: string; holdId: string }[] = [];
    for (const p of people.slice(0, 10)) {
      const client = await pool.connect();
      try {
        await client.query("begin");
        await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [
          JSON.stringify({ role: "gw_user", sub: p.userId })]);
        const { rows } = await client.query<{ hold_id: string }>("select hold_id from ticketing.hold_tickets($1, 1)", [shop.tierId]);
        await client.query("commit");
        holds.push({ userId: p.userId, holdId: rows[0]!.hold_id });
      } finally {
        client.release();
      }
    }
    const codes = await Promise.all([
      ...holds.map((h, i) => buy(h.userId, { holdId: h.holdId, key: `held-${i}` })),
      ...people.slice(10).map((p, i) => buy(p.userId, { tierId: shop.tierId, quantity: 1, key: `free-${i}` })),
    ]);
    expect(codes.slice(0, 10)).toEqual(Array.from({ length: 10 }, () => undefined));
    expect(codes.slice(10).every((c) => c === "TKSLD")).toBe(true);
    const { rows } = await root.query<{ sold: number }>("select sold from ticketing.ticket_tiers where tier_id = $1", [shop.tierId]);
    expect(rows[0]!.sold).toBe(10);
    await assertBooks();
  });
});
