import type { Claims, TestTransaction } from "../../helpers/db.ts";
import { createUser, one, ownFootprint, roleClaims, type TestUser } from "../../helpers/fixtures.ts";
import type { Queryable } from "../ledger/fixtures.ts";
import { createTenant, publishedEvent, type EventInput, type Tenant } from "../events/fixtures.ts";

/**
 * Sponsorship fixtures for SQL tests: an organizer with a published event, a
 * sponsoring organization with a funded wallet, proposals and orders made
 * through the module's functions, and the ledger read as root.
 */

/** Credits an organization's wallet as a provider payment would (trusted: root or the owner); returns the wallet id. */
export async function fundOrganization(db: Queryable, organizationId: string, amount: number, currency = "USD"): Promise<string> {
  const { rows } = await db.query<{ wallet: string }>(
    `select payments_private.organization_account($1, 'wallet', $3) as wallet,
            ledger_private.transfer(payments_private.system_account('payments.clearing.test', 'Clearing: test', $3, 'asset', true),
              payments_private.organization_account($1, 'wallet', $3), $2, $3, null, 'payments.funding', 'test funding', null, null, null, false)`,
    [organizationId, String(amount), currency],
  );
  return rows[0]!.wallet;
}

export interface Parties {
  organizer: Tenant;
  sponsor: Tenant & { sponsorId: string; walletId: string };
  eventId: string;
  /** An operator (gw_admin) with no organization. */
  operator: Claims;
}

/** A sponsor profile of the tenant's organization; returns its id. Leaves the transaction as the tenant. */
export async function registerSponsor(tx: TestTransaction, tenant: Tenant, input: { interests?: string[]; countryCode?: string | null } = {}): Promise<string> {
  await tx.become(tenant.claims);
  return (
    await one<{ sponsor_id: string }>(
      tx,
      "insert into sponsorship.sponsors (name, interests, country_code) values ($1, $2, $3) returning sponsor_id",
      [`Sponsor ${tenant.organization.slug}`, input.interests ?? ["music.jazz"], input.countryCode === undefined ? "NG" : input.countryCode],
    )
  ).sponsor_id;
}

/** An organizer with a published event, a sponsor whose wallet holds `funds`, and an operator. */
export async function createParties(tx: TestTransaction, label: string, funds = 1_000_000, event: EventInput = {}): Promise<Parties> {
  const organizer = await createTenant(tx, `${label}g`);
  const eventId = await publishedEvent(tx, organizer, event);
  const sponsorTenant = await createTenant(tx, `${label}s`);
  const sponsorId = await registerSponsor(tx, sponsorTenant);
  const walletId = await tx.asRoot(() => fundOrganization(tx, sponsorTenant.organization.organizationId, funds));
  const operatorUser = await createUser(tx, `${label}op`);
  const operator = await roleClaims(tx, operatorUser, "gw_admin");
  return { organizer, sponsor: { ...sponsorTenant, sponsorId, walletId }, eventId, operator };
}

export interface ProposalRow {
  proposal_id: string;
  status: string;
  amount: string;
  proposed_by: string;
  [column: string]: unknown;
}

/** sponsorship.create_proposal as `claims` (the organizer by default). */
export async function draftProposal(
  tx: TestTransaction,
  parties: Parties,
  input: { amount?: number; by?: Claims; packageId?: string | null; expiresAt?: Date | null; currency?: string | null } = {},
): Promise<ProposalRow> {
  await tx.become(input.by ?? parties.organizer.claims);
  return one<ProposalRow>(
    tx,
    "select * from sponsorship.create_proposal(event_id => $1, sponsor_id => $2, amount => $3, terms => $4, currency => $5, package_id => $6, expires_at => $7)",
    [parties.eventId, parties.sponsor.sponsorId, String(input.amount ?? 100_000), "Logo on the stage banner; two booth passes.",
      input.currency ?? null, input.packageId ?? null, input.expiresAt ?? null],
  );
}

