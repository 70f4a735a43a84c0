import type { Task } from "graphile-worker";

/** Recomputes the suggested sponsors of upcoming published events (sponsorship.matches); idempotent. */
export const sponsorship_compute_matches: Task = async (_payload, helpers) => {
  const { rows } = await helpers.query<{ written: number }>("select sponsorship_private.compute_matches(now()) as written");
  helpers.logger.info(`computed ${rows[0]?.written ?? 0} sponsorship matches`);
};
