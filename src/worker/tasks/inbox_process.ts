import type { Task } from "graphile-worker";
import type { RetryPolicy } from "../../config.ts";
import { intervalOf, retryDelayMs } from "../retry.ts";

function assertPayload(payload: unknown): asserts payload is { id: number | string } {
  const id = (payload as { id?: unknown } | null)?.id;
  if (typeof id !== "number" && typeof id !== "string") throw new Error("inbox_process expects { id }");
}

/**
 * Runs the source's handler on one inbound message. A handler error is not a
 * job failure: it is counted on the message, which is retried on its own
 * schedule and dead-lettered after the last attempt.
 */
export function makeInboxProcess(policy: RetryPolicy): Task {
  return async (payload, helpers) => {
    assertPayload(payload);
    try {
      await helpers.query("select inbox_private.process($1)", [payload.id]);
    } catch (error) {
      const sqlState = (error as { code?: string }).code;
      // Connection trouble and the like: let graphile-worker retry the job itself.
      if (!sqlState || /^(08|57|53)/.test(sqlState)) throw error;
      const { rows } = await helpers.query<{ failed_attempts: number }>(
        "select attempts as failed_attempts from inbox.messages where message_id = $1",
        [payload.id],
      );
      const delay = retryDelayMs((rows[0]?.failed_attempts ?? 0) + 1, policy);
      const { rows: recorded } = await helpers.query<{ status: string | null }>(
        "select inbox_private.record_failure($1, $2, $3, $4::interval) as status",
        [payload.id, `${sqlState}: ${(error as Error).message}`, policy.maxAttempts, intervalOf(delay)],
      );
      if (recorded[0]?.status === "dead") helpers.logger.warn(`inbox message ${payload.id} is dead: ${(error as Error).message}`);
    }
  };
}