/** Runs a sponsorship function as `claims`, returning its row. */
export async function step<R extends Record<string, unknown> = Record<string, unknown>>(
  tx: TestTransaction,
  claims: Claims,
  sql: string,
  values: unknown[],
): Promise<R> {
  await tx.become(claims);
  return one<R>(tx, sql, values);
}

/** A pending order from a proposal drafted and sent by the organizer, viewed and accepted by the sponsor. */
export async function pendingOrder(tx: TestTransaction, parties: Parties, amount = 100_000, packageId: string | null = null): Promise<OrderRow> {
  const proposal = await draftProposal(tx, parties, { amount, packageId });
  await step(tx, parties.organizer.claims, "select * from sponsorship.send_proposal($1)", [proposal.proposal_id]);
  await step(tx, parties.sponsor.claims, "select * from sponsorship.view_proposal($1)", [proposal.proposal_id]);
  return step<OrderRow>(tx, parties.sponsor.claims, "select * from sponsorship.accept_proposal($1)", [proposal.proposal_id]);
}

export interface OrderRow {
  order_id: string;
  status: string;
  amount: string;
  escrow_account_id: string | null;
  fund_transaction_id: string | null;
  release_transaction_id: string | null;
  refund_transaction_id: string | null;
  fee: string | null;
  [column: string]: unknown;
}

/** Balance of a ledger account, read as root. */
export async function balance(tx: TestTransaction, accountId: string | null): Promise<number> {
  if (accountId === null) throw new Error("no account");
  return tx.asRoot(async () => Number((await one<{ balance: string }>(tx, "select balance from ledger.accounts where account_id = $1", [accountId])).balance));
}

/** The wallet account of an organization in USD (opened if needed), as root. */
export async function walletOf(tx: TestTransaction, organizationId: string): Promise<string> {
  return tx.asRoot(async () => (await one<{ id: string }>(tx, "select payments_private.organization_account($1, 'wallet', 'USD') as id", [organizationId])).id);
}

/** The platform's revenue account from an organization in USD, as root. */
export async function revenueOf(tx: TestTransaction, organizationId: string): Promise<string> {
  return tx.asRoot(async () => (await one<{ id: string }>(tx, "select payments_private.revenue_account($1, 'USD') as id", [organizationId])).id);
}

/** A ledger transaction's entries as root: [account, amount] sorted by line, and their sum. */
export async function entriesOf(tx: TestTransaction, transactionId: string | null): Promise<{ entries: [string, number][]; sum: number; kind: string }> {
  if (transactionId === null) throw new Error("no transaction");
  return tx.asRoot(async () => {
    const { rows } = await tx.query<{ account_id: string; amount: string; kind: string }>(
      "select e.account_id, e.amount, t.kind from ledger.entries e join ledger.transactions t using (transaction_id) where e.transaction_id = $1 order by e.line",
      [transactionId],
    );
    const entries = rows.map((row): [string, number] => [row.account_id, Number(row.amount)]);
    return { entries, sum: entries.reduce((total, [, amount]) => total + amount, 0), kind: rows[0]?.kind ?? "" };
  });
}

/** ledger.verify() as root: no rows means consistent books. */
export async function verify(tx: TestTransaction): Promise<unknown[]> {
  return tx.asRoot(async () => (await tx.query("select * from ledger.verify()")).rows);
}

/** Row counts of what sponsorship steps write, of this test's own rows (to prove that a step wrote nothing). */
export async function footprint(tx: TestTransaction): Promise<Record<string, number>> {
  return ownFootprint(tx, {
    orders: ["count(*)", "sponsorship.orders"],
    proposals: ["count(*)", "sponsorship.proposals"],
    deliverables: ["count(*)", "sponsorship.deliverables"],
    transactions: ["count(*)", "ledger.transactions"],
    entries: ["count(*)", "ledger.entries"],
    events: ["count(*)", "outbox.events"],
    sold: ["coalesce(sum(sold), 0)", "sponsorship.packages"],
    moved: ["count(*)", "sponsorship.orders", "status <> 'pending'"],
  });
}

export type { Tenant, TestUser };
