import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { countAsRoot, createUser, one, type TestUser } from "../../helpers/fixtures.ts";

// Export jobs in SQL: dedupe, the 30-day limit on completed exports, the state
// machine enforced in the database, isolation.

const request = (tx: TestTransaction) => one<{ id: string; status: string }>(tx, "select id, status from datarights.request_data_export()");

/** Moves a job as the worker does (trusted code), then returns to the user. */
async function finish(tx: TestTransaction, user: TestUser, jobId: string, error: string | null = null, completedAgo = "0 days"): Promise<void> {
  await tx.asRoot(async () => {
    await tx.query("select * from datarights_private.start_export($1)", [jobId]);
    await tx.query("select datarights_private.finish_export($1, 1234, $2)", [jobId, error]);
    await tx.query("update datarights.export_jobs set completed_at = now() - $2::interval, created_at = now() - $2::interval where id = $1", [jobId, completedAgo]);
  });
  await tx.become(user.claims);
}

describe("requesting an export", () => {
  it("queues one job in a limited pool, and a second request while it is pending returns the same job", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "drreq");
      await tx.become(user.claims);
      const first = await request(tx);
      expect(first.status).toBe("pending");
      expect(await request(tx)).toEqual(first);
      expect(await countAsRoot(tx, "datarights.export_jobs where user_id = $1", [user.userId])).toBe(1);
      const job = await tx.asRoot(() => one(tx, "select task_identifier, queue_name from graphile_worker.jobs where key = $1", [`datarights_export:${first.id}`]));
      expect(job).toMatchObject({ task_identifier: "datarights_export" });
      expect(String(job.queue_name)).toMatch(/^datarights_export_[01]$/);
    });
  });

  it("refuses a request while an export runs (DRRUN), and one within 30 days of a completed export (DRLIM with the date)", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "drlim");
      await tx.become(user.claims);
      const job = await request(tx);
      await tx.asRoot(() => tx.query("select * from datarights_private.start_export($1)", [job.id]));
      expect(await tx.errorCode(() => request(tx))).toBe("DRRUN");
      await tx.asRoot(() => tx.query("select datarights_private.finish_export($1, 99, null)", [job.id]));
      await tx.asRoot(() => tx.query("update datarights.export_jobs set completed_at = '2031-05-01T10:00:00Z' where id = $1", [job.id]));
      // Older than 30 days is fine; 29 days ago is not.
      await tx.asRoot(() => tx.query("update datarights.export_jobs set completed_at = now() - interval '29 days' where id = $1", [job.id]));
      const refusal = await tx.errorOf(() => request(tx));
      expect(refusal).toMatch(/^DRLIM: One export per 30 days: the next is possible from \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\.$/);
      const resets = await tx.asRoot(() => one<{ at: string }>(tx, "select to_char((completed_at + interval '30 days') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') as at from datarights.export_jobs where id = $1", [job.id]));
      expect(refusal).toContain(resets.at);
      expect(await countAsRoot(tx, "datarights.export_jobs where user_id = $1", [user.userId])).toBe(1);
      await tx.asRoot(() => tx.query("update datarights.export_jobs set completed_at = now() - interval '31 days' where id = $1", [job.id]));
      expect((await request(tx)).status).toBe("pending");
    });
  });

  it("never lets a failed export block a retry", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "drfail");
      await tx.become(user.claims);
      const job = await request(tx);
      await finish(tx, user, job.id, "mail server down");
      const retry = await request(tx);
      expect(retry.id).not.toBe(job.id);
      expect(await one(tx, "select status, error, completed_at is not null as done, file_size_bytes from datarights.export_jobs where id = $1", [job.id])).toEqual({
        status: "failed",
        error: "mail server down",
        done: true,
        file_size_bytes: null,
      });
    });
  });

  it("answers LOGIN to a request without a live session", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "drlogin");
      await tx.become({ ...user.claims, sid: "00000000-0000-0000-0000-000000000000" });
      expect(await tx.errorCode(() => request(tx))).toBe("LOGIN");
    });
  });
});

describe("the state machine", () => {
  it("allows only pending -> running -> completed | failed, with the terminal fields set accordingly, whoever writes", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "drsm");
      await tx.become(user.claims);
      const job = await request(tx);
      await tx.asRoot(async () => {
        const move = (status: string, extra = "") => tx.errorCode(() => tx.query(`update datarights.export_jobs set status = $2 ${extra} where id = $1`, [job.id, status]));
        expect(await move("completed", ", completed_at = now(), file_size_bytes = 1")).toBe("RGTRN");
        expect(await move("failed", ", completed_at = now(), error = 'x'")).toBe("RGTRN");
        expect(await move("bogus")).toBe("RGTRN");
        expect(await tx.errorCode(() => tx.query("insert into datarights.export_jobs (user_id, status) values ($1, 'running')", [user.userId]))).toBe("RGTRN");
        expect(await move("running")).toBeUndefined();
        expect(await move("pending")).toBe("RGTRN");
        expect(await move("completed")).toBe("23514"); // without completed_at and size
        expect(await move("completed", ", completed_at = now(), file_size_bytes = 10")).toBeUndefined();
        expect(await move("running")).toBe("RGTRN");
        expect(await move("failed", ", error = 'late'")).toBe("RGTRN");
        // One job in progress per user, whoever inserts.
        await tx.query("insert into datarights.export_jobs (user_id) values ($1)", [user.userId]);
        expect(await tx.errorCode(() => tx.query("insert into datarights.export_jobs (user_id) values ($1)", [user.userId]))).toBe("23505");
      });
      expect(await tx.errorCode(() => tx.query("update datarights.export_jobs set status = 'failed' where id = $1", [job.id]))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("insert into datarights.export_jobs (user_id) values ($1)", [user.userId]))).toBe("42501");
    });
  });
});

describe("isolation", () => {
  it("shows each user only their own jobs (the other's exist), and lists what an export contains", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "drisoa");
      await tx.become(alice.claims);
      const job = await request(tx);
      const bob = await createUser(tx, "drisob");
      await tx.become(bob.claims);
      expect(await countAsRoot(tx, "datarights.export_jobs where id = $1", [job.id])).toBe(1);
      expect((await tx.query("select 1 from datarights.export_jobs where id = $1", [job.id])).rowCount).toBe(0);
      const files = (await tx.query<{ name: string }>("select name from datarights.exporters order by sort_order")).rows.map((row) => row.name);
      expect(files).toEqual(expect.arrayContaining(["profile", "sessions", "activity", "budget_settings", "budget_periods", "tags", "installments", "expenses", "export_jobs"]));
      expect(await tx.errorCode(() => tx.query("select function_name from datarights.exporters"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("select datarights.register_exporter('x', 'y', 'datarights_private.export_jobs(uuid)', 'z')"))).toBe("42501");
      await tx.become({ role: "gw_anonymous" });
      expect(await tx.errorCode(() => tx.query("select datarights.request_data_export()"))).toBe("42501");
    });
  });

  it("accepts only functions (user_id uuid) returns setof jsonb as exporters", async () => {
    await withTransaction(async (tx) => {
      expect(await tx.errorCode(() => tx.query("select datarights.register_exporter('bad', 'budget', 'budget.period_summary(date)', 'Not an exporter.')"))).toBe("BADIN");
    });
  });
});
