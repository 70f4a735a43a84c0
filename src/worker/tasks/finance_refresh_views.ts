import type { Task } from "graphile-worker";

/** Refreshes finance.mv_monthly_revenue and finance.mv_customer_value concurrently (crontab, every 10 minutes). */
export const finance_refresh_views: Task = async (_payload, helpers) => {
  await helpers.query("select finance.refresh_views()");
};
