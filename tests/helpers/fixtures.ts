import { randomBytes } from "node:crypto";
import type { RequestRole } from "../../src/modules.ts";
import type { Claims, TestTransaction } from "./db.ts";

/**
 * Fixtures for the SQL tests. They create data the way the API does (as the
 * request role, through the auth functions), inside the caller's transaction,
 * so everything rolls back with it.
 */

export const anonymous: Claims = { role: "gw_anonymous" };
export const password = "correct horse 42";

let counter = 0;
/**
 * A name no concurrent test uses: label, pid, a counter and a random tag
 * (concurrent transactions inserting the same unique key would block each other).
 */
export function uniqueName(label: string, separator = "_"): string {
  const name = [label, process.pid, ++counter, randomBytes(2).toString("hex")].join(separator);
  if (name.length > 32) throw new Error(`label ${label} is too long for a username`);
  return name;
}

export interface TestUser {
  userId: string;
  username: string;
  email: string;
  /** The session family (the sid claim). */
  sessionId: string;
  refreshToken: string;
  /** The claims of an access token for this user's first session. */
  claims: Claims & { sub: string; sid: string };
}

/** The first row of a query; fails the test if there is none. */
export async function one<R extends Record<string, unknown>>(tx: TestTransaction, text: string, values?: unknown[]): Promise<R> {
  const { rows } = await tx.query<R>(text, values);
  const row = rows[0];
  if (!row) throw new Error(`no row from: ${text}`);
  return row;
}

/** count(*) as superuser, bypassing RLS: proves that what a role cannot see exists. */
export async function countAsRoot(tx: TestTransaction, text: string, values?: unknown[]): Promise<number> {
  return tx.asRoot(async () => (await one<{ n: number }>(tx, `select count(*)::int as n from ${text}`, values)).n);
}

/** One measure of a footprint: an aggregate over a table's rows, optionally narrowed by a condition. */
export type Measure = [aggregate: string, table: string, where?: string];

/**
 * What this test's own transaction has written, measured as root: each measure
 * over only the rows whose version this still-open transaction (or one of its
 * savepoints, or a plpgsql exception block inside it) wrote. Equal before and
 * after a refused call means the call wrote nothing to any of these tables —
 * neither an insert nor an update (an update writes a new version, so it counts
 * as this transaction's too). Whole-table counts would also see rows that other
 * test files commit at the same time (API and worker tests write to the same
 * ledger and outbox), so they fail at random once files run side by side.
 *
 * A visible row whose xmin is still in progress can only be this transaction's:
 * another open transaction's rows are invisible to it. xmin is 32 bits and
 * pg_xact_status takes a 64-bit id: the two agree while the cluster is in its
 * first xid epoch, which a test database is; the check below refuses to measure
 * otherwise rather than count nothing as ours and pass vacuously.
 */
export async function ownFootprint(tx: TestTransaction, measures: Record<string, Measure>): Promise<Record<string, number>> {
  return tx.asRoot(async () => {
    const { wrapped } = await one<{ wrapped: boolean }>(tx, "select pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::bigint >= 4294967296 as wrapped");
    if (wrapped) throw new Error("ownFootprint: the test database is past its first xid epoch; xmin cannot be compared with pg_xact_status");
    const columns = Object.entries(measures).map(
      ([name, [aggregate, table, where]]) =>
        `(select ${aggregate} from ${table} t where pg_catalog.pg_xact_status(t.xmin::text::xid8) = 'in progress'${where ? ` and (${where})` : ""}) as ${name}`,
    );
    const row = await one<Record<string, string>>(tx, `select ${columns.join(",\n       ")}`);
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
  });
}

/**
 * The token of the latest confirmation link for an address, as the mail task
 * would make it (auth_private.mail_for, as root): the tests' stand-in for the
 * mailbox. Call it inside asRoot in a test transaction.
 */
export async function confirmationToken(db: { query: TestTransaction["query"] }, email: string): Promise<string> {
  const { rows } = await db.query<{ token: string }>(
    `select m.token from auth_private.signups s cross join lateral auth_private.mail_for('verify_email', s.signup_id) m
      where lower(s.email) = lower($1) order by s.created_at desc limit 1`,
    [email],
  );
  if (!rows[0]) throw new Error(`no pending sign-up for ${email}`);
  return rows[0].token;
}

/**
 * Signs a user up as the API does, as gw_anonymous: auth.register, then
 * auth.verify_email with the token of the confirmation mail. Leaves the
 * transaction as gw_anonymous.
 */
export async function createUser(tx: TestTransaction, label: string): Promise<TestUser> {
  const username = uniqueName(label);
  const email = `${username}@example.com`;
  await tx.become(anonymous);
  await tx.query("select auth.register($1, $2, $3)", [username, email, password]);
  const token = await tx.asRoot(() => confirmationToken(tx, email));
  const grant = await one<{ user_id: string; session_id: string; refresh_token: string; error_code: string | null }>(
    tx,
    "select user_id, session_id, refresh_token, error_code from auth.verify_email($1)",
    [token],
  );
  if (grant.error_code) throw new Error(`register failed: ${grant.error_code}`);
  return {
    userId: grant.user_id,
    username,
    email,
    sessionId: grant.session_id,
    refreshToken: grant.refresh_token,
    claims: { role: "gw_user", sub: grant.user_id, sid: grant.session_id },
  };
}

export interface TestOrganization {
  organizationId: string;
  name: string;
  slug: string;
}

/** Creates an organization through auth.create_organization, owned by `owner`. Leaves the transaction as the owner. */
export async function createOrganization(tx: TestTransaction, owner: TestUser, label: string): Promise<TestOrganization> {
  const slug = uniqueName(label, "-").toLowerCase();
  await tx.become(owner.claims);
  const row = await one<{ organization_id: string; name: string; slug: string }>(
    tx,
    "select organization_id, name, slug from auth.create_organization($1, $2)",
    [`Org ${slug}`, slug],
  );
  return { organizationId: row.organization_id, name: row.name, slug: row.slug };
}

/** Adds `user` to the organization through auth.add_member, as `by`. Leaves the transaction as `by`. */
export async function addMember(
  tx: TestTransaction,
  by: TestUser,
  organization: TestOrganization,
  user: TestUser,
  role: "owner" | "admin" | "member" = "member",
): Promise<void> {
  await tx.become(by.claims);
  await tx.query("select auth.add_member($1, $2, $3)", [organization.organizationId, user.userId, role]);
}

/**
 * Grants `user` a role in auth.user_roles (as root) and returns claims that carry
 * it: the one way SQL tests become an operator (gw_admin) or staff member.
 */
export async function roleClaims(tx: TestTransaction, user: TestUser, role: RequestRole): Promise<Claims> {
  await tx.asRoot(() =>
    tx.query("insert into auth.user_roles (user_id, role_name) values ($1, $2) on conflict do nothing", [user.userId, role]),
  );
  return { ...user.claims, role };
}
