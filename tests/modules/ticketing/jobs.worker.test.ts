import { runOnce } from "graphile-worker";
import { describe, expect, it } from "vitest";
import { taskList } from "../../../src/worker/tasks/index.ts";
import { rootDb, workerPool } from "../../helpers/db.ts";
import { uniqueName } from "../../helpers/fixtures.ts";
import { fund, verify } from "./fixtures.ts";

// The scheduled jobs of ticketing and payments, run by the worker (committed
// data): ticketing_expire_holds marks expired holds; payments_expire_credit_lots
// moves expired credits to breakage through the ledger.

async function runTask(name: "ticketing_expire_holds" | "payments_expire_credit_lots") {
  const ownerPool = workerPool(2);
  try {
    await ownerPool.query("select graphile_worker.add_job($1, '{}'::json)", [name]);
    await runOnce({ pgPool: ownerPool, taskList: { [name]: taskList[name]! }, noHandleSignals: true });
  } finally {
    await ownerPool.end();
  }
}

describe("ticketing and payments jobs", () => {
  it("ticketing_expire_holds marks expired holds and leaves live ones", async () => {
    const db = rootDb();
    const slug = uniqueName("tkjob", "-").toLowerCase();
    const { rows: [org] } = await db.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id", [slug]);
    const { rows: [event] } = await db.query<{ event_id: string }>(
      "insert into events.events (owner_context_id, title, starts_at, ends_at) values ($1, 'Jobs', now() + interval '2 days', now() + interval '3 days') returning event_id", [org!.organization_id]);
    await db.query("update events.events set status = 'published' where event_id = $1", [event!.event_id]);
    const { rows: [tier] } = await db.query<{ tier_id: string }>(
      "insert into ticketing.ticket_tiers (event_id, name, price, currency, capacity) values ($1, 'GA', 100, 'USD', 10) returning tier_id", [event!.event_id]);
    const { rows: [user] } = await db.query<{ user_id: string }>(
      "insert into auth.users (username, email) values ($1, $1 || '@example.com') returning user_id", [slug.replace(/-/g, "").slice(0, 30)]);
    const { rows: holds } = await db.query<{ hold_id: string }>(
      `insert into ticketing.ticket_holds (tier_id, user_id, quantity, expires_at)
       values ($1, $2, 2, now() - interval '1 second'), ($1, $2, 3, now() + interval '5 minutes') returning hold_id`, [tier!.tier_id, user!.user_id]);
    await runTask("ticketing_expire_holds");
    const { rows } = await db.query<{ hold_id: string; status: string }>("select hold_id, status from ticketing.ticket_holds where tier_id = $1 order by quantity", [tier!.tier_id]);
    expect(rows).toEqual([{ hold_id: holds[0]!.hold_id, status: "expired" }, { hold_id: holds[1]!.hold_id, status: "active" }]);
  });

  it("payments_expire_credit_lots moves an expired remainder to breakage once", async () => {
    const db = rootDb();
    const slug = uniqueName("pyjob").replace(/_/g, "").slice(0, 30);
    const { rows: [user] } = await db.query<{ user_id: string }>("insert into auth.users (username, email) values ($1, $1 || '@example.com') returning user_id", [slug]);
    const wallet = await fund(db, user!.user_id, 100);
    const { rows: [lot] } = await db.query<{ lot_id: string }>(
      "select lot_id from payments.grant_credits($1, null, 700, 'USD', now() + interval '1 hour')", [user!.user_id]);
    await db.query("update payments.credit_lots set expires_at = now() - interval '1 second' where lot_id = $1", [lot!.lot_id]);
    await runTask("payments_expire_credit_lots");
    await runTask("payments_expire_credit_lots");
    const { rows } = await db.query<{ remaining: string; balance: string; breakages: string }>(
      `select l.remaining, a.balance, (select count(*) from ledger.transactions t where t.idempotency_key = 'payments.breakage:' || l.lot_id) as breakages
         from payments.credit_lots l join ledger.accounts a on a.account_id = l.wallet_id where l.lot_id = $1`, [lot!.lot_id]);
    expect(rows[0]).toEqual({ remaining: "0", balance: "100", breakages: "1" });
    expect(wallet).toBeTruthy();
    expect(await verify(db)).toEqual([]);
  });
});
