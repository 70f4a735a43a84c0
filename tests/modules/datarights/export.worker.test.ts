import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { runOnce } from "graphile-worker";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailDefaults } from "../../../src/config.ts";
import { createMailTransport, type MailTransport } from "../../../src/mail/transport.ts";
import { makeDatarightsExport } from "../../../src/worker/tasks/datarights_export.ts";
import { rootDb, workerPool } from "../../helpers/db.ts";
import { asUserAlone, committed, correct, deleteUsers, onboardedUser, spend, type Onboarded } from "../budget/fixtures.ts";
import { readZip } from "./zip.ts";

// The export task on committed data: collect from every registered exporter,
// ZIP, mail through the platform's transport (.eml files here), record the
// outcome, leave nothing behind.

const ownerPool = workerPool();
let scratch = "";
let mailDir = "";
let tmpRoot = "";
let alice: Onboarded;
let bob: Onboarded;
const aliceExpenses: string[] = [];
let bobExpense = "";

const run = (transport: MailTransport) =>
  runOnce({ pgPool: ownerPool, taskList: { datarights_export: makeDatarightsExport(transport, { tmpRoot }) }, noHandleSignals: true });

async function requestExport(user: Onboarded): Promise<string> {
  const result = await asUserAlone(user, "select id from datarights.request_data_export()");
  if (result.code) throw new Error(`request failed: ${result.code}`);
  return String(result.rows?.[0]?.id);
}

async function job(id: string) {
  const { rows } = await rootDb().query("select status, error, file_size_bytes, completed_at from datarights.export_jobs where id = $1", [id]);
  return rows[0];
}

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "gw-drtest-"));
  mailDir = path.join(scratch, "mail");
  tmpRoot = path.join(scratch, "tmp");
  await import("node:fs/promises").then((fs) => fs.mkdir(tmpRoot));
  alice = await committed(async (tx) => {
    const user = await onboardedUser(tx, "drworka", "2032-01-01");
    aliceExpenses.push(await spend(tx, user, 1250, user.tags.Groceries!, "2032-01-03", 1, "Market"));
    aliceExpenses.push(await correct(tx, user, aliceExpenses[0]!, 1300, user.tags.Groceries!, "2032-01-03"));
    aliceExpenses.push(await spend(tx, user, 90000, user.tags.Health!, "2032-01-09", 3));
    return user;
  });
  bob = await committed(async (tx) => {
    const user = await onboardedUser(tx, "drworkb", "2032-01-01");
    bobExpense = await spend(tx, user, 777, user.tags.Groceries!, "2032-01-04", 1, "bob's secret note");
    return user;
  });
});

afterAll(async () => {
  await deleteUsers(alice.userId, bob.userId);
  await ownerPool.end();
  await rm(scratch, { recursive: true, force: true });
});

