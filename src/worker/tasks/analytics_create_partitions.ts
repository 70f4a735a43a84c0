import type { Task } from "graphile-worker";

/** Creates the current and coming months' partitions of every analytics table (crontab, daily); idempotent. */
export const analytics_create_partitions: Task = async (_payload, helpers) => {
  const { rows } = await helpers.query<{ created: number }>("select analytics_private.create_partitions() as created");
  const created = rows[0]?.created ?? 0;
  if (created > 0) helpers.logger.info(`created ${created} analytics partitions`);
};
