import type { Task } from "graphile-worker";

function assertPayload(payload: unknown): asserts payload is { month?: string } {
  const month = (payload as { month?: unknown } | null)?.month;
  if (month !== undefined && (typeof month !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(month))) {
    throw new Error("budget_open_periods expects {} or { month: 'YYYY-MM-DD' }");
  }
}

/**
 * Opens the month's budget period for every user who completed onboarding
 * (crontab, monthly; also lazily on first use), applying the month's pending
 * pro-rata installments in the same transaction; idempotent. The payload may
 * name the month (default: the current one in the database's clock).
 */
export const budget_open_periods: Task = async (payload, helpers) => {
  assertPayload(payload);
  const { rows } = await helpers.query<{ created: number }>(
    "select budget_private.open_periods(coalesce($1::date, current_date)) as created",
    [payload?.month ?? null],
  );
  const created = rows[0]?.created ?? 0;
  if (created > 0) helpers.logger.info(`opened ${created} budget periods`);
};
