import type { Claims, TestTransaction } from "../../helpers/db.ts";
import { createOrganization, createUser, one, type TestOrganization, type TestUser } from "../../helpers/fixtures.ts";

/**
 * Events fixtures for SQL tests: organizations with an owner, claims acting in
 * an organization (the org_id claim), events made through events.create_event.
 */

/** Claims of `user` acting in `organization` (what switchOrganization puts in a token). */
export const actingIn = (user: TestUser, organization: TestOrganization): Claims => ({ ...user.claims, org_id: organization.organizationId });

export interface Tenant {
  owner: TestUser;
  organization: TestOrganization;
  /** The owner acting in the organization. */
  claims: Claims;
}

/** A user who owns a new organization. Leaves the transaction as that owner (no org_id). */
export async function createTenant(tx: TestTransaction, label: string): Promise<Tenant> {
  const owner = await createUser(tx, `${label}o`);
  const organization = await createOrganization(tx, owner, label);
  return { owner, organization, claims: actingIn(owner, organization) };
}

export interface EventInput {
  title?: string;
  startsAt?: Date | string;
  endsAt?: Date | string;
  categoryCode?: string | null;
  countryCode?: string | null;
  timezone?: string;
  venue?: string | null;
  description?: string | null;
  visibility?: "public" | "unlisted" | "private";
  capacity?: number | null;
  metadata?: Record<string, unknown>;
}

const day = 24 * 3600 * 1000;
/** A start `days` from now, at a fixed minute so ordering tests are stable. */
export const inDays = (days: number, hours = 0) => new Date(Math.floor(Date.now() / 60000) * 60000 + days * day + hours * 3600 * 1000);

/** events.create_event as `claims`; returns the event id. Leaves the transaction as `claims`. */
export async function createEvent(tx: TestTransaction, claims: Claims, input: EventInput = {}): Promise<string> {
  await tx.become(claims);
  const startsAt = input.startsAt ?? inDays(7);
  const endsAt = input.endsAt ?? new Date(new Date(startsAt).getTime() + 3 * 3600 * 1000);
  const row = await one<{ event_id: string }>(
    tx,
    `select event_id from events.create_event(title => $1, starts_at => $2, ends_at => $3, category_code => $4, country_code => $5,
       timezone => $6, venue => $7, description => $8, visibility => $9, capacity => $10, metadata => $11)`,
    [
      input.title ?? "Lagos Jazz Night",
      startsAt,
      endsAt,
      input.categoryCode === undefined ? "music.jazz" : input.categoryCode,
      input.countryCode === undefined ? "NG" : input.countryCode,
      input.timezone ?? "Africa/Lagos",
      input.venue ?? "Freedom Park",
      input.description ?? "Live jazz by the lagoon.",
      input.visibility ?? "public",
      input.capacity ?? null,
      JSON.stringify(input.metadata ?? {}),
    ],
  );
  return row.event_id;
}

/** events.publish_event as `claims`. */
export async function publishEvent(tx: TestTransaction, claims: Claims, eventId: string): Promise<void> {
  await tx.become(claims);
  await tx.query("select events.publish_event($1)", [eventId]);
}

/** A published event of the tenant; returns its id. Leaves the transaction as the tenant. */
export async function publishedEvent(tx: TestTransaction, tenant: Tenant, input: EventInput = {}): Promise<string> {
  const id = await createEvent(tx, tenant.claims, input);
  await publishEvent(tx, tenant.claims, id);
  return id;
}

/** The ids of the events `claims` can read, sorted. */
export async function visibleEventIds(tx: TestTransaction, claims: Claims, ids: string[]): Promise<string[]> {
  await tx.become(claims);
  const { rows } = await tx.query<{ event_id: string }>("select event_id from events.events where event_id = any($1::uuid[]) order by event_id", [ids]);
  return rows.map((row) => row.event_id);
}

/** A post on the event by the tenant; returns its id. */
export async function createPost(tx: TestTransaction, tenant: Tenant, eventId: string, body = "Doors open at seven."): Promise<string> {
  await tx.become(tenant.claims);
  return (await one<{ post_id: string }>(tx, "insert into events.event_posts (event_id, body) values ($1, $2) returning post_id", [eventId, body])).post_id;
}
