import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { addMember, countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { actingIn, createTenant, publishedEvent } from "../events/fixtures.ts";

// Creating and cancelling message jobs: who may, and bad input refused with
// nothing written (no job row, no queued work).

const jobsOf = (tx: Parameters<typeof countAsRoot>[0], organizationId: string) => countAsRoot(tx, "messaging.message_jobs where organization_id = $1", [organizationId]);

describe("creating message jobs", () => {
  it("queues a job for the worker, readable by the organization", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "msjob");
      const event = await publishedEvent(tx, acme);
      await tx.become(acme.claims);
      const template = await one<{ template_id: string }>(tx, "insert into messaging.message_templates (name, subject, body, variables) values ('x', 'About {{ event_title }}', 'Code {{ code }}', '{code}') returning template_id");
      const job = await one<{ job_id: string; status: string }>(tx, "select job_id, status from messaging.create_message_job($1, 'event_followers', 'in_app', $2, '{\"code\": \"A1\"}')", [template.template_id, event]);
      expect(job.status).toBe("queued");
      expect(await countAsRoot(tx, "graphile_worker.jobs where key = $1", [`messaging_fan_out:${job.job_id}`])).toBe(1);
      expect((await tx.query("select status, recipients_handled from messaging.message_jobs")).rows).toEqual([{ status: "queued", recipients_handled: 0 }]);
    });
  });

  it("refuses someone else's event audience with MSAUD, bad variables with MSVAR, and others' templates with NTFND, writing nothing", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "msjob");
      const globex = await createTenant(tx, "msjob2");
      const theirs = await publishedEvent(tx, globex);
      await tx.become(globex.claims);
      const theirTemplate = await one<{ template_id: string }>(tx, "insert into messaging.message_templates (name, subject, body) values ('g', 's', 'b') returning template_id");
      await tx.become(acme.claims);
      const template = await one<{ template_id: string }>(tx, "insert into messaging.message_templates (name, subject, body, variables) values ('x', 's', 'Code {{ code }}', '{code}') returning template_id");
      const queuedBefore = await countAsRoot(tx, "graphile_worker.jobs where task_identifier = 'messaging_fan_out'");
      const create = (audience: string, eventId: string | null, variables: unknown, templateId = template.template_id, channel = "in_app") =>
        tx.query("select messaging.create_message_job($1, $2, $3, $4, $5)", [templateId, audience, channel, eventId, JSON.stringify(variables)]);
      expect(await tx.errorCode(() => create("event_followers", theirs, { code: "1" }))).toBe("MSAUD");
      expect(await tx.errorCode(() => create("organization_members", theirs, { code: "1" }))).toBe("MSAUD");
      expect(await tx.errorCode(() => create("event_followers", null, { code: "1" }))).toBe("MSAUD");
      expect(await tx.errorCode(() => create("everyone_on_earth", null, { code: "1" }))).toBe("MSAUD");
      expect(await tx.errorCode(() => create("organization_followers", null, {}))).toBe("MSVAR");
      expect(await tx.errorCode(() => create("organization_followers", null, { code: "1", extra: "x" }))).toBe("MSVAR");
      expect(await tx.errorCode(() => create("organization_followers", null, { code: { nested: "{{ recipient_name }}" } }))).toBe("MSVAR");
      expect(await tx.errorCode(() => create("organization_followers", null, { code: "x".repeat(1001) }))).toBe("MSVAR");
      expect(await tx.errorCode(() => create("organization_followers", null, { code: "1" }, template.template_id, "sms"))).toBe("BADIN");
      expect(await tx.errorCode(() => create("organization_followers", null, {}, theirTemplate.template_id))).toBe("NTFND");
      expect(await jobsOf(tx, acme.organization.organizationId)).toBe(0);
      expect(await countAsRoot(tx, "events.events where event_id = $1", [theirs])).toBe(1);
      expect(await countAsRoot(tx, "graphile_worker.jobs where task_identifier = 'messaging_fan_out'")).toBe(queuedBefore);
      // A plain member (not owner or admin) cannot message the audience either.
      const member = await createUser(tx, "msjobm");
      await addMember(tx, acme.owner, acme.organization, member);
      await tx.become(actingIn(member, acme.organization));
      expect(await tx.errorCode(() => create("organization_followers", null, { code: "1" }))).toBe("DNIED");
      expect(await jobsOf(tx, acme.organization.organizationId)).toBe(0);
    });
  });

  it("cancels a queued job once, only for its own organization", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "msjobc");
      const globex = await createTenant(tx, "msjobc2");
      await tx.become(acme.claims);
      const template = await one<{ template_id: string }>(tx, "insert into messaging.message_templates (name, subject, body) values ('x', 's', 'b') returning template_id");
      const job = await one<{ job_id: string }>(tx, "select job_id from messaging.create_message_job($1, 'organization_members')", [template.template_id]);
      await tx.become(globex.claims);
      expect(await tx.errorCode(() => tx.query("select messaging.cancel_message_job($1)", [job.job_id]))).toBe("NTFND");
      await tx.become(acme.claims);
      expect(await one(tx, "select status from messaging.cancel_message_job($1)", [job.job_id])).toEqual({ status: "cancelled" });
      expect(await tx.errorCode(() => tx.query("select messaging.cancel_message_job($1)", [job.job_id]))).toBe("BADST");
      // The worker finds nothing to do.
      expect(await tx.asRoot(() => one(tx, "select handled, delivered, done from messaging_private.fan_out_batch($1, 10)", [job.job_id]))).toEqual({ handled: 0, delivered: 0, done: true });
    });
  });
});
