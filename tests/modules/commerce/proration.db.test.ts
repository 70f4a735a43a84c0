import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { one } from "../../helpers/fixtures.ts";
import { seededRandom } from "../../helpers/random.ts";
import { createCustomer, createMerchant, createPrice, createProduct, setClock, verify } from "./fixtures.ts";

// Proration by the second, as a property: for random plans and change dates
// (one or two changes in a period), what the wallet paid for the period is
// exactly (old rate - credit) + charge for each change, every share within one
// minor unit of the exact price of the time used, and the books balance.

const t0 = new Date("2030-03-01T00:00:00Z");

describe("plan changes", () => {
  it("charge and credit sum exactly to the price of the time used on each plan (property, 30 random cases)", async () => {
    await withTransaction(async (tx) => {
      const seed = 20261202;
      const pick = seededRandom(seed);
      const merchant = await createMerchant(tx, "cmpro");
      const productId = await createProduct(tx, merchant, "Plans", "subscription");
      const customer = await createCustomer(tx, "cmproc", 1_000_000_000);
      for (let i = 0; i < 30; i++) {
        const amounts = [1 + pick(200000), 1 + pick(200000), 1 + pick(200000)];
        const prices: string[] = [];
        for (const amount of amounts) prices.push(await createPrice(tx, merchant, productId, { amount, interval: "1 month" }));
        await setClock(tx, t0);
        await tx.become(customer.claims);
        const s = await one<{ subscription_id: string; current_period_start: Date; current_period_end: Date }>(
          tx, "select * from commerce.subscribe($1, $2)", [`p-${i}`, prices[0]],
        );
        const start = s.current_period_start.getTime() / 1000;
        const end = s.current_period_end.getTime() / 1000;
        const period = BigInt(end - start);
        const changes = pick(2) + 1;
        let at = start;
        let rate = BigInt(amounts[0]!);
        let expectedPaid = BigInt(amounts[0]!);
        const shares: Array<{ used: bigint; exact: number }> = [];
        for (let c = 1; c <= changes; c++) {
          at = at + 1 + pick(end - at - 1); // a second strictly inside what is left of the period
          const unused = BigInt(end - at);
          const credit = (rate * unused) / period;
          const next = BigInt(amounts[c]!);
          const charge = (next * unused) / period;
          // The time used on the plan being left, priced exactly, and what it was billed.
          shares.push({ used: rate - credit, exact: (Number(rate) * Number(period - unused)) / Number(period) });
          expectedPaid = expectedPaid - credit + charge;
          await tx.asRoot(() => setClock(tx, new Date(at * 1000)));
          await tx.become(customer.claims);
          await tx.query("select commerce.change_plan($1, $2)", [s.subscription_id, prices[c]]);
          // The new plan's rest of the period is billed within one minor unit of its exact price.
          expect(Math.abs(Number(charge) - (Number(next) * Number(unused)) / Number(period))).toBeLessThan(1);
          rate = next;
        }
        for (const share of shares) expect(Math.abs(Number(share.used) - share.exact)).toBeLessThan(1);
        const paid = await tx.asRoot(() =>
          one<{ paid: string; charges: string }>(
            tx,
            `select coalesce(-sum(e.amount), 0)::text as paid,
                    (select sum(amount)::text from commerce.subscription_charges where subscription_id = $2) as charges
               from ledger.entries e join ledger.transactions t using (transaction_id)
              where e.account_id = $1 and t.metadata ->> 'subscriptionId' = $2::text`,
            [customer.walletId, s.subscription_id],
          ),
        );
        expect({ case: i, paid: paid.paid, charges: paid.charges }).toEqual({ case: i, paid: String(expectedPaid), charges: String(expectedPaid) });
      }
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("credits a downgrade back to the wallet from the period's charge and an upgrade as one sale", async () => {
    await withTransaction(async (tx) => {
      const merchant = await createMerchant(tx, "cmpr2");
      const productId = await createProduct(tx, merchant, "Plans", "subscription");
      const big = await createPrice(tx, merchant, productId, { amount: 3000, interval: "1 month" });
      const small = await createPrice(tx, merchant, productId, { amount: 1000, interval: "1 month" });
      const customer = await createCustomer(tx, "cmpr2c", 10000);
      await setClock(tx, new Date("2030-04-01T00:00:00Z")); // a 30-day period
      await tx.become(customer.claims);
      const s = await one<{ subscription_id: string }>(tx, "select * from commerce.subscribe('d', $1)", [big]);
      await tx.asRoot(() => setClock(tx, new Date("2030-04-16T00:00:00Z"))); // half of it left
      await tx.become(customer.claims);
      await tx.query("select commerce.change_plan($1, $2)", [s.subscription_id, small]);
      const rows = await tx.asRoot(() =>
        tx.query<{ reason: string; amount: string; refunded: string }>(
          "select reason, amount::text, refunded::text from commerce.subscription_charges where subscription_id = $1 order by created_at, amount desc",
          [s.subscription_id],
        ),
      );
      // credit 1500, charge 500: 1000 back, refunded from the first charge.
      expect(rows.rows).toEqual([
        { reason: "first", amount: "3000", refunded: "1000" },
        { reason: "plan_change_credit", amount: "-1000", refunded: "0" },
      ]);
      expect(Number((await tx.asRoot(() => one<{ b: string }>(tx, "select balance::text as b from ledger.accounts where account_id = $1", [customer.walletId]))).b)).toBe(8000);
      await tx.asRoot(() => setClock(tx, new Date("2030-04-23T12:00:00Z"))); // a quarter left: upgrade again
      await tx.become(customer.claims);
      await tx.query("select commerce.change_plan($1, $2)", [s.subscription_id, big]);
      // credit 250 (small's quarter), charge 750 (big's quarter): one sale of 500.
      expect(await tx.asRoot(() => one(tx, "select reason, amount::text from commerce.subscription_charges where subscription_id = $1 and reason = 'plan_change'", [s.subscription_id]))).toEqual({ reason: "plan_change", amount: "500" });
      expect(await verify(tx)).toEqual([]);
    });
  });
});
