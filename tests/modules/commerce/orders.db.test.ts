import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { countAsRoot, one } from "../../helpers/fixtures.ts";
import { balance, checkout, createCustomer, createPrice, createProduct, createShop, footprint, verify, type Order } from "./fixtures.ts";

// Orders: paid from the customer's wallet through one ledger transaction
// (wallet, merchant receivable, platform fee), idempotent by client key,
// refunded as mirror postings, moving only along the registry's transitions.

describe("orders", () => {
  it("pays a checkout with one ledger transaction of three entries and publishes it", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmord", 2500);
      const customer = await createCustomer(tx, "cmoc", 10000);
      const order = await checkout(tx, customer.claims, [{ priceId: shop.priceId, quantity: 2 }]);
      expect(order).toMatchObject({ status: "paid", subtotal: "5000", total: "5000", fee: "250", discount: "0" });
      const entries = await tx.asRoot(() =>
        tx.query<{ amount: string; code: string }>(
          "select e.amount, a.code from ledger.entries e join ledger.accounts a using (account_id) where e.transaction_id = $1 order by e.line",
          [order.transaction_id],
        ),
      );
      expect(entries.rows.map((r) => [r.amount, r.code.split(".").slice(0, 2).join(".")])).toEqual([
        ["-5000", "payments.wallet"],
        ["4750", "payments.receivable"],
        ["250", "payments.revenue"],
      ]);
      expect(await balance(tx, customer.walletId)).toBe(5000);
      expect(await countAsRoot(tx, "outbox.events where topic = 'commerce.order.paid' and aggregate_id = $1", [order.order_id])).toBe(1);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("returns the original order for a replayed client key and refuses the key for other items", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmidem");
      const customer = await createCustomer(tx, "cmic");
      const first = await checkout(tx, customer.claims, [{ priceId: shop.priceId }], { key: "same" });
      const before = await footprint(tx);
      const again = await checkout(tx, customer.claims, [{ priceId: shop.priceId }], { key: "same" });
      expect(again.order_id).toBe(first.order_id);
      expect(await footprint(tx)).toEqual(before);
      await tx.become(customer.claims);
      expect(await tx.errorCode(() => tx.query("select commerce.checkout('same', $1)", [JSON.stringify([{ priceId: shop.priceId, quantity: 3 }])]))).toBe("CMKEY");
      expect(await footprint(tx)).toEqual(before);
      expect(await balance(tx, customer.walletId)).toBe(100000 - 1000);
    });
  });

  it("refunds part and then the rest as mirror postings, the fee share pro rata", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmref", 3333);
      const customer = await createCustomer(tx, "cmrc", 10000);
      const order = await checkout(tx, customer.claims, [{ priceId: shop.priceId }]);
      expect(order.fee).toBe("167");
      await tx.become(shop.merchant.claims);
      const partial = await one<Order>(tx, "select * from commerce.refund_order($1, 1000)", [order.order_id]);
      expect(partial).toMatchObject({ status: "partially_refunded", refunded_amount: "1000" });
      const rest = await one<Order & { refunded_fee: string }>(tx, "select * from commerce.refund_order($1)", [order.order_id]);
      expect(rest).toMatchObject({ status: "refunded", refunded_amount: "3333", refunded_fee: "167" });
      expect(await balance(tx, customer.walletId)).toBe(10000);
      // Every refund mirrors the sale's accounts: the merchant's receivable and the platform's revenue are back to zero.
      const net = await tx.asRoot(() =>
        tx.query<{ code: string; s: string }>(
          `select split_part(a.code, '.', 2) as code, sum(e.amount)::text as s from ledger.entries e join ledger.accounts a using (account_id)
            join ledger.transactions t using (transaction_id)
            where t.transaction_id = $1 or t.metadata ->> 'refunds' = $1::text group by 1 order by 1`,
          [order.transaction_id],
        ),
      );
      expect(net.rows).toEqual([
        { code: "receivable", s: "0" },
        { code: "revenue", s: "0" },
        { code: "wallet", s: "0" },
      ]);
      expect(await tx.errorCode(() => tx.query("select commerce.refund_order($1, 1)", [order.order_id]))).toBe("CMREF");
      expect(await countAsRoot(tx, "outbox.events where topic = 'commerce.order.refunded' and aggregate_id = $1", [order.order_id])).toBe(2);
      expect(await verify(tx)).toEqual([]);
    });
  });

  it("moves an order only along its transitions: allowed moves pass, every other is refused with RGTRN", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmtr");
      const customer = await createCustomer(tx, "cmtc");
      // pending -> cancelled
      await tx.become(customer.claims);
      const pending = await one<Order>(tx, "select * from commerce.place_order('p1', $1)", [JSON.stringify([{ priceId: shop.priceId }])]);
      expect(pending.status).toBe("pending");
      expect((await one<Order>(tx, "select * from commerce.cancel_order($1)", [pending.order_id])).status).toBe("cancelled");
      expect(await tx.errorCode(() => tx.query("select commerce.pay_order($1)", [pending.order_id]))).toBe("CMSTA");
      expect(await tx.errorCode(() => tx.query("select commerce.cancel_order($1)", [pending.order_id]))).toBe("CMSTA");
      // pending -> paid -> fulfilled
      const placed = await one<Order>(tx, "select * from commerce.place_order('p2', $1)", [JSON.stringify([{ priceId: shop.priceId }])]);
      expect((await one<Order>(tx, "select * from commerce.pay_order($1)", [placed.order_id])).status).toBe("paid");
      expect(await tx.errorCode(() => tx.query("select commerce.cancel_order($1)", [placed.order_id]))).toBe("CMSTA");
      await tx.become(shop.merchant.claims);
      expect((await one<Order>(tx, "select * from commerce.fulfill_order($1)", [placed.order_id])).status).toBe("fulfilled");
      expect(await tx.errorCode(() => tx.query("select commerce.refund_order($1)", [placed.order_id]))).toBe("CMREF");
      expect(await tx.errorCode(() => tx.query("select commerce.fulfill_order($1)", [placed.order_id]))).toBe("CMSTA");
      // The database refuses every unlisted move whoever writes, trusted code included.
      const moves: Array<[string, string, boolean]> = [];
      const states = ["pending", "paid", "fulfilled", "cancelled", "partially_refunded", "refunded"];
      const allowed = new Set(["pending>paid", "pending>cancelled", "paid>fulfilled", "paid>refunded", "paid>partially_refunded", "partially_refunded>refunded"]);
      for (const from of states) {
        for (const to of states) {
          if (from === to) continue;
          const code = await tx.asRoot(() =>
            tx.errorCode(async () => {
              await tx.query("alter table commerce.orders disable trigger _060_transition_status");
              await tx.query("update commerce.orders set status = $2, total = 0, subtotal = 0, fee = 0, discount = 0, points_value = 0, refunded_amount = 0, refunded_fee = 0 where order_id = $1", [placed.order_id, from]);
              await tx.query("alter table commerce.orders enable trigger _060_transition_status");
              await tx.query("update commerce.orders set status = $2 where order_id = $1", [placed.order_id, to]);
            }),
          );
          moves.push([from, to, code === undefined]);
          expect(code === undefined ? "ok" : code).toBe(allowed.has(`${from}>${to}`) ? "ok" : "RGTRN");
        }
      }
      expect(moves.filter((m) => m[2]).length).toBe(allowed.size);
      expect(await tx.asRoot(() => tx.errorCode(() => tx.query("insert into commerce.orders (organization_id, customer_id, client_key, currency, subtotal, total, status) values ($1, $2, 'x', 'USD', 0, 0, 'paid')", [shop.merchant.organization.organizationId, customer.userId])))).toBe("RGTRN");
    });
  });

  it("shows customers their own orders and members their merchant's, nobody another's", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmrls");
      const other = await createShop(tx, "cmrlo");
      const customer = await createCustomer(tx, "cmrc1");
      const stranger = await createCustomer(tx, "cmrc2");
      const order = await checkout(tx, customer.claims, [{ priceId: shop.priceId }]);
      await tx.become(customer.claims);
      expect((await tx.query("select 1 from commerce.orders where order_id = $1", [order.order_id])).rowCount).toBe(1);
      expect((await tx.query("select 1 from commerce.order_items where order_id = $1", [order.order_id])).rowCount).toBe(1);
      await tx.become(shop.merchant.owner.claims);
      expect((await tx.query("select 1 from commerce.orders where order_id = $1", [order.order_id])).rowCount).toBe(1);
      for (const claims of [stranger.claims, other.merchant.claims]) {
        await tx.become(claims);
        expect((await tx.query("select 1 from commerce.orders where order_id = $1", [order.order_id])).rowCount).toBe(0);
        expect((await tx.query("select 1 from commerce.order_items where order_id = $1", [order.order_id])).rowCount).toBe(0);
      }
      expect(await countAsRoot(tx, "commerce.orders where order_id = $1", [order.order_id])).toBe(1);
      // Another merchant cannot refund, fulfil or cancel it.
      await tx.become(other.merchant.claims);
      expect(await tx.errorCode(() => tx.query("select commerce.refund_order($1)", [order.order_id]))).toBe("NTFND");
      await tx.become(stranger.claims);
      expect(await tx.errorCode(() => tx.query("select commerce.cancel_order($1)", [order.order_id]))).toBe("NTFND");
      expect(await tx.errorCode(() => tx.query("select commerce.pay_order($1)", [order.order_id]))).toBe("NTFND");
      expect(await tx.errorCode(() => tx.query("insert into commerce.orders (organization_id, customer_id, client_key, currency, subtotal, total) values ($1, $2, 'x', 'USD', 0, 0)", [shop.merchant.organization.organizationId, stranger.userId]))).toBe("42501");
    });
  });

  it("writes nothing for a short wallet, an inactive price, mixed merchants or currencies, a recurring price or bad items", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "cmfail", 5000);
      const other = await createShop(tx, "cmfailo");
      const eur = await createPrice(tx, shop.merchant, shop.productId, { amount: 100, currency: "EUR" });
      const monthly = await createPrice(tx, shop.merchant, shop.productId, { amount: 100, interval: "1 month" });
      const off = await createProduct(tx, shop.merchant, "Retired");
      const offPrice = await createPrice(tx, shop.merchant, off);
      await tx.become(shop.merchant.claims);
      await tx.query("update commerce.products set active = false where product_id = $1", [off]);
      const poor = await createCustomer(tx, "cmpoor", 4999);
      const before = await footprint(tx);
      const attempt = async (items: unknown, key = `x-${Math.random()}`) => {
        await tx.become(poor.claims);
        return tx.errorCode(() => tx.query("select commerce.checkout($1, $2)", [key, JSON.stringify(items)]));
      };
      expect(await attempt([{ priceId: shop.priceId }])).toBe("LFUND");
      expect(await attempt([{ priceId: offPrice }])).toBe("CMINA");
      expect(await attempt([{ priceId: "00000000-0000-0000-0000-000000000000" }])).toBe("CMINA");
      expect(await attempt([{ priceId: shop.priceId }, { priceId: other.priceId }])).toBe("CMCUX");
      expect(await attempt([{ priceId: shop.priceId }, { priceId: eur }])).toBe("CMCUX");
      expect(await attempt([{ priceId: monthly }])).toBe("CMINT");
      expect(await attempt([])).toBe("BADIN");
      expect(await attempt([{ priceId: shop.priceId, quantity: 1.5 }])).toBe("BADIN");
      expect(await attempt([{ priceId: shop.priceId, quantity: 0 }])).toBe("BADIN");
      expect(await attempt({ priceId: shop.priceId })).toBe("BADIN");
      expect(await attempt([{ priceId: shop.priceId }], "")).toBe("BADIN");
      await tx.become({ role: "gw_anonymous" });
      expect(await tx.errorCode(() => tx.query("select commerce.checkout('k', $1)", [JSON.stringify([{ priceId: shop.priceId }])]))).toBe("42501");
      expect(await footprint(tx)).toEqual(before);
      expect(await verify(tx)).toEqual([]);
    });
  });
});
