import type { Task } from "graphile-worker";

/** The payload SQL gives the job (commerce_private.schedule_renewal). */
export interface RenewSubscriptionPayload {
  id: string;
}

function assertPayload(payload: unknown): asserts payload is RenewSubscriptionPayload {
  if (typeof payload !== "object" || payload === null || typeof (payload as { id?: unknown }).id !== "string") {
    throw new Error("commerce_renew_subscription needs a payload {id}");
  }
}

/**
 * Renews one subscription at its period end (or retries a failed renewal on
 * the dunning schedule). The SQL locks the row and acts only when the renewal
 * is due, so a duplicated job, or one retried after a crash, renews once.
 */
export const commerce_renew_subscription: Task = async (payload, helpers) => {
  assertPayload(payload);
  const { rows } = await helpers.query<{ outcome: string }>("select commerce_private.renew($1) as outcome", [payload.id]);
  const outcome = rows[0]?.outcome;
  if (outcome && outcome !== "renewed" && outcome !== "not_due") helpers.logger.info(`subscription ${payload.id}: ${outcome}`);
};
