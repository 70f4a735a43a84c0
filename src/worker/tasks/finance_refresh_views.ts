import type { Task } from "graphile-worker";

/** Refreshes the reporting views (finance_private.mv_monthly_revenue, mv_customer_value) concurrently (crontab, every 10 minutes). */
export const finance_refresh_views: Task = async (_payload, helpers) => {
  await helpers.query("select finance.refresh_views()");
};