describe("datarights_export", () => {
  it("mails the user a ZIP of JSON files from every exporter, with only their data, and records the outcome", async () => {
    const jobId = await requestExport(alice);
    await run(createMailTransport({ smtpUrl: undefined, dir: mailDir, ...mailDefaults }));

    const done = await job(jobId);
    expect(done).toMatchObject({ status: "completed", error: null });
    expect(done.completed_at).not.toBeNull();

    // Other test files may queue exports too: Alice's mail is the one to her address.
    const parsed = await Promise.all((await readdir(mailDir)).map(async (file) => simpleParser(await readFile(path.join(mailDir, file)))));
    const toAlice = parsed.filter((candidate) => (candidate.to && "text" in candidate.to ? candidate.to.text : "") === alice.email);
    expect(toAlice).toHaveLength(1);
    const mail = toAlice[0]!;
    expect(mail.attachments).toHaveLength(1);
    const zip = mail.attachments[0]!.content;
    expect(mail.attachments[0]!.contentType).toBe("application/zip");
    expect(Number(done.file_size_bytes)).toBe(zip.length);

    const files = readZip(zip);
    const { rows: exporters } = await rootDb().query<{ name: string }>("select name from datarights.exporters");
    expect([...files.keys()].sort()).toEqual([...exporters.map((row) => `${row.name}.json`), "manifest.json"].sort());
    const json = (name: string) => JSON.parse(files.get(name)!.toString("utf8"));

    const [profile] = json("profile.json");
    expect(profile).toMatchObject({ userId: alice.userId, username: alice.username, email: alice.email, currency: "EUR", hasCompletedOnboarding: true });
    expect(json("budget_settings.json")).toEqual([expect.objectContaining({ user_id: alice.userId, budget_amount: 300000, currency: "EUR" })]);
    expect(json("budget_periods.json").map((period: { month: string }) => period.month)).toEqual(["2032-01-01"]);
    expect(json("tags.json")).toHaveLength(10);
    expect(json("installments.json").map((row: { amount: number; status: string }) => [row.amount, row.status])).toEqual([
      [30000, "applied"],
      [30000, "pending"],
      [30000, "pending"],
    ]);
    const expenses = json("expenses.json") as Array<{ expense_id: string; corrects_id: string | null; status: string; note: string | null }>;
    expect(expenses.map((entry) => entry.expense_id).sort()).toEqual([...aliceExpenses].sort());
    expect(expenses.find((entry) => entry.expense_id === aliceExpenses[0])).toMatchObject({ status: "corrected", note: "Market" });
    expect(expenses.find((entry) => entry.expense_id === aliceExpenses[1])).toMatchObject({ status: "active", corrects_id: aliceExpenses[0] });
    const sessions = json("sessions.json") as Array<Record<string, unknown>>;
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions.every((session) => session.user_id === alice.userId && !("token_hash" in session))).toBe(true);
    expect(json("export_jobs.json")).toEqual([expect.objectContaining({ id: jobId, status: "running" })]);
    expect(json("manifest.json")).toMatchObject({ jobId, userId: alice.userId, files: { "expenses.json": { records: 3 } } });

    // Nothing of Bob's, anywhere in the archive.
    const everything = [...files.values()].map((content) => content.toString("utf8")).join("\n");
    for (const secret of [bob.userId, bob.email, bobExpense, "bob's secret note", bob.tags.Groceries!]) expect(everything).not.toContain(secret);

    // Notified, published, and nothing left in the temporary folder.
    const { rows: notes } = await rootDb().query("select topic from outbox.notifications where user_id = $1 and payload ->> 'jobId' = $2", [alice.userId, jobId]);
    expect(notes).toEqual([{ topic: "datarights.export_completed" }]);
    const { rows: events } = await rootDb().query("select payload from outbox.events where topic = 'datarights.export_completed' and aggregate_id = $1", [jobId]);
    expect(events).toEqual([{ payload: expect.objectContaining({ jobId, userId: alice.userId, fileSizeBytes: zip.length }) }]);
    expect(await readdir(tmpRoot)).toEqual([]);

    // Completed exports count: the next request waits 30 days.
    expect((await asUserAlone(alice, "select id from datarights.request_data_export()")).code).toBe("DRLIM");
  });

  it("records a failure in error, notifies, leaves nothing behind, and lets the user retry", async () => {
    const jobId = await requestExport(bob);
    const failing: MailTransport = {
      description: "failing",
      async send() {
        throw new Error("SMTP 554: relay refused");
      },
      async close() {},
    };
    await run(failing);
    expect(await job(jobId)).toMatchObject({ status: "failed", error: "SMTP 554: relay refused", file_size_bytes: null });
    expect(await readdir(tmpRoot)).toEqual([]);
    const { rows: notes } = await rootDb().query("select topic from outbox.notifications where user_id = $1 and payload ->> 'jobId' = $2", [bob.userId, jobId]);
    expect(notes).toEqual([{ topic: "datarights.export_failed" }]);
    const retry = await requestExport(bob);
    expect(retry).not.toBe(jobId);
    expect(await job(retry)).toMatchObject({ status: "pending" });
    // A job that is no longer pending or running is left alone when its task runs again.
    await rootDb().query("select graphile_worker.add_job('datarights_export', json_build_object('id', $1::text))", [jobId]);
    await run(failing);
    expect(await job(jobId)).toMatchObject({ status: "failed", error: "SMTP 554: relay refused" });
  });
});
