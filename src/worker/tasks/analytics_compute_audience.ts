import type { Task } from "graphile-worker";

function assertPayload(payload: unknown): asserts payload is { full?: boolean } | null | undefined {
  if (payload !== null && payload !== undefined && (typeof payload !== "object" || Array.isArray(payload))) {
    throw new Error("analytics_compute_audience expects {} or { full: true }");
  }
}

/** Hours back the hourly run looks for events with new impressions (the overlap absorbs a late or skipped run). */
export const audienceLookbackHours = 2;

/**
 * Recomputes analytics.event_audience_insights: hourly for the events seen in
 * the last two hours; with { full: true } (nightly) for every event, which
 * also catches beacons dated further back.
 */
export const analytics_compute_audience: Task = async (payload, helpers) => {
  assertPayload(payload);
  const full = (payload as { full?: unknown } | null | undefined)?.full === true;
  const { rows } = await helpers.query<{ events: number }>(
    "select analytics_private.compute_audience_insights(case when $1 then null else now() - make_interval(hours => $2) end) as events",
    [full, audienceLookbackHours],
  );
  helpers.logger.debug(`audience insights of ${rows[0]?.events ?? 0} events recomputed`);
};
