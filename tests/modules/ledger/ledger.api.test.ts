import { beforeAll, describe, expect, it } from "vitest";
import { codesOf, registerWithRole, registerUser, useTestApi, type SignedIn } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";

/** The ledger through GraphQL: mutations with their error codes, statements, holds, operator reads. */
const api = useTestApi();
const tag = () => `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
let operatorToken = "";
let world = "";

async function createAccount(token: string, input: Record<string, unknown>): Promise<string> {
  const result = await api.graphql(
    `mutation($input: LedgerCreateAccountInput!) { ledgerCreateAccount(input: $input) { account { accountId currency kind } } }`,
    { input: { currency: "USD", name: "Account", code: `acct-${tag()}`, ...input } },
    token,
  );
  expect(result.body.errors).toBeUndefined();
  return result.body.data?.ledgerCreateAccount.account.accountId;
}

const postTransfer = (token: string, input: Record<string, unknown>) =>
  api.graphql(
    `mutation($input: LedgerPostTransferInput!) { ledgerPostTransfer(input: $input) { transaction { transactionId kind idempotencyKey } } }`,
    { input: { currency: "USD", ...input } },
    token,
  );

async function walletWith(user: SignedIn, amount: number): Promise<string> {
  const wallet = await createAccount(user.accessToken, { code: "wallet", name: "Wallet" });
  if (amount > 0) expect((await postTransfer(operatorToken, { fromAccountId: world, toAccountId: wallet, amount: String(amount) })).body.errors).toBeUndefined();
  return wallet;
}

beforeAll(async () => {
  operatorToken = (await registerWithRole(api, "gw_admin", "ledadm")).roleToken;
  world = await createAccount(operatorToken, { code: `world-${tag()}`, name: "World", kind: "equity", allowNegative: true });
});

describe("ledger mutations", () => {
  it("move money out of your own accounts, with codes for every refusal", async () => {
    const alice = await registerUser(api, "ledapia");
    const bob = await registerUser(api, "ledapib");
    const aliceWallet = await walletWith(alice, 1000);
    const bobWallet = await walletWith(bob, 0);

    const paid = await postTransfer(alice.accessToken, { fromAccountId: aliceWallet, toAccountId: bobWallet, amount: "250", idempotencyKey: "pay-1" });
    expect(paid.body.errors).toBeUndefined();
    const transaction = paid.body.data?.ledgerPostTransfer.transaction;
    expect(transaction).toMatchObject({ kind: "transfer", idempotencyKey: "pay-1" });

    const replay = await postTransfer(alice.accessToken, { fromAccountId: aliceWallet, toAccountId: bobWallet, amount: "250", idempotencyKey: "pay-1" });
    expect(replay.body.data?.ledgerPostTransfer.transaction.transactionId).toBe(transaction.transactionId);
    expect(codesOf(await postTransfer(alice.accessToken, { fromAccountId: aliceWallet, toAccountId: bobWallet, amount: "251", idempotencyKey: "pay-1" }))).toEqual(["LIDEM"]);
    expect(codesOf(await postTransfer(alice.accessToken, { fromAccountId: aliceWallet, toAccountId: bobWallet, amount: "751" }))).toEqual(["LFUND"]);
    expect(codesOf(await postTransfer(alice.accessToken, { fromAccountId: aliceWallet, toAccountId: bobWallet, amount: "0" }))).toEqual(["BADIN"]);
    expect(codesOf(await postTransfer(alice.accessToken, { fromAccountId: aliceWallet, toAccountId: bobWallet, amount: "1", currency: "EUR" }))).toEqual(["LCURR"]);
    expect(codesOf(await postTransfer(bob.accessToken, { fromAccountId: aliceWallet, toAccountId: bobWallet, amount: "1" }))).toEqual(["DNIED"]);
    expect(codesOf(await postTransfer(bob.accessToken, { fromAccountId: world, toAccountId: bobWallet, amount: "1" }))).toEqual(["DNIED"]);
    expect(codesOf(await postTransfer("", { fromAccountId: aliceWallet, toAccountId: bobWallet, amount: "1" }))).toEqual(["42501"]);

    const accounts = await api.graphql(`{ ledgerAccounts { nodes { accountId balance availableBalance version } } }`, {}, bob.accessToken);
    expect(accounts.body.data?.ledgerAccounts.nodes).toEqual([{ accountId: bobWallet, balance: "250", availableBalance: "250", version: "1" }]);
  });

  it("post a multi-entry transaction and a batch", async () => {
    const payer = await registerUser(api, "ledapic");
    const payee = await registerUser(api, "ledapid");
    const from = await walletWith(payer, 500);
    const to = await walletWith(payee, 0);
    const posted = await api.graphql(
      `mutation($input: LedgerPostTransactionInput!) { ledgerPostTransaction(input: $input) { transaction { transactionId ledgerEntriesByTransactionId { nodes { accountId amount } } } } }`,
      { input: { entries: [{ accountId: from, amount: "-100", currency: "USD" }, { accountId: to, amount: "100", currency: "USD" }], memo: "split" } },
      payer.accessToken,
    );
    expect(posted.body.errors).toBeUndefined();
    const unbalanced = await api.graphql(
      `mutation($input: LedgerPostTransactionInput!) { ledgerPostTransaction(input: $input) { transaction { transactionId } } }`,
      { input: { entries: [{ accountId: from, amount: "-100", currency: "USD" }, { accountId: to, amount: "90", currency: "USD" }] } },
      payer.accessToken,
    );
    expect(codesOf(unbalanced)).toEqual(["LUNBL"]);
    const batch = await api.graphql(
      `mutation($input: LedgerPostBatchInput!) { ledgerPostBatch(input: $input) { transactions { transactionId } } }`,
      { input: { transfers: [1, 2, 3].map((amount) => ({ fromAccountId: from, toAccountId: to, amount: String(amount), currency: "USD" })) } },
      payer.accessToken,
    );
    expect(batch.body.errors).toBeUndefined();
    expect(batch.body.data?.ledgerPostBatch.transactions).toHaveLength(3);
  });

  it("hold, post part of it, and refuse to settle it twice", async () => {
    const buyer = await registerUser(api, "ledapie");
    const seller = await registerUser(api, "ledapif");
    const from = await walletWith(buyer, 1000);
    const to = await walletWith(seller, 0);
    const created = await api.graphql(
      `mutation($input: LedgerCreateHoldInput!) { ledgerCreateHold(input: $input) { hold { holdId status amount } } }`,
      { input: { fromAccountId: from, toAccountId: to, amount: "600", currency: "USD", expiresAt: new Date(Date.now() + 3600_000).toISOString() } },
      buyer.accessToken,
    );
    expect(created.body.errors).toBeUndefined();
    const hold = created.body.data?.ledgerCreateHold.hold;
    expect(hold).toMatchObject({ status: "pending", amount: "600" });
    const account = await api.graphql(`query($id: BigInt!) { ledgerAccount(accountId: $id) { balance pendingOut availableBalance } }`, { id: from }, buyer.accessToken);
    expect(account.body.data?.ledgerAccount).toEqual({ balance: "1000", pendingOut: "600", availableBalance: "400" });

    const posted = await api.graphql(
      `mutation($input: LedgerPostHoldInput!) { ledgerPostHold(input: $input) { transaction { kind holdId } } }`,
      { input: { holdId: hold.holdId, amount: "450" } },
      buyer.accessToken,
    );
    expect(posted.body.data?.ledgerPostHold.transaction).toEqual({ kind: "hold_post", holdId: hold.holdId });
    const voided = await api.graphql(`mutation($input: LedgerVoidHoldInput!) { ledgerVoidHold(input: $input) { hold { status } } }`, { input: { holdId: hold.holdId } }, buyer.accessToken);
    expect(codesOf(voided)).toEqual(["LHOLD"]);
    const seen = await api.graphql(`{ ledgerHolds { nodes { holdId status postedAmount } } }`, {}, seller.accessToken);
    expect(seen.body.data?.ledgerHolds.nodes).toEqual([{ holdId: hold.holdId, status: "posted", postedAmount: "450" }]);
  });
});

describe("what an ordinary account may ask of a transfer (issue 15)", () => {
  it("refuses a reversal label without a reversed transaction, an effectiveAt of 1970 and 900 kB of metadata", async () => {
    const mallory = await registerUser(api, "ledmal");
    const wallet = await walletWith(mallory, 100);
    const other = await createAccount(mallory.accessToken, { code: "other", name: "Other" });
    for (const kind of ["reversal", "hold_post", "adjustment", "conversion"]) {
      expect(codesOf(await postTransfer(mallory.accessToken, { fromAccountId: wallet, toAccountId: other, amount: "1", kind })), kind).toEqual(["LKIND"]);
    }
    expect(codesOf(await postTransfer(mallory.accessToken, { fromAccountId: wallet, toAccountId: other, amount: "1", effectiveAt: "1970-01-01T00:00:00Z" }))).toEqual(["LDATE"]);
    const metadata = { blob: "x".repeat(900_000) };
    expect(codesOf(await postTransfer(mallory.accessToken, { fromAccountId: wallet, toAccountId: other, amount: "1", metadata }))).toEqual(["LMETA"]);
    const { rows } = await rootDb().query("select count(*)::int as n from ledger.entries where account_id = $1", [other]);
    expect(rows[0].n).toBe(0);
    expect((await postTransfer(mallory.accessToken, { fromAccountId: wallet, toAccountId: other, amount: "1", metadata: { orderId: "o-1" } })).body.errors).toBeUndefined();
  });
});

describe("statements", () => {
  it("list an account's entries with their running balance, a page at a time", async () => {
    const user = await registerUser(api, "ledapig");
    const other = await registerUser(api, "ledapih");
    const wallet = await walletWith(user, 100);
    const otherWallet = await walletWith(other, 0);
    for (const amount of ["10", "20", "30"]) {
      expect((await postTransfer(user.accessToken, { fromAccountId: wallet, toAccountId: otherWallet, amount })).body.errors).toBeUndefined();
    }
    const page = (after: string | null) =>
      api.graphql(
        `query($id: BigInt!, $after: Cursor) {
           ledgerEntries(condition: { accountId: $id }, orderBy: ACCOUNT_VERSION_ASC, first: 2, after: $after) {
             nodes { accountVersion amount balanceAfter }
             pageInfo { hasNextPage endCursor }
           } }`,
        { id: wallet, after },
        user.accessToken,
      );
    const first = await page(null);
    expect(first.body.errors).toBeUndefined();
    expect(first.body.data?.ledgerEntries.nodes).toEqual([
      { accountVersion: "1", amount: "100", balanceAfter: "100" },
      { accountVersion: "2", amount: "-10", balanceAfter: "90" },
    ]);
    expect(first.body.data?.ledgerEntries.pageInfo.hasNextPage).toBe(true);
    const second = await page(first.body.data?.ledgerEntries.pageInfo.endCursor);
    expect(second.body.data?.ledgerEntries.nodes).toEqual([
      { accountVersion: "3", amount: "-20", balanceAfter: "70" },
      { accountVersion: "4", amount: "-30", balanceAfter: "40" },
    ]);
    expect(second.body.data?.ledgerEntries.pageInfo.hasNextPage).toBe(false);
    // Someone else's statement is empty for them, though the entries exist.
    const foreign = await api.graphql(`query($id: BigInt!) { ledgerEntries(condition: { accountId: $id }) { totalCount } }`, { id: wallet }, other.accessToken);
    expect(foreign.body.data?.ledgerEntries.totalCount).toBe(0);
    const { rows } = await rootDb().query("select count(*)::int as n from ledger.entries where account_id = $1", [wallet]);
    expect(rows[0].n).toBe(4);
  });
});

describe("operators", () => {
  it("read the trial balance and currency totals, reverse once, and close periods", async () => {
    const user = await registerUser(api, "ledapii");
    const wallet = await walletWith(user, 300);
    expect(codesOf(await api.graphql(`{ ledgerTrialBalance { nodes { currency } } }`, {}, user.accessToken))).toEqual(["42501"]);

    const totals = await api.graphql(`{ ledgerCurrencyTotals { nodes { currency debits credits net } } }`, {}, operatorToken);
    expect(totals.body.errors).toBeUndefined();
    const usd = totals.body.data?.ledgerCurrencyTotals.nodes.find((row: { currency: string }) => row.currency === "USD");
    expect(usd.net).toBe("0");
    expect(usd.debits).toBe(usd.credits);
    const trial = await api.graphql(`{ ledgerTrialBalance { nodes { currency kind accounts debits credits } } }`, {}, operatorToken);
    expect(trial.body.data?.ledgerTrialBalance.nodes.length).toBeGreaterThan(0);
    expect((await api.graphql(`{ ledgerVerify { nodes { problem } } }`, {}, operatorToken)).body.data?.ledgerVerify.nodes).toEqual([]);

    const funding = await api.graphql(`query($id: BigInt!) { ledgerEntries(condition: { accountId: $id }) { nodes { transactionId } } }`, { id: wallet }, user.accessToken);
    const transactionId = funding.body.data?.ledgerEntries.nodes[0].transactionId;
    const reverse = () =>
      api.graphql(`mutation($input: LedgerReverseInput!) { ledgerReverse(input: $input) { transaction { kind reversesId } } }`, { input: { transactionId } }, operatorToken);
    // Reversing takes the money back from the user's wallet: only someone who may debit it may do so.
    const stranger = await registerUser(api, "ledapij");
    expect(codesOf(await api.graphql(`mutation($input: LedgerReverseInput!) { ledgerReverse(input: $input) { transaction { kind } } }`, { input: { transactionId } }, stranger.accessToken))).toEqual(["DNIED"]);
    expect((await reverse()).body.data?.ledgerReverse.transaction).toEqual({ kind: "reversal", reversesId: transactionId });
    expect(codesOf(await reverse())).toEqual(["LREVD"]);

    const year = 1990 + (process.pid % 5);
    const period = await api.graphql(
      `mutation($input: LedgerCreatePeriodInput!) { ledgerCreatePeriod(input: $input) { period { periodId } } }`,
      { input: { name: `${year}-06`, startsAt: `${year}-06-01T00:00:00Z`, endsAt: `${year}-07-01T00:00:00Z` } },
      operatorToken,
    );
    expect(period.body.errors).toBeUndefined();
    const periodId = period.body.data?.ledgerCreatePeriod.period.periodId;
    const closed = await api.graphql(`mutation($input: LedgerClosePeriodInput!) { ledgerClosePeriod(input: $input) { period { closedAt } } }`, { input: { periodId } }, operatorToken);
    expect(closed.body.data?.ledgerClosePeriod.period.closedAt).toBeTruthy();
    const late = await postTransfer(operatorToken, { fromAccountId: world, toAccountId: wallet, amount: "1", effectiveAt: `${year}-06-15T00:00:00Z` });
    expect(codesOf(late)).toEqual(["LPCLS"]);
    expect(codesOf(await api.graphql(`mutation($input: LedgerClosePeriodInput!) { ledgerClosePeriod(input: $input) { period { closedAt } } }`, { input: { periodId } }, user.accessToken))).toEqual(["42501"]);
  });
});
