import type { Task } from "graphile-worker";

const batch = 10_000;

/** Appends committed change-log rows to the audit hash chain (crontab, every minute). */
export const audit_seal: Task = async (_payload, helpers) => {
  let sealed = batch;
  let total = 0;
  while (sealed === batch) {
    const { rows } = await helpers.query<{ sealed: number }>("select audit_private.seal($1) as sealed", [batch]);
    sealed = rows[0]?.sealed ?? 0;
    total += sealed;
  }
  if (total > 0) helpers.logger.debug(`sealed ${total} audit rows`);
};
