import type { Task } from "graphile-worker";
import { drain } from "../drain.ts";

/** Settles campaigns' accrued ad spend from their organizations' wallets to platform revenue through the ledger, in batches of campaigns. */
export const campaigns_settle_spend: Task = async (_payload, helpers) => {
  const settled = await drain(helpers, "select campaigns_private.settle_spend(now(), $1) as handled", 500);
  if (settled > 0) helpers.logger.info(`settled the ad spend of ${settled} campaigns`);
};
