import { runOnce, type Task } from "graphile-worker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fanOutBatchSize } from "../../../src/worker/tasks/messaging_fan_out.ts";
import { makeMessagingSendMail } from "../../../src/worker/tasks/messaging_send_mail.ts";
import { taskList } from "../../../src/worker/tasks/index.ts";
import type { MailMessage } from "../../../src/mail/transport.ts";
import { rootDb, workerPool } from "../../helpers/db.ts";

// Message jobs through the worker on committed data: every recipient reached
// exactly once, even when the worker dies mid-job and the job runs again;
// preferences and unsubscribes honoured; cancellation stops the fan-out;
// e-mail through the platform transport.

const ownerPool = workerPool();
const tag = `msf${process.pid}${Date.now().toString(36)}`;
const followers = fanOutBatchSize * 2 + 37; // three batches
let organizationId = "";
let ownerId = "";
let optedOut = "";
let unsubscribed = "";
let templateId = "";
let mailTemplateId = "";
const sent: MailMessage[] = [];
const tasks = {
  messaging_fan_out: taskList.messaging_fan_out!,
  messaging_send_mail: makeMessagingSendMail({ description: "memory", send: async (message) => void sent.push(message), close: async () => undefined }),
};
const run = () => runOnce({ pgPool: ownerPool, taskList: tasks, noHandleSignals: true });

async function createJob(template: string, channel = "in_app", variables: Record<string, string> = { code: "{{ recipient_name }}<b>x</b>" }): Promise<string> {
  const db = rootDb();
  const { rows } = await db.query<{ job_id: string }>(
    `insert into messaging.message_jobs (organization_id, template_id, audience, channel, variables) values ($1, $2, 'organization_followers', $3, $4) returning job_id`,
    [organizationId, template, channel, JSON.stringify(variables)],
  );
  const jobId = rows[0]!.job_id;
  await db.query("select graphile_worker.add_job('messaging_fan_out', json_build_object('id', $1::text), job_key := 'messaging_fan_out:' || $1)", [jobId]);
  return jobId;
}

async function received(jobId: string): Promise<Map<string, number>> {
  const { rows } = await rootDb().query<{ user_id: string; n: number }>(
    "select user_id, count(*)::int as n from outbox.notifications where topic = 'messaging.message' and payload ->> 'jobId' = $1 group by user_id",
    [jobId],
  );
  return new Map(rows.map((row) => [row.user_id, row.n]));
}

async function job(jobId: string) {
  const { rows } = await rootDb().query("select status, recipients_handled, delivered, skipped from messaging.message_jobs where job_id = $1", [jobId]);
  return rows[0];
}

beforeAll(async () => {
  const db = rootDb();
  const { rows: users } = await db.query<{ user_id: string }>(
    `insert into auth.users (username, email) select $1 || 'u' || i, $1 || 'u' || i || '@example.com' from generate_series(1, $2) i returning user_id`,
    [tag, followers + 1],
  );
  const { rows: organizations } = await db.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ($1, $2) returning organization_id", [
    `Messages ${tag}`,
    tag.toLowerCase(),
  ]);
  organizationId = organizations[0]!.organization_id;
  ownerId = users.pop()!.user_id;
  await db.query("insert into users.follows (follower_id, followed_organization_id) select unnest($1::uuid[]), $2", [users.map((user) => user.user_id), organizationId]);
  optedOut = users[0]!.user_id;
  unsubscribed = users[1]!.user_id;
  await db.query(`update users.settings set notification_preferences = '{"in_app": {"organization_message": false}}' where user_id = $1`, [optedOut]);
  await db.query("insert into messaging.unsubscribes (user_id, organization_id, channel) values ($1, $2, 'in_app'), ($1, null, 'email')", [unsubscribed, organizationId]);
  const { rows: templates } = await db.query<{ template_id: string }>(
    `insert into messaging.message_templates (organization_id, name, subject, body, variables, created_by) values
       ($1, 'news', 'News from {{ organization_name }}', 'Hello {{ recipient_name }}, your code is {{ code }}.', '{code}', $2),
       ($1, 'mail', 'Hi {{ recipient_name }}', 'Code {{ code }}', '{code}', $2) returning template_id`,
    [organizationId, ownerId],
  );
  templateId = templates[0]!.template_id;
  mailTemplateId = templates[1]!.template_id;
});

afterAll(async () => {
  await rootDb().query("delete from messaging.message_jobs where organization_id = $1", [organizationId]);
  await rootDb().query("delete from auth.organizations where organization_id = $1", [organizationId]);
  await rootDb().query("delete from auth.users where username like $1 || 'u%'", [tag]);
  await ownerPool.end();
});

