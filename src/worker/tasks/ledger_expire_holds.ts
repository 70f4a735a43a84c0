import type { Task } from "graphile-worker";
import { drain } from "../drain.ts";

/** Releases pending ledger holds past their expiry (crontab, every minute), a thousand per statement. */
export const ledger_expire_holds: Task = async (_payload, helpers) => {
  const expired = await drain(helpers, "select ledger_private.expire_holds($1) as handled", 1_000);
  if (expired > 0) helpers.logger.info(`expired ${expired} ledger holds`);
};
