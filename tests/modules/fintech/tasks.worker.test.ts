import { runOnce } from "graphile-worker";
import { afterAll, describe, expect, it } from "vitest";
import { taskList } from "../../../src/worker/tasks/index.ts";
import { rootDb, workerPool } from "../../helpers/db.ts";

const ownerPool = workerPool();
afterAll(() => ownerPool.end());

describe("capstone worker tasks", () => {
  it("finance_refresh_views brings committed changes into the materialized views", async () => {
    const { rows } = await rootDb().query<{ customer_id: string }>(
      "insert into finance.customers (full_name, primary_email) values ('Refreshed', $1) returning customer_id",
      [`refresh${process.pid}${Date.now()}@example.com`],
    );
    const customerId = rows[0]!.customer_id;
    const count = async () =>
      (await rootDb().query<{ n: number }>("select count(*)::int as n from finance.mv_customer_value where customer_id = $1", [customerId])).rows[0]!.n;
    expect(await count()).toBe(0);
    await ownerPool.query("select graphile_worker.add_job('finance_refresh_views', '{}'::json)");
    await runOnce({ pgPool: ownerPool, taskList: { finance_refresh_views: taskList.finance_refresh_views! }, noHandleSignals: true });
    expect(await count()).toBe(1);
  });

  it("finance_create_partitions keeps the current month and the next three partitioned", async () => {
    await ownerPool.query("select graphile_worker.add_job('finance_create_partitions', '{}'::json)");
    await runOnce({ pgPool: ownerPool, taskList: { finance_create_partitions: taskList.finance_create_partitions! }, noHandleSignals: true });
    const { rows } = await rootDb().query<{ missing: string }>(
      `select to_char(m, 'YYYY-MM') as missing
         from generate_series(date_trunc('month', now() at time zone 'UTC'), date_trunc('month', now() at time zone 'UTC') + interval '3 months', interval '1 month') m
        where to_regclass('finance_private.transactions_y' || to_char(m, 'YYYY"m"MM')) is null`,
    );
    expect(rows).toEqual([]);
  });
});
