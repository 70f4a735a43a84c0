import type { Task } from "graphile-worker";

/** Deletes blacklisted refresh tokens past their natural expiry (crontab). */
export const auth_cleanup_refresh_token_blacklist: Task = async (_payload, helpers) => {
  const { rows } = await helpers.query<{ deleted: number }>(
    "select auth_private.cleanup_refresh_token_blacklist() as deleted",
  );
  helpers.logger.debug(`deleted ${rows[0]?.deleted ?? 0} expired blacklist entries`);
};
