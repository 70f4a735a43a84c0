import type { Task } from "graphile-worker";

const batch = 1_000;

/** Releases pending ledger holds past their expiry (crontab, every minute), a thousand per statement. */
export const ledger_expire_holds: Task = async (_payload, helpers) => {
  let expired = batch;
  let total = 0;
  while (expired === batch) {
    const { rows } = await helpers.query<{ expired: number }>("select ledger_private.expire_holds($1) as expired", [batch]);
    expired = rows[0]?.expired ?? 0;
    total += expired;
  }
  if (total > 0) helpers.logger.info(`expired ${total} ledger holds`);
};
