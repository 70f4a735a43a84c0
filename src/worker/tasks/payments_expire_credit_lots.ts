import type { Task } from "graphile-worker";
import { drain } from "../drain.ts";

/** Moves the remainder of expired credit lots to breakage revenue through the ledger, a hundred lots per statement. */
export const payments_expire_credit_lots: Task = async (_payload, helpers) => {
  const expired = await drain(helpers, "select payments_private.expire_credit_lots($1) as handled", 100);
  if (expired > 0) helpers.logger.info(`moved ${expired} expired credit lots to breakage`);
};
