import { beforeAll, describe, expect, it } from "vitest";
import { codesOf, registerWithRole, registerUser, useTestApi, type SignedIn } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";

/**
 * The operator console over graphile-worker's jobs. Jobs here belong to
 * a task no worker runs, so they stay where the test puts them.
 */
const api = useTestApi();
const task = `ops_probe_${process.pid}`;
let admin: SignedIn & { roleToken: string };
let user: SignedIn;

async function addJobs(count: number): Promise<string[]> {
  const { rows } = await rootDb().query<{ id: string }>(
    "select (graphile_worker.add_job($1, json_build_object('n', n))).id from generate_series(1, $2) n",
    [task, count],
  );
  return rows.map((row) => row.id);
}

beforeAll(async () => {
  admin = await registerWithRole(api, "gw_admin", "opsadmin");
  user = await registerUser(api, "opsuser");
});

describe("operator console", () => {
  it("shows queue depth per task", async () => {
    const [, failed] = await addJobs(3);
    await rootDb().query("select graphile_worker.reschedule_jobs(array[$1]::bigint[], attempts := 1)", [failed]);
    const result = await api.graphql(
      `query { opsQueueDepth { nodes { taskIdentifier ready scheduled running retrying dead oldestReadyAt } } }`,
      {},
      admin.roleToken,
    );
    expect(result.body.errors).toBeUndefined();
    const row = result.body.data?.opsQueueDepth.nodes.find((node: { taskIdentifier: string }) => node.taskIdentifier === task);
    expect(row).toMatchObject({ taskIdentifier: task, ready: "2", scheduled: "0", running: "0", retrying: "1", dead: "0" });
    expect(row.oldestReadyAt).toEqual(expect.any(String));
  });

  it("lists jobs by state, retries a dead one and cancels another", async () => {
    const [dead, other] = await addJobs(2);
    await rootDb().query("select graphile_worker.permanently_fail_jobs(array[$1]::bigint[], 'gave up')", [dead]);
    const listed = await api.graphql(
      `query($task: String) { opsJobs(state: "dead", taskIdentifier: $task) { nodes { jobId state lastError attempts maxAttempts } } }`,
      { task },
      admin.roleToken,
    );
    expect(listed.body.data?.opsJobs.nodes).toContainEqual({ jobId: dead, state: "dead", lastError: "gave up", attempts: 25, maxAttempts: 25 });

    const retried = await api.graphql(
      `mutation($ids: [BigInt]) { opsRetryJobs(input: { jobIds: $ids }) { jobs { jobId state attempts } } }`,
      { ids: [dead] },
      admin.roleToken,
    );
    expect(retried.body.errors).toBeUndefined();
    expect(retried.body.data?.opsRetryJobs.jobs).toEqual([{ jobId: dead, state: "ready", attempts: 0 }]);

    const cancelled = await api.graphql(
      `mutation($ids: [BigInt]) { opsCancelJobs(input: { jobIds: $ids }) { cancelledCount } }`,
      { ids: [other] },
      admin.roleToken,
    );
    expect(cancelled.body.data?.opsCancelJobs.cancelledCount).toBe(1);
    const { rows } = await rootDb().query("select count(*)::int as n from graphile_worker.jobs where id = $1", [other]);
    expect(rows[0].n).toBe(0);

    const unknown = await api.graphql(
      `mutation { opsCancelJobs(input: { jobIds: ["999999999999"] }) { cancelledCount } }`,
      {},
      admin.roleToken,
    );
    expect(codesOf(unknown)).toEqual(["NTFND"]);
  });

  it("releases the jobs a dead worker held", async () => {
    const [job] = await addJobs(1);
    const workerId = `worker-gone-${process.pid}`;
    // No public function locks a job without running it: fake the dead worker's lock.
    await rootDb().query("update graphile_worker._private_jobs set locked_at = now(), locked_by = $2, attempts = 1 where id = $1", [job, workerId]);
    const unlocked = await api.graphql(
      `mutation($ids: [String]) { opsUnlockWorkers(input: { workerIds: $ids }) { unlockedCount } }`,
      { ids: [workerId] },
      admin.roleToken,
    );
    expect(unlocked.body.data?.opsUnlockWorkers.unlockedCount).toBe(1);
    const { rows } = await rootDb().query("select locked_by from graphile_worker.jobs where id = $1", [job]);
    expect(rows).toEqual([{ locked_by: null }]);
  });

  it("reports outbox lag, dead letters and the delivery success rate", async () => {
    const result = await api.graphql(
      `query { opsOutboxHealth { nodes { pendingDispatches lagSeconds deadLetters attemptsLastHour successRateLastHour inboxPending inboxDead } } }`,
      {},
      admin.roleToken,
    );
    expect(result.body.errors).toBeUndefined();
    const [health] = result.body.data?.opsOutboxHealth.nodes;
    expect(Number(health.pendingDispatches)).toBeGreaterThanOrEqual(0);
    expect(health.lagSeconds).toBeGreaterThanOrEqual(0);
    const { rows } = await rootDb().query("select count(*)::int as n from outbox.dispatches where status = 'dead'");
    expect(Number(health.deadLetters)).toBe(rows[0].n);
  });

  it("refuses every console field to a signed-in user who is not an operator", async () => {
    const [job] = await addJobs(1);
    const depth = await api.graphql(`query { opsQueueDepth { nodes { taskIdentifier } } }`, {}, user.accessToken);
    expect(codesOf(depth)).toEqual(["42501"]);
    const jobs = await api.graphql(`query { opsJobs { nodes { jobId } } }`, {}, user.accessToken);
    expect(codesOf(jobs)).toEqual(["42501"]);
    const cancel = await api.graphql(`mutation($ids: [BigInt]) { opsCancelJobs(input: { jobIds: $ids }) { cancelledCount } }`, { ids: [job] }, user.accessToken);
    expect(codesOf(cancel)).toEqual(["42501"]);
    const anonymous = await api.graphql(`query { opsOutboxHealth { nodes { lagSeconds } } }`);
    expect(codesOf(anonymous)).toEqual(["42501"]);
    const { rows } = await rootDb().query("select count(*)::int as n from graphile_worker.jobs where id = $1", [job]);
    expect(rows[0].n).toBe(1);
  });

  it("refuses an operator token once the gw_admin grant is withdrawn", async () => {
    const { roleToken: token, ...revoked } = await registerWithRole(api, "gw_admin", "opsgone");
    expect((await api.graphql(`query { opsJobs { totalCount } }`, {}, token)).body.errors).toBeUndefined();
    await rootDb().query("delete from auth.user_roles where user_id = $1", [revoked.userId]);
    expect(codesOf(await api.graphql(`query { opsJobs { totalCount } }`, {}, token))).toEqual(["DNIED"]);
  });
});
