import type { Task } from "graphile-worker";
import { drain } from "../drain.ts";

/** Appends committed change-log rows to the audit hash chain (crontab, every minute), ten thousand per statement. */
export const audit_seal: Task = async (_payload, helpers) => {
  const sealed = await drain(helpers, "select audit_private.seal($1) as handled", 10_000);
  if (sealed > 0) helpers.logger.debug(`sealed ${sealed} audit rows`);
};
