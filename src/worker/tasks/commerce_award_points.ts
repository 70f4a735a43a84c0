import type { Task } from "graphile-worker";

/** The payload SQL gives the job (commerce_private.pay). */
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
 * XLP wallet, through payments.grant_credits, which only trusted code may
 * call). One award per order and rule, so a job that runs again grants nothing more.
 */
export const commerce_award_points: Task = async (payload, helpers) => {
  assertPayload(payload);
  await helpers.query("select commerce_private.award_points($1)", [payload.id]);
};
