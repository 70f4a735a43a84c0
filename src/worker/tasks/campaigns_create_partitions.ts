import type { Task } from "graphile-worker";

/** Months of campaigns.ad_impressions partitions kept ready beyond the current one. */
const monthsAhead = 3;

/** Creates the coming months' campaigns.ad_impressions partitions (crontab, daily); idempotent. */
export const campaigns_create_partitions: Task = async (_payload, helpers) => {
  const { rows } = await helpers.query<{ created: number }>("select campaigns_private.create_partitions($1) as created", [monthsAhead]);
  const created = rows[0]?.created ?? 0;
  if (created > 0) helpers.logger.info(`created ${created} campaigns.ad_impressions partitions`);
};
