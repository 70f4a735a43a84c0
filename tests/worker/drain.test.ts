import type { JobHelpers } from "graphile-worker";
import { describe, expect, it } from "vitest";
import { drain } from "../../src/worker/drain.ts";

/** Job helpers whose query answers each call with the next count, recording the batch sizes asked for. */
function helpersAnswering(counts: number[]) {
  const asked: unknown[] = [];
  const helpers = {
    query: async (_sql: string, values: unknown[]) => {
      asked.push(values[0]);
      return { rows: [{ handled: counts.shift() ?? 0 }] };
    },
  } as unknown as JobHelpers;
  return { helpers, asked };
}

describe("drain", () => {
  it("calls the batch function until a batch comes back short, and returns the total", async () => {
    const { helpers, asked } = helpersAnswering([100, 100, 37, 100]);
    expect(await drain(helpers, "select f($1) as handled", 100)).toBe(237);
    expect(asked).toEqual([100, 100, 100]);
  });

  it("stops after one call when there is nothing to do", async () => {
    const { helpers, asked } = helpersAnswering([0]);
    expect(await drain(helpers, "select f($1) as handled", 100)).toBe(0);
    expect(asked).toEqual([100]);
  });
});
