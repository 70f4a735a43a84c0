import { beforeAll, describe, expect, it } from "vitest";
import { codesOf, registerUser, registerWithRole, useTestApi, type SignedIn } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";

/** The capstone module through GraphQL: a finance clerk and a signed-in customer. */
const api = useTestApi();
let clerk = "";
let customer: SignedIn;
let accountId = "";
let productId = "";

beforeAll(async () => {
  clerk = (await registerWithRole(api, "role_finance")).roleToken;
  const operator = (await registerWithRole(api, "gw_admin", "capop")).roleToken;
  customer = await registerUser(api, "capcust");
  const created = await api.graphql(
    `mutation($input: CreateFinanceCustomerInput!) { createFinanceCustomer(input: $input) { financeCustomer { customerId } } }`,
    { input: { financeCustomer: { fullName: "Api Customer", primaryEmail: customer.email } } },
    clerk,
  );
  expect(created.body.errors).toBeUndefined();
  const customerId = created.body.data?.createFinanceCustomer.financeCustomer.customerId;
  // Finance staff cannot say who the customer is (issue 15); an operator links the user.
  const linked = await api.graphql(
    `mutation($input: FinanceLinkCustomerUserInput!) { financeLinkCustomerUser(input: $input) { customer { customerId userId } } }`,
    { input: { customerId, userId: customer.userId } },
    operator,
  );
  expect(linked.body.data?.financeLinkCustomerUser.customer).toEqual({ customerId, userId: customer.userId });
  const account = await api.graphql(
    `mutation($input: CreateFinanceAccountInput!) { createFinanceAccount(input: $input) { financeAccount { accountId } } }`,
    { input: { financeAccount: { customerId, accountType: "checking" } } },
    clerk,
  );
  expect(account.body.errors).toBeUndefined();
  accountId = account.body.data?.createFinanceAccount.financeAccount.accountId;
  const { rows } = await rootDb().query<{ product_id: string }>(
    "insert into sales.products (sku, name, price) values ($1, 'Api product', 9.99) returning product_id",
    [`API-${process.pid}`],
  );
  productId = rows[0]!.product_id;
});

const postMutation = `mutation($input: FinancePostTransactionInput!) { financePostTransaction(input: $input) { result { txId balanceAfter } } }`;

describe("capstone over GraphQL", () => {
  it("lets finance post and the customer pay out of, and read, their own account", async () => {
    const credit = await api.graphql(postMutation, { input: { accountId, amount: "100", txType: "credit" } }, clerk);
    expect(credit.body.errors).toBeUndefined();
    expect(credit.body.data?.financePostTransaction.result.balanceAfter).toBe("100.0000");

    const debit = await api.graphql(postMutation, { input: { accountId, amount: "40.5", txType: "debit" } }, customer.accessToken);
    expect(debit.body.data?.financePostTransaction.result.balanceAfter).toBe("59.5000");
    expect(codesOf(await api.graphql(postMutation, { input: { accountId, amount: "1", txType: "credit" } }, customer.accessToken))).toEqual(["DNIED"]);
    expect(codesOf(await api.graphql(postMutation, { input: { accountId, amount: "60", txType: "debit" } }, customer.accessToken))).toEqual(["INSUF"]);

    const mine = await api.graphql(
      `query { financeAccounts(first: 10) { nodes { accountId balance financeTransactionsByAccountId(first: 10, orderBy: TX_ID_ASC) { nodes { txType amount } } } } }`,
      {},
      customer.accessToken,
    );
    expect(mine.body.data?.financeAccounts.nodes).toEqual([
      { accountId, balance: "59.5000", financeTransactionsByAccountId: { nodes: [{ txType: "credit", amount: "100.0000" }, { txType: "debit", amount: "40.5000" }] } },
    ]);
  });

  it("lets the customer order, and finance refresh and read the reporting views", async () => {
    const order = await api.graphql(
      `mutation($input: SalesCreateOrderInput!) { salesCreateOrder(input: $input) { result { status totalAmount } } }`,
      { input: { customerId: (await rootDb().query("select customer_id from finance.customers where user_id = $1", [customer.userId])).rows[0].customer_id, productList: [{ productId, quantity: 3 }] } },
      customer.accessToken,
    );
    expect(order.body.errors).toBeUndefined();
    expect(order.body.data?.salesCreateOrder.result).toEqual({ status: "placed", totalAmount: "29.9700" });

    expect(codesOf(await api.graphql(`mutation { financeRefreshViews(input: {}) { result } }`, {}, customer.accessToken))).toEqual(["42501"]);
    const refreshed = await api.graphql(`mutation { financeRefreshViews(input: {}) { result } }`, {}, clerk);
    expect(refreshed.body.data?.financeRefreshViews.result).toBe(true);
    const customerId = (await rootDb().query("select customer_id from finance.customers where user_id = $1", [customer.userId])).rows[0].customer_id;
    const value = await api.graphql(`query($id: UUID!) { financeMvCustomerValue(customerId: $id) { ordersCount lifetimeValue totalBalance } }`, { id: customerId }, clerk);
    expect(value.body.errors).toBeUndefined();
    expect(value.body.data?.financeMvCustomerValue).toEqual({ ordersCount: 1, lifetimeValue: "29.9700", totalBalance: "59.5000" });
  });
});
