import type { Task } from "graphile-worker";
import { drain } from "../drain.ts";

/** Marks ticket holds past their expiry (they already stop counting against availability), a thousand per statement. */
export const ticketing_expire_holds: Task = async (_payload, helpers) => {
  const expired = await drain(helpers, "select ticketing_private.expire_holds($1) as handled", 1_000);
  if (expired > 0) helpers.logger.info(`expired ${expired} ticket holds`);
};