describe("messaging_fan_out", () => {
  it("reaches every follower who wants it exactly once, in batches, and renders values as text", async () => {
    const jobId = await createJob(templateId);
    await run();
    const got = await received(jobId);
    expect(got.size).toBe(followers - 2);
    expect([...got.values()].every((n) => n === 1)).toBe(true);
    expect(got.has(optedOut)).toBe(false);
    expect(got.has(unsubscribed)).toBe(false);
    expect(await job(jobId)).toEqual({ status: "completed", recipients_handled: followers, delivered: followers - 2, skipped: 2 });
    const { rows } = await rootDb().query<{ message: string; body: string }>(
      "select message, payload ->> 'body' as body from outbox.notifications where payload ->> 'jobId' = $1 limit 1",
      [jobId],
    );
    expect(rows[0]!.message).toBe(`News from Messages ${tag}`);
    expect(rows[0]!.body).toMatch(new RegExp(`^Hello ${tag}u\\d+, your code is \\{\\{ recipient_name \\}\\}<b>x</b>\\.$`));
  });

  it("reaches nobody twice when the worker dies mid-job and the job runs again", async () => {
    const jobId = await createJob(templateId);
    // The worker dies after its first batch committed: the job fails and is retried later.
    const dying: Task = async (payload, helpers) => {
      await helpers.query("select * from messaging_private.fan_out_batch($1, $2)", [(payload as { id: string }).id, fanOutBatchSize]);
      throw new Error("killed");
    };
    await runOnce({ pgPool: ownerPool, taskList: { messaging_fan_out: dying }, noHandleSignals: true });
    expect((await job(jobId))!.recipients_handled).toBe(fanOutBatchSize);
    // A second batch that was running when it died is rolled back with its transaction.
    const client = await ownerPool.connect();
    try {
      await client.query("begin");
      await client.query("select * from messaging_private.fan_out_batch($1, $2)", [jobId, fanOutBatchSize]);
      await client.query("rollback");
    } finally {
      client.release();
    }
    expect((await job(jobId))!.recipients_handled).toBe(fanOutBatchSize);
    // Even a lost cursor cannot make anyone hear twice.
    await rootDb().query("update messaging.message_jobs set cursor = null where job_id = $1", [jobId]);
    // The retry is due later (backoff); the same job key brings it forward.
    await rootDb().query("select graphile_worker.add_job('messaging_fan_out', json_build_object('id', $1::text), job_key := 'messaging_fan_out:' || $1, run_at := now())", [jobId]);
    await run();
    const got = await received(jobId);
    expect(got.size).toBe(followers - 2);
    expect([...got.values()].every((n) => n === 1)).toBe(true);
    const after = await job(jobId);
    expect(after!.status).toBe("completed");
    const recipients = await rootDb().query<{ n: number }>("select count(*)::int as n from messaging_private.job_recipients where job_id = $1", [jobId]);
    expect(recipients.rows[0]!.n).toBe(followers);
  });

  it("stops a cancelled job before its next batch", async () => {
    const jobId = await createJob(templateId);
    await rootDb().query("select * from messaging_private.fan_out_batch($1, $2)", [jobId, fanOutBatchSize]);
    await rootDb().query("update messaging.message_jobs set status = 'cancelled', cancelled_at = now() where job_id = $1", [jobId]);
    await run();
    const after = await job(jobId);
    expect(after).toMatchObject({ status: "cancelled", recipients_handled: fanOutBatchSize });
    expect((await received(jobId)).size).toBe(after!.delivered);
    expect(after!.delivered + after!.skipped).toBe(fanOutBatchSize);
  });

  it("sends e-mail through the platform transport once per recipient, honouring e-mail unsubscribes", async () => {
    sent.length = 0;
    const jobId = await createJob(mailTemplateId, "email", { code: "<script>x</script>" });
    await run();
    expect(await job(jobId)).toEqual({ status: "completed", recipients_handled: followers, delivered: followers - 1, skipped: 1 });
    // Queued mails are sent by the same run (or the next one).
    await run();
    const recipients = sent.map((message) => message.to);
    expect(recipients.length).toBe(followers - 1);
    expect(new Set(recipients).size).toBe(followers - 1);
    expect(recipients).not.toContain(`${tag}u2@example.com`);
    expect(sent[0]!.text).toMatch(/^Code <script>x<\/script>\n\n--\nYou receive this because/);
    expect(sent[0]!.subject).toMatch(new RegExp(`^Hi ${tag}u\\d+$`));
    // Running the mail jobs again sends nothing (they are done).
    await run();
    expect(sent.length).toBe(followers - 1);
  });
});
