import type { Claims, TestTransaction } from "../../helpers/db.ts";
import { createOrganization, createUser, one, ownFootprint, type TestOrganization, type TestUser } from "../../helpers/fixtures.ts";
import type { Queryable } from "../ledger/fixtures.ts";

/**
 * Commerce fixtures for SQL tests: a merchant (an organization whose owner acts
 * in it), products and prices made as the merchant, customers with funded
 * wallets (credited as a provider payment would, as trusted code).
 */

export interface Merchant {
  owner: TestUser;
  organization: TestOrganization;
  /** The owner acting in the organization (org_id claim). */
  claims: Claims;
}

/** A user who owns a new organization, acting in it. Leaves the transaction as that owner. */
export async function createMerchant(tx: TestTransaction, label: string): Promise<Merchant> {
  const owner = await createUser(tx, `${label}o`);
  const organization = await createOrganization(tx, owner, label);
  return { owner, organization, claims: { ...owner.claims, org_id: organization.organizationId } };
}

/** A product of the merchant (as its owner); returns its id. */
export async function createProduct(tx: TestTransaction, merchant: Merchant, name = "Widget", category: string | null = "digital"): Promise<string> {
  await tx.become(merchant.claims);
  const row = await one<{ product_id: string }>(tx, "insert into commerce.products (name, category) values ($1, $2) returning product_id", [name, category]);
  return row.product_id;
}

export interface PriceInput {
  amount?: number | string;
  currency?: string;
  interval?: string | null;
  count?: number | null;
  trialDays?: number;
}

/** A price of the product made through commerce.create_price as the merchant; returns its id. */
export async function createPrice(tx: TestTransaction, merchant: Merchant, productId: string, input: PriceInput = {}): Promise<string> {
  await tx.become(merchant.claims);
  const row = await one<{ price_id: string }>(
    tx,
    "select price_id from commerce.create_price($1, $2, $3, $4::interval, $5, $6)",
    [productId, input.currency ?? "USD", String(input.amount ?? 1000), input.interval ?? null, input.count ?? null, input.trialDays ?? 0],
  );
  return row.price_id;
}

/** A merchant with one product and a one-time price of `amount`. */
export async function createShop(tx: TestTransaction, label: string, amount = 1000) {
  const merchant = await createMerchant(tx, label);
  const productId = await createProduct(tx, merchant);
  const priceId = await createPrice(tx, merchant, productId, { amount });
  return { merchant, productId, priceId };
}

/** Credits a user's wallet as a provider payment would (trusted: run as root or the owner); returns the wallet id. */
export async function fund(db: Queryable, userId: string, amount: number, currency = "USD"): Promise<string> {
  const { rows } = await db.query<{ wallet: string }>(
    `select payments_private.user_wallet($1, $3) as wallet,
            ledger_private.transfer(payments_private.system_account('payments.clearing.test', 'Clearing: test', $3, 'asset', true),
              payments_private.user_wallet($1, $3), $2, $3, null, 'payments.funding', 'test funding', null, null, null, false)`,
    [userId, String(amount), currency],
  );
  return rows[0]!.wallet;
}

/** A signed-up user whose USD wallet holds `amount`. Leaves the transaction as root. */
export async function createCustomer(tx: TestTransaction, label: string, amount = 100000): Promise<TestUser & { walletId: string }> {
  const user = await createUser(tx, label);
  const walletId = await tx.asRoot(() => fund(tx, user.userId, amount));
  return { ...user, walletId };
}

/** commerce.checkout as `claims`; returns the order row. */
export async function checkout(
  tx: TestTransaction,
  claims: Claims,
  items: Array<{ priceId: string; quantity?: number }>,
  options: { key?: string; code?: string | null; points?: number } = {},
) {
  await tx.become(claims);
  return one<Order>(
    tx,
    "select * from commerce.checkout($1, $2, $3, $4)",
    [options.key ?? `k-${Math.random()}`, JSON.stringify(items), options.code ?? null, options.points ?? 0],
  );
}

export type Order = {
  order_id: string;
  status: string;
  subtotal: string;
  discount: string;
  points_spent: string;
  points_value: string;
  total: string;
  fee: string;
  transaction_id: string | null;
  points_transaction_id: string | null;
  refunded_amount: string;
};

/** Balance of a ledger account, read as root. */
export async function balance(tx: TestTransaction, accountId: string): Promise<number> {
  return tx.asRoot(async () => Number((await one<{ balance: string }>(tx, "select balance from ledger.accounts where account_id = $1", [accountId])).balance));
}

/** A user's points (XLP wallet) balance, read as root (0 without a wallet). */
export async function points(tx: TestTransaction, userId: string): Promise<number> {
  return tx.asRoot(async () =>
    Number((await one<{ b: string }>(tx, "select coalesce((select balance from ledger.accounts where owner_user_id = $1 and code = 'payments.wallet.xlp'), 0) as b", [userId])).b),
  );
}

/** ledger.verify() as root: no rows means consistent books. */
export async function verify(tx: TestTransaction): Promise<unknown[]> {
  return tx.asRoot(async () => (await tx.query("select * from ledger.verify()")).rows);
}

/** Row counts of everything commerce writes, and of the ledger, that this test wrote (to prove that a call wrote nothing). */
export async function footprint(tx: TestTransaction): Promise<Record<string, number>> {
  return ownFootprint(tx, {
    orders: ["count(*)", "commerce.orders"],
    items: ["count(*)", "commerce.order_items"],
    prices: ["count(*)", "commerce.prices"],
    promotions: ["count(*)", "commerce.promotions"],
    redeemed: ["coalesce(sum(redeemed), 0)", "commerce.promotions"],
    redemptions: ["count(*)", "commerce.promotion_redemptions"],
    subscriptions: ["count(*)", "commerce.subscriptions"],
    charges: ["count(*)", "commerce.subscription_charges"],
    transactions: ["count(*)", "ledger.transactions"],
    entries: ["count(*)", "ledger.entries"],
    events: ["count(*)", "outbox.events"],
    lots: ["count(*)", "payments.credit_lots"],
  });
}

/** Sets the commerce clock for the rest of the transaction. */
export async function setClock(tx: TestTransaction, at: Date | string): Promise<void> {
  await tx.query("select set_config('commerce.now', $1, true)", [new Date(at).toISOString()]);
}

export const days = (n: number) => n * 24 * 3600 * 1000;

export interface ScheduledRenewal {
  run_at: Date;
  /** calendar: a row of commerce_private.renewal_calendar (due beyond the hand-off horizon); job: a graphile-worker job. */
  place: "calendar" | "job";
  /** Calendar rows and jobs of the subscription's key together: 1 when it is scheduled once. */
  n: number;
}

/**
 * Where a subscription's next renewal is scheduled, wherever it is: its row in
 * the renewal calendar or its job keyed commerce_renew:<id> (undefined: not
 * scheduled). Read as root or the owner.
 */
export async function scheduledRenewal(db: Queryable, subscriptionId: string): Promise<ScheduledRenewal | undefined> {
  const { rows } = await db.query<ScheduledRenewal>(
    `with s as (select c.run_at, 'calendar' as place from commerce_private.renewal_calendar c where c.subscription_id = $1::uuid
                union all
                select j.run_at, 'job' from graphile_worker.jobs j where j.key = 'commerce_renew:' || $1::text)
     select run_at, place, (select count(*)::int from s) as n from s`,
    [subscriptionId],
  );
  return rows[0];
}
