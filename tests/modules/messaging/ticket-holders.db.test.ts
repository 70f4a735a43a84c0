import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { countAsRoot, one } from "../../helpers/fixtures.ts";
import { publishedEvent } from "../events/fixtures.ts";
import { checkout, createBuyer, createShop, createTenant, createTier } from "../ticketing/fixtures.ts";

// The audience event_ticket_holders: ticketing answers who holds a valid
// ticket (ticketing.event_ticket_holders), messaging fans out to them exactly
// once each; only the event's organization may address them.

async function templateOf(tx: TestTransaction): Promise<string> {
  return (await one<{ template_id: string }>(tx, "insert into messaging.message_templates (name, subject, body) values ('doors', 'About {{ event_title }}', 'Hello {{ recipient_name }}') returning template_id")).template_id;
}

/** Runs the job's batches as the worker would (batches of `size`) until it is done. */
async function fanOut(tx: TestTransaction, jobId: string, size: number): Promise<void> {
  await tx.asRoot(async () => {
    for (let i = 0; i < 50; i++) {
      const batch = await one<{ done: boolean }>(tx, "select done from messaging_private.fan_out_batch($1, $2)", [jobId, size]);
      if (batch.done) return;
    }
    throw new Error("the fan-out did not finish");
  });
}

async function received(tx: TestTransaction, jobId: string): Promise<Map<string, number>> {
  const rows = await tx.asRoot(async () => (await tx.query<{ user_id: string; n: number }>(
    "select user_id, count(*)::int as n from outbox.notifications where topic = 'messaging.message' and payload ->> 'jobId' = $1 group by user_id",
    [jobId],
  )).rows);
  return new Map(rows.map((row) => [row.user_id, row.n]));
}

describe("messaging every ticket holder of an event", () => {
  it("reaches each current holder once, however many tickets they hold, and nobody twice when the job runs again", async () => {
    await withTicketHolders(async (tx, shop, holders) => {
      await tx.become(shop.tenant.claims);
      const template = await templateOf(tx);
      const job = await one<{ job_id: string }>(tx, "select job_id from messaging.create_message_job($1, 'event_ticket_holders', 'in_app', $2)", [template, shop.eventId]);
      // The first batch, then a restart that lost its cursor: nobody is reached twice.
      await tx.asRoot(() => tx.query("select * from messaging_private.fan_out_batch($1, 2)", [job.job_id]));
      await tx.asRoot(() => tx.query("update messaging.message_jobs set cursor = null where job_id = $1", [job.job_id]));
      await fanOut(tx, job.job_id, 2);
      const got = await received(tx, job.job_id);
      expect([...got.keys()].sort()).toEqual([...holders.current].sort());
      expect([...got.values()].every((n) => n === 1)).toBe(true);
      expect(await countAsRoot(tx, "messaging_private.job_recipients where job_id = $1", [job.job_id])).toBe(holders.current.length);
      expect(await tx.asRoot(() => one(tx, "select status, delivered from messaging.message_jobs where job_id = $1", [job.job_id])))
        .toEqual({ status: "completed", delivered: holders.current.length });
      // The people who gave their ticket away, and holders of other events, hear nothing.
      for (const user of holders.former) expect(got.has(user)).toBe(false);
    });
  });

  it("refuses someone else's event audience (MSAUD) and an audience without its event, writing nothing", async () => {
    await withTicketHolders(async (tx, shop) => {
      const globex = await createTenant(tx, "msthg");
      await tx.become(globex.claims);
      const template = await templateOf(tx);
      const queued = await countAsRoot(tx, "graphile_worker.jobs where task_identifier = 'messaging_fan_out'");
      expect(await tx.errorCode(() => tx.query("select messaging.create_message_job($1, 'event_ticket_holders', 'in_app', $2)", [template, shop.eventId]))).toBe("MSAUD");
      expect(await tx.errorCode(() => tx.query("select messaging.create_message_job($1, 'event_ticket_holders', 'email', null)", [template]))).toBe("MSAUD");
      expect(await countAsRoot(tx, "messaging.message_jobs where organization_id = $1", [globex.organization.organizationId])).toBe(0);
      expect(await countAsRoot(tx, "graphile_worker.jobs where task_identifier = 'messaging_fan_out'")).toBe(queued);
      // The holders exist: the refusal is not for want of an audience.
      expect(await countAsRoot(tx, "ticketing.tickets where event_id = $1", [shop.eventId])).toBeGreaterThan(0);
    });
  });

  it("keeps the list of holders from API roles: only trusted code runs ticketing's resolver", async () => {
    await withTicketHolders(async (tx, shop, holders) => {
      await tx.become(shop.tenant.claims);
      expect(await tx.errorCode(() => tx.query("select * from ticketing.event_ticket_holders($1, $2, null, 100)", [shop.tenant.organization.organizationId, shop.eventId])))
        .toBe("42501");
      const rows = await tx.asRoot(async () => (await tx.query<{ id: string }>("select ticketing.event_ticket_holders($1, $2, null, 100) as id", [shop.tenant.organization.organizationId, shop.eventId])).rows);
      expect(rows.map((row) => row.id)).toEqual([...holders.current].sort());
      // Asked with another organization, the event has no holders.
      const other = await countAsRoot(tx, "ticketing.event_ticket_holders(gen_random_uuid(), $1, null, 100)", [shop.eventId]);
      expect(other).toBe(0);
    });
  });
});

interface Holders {
  /** Hold a valid ticket of the event. */
  current: string[];
  /** Gave theirs away, or hold a ticket of another event only. */
  former: string[];
}

async function withTicketHolders(fn: (tx: TestTransaction, shop: Awaited<ReturnType<typeof createShop>>, holders: Holders) => Promise<void>): Promise<void> {
  await withTransaction(async (tx) => {
    const shop = await createShop(tx, "msth");
    const twice = await createBuyer(tx, "msth1");
    const giver = await createBuyer(tx, "msth2");
    const receiver = await createBuyer(tx, "msth3");
    const elsewhere = await createBuyer(tx, "msth4");
    const scanned = await createBuyer(tx, "msth5");
    await checkout(tx, twice.claims, shop.tierId, 2);
    await checkout(tx, twice.claims, shop.tierId, 1);
    await checkout(tx, giver.claims, shop.tierId, 1);
    await checkout(tx, scanned.claims, shop.tierId, 1);
    await tx.become(giver.claims);
    const given = await one<{ ticket_id: string }>(tx, "select ticket_id from ticketing.tickets where owner_user_id = $1", [giver.userId]);
    await tx.query("select ticketing.transfer_ticket($1, $2)", [given.ticket_id, receiver.username]);
    await tx.become(shop.tenant.claims);
    const code = await one<{ code: string }>(tx, "select code from ticketing.tickets where owner_user_id = $1", [scanned.userId]);
    await tx.query("select ticketing.redeem_ticket($1)", [code.code]);
    const otherEvent = await publishedEvent(tx, shop.tenant);
    const otherTier = await createTier(tx, shop.tenant, otherEvent);
    await checkout(tx, elsewhere.claims, otherTier, 1);
    await fn(tx, shop, { current: [twice.userId, receiver.userId, scanned.userId], former: [giver.userId, elsewhere.userId] });
  });
}
