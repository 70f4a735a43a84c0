import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { createLogger } from "../../../src/logger.ts";
import { defaultTaskOptions } from "../../../src/config.ts";
import { startWorker, type Worker } from "../../../src/worker/runner.ts";
import { registerUser, useTestApi, type SignedIn } from "../../helpers/api.ts";
import { rootDb } from "../../helpers/db.ts";
import { until } from "../../helpers/until.ts";

/**
 * Funding a wallet from a payment provider, end to end: the provider posts
 * payment.succeeded to POST /webhooks/<provider> (Standard Webhooks signature),
 * the inbox stores it once per message id, the worker runs
 * payments_private.handle_provider_message, and the wallet is credited from
 * the provider's clearing account exactly once per provider payment id,
 * however often it is redelivered (same message id, or a new one).
 */
const api = useTestApi();
const provider = `pay${process.pid}`;
let secret = "";
let worker: Worker | undefined;
let buyer: SignedIn;

beforeAll(async () => {
  const { rows } = await rootDb().query<{ secret: string }>(
    "insert into inbox.sources (source, handler, description) values ($1, 'payments_private.handle_provider_message', 'test provider') returning secret",
    [provider],
  );
  secret = rows[0]!.secret;
  buyer = await registerUser(api, "payfund");
  worker = await startWorker({
    ownerUrl: inject("testDatabase").ownerUrl,
    concurrency: 2,
    logger: createLogger(process.env.LOG_LEVEL ?? "silent", "payments-test-worker"),
    tasks: { ...defaultTaskOptions, inbox: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 100 } },
    only: ["inbox_process"],
  });
});

afterAll(async () => {
  await worker?.stop();
  await rootDb().query("delete from inbox.sources where source = $1", [provider]);
});

function deliver(id: string, payload: Record<string, unknown>) {
  const body = JSON.stringify(payload);
  const now = new Date();
  return fetch(`${api.url}/webhooks/${provider}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": new Webhook(secret).sign(id, now, body),
    },
    body,
  });
}

const succeeded = (paymentId: string, amount: number, userId = buyer.userId) => ({
  type: "payment.succeeded",
  data: { paymentId, userId, amount, currency: "USD" },
});

async function statusOf(id: string) {
  const { rows } = await rootDb().query<{ status: string; last_error: string | null }>(
    "select status, last_error from inbox.messages where source = $1 and external_id = $2", [provider, id]);
  return rows[0];
}

async function wallet(): Promise<number> {
  const { rows } = await rootDb().query<{ balance: string }>(
    "select balance from ledger.accounts where owner_user_id = $1 and code = 'payments.wallet.usd'", [buyer.userId]);
  return Number(rows[0]?.balance ?? 0);
}

describe("funding a wallet from a payment provider", () => {
  it("credits the wallet once per payment id, however often the message is redelivered", async () => {
    const first = await deliver("evt-1", succeeded("pi_1", 25_000));
    expect(first.status).toBeLessThan(300);
    await until(() => statusOf("evt-1"), (m) => m?.status === "processed");
    expect(await wallet()).toBe(25_000);

    // The same message again (a redelivery), and the same payment under a new message id.
    expect((await deliver("evt-1", succeeded("pi_1", 25_000))).status).toBeLessThan(300);
    expect((await deliver("evt-2", succeeded("pi_1", 25_000))).status).toBeLessThan(300);
    await until(() => statusOf("evt-2"), (m) => m?.status === "processed");
    expect(await wallet()).toBe(25_000);

    const { rows } = await rootDb().query<{ n: number; clearing: string }>(
      `select count(*)::int as n, (select balance from ledger.accounts where code = 'payments.clearing.' || $1 || '.usd') as clearing
         from ledger.transactions where kind = 'payments.funding' and idempotency_key = 'funding:' || $1 || ':pi_1'`, [provider]);
    expect(rows[0]).toEqual({ n: 1, clearing: "-25000" });
    const events = await rootDb().query("select 1 from outbox.events where topic = 'wallet.funded' and payload ->> 'paymentId' = 'pi_1' and payload ->> 'provider' = $1", [provider]);
    expect(events.rowCount).toBe(1);

    // A second payment adds up; the buyer reads the wallet through the API.
    await deliver("evt-3", succeeded("pi_2", 5_000));
    await until(() => statusOf("evt-3"), (m) => m?.status === "processed");
    const read = await api.graphql(`{ paymentsWallets { nodes { walletId balance currency ownerUserId } } }`, {}, buyer.accessToken);
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data?.paymentsWallets.nodes).toEqual([expect.objectContaining({ balance: "30000", currency: "USD", ownerUserId: buyer.userId })]);
    expect((await rootDb().query("select * from ledger.verify()")).rows).toEqual([]);
  });

  it("records malformed payments as failures with PYMSG and credits nothing", async () => {
    const before = await wallet();
    await deliver("evt-bad-1", { type: "payment.succeeded", data: { paymentId: "pi_bad", userId: buyer.userId, amount: 10.5, currency: "USD" } });
    await deliver("evt-bad-2", succeeded("pi_bad2", 100, "00000000-0000-0000-0000-000000000000"));
    await until(async () => [await statusOf("evt-bad-1"), await statusOf("evt-bad-2")], (ms) => ms.every((m) => m?.last_error?.startsWith("PYMSG") === true));
    expect(await wallet()).toBe(before);
    // Other provider events are stored and acknowledged, and change nothing.
    await deliver("evt-other", { type: "charge.updated", data: {} });
    await until(() => statusOf("evt-other"), (m) => m?.status === "processed");
    expect(await wallet()).toBe(before);
  });
});
