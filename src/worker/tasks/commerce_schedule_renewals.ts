import type { Task } from "graphile-worker";
import { drain } from "../drain.ts";

/**
 * Hands the renewal calendar's rows due within the horizon (10 minutes) to
 * graphile-worker as renewal jobs at their exact run_at (crontab, every
 * minute), a thousand per statement: one add_jobs and one notification per
 * batch, instead of one notifying add_job in every renewal's commit.
 */
export const commerce_schedule_renewals: Task = async (_payload, helpers) => {
  const handed = await drain(helpers, "select commerce_private.hand_over_renewals($1) as handled", 1_000);
  if (handed > 0) helpers.logger.info(`handed ${handed} subscription renewals to the job queue`);
};
