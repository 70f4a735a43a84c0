import type { Task } from "graphile-worker";

/** Deletes expired sign-ups and old password reset links (crontab). */
export const auth_cleanup_links: Task = async (_payload, helpers) => {
  const { rows } = await helpers.query<{ deleted: number }>("select auth_private.cleanup_links() as deleted");
  helpers.logger.debug(`deleted ${rows[0]?.deleted ?? 0} expired sign-up and reset links`);
};
