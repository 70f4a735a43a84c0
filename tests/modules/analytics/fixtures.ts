import type { Claims, TestTransaction } from "../../helpers/db.ts";
import { one } from "../../helpers/fixtures.ts";

/** Analytics fixtures: impressions through the one ingestion function, as `claims`. */

export interface Impression {
  stream?: string;
  clientId: string;
  id: string;
  occurredAt?: string;
  visitorId?: string;
  source?: string;
  countryCode?: string;
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface IngestResult {
  received: number;
  accepted: number;
  duplicates: number;
}

/** An ISO time `days` before now (negative: after). */
export const daysAgo = (days: number) => new Date(Date.now() - days * 86400e3).toISOString();

/** analytics.ingest_impressions as `claims`; event stream and now unless given. */
export async function ingest(tx: TestTransaction, claims: Claims, impressions: Impression[] | unknown): Promise<IngestResult> {
  await tx.become(claims);
  const items = Array.isArray(impressions)
    ? impressions.map((item: Impression) => ({ stream: "event", occurredAt: new Date().toISOString(), ...item }))
    : impressions;
  const row = await one<{ result: IngestResult }>(tx, "select analytics.ingest_impressions($1::jsonb) as result", [JSON.stringify(items)]);
  return row.result;
}

/** The partitions of a table (names without schema), as root. */
export async function partitionsOf(tx: TestTransaction, table: string): Promise<string[]> {
  return tx.asRoot(async () => {
    const { rows } = await tx.query<{ partition_name: string }>("select partition_name from analytics_private.month_partitions($1)", [table]);
    return rows.map((row) => row.partition_name);
  });
}

/** The partition suffix (YYYY_MM) of a time, UTC. */
export const monthOf = (iso: string) => iso.slice(0, 7).replace("-", "_");
