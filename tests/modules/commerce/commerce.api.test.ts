import { beforeAll, describe, expect, it } from "vitest";
import { sqlErrorCodes } from "../../../src/errors.ts";
import { codesOf, registerUser, useTestApi, type SignedIn } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";
import { fund } from "./fixtures.ts";

/** Commerce over GraphQL: a catalog by the merchant, a checkout with a code, a subscription; bad input answered with 4xx-class codes and nothing written. */
const api = useTestApi();
const tag = `cmapi${process.pid}${Date.now().toString(36)}`;
let merchantToken = "";
let customer: SignedIn;
let productId = "";
let priceId = "";
let planId = "";

const status = (code: string | undefined) => (code && code in sqlErrorCodes ? sqlErrorCodes[code as keyof typeof sqlErrorCodes].status : 500);

beforeAll(async () => {
  const owner = await registerUser(api, "cmapio");
  const created = await api.graphql(
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId } } }`,
    { input: { name: `Org ${tag}`, slug: tag.toLowerCase() } }, owner.accessToken);
  const organizationId = created.body.data?.createOrganization.organization.organizationId;
  const switched = await api.graphql(
    `mutation($input: SwitchOrganizationInput!) { switchOrganization(input: $input) { accessToken } }`, { input: { organizationId } }, owner.accessToken);
  merchantToken = switched.body.data?.switchOrganization.accessToken;
  const product = await api.graphql(
    `mutation($input: CreateCommerceProductInput!) { createCommerceProduct(input: $input) { commerceProduct { productId } } }`,
    { input: { commerceProduct: { name: "Course", category: "digital" } } }, merchantToken);
  expect(product.body.errors).toBeUndefined();
  productId = product.body.data?.createCommerceProduct.commerceProduct.productId;
  const price = (amount: string, recurringInterval: { months: number } | null) =>
    api.graphql(`mutation($input: CommerceCreatePriceInput!) { commerceCreatePrice(input: $input) { price { priceId amount } } }`,
      { input: { productId, currency: "USD", amount, recurringInterval } }, merchantToken);
  priceId = (await price("4000", null)).body.data?.commerceCreatePrice.price.priceId;
  planId = (await price("900", { months: 1 })).body.data?.commerceCreatePrice.price.priceId;
  expect(priceId && planId).toBeTruthy();
  const promo = await api.graphql(
    `mutation($input: CreateCommercePromotionInput!) { createCommercePromotion(input: $input) { commercePromotion { promotionId } } }`,
    { input: { commercePromotion: { code: "API10", percentOff: "10" } } }, merchantToken);
  expect(promo.body.errors).toBeUndefined();
  customer = await registerUser(api, "cmapic");
  await fund(rootDb(), customer.userId, 10_000);
});

const checkout = (token: string, input: Record<string, unknown>) =>
  api.graphql(`mutation($input: CommerceCheckoutInput!) { commerceCheckout(input: $input) { order { orderId status total discount fee items { nodes { quantity unitAmount } } } } }`, { input }, token);

describe("commerce over GraphQL", () => {
  it("shows the catalog to anyone, checks out with a code and subscribes", async () => {
    const catalog = await api.graphql(`query($id: UUID!) { commerceProduct(productId: $id) { name prices { nodes { amount } } } }`, { id: productId });
    expect(catalog.body.data?.commerceProduct.prices.nodes.map((n: { amount: string }) => n.amount).sort()).toEqual(["4000", "900"]);
    const paid = await checkout(customer.accessToken, { clientKey: "api-1", items: [{ priceId, quantity: 1 }], promotionCode: "api10" });
    expect(paid.body.errors).toBeUndefined();
    expect(paid.body.data?.commerceCheckout.order).toMatchObject({ status: "paid", total: "3600", discount: "400", fee: "180", items: { nodes: [{ quantity: 1, unitAmount: "4000" }] } });
    const sub = await api.graphql(`mutation($input: CommerceSubscribeInput!) { commerceSubscribe(input: $input) { subscription { status periodNumber } } }`,
      { input: { clientKey: "api-s", priceId: planId } }, customer.accessToken);
    expect(sub.body.data?.commerceSubscribe.subscription).toEqual({ status: "active", periodNumber: 1 });
    const mine = await api.graphql(`{ commerceOrders { nodes { orderId } } commerceSubscriptions { nodes { status } } }`, {}, customer.accessToken);
    expect(mine.body.data?.commerceOrders.nodes).toHaveLength(1);
    expect(mine.body.data?.commerceSubscriptions.nodes).toEqual([{ status: "active" }]);
  });

  it("answers bad input with coded 4xx-class errors and writes nothing", async () => {
    const before = await rootDb().query(`select (select count(*) from commerce.orders where customer_id = $1) + (select count(*) from commerce.prices where product_id = $2)
        + (select count(*) from commerce.promotions p join commerce.products r using (organization_id) where r.product_id = $2)
        + (select count(*) from ledger.entries e join ledger.accounts a using (account_id) where a.owner_user_id = $1) as n`, [customer.userId, productId]);
    const fraction = await api.graphql(`mutation($input: CommerceCreatePriceInput!) { commerceCreatePrice(input: $input) { price { priceId } } }`,
      { input: { productId, currency: "USD", amount: "10.5" } }, merchantToken);
    const percent = await api.graphql(`mutation($input: CreateCommercePromotionInput!) { createCommercePromotion(input: $input) { commercePromotion { promotionId } } }`,
      { input: { commercePromotion: { code: "TOOMUCH", percentOff: "150" } } }, merchantToken);
    const foreign = await checkout(customer.accessToken, { clientKey: "api-2", items: [{ priceId }], promotionCode: "NOPE" });
    const points = await checkout(customer.accessToken, { clientKey: "api-3", items: [{ priceId }], points: "5" });
    const recurring = await checkout(customer.accessToken, { clientKey: "api-4", items: [{ priceId: planId }] });
    const signedOut = await checkout("", { clientKey: "api-5", items: [{ priceId }] });
    const codes = [fraction, percent, foreign, points, recurring].map((r) => codesOf(r)[0]);
    expect(codes).toEqual(["CMPRC", "CMPCT", "CMCOD", "CMPTS", "CMINT"]);
    for (const code of codes) expect(status(code)).toBeGreaterThanOrEqual(400), expect(status(code)).toBeLessThan(500);
    expect(codesOf(signedOut)[0]).toMatch(/^(LOGIN|42501)$/);
    const after = await rootDb().query(`select (select count(*) from commerce.orders where customer_id = $1) + (select count(*) from commerce.prices where product_id = $2)
        + (select count(*) from commerce.promotions p join commerce.products r using (organization_id) where r.product_id = $2)
        + (select count(*) from ledger.entries e join ledger.accounts a using (account_id) where a.owner_user_id = $1) as n`, [customer.userId, productId]);
    expect(after.rows[0].n).toBe(before.rows[0].n);
    expect((await rootDb().query("select * from ledger.verify()")).rows).toEqual([]);
  });
});
