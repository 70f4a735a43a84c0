import type { Task } from "graphile-worker";

/** Events embedded per statement: each batch is its own transaction. */
export const embedBatchSize = 1000;

/**
 * Computes the hash-v1 embeddings of events that have none or whose text
 * changed (crontab, every five minutes), batch by batch until none is left,
 * then records the events' features from analytics.
 */
export const ml_embed_events: Task = async (_payload, helpers) => {
  let total = 0;
  for (;;) {
    const { rows } = await helpers.query<{ n: number }>("select ml_private.embed_events($1) as n", [embedBatchSize]);
    const n = rows[0]?.n ?? 0;
    total += n;
    if (n < embedBatchSize) break;
  }
  await helpers.query("select ml_private.record_event_features()");
  if (total > 0) helpers.logger.info(`embedded ${total} events`);
};
