import type pg from "pg";
import { uniqueName } from "../../helpers/fixtures.ts";

/** A pool, a client or a test transaction: whatever runs SQL. */
export interface Queryable {
  query<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * Ledger fixtures. `db` is anything with query(): a rolled-back test
 * transaction (as root) or a pool (committed data, concurrency tests).
 */

export interface AccountOptions {
  currency?: string;
  kind?: string;
  ownerUserId?: string | null;
  organizationId?: string | null;
  allowNegative?: boolean;
  allowPositive?: boolean;
}

/** Opens an account as trusted code (the caller must be root or the owner) and returns its id. */
export async function openAccount(db: Queryable, label: string, options: AccountOptions = {}): Promise<string> {
  const { rows } = await db.query<{ account_id: string }>(
    "select account_id from ledger.create_account($1, $2, $3, $4, $5, $6, $7, $8)",
    [
      uniqueName(label).toLowerCase(),
      label,
      options.currency ?? "USD",
      options.kind ?? "liability",
      options.ownerUserId ?? null,
      options.organizationId ?? null,
      options.allowNegative ?? false,
      options.allowPositive ?? true,
    ],
  );
  return rows[0]!.account_id;
}

/** A system funding account that may go negative (equity: where money enters the books). */
export const openWorld = (db: Queryable, currency = "USD") =>
  openAccount(db, `world_${currency.toLowerCase()}`, { currency, kind: "equity", allowNegative: true });

/** post_transfer as the current role; returns the transaction id. */
export async function transfer(db: Queryable, from: string, to: string, amount: number | bigint, currency = "USD", key: string | null = null): Promise<string> {
  const { rows } = await db.query<{ transaction_id: string }>(
    "select transaction_id from ledger.post_transfer($1, $2, $3, $4, $5)",
    [from, to, String(amount), currency, key],
  );
  return rows[0]!.transaction_id;
}

export async function balanceOf(db: Queryable, accountId: string): Promise<{ balance: number; pendingOut: number; pendingIn: number; version: number }> {
  const { rows } = await db.query<{ balance: string; pending_out: string; pending_in: string; version: string }>(
    "select balance, pending_out, pending_in, version from ledger.accounts where account_id = $1",
    [accountId],
  );
  const row = rows[0]!;
  return { balance: Number(row.balance), pendingOut: Number(row.pending_out), pendingIn: Number(row.pending_in), version: Number(row.version) };
}

/** ledger.verify() as root/owner: every disagreement between balances, entries and holds. */
export async function verifyLedger(db: Queryable): Promise<unknown[]> {
  const { rows } = await db.query("select * from ledger.verify()");
  return rows;
}
