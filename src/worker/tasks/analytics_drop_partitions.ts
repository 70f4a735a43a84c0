import type { Task } from "graphile-worker";

/**
 * Retention (crontab, daily): drops the partitions of months older than each
 * table's retention window (13 months unless an operator set another) and
 * forgets ingestion client ids older than their dedupe window.
 */
export const analytics_drop_partitions: Task = async (_payload, helpers) => {
  const { rows } = await helpers.query<{ dropped: string }>("select dropped from analytics_private.drop_expired_partitions()");
  if (rows.length > 0) helpers.logger.info(`dropped expired partitions: ${rows.map((row) => row.dropped).join(", ")}`);
  await helpers.query("select analytics_private.prune_ingest_keys()");
};
