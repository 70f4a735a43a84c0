import type { Task } from "graphile-worker";

/** The payload commerce_private.pay gave the job before split 7330. */
export interface AwardPointsPayload {
  id: string;
}

function assertPayload(payload: unknown): asserts payload is AwardPointsPayload {
  if (typeof payload !== "object" || payload === null || typeof (payload as { id?: unknown }).id !== "string") {
    throw new Error("commerce_award_points needs a payload {id}");
  }
}

/**
 * Grants the loyalty points a paid order earned (credit lots in the customer's
 * XLP wallet). Since commerce split 7330 the paying transaction grants them
 * itself (commerce_private.pay calls award_points) and nothing queues this
 * task; it stays for jobs queued before that migration. One award per order
 * and rule, so it grants nothing the checkout already granted.
 */
export const commerce_award_points: Task = async (payload, helpers) => {
  assertPayload(payload);
  await helpers.query("select commerce_private.award_points($1)", [payload.id]);
};
