import type { Claims, TestTransaction } from "../../helpers/db.ts";
import { createUser, one, ownFootprint, type TestUser } from "../../helpers/fixtures.ts";
import type { Queryable } from "../ledger/fixtures.ts";
import { createTenant, inDays, publishedEvent, type EventInput, type Tenant } from "../events/fixtures.ts";

/**
 * Ticketing fixtures for SQL tests: a tenant with a published event and a
 * tier, buyers with funded wallets (credited as the inbox handler would, from
 * a provider's clearing account, as trusted code).
 */

export interface TierInput {
  name?: string;
  price?: number | string;
  currency?: string;
  capacity?: number;
  maxPerOrder?: number;
  salesStartsAt?: Date | null;
  salesEndsAt?: Date | null;
}

/** A tier of the event, added by the tenant (owner acting in it); returns its id. Leaves the transaction as the tenant. */
export async function createTier(tx: TestTransaction, tenant: Tenant, eventId: string, input: TierInput = {}): Promise<string> {
  await tx.become(tenant.claims);
  const row = await one<{ tier_id: string }>(
    tx,
    `insert into ticketing.ticket_tiers (event_id, name, price, currency, capacity, max_per_order, sales_starts_at, sales_ends_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8) returning tier_id`,
    [eventId, input.name ?? "General", String(input.price ?? 10000), input.currency ?? "USD", input.capacity ?? 100, input.maxPerOrder ?? 10,
      input.salesStartsAt ?? null, input.salesEndsAt ?? null],
  );
  return row.tier_id;
}

export interface Shop {
  tenant: Tenant;
  eventId: string;
  tierId: string;
}

/** A tenant with a published event (in 7 days) and a tier. */
export async function createShop(tx: TestTransaction, label: string, tier: TierInput = {}, event: EventInput = {}): Promise<Shop> {
  const tenant = await createTenant(tx, label);
  const eventId = await publishedEvent(tx, tenant, { startsAt: inDays(7), ...event });
  const tierId = await createTier(tx, tenant, eventId, tier);
  return { tenant, eventId, tierId };
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
export async function createBuyer(tx: TestTransaction, label: string, amount = 100000): Promise<TestUser & { walletId: string }> {
  const user = await createUser(tx, label);
  const walletId = await tx.asRoot(() => fund(tx, user.userId, amount));
  return { ...user, walletId };
}

/** ticketing.checkout as `claims` by tier and quantity; returns the order row. */
export async function checkout(tx: TestTransaction, claims: Claims, tierId: string, quantity = 1, key = `k-${Math.random()}`) {
  await tx.become(claims);
  return one<{ order_id: string; total: string; fee: string; transaction_id: string; status: string }>(
    tx,
    "select order_id, total, fee, transaction_id, status from ticketing.checkout(client_key => $1, tier_id => $2, quantity => $3)",
    [key, tierId, quantity],
  );
}

/** Balance of a ledger account, read as root. */
export async function balance(tx: TestTransaction, accountId: string): Promise<number> {
  return tx.asRoot(async () => Number((await one<{ balance: string }>(tx, "select balance from ledger.accounts where account_id = $1", [accountId])).balance));
}

/** ledger.verify() as root: no rows means consistent books. */
export async function verify(db: Queryable): Promise<unknown[]> {
  return (await db.query("select * from ledger.verify()")).rows;
}

/** Row counts of everything a checkout writes, of this test's own rows (to prove that nothing was written). */
export async function footprint(tx: TestTransaction): Promise<Record<string, number>> {
  return ownFootprint(tx, {
    orders: ["count(*)", "ticketing.orders"],
    items: ["count(*)", "ticketing.order_items"],
    tickets: ["count(*)", "ticketing.tickets"],
    holds: ["count(*)", "ticketing.ticket_holds"],
    transactions: ["count(*)", "ledger.transactions"],
    entries: ["count(*)", "ledger.entries"],
    sold: ["coalesce(sum(sold), 0)", "ticketing.ticket_tiers"],
    events: ["count(*)", "outbox.events"],
  });
}

export { createTenant, createUser, inDays };
