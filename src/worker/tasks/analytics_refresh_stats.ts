import type { Task } from "graphile-worker";

/** Refreshes analytics.mv_event_daily_stats concurrently (crontab, hourly): dashboards keep reading the previous contents meanwhile. */
export const analytics_refresh_stats: Task = async (_payload, helpers) => {
  await helpers.query("select analytics_private.refresh_stats()");
};
