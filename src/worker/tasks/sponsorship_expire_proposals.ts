import type { Task } from "graphile-worker";
import { drain } from "../drain.ts";

/** Expires sent sponsorship proposals past their expiry that nobody viewed (sent -> expired), a thousand per statement. */
export const sponsorship_expire_proposals: Task = async (_payload, helpers) => {
  const expired = await drain(helpers, "select sponsorship_private.expire_proposals(now(), $1) as handled", 1_000);
  if (expired > 0) helpers.logger.info(`expired ${expired} sponsorship proposals`);
};
