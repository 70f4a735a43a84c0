import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { uniqueName } from "../../helpers/fixtures.ts";
import { fund } from "./fixtures.ts";

// Real concurrency on committed data: 32 customers, each on its own
// connection as gw_user with its own claims (READ COMMITTED, as the API
// runs), check out at once with a code that has 10 uses left: exactly 10
// succeed, the other 22 get CMUSD and nothing else, and the books are exact.

const customers = 32;
const uses = 10;

let pool: pg.Pool;
let root: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: customers });
  root = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 4 });
});
afterAll(async () => {
  await pool.end();
  await root.end();
});

async function checkout(userId: string, priceId: string, code: string): Promise<string | undefined> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [
      JSON.stringify({ role: "gw_user", sub: userId, iat: Math.floor(Date.now() / 1000) }),
    ]);
    await client.query("select commerce.checkout($1, $2, $3)", [`race-${userId}`, JSON.stringify([{ priceId }]), code]);
    await client.query("commit");
    return undefined;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    return (error as { code?: string }).code ?? "NO_CODE";
  } finally {
    client.release();
  }
}

describe("promotion redemption under concurrency", () => {
  it(`lets exactly ${uses} of ${customers} concurrent checkouts redeem a code with ${uses} uses left`, async () => {
    const slug = uniqueName("cmrace", "-").toLowerCase();
    const { rows: [org] } = await root.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id", [slug]);
    const organizationId = org!.organization_id;
    const { rows: [product] } = await root.query<{ product_id: string }>("insert into commerce.products (organization_id, name) values ($1, 'Race') returning product_id", [organizationId]);
    const { rows: [price] } = await root.query<{ price_id: string }>("insert into commerce.prices (product_id, organization_id, currency, amount) values ($1, $2, 'USD', 2000) returning price_id", [product!.product_id, organizationId]);
    // 12 uses, 2 spent already: 10 left.
    const { rows: [promo] } = await root.query<{ promotion_id: string }>(
      "insert into commerce.promotions (organization_id, code, percent_off, max_redemptions) values ($1, 'RACE', 25, 12) returning promotion_id", [organizationId]);
    await root.query("update commerce.promotions set redeemed = 2 where promotion_id = $1", [promo!.promotion_id]);
    const tag = uniqueName("cmr").replace(/_/g, "");
    const { rows: users } = await root.query<{ user_id: string }>(
      "insert into auth.users (username, email) select $1 || 'u' || i, $1 || 'u' || i || '@example.com' from generate_series(1, $2) i returning user_id", [tag, customers]);
    const wallets = [];
    for (const user of users) wallets.push(await fund(root, user.user_id, 10_000));
    try {
      const results = await Promise.all(users.map((user) => checkout(user.user_id, price!.price_id, "RACE")));
      expect(results.filter((r) => r === undefined).length).toBe(uses);
      expect(results.filter((r) => r !== undefined)).toEqual(Array(customers - uses).fill("CMUSD"));
      const { rows: [state] } = await root.query(
        `select p.redeemed, (select count(*)::int from commerce.promotion_redemptions r where r.promotion_id = p.promotion_id) as redemptions,
                (select count(*)::int from commerce.orders o where o.promotion_id = p.promotion_id and o.status = 'paid') as orders,
                (select sum(balance)::int from ledger.accounts where account_id = any ($2::bigint[])) as left_in_wallets
           from commerce.promotions p where p.promotion_id = $1`,
        [promo!.promotion_id, wallets],
      );
      expect(state).toEqual({ redeemed: 12, redemptions: uses, orders: uses, left_in_wallets: customers * 10_000 - uses * 1500 });
      expect((await root.query("select * from ledger.verify()")).rows).toEqual([]);
    } finally {
      await root.query("delete from commerce.orders where organization_id = $1", [organizationId]).catch(() => undefined);
    }
  });
});
