import type { Task } from "graphile-worker";

/** Months of finance.transactions partitions kept ready beyond the current one. */
const monthsAhead = 3;

/** Creates the coming months' finance.transactions partitions (crontab, daily); idempotent. */
export const finance_create_partitions: Task = async (_payload, helpers) => {
  const { rows } = await helpers.query<{ created: number }>("select finance_private.create_transaction_partitions($1) as created", [monthsAhead]);
  const created = rows[0]?.created ?? 0;
  if (created > 0) helpers.logger.info(`created ${created} finance.transactions partitions`);
};
