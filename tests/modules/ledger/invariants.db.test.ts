import { describe, expect, it } from "vitest";
import { runOnce } from "graphile-worker";
import { rootDb, withTransaction, workerPool, type TestTransaction } from "../../helpers/db.ts";
import { taskList } from "../../../src/worker/tasks/index.ts";
import { addMember, countAsRoot, createOrganization, createUser, one, ownFootprint, roleClaims } from "../../helpers/fixtures.ts";
import { balanceOf, openAccount, openWorld, transfer, verifyLedger } from "./fixtures.ts";

// The ledger's invariants, each attacked directly. Cases run in rolled-back
// transactions, so they never COMMIT: settle() runs the commit-time checks
// (the deferred trigger on ledger.transactions) where a COMMIT would, then
// defers again.

async function settle(tx: TestTransaction) {
  await tx.query("set constraints all immediate");
  await tx.query("set constraints all deferred");
}

/** withTransaction that also runs the commit-time checks at the end: every case's postings must pass them. */
const ledgerTransaction = (fn: (tx: TestTransaction) => Promise<void>) =>
  withTransaction(async (tx) => {
    await fn(tx);
    await settle(tx);
  });

/** A funded USD wallet (1000) and an empty one, both system accounts, plus the world account. */
async function funded(tx: TestTransaction) {
  const world = await openWorld(tx);
  const a = await openAccount(tx, "wallet_a");
  const b = await openAccount(tx, "wallet_b");
  await transfer(tx, world, a, 1000);
  return { world, a, b };
}

const entries = (values: Array<[string, number, string]>) =>
  `array[${values.map(([account, amount, currency]) => `row(${account}, ${amount}, '${currency}')`).join(", ")}]::ledger.entry_input[]`;

describe("ledger invariants", () => {
  it("refuses a transaction whose entries do not sum to zero, from a function or written by hand", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      expect(await tx.errorCode(() => tx.query(`select ledger.post_transaction(${entries([[a, -10, "USD"], [b, 9, "USD"]])})`))).toBe("LUNBL");
      const code = await tx.errorCode(async () => {
        const { transaction_id } = await one<{ transaction_id: string }>(tx, "insert into ledger.transactions default values returning transaction_id");
        await tx.query(
          "insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version) values ($1, 1, $2, 'USD', -10, 990, 2), ($1, 2, $3, 'USD', 9, 9, 1)",
          [transaction_id, a, b],
        );
        await settle(tx);
      });
      expect(code).toBe("LUNBL");
    });
  });

  it("checks the sum at commit, so a transaction's entries may arrive in several statements", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      await tx.query("set constraints all deferred");
      const { transaction_id } = await one<{ transaction_id: string }>(tx, "insert into ledger.transactions default values returning transaction_id");
      await tx.query("insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version) values ($1, 1, $2, 'USD', -10, 990, 2)", [transaction_id, a]);
      await tx.query("insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version) values ($1, 2, $2, 'USD', 10, 10, 1)", [transaction_id, b]);
      expect(await tx.errorCode(() => settle(tx))).toBeUndefined();
      // The books were written by hand without touching balances: verify() says so.
      const problems = (await verifyLedger(tx)) as Array<{ problem: string }>;
      expect(problems.map((p) => p.problem)).toEqual(expect.arrayContaining(["balance", "version"]));
    });
  });

  it("refuses a transaction with fewer than two entries", async () => {
    await ledgerTransaction(async (tx) => {
      const { a } = await funded(tx);
      expect(await tx.errorCode(() => tx.query(`select ledger.post_transaction(${entries([[a, 10, "USD"]])})`))).toBe("LUNBL");
      expect(
        await tx.errorCode(async () => {
          await tx.query("insert into ledger.transactions default values");
          await settle(tx);
        }),
      ).toBe("LUNBL");
    });
  });

  it("refuses zero amounts", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      expect(await tx.errorCode(() => tx.query(`select ledger.post_transaction(${entries([[a, 0, "USD"], [b, 0, "USD"]])})`))).toBe("BADIN");
      expect(await tx.errorCode(() => transfer(tx, a, b, 0))).toBe("BADIN");
      const code = await tx.errorCode(async () => {
        const { transaction_id } = await one<{ transaction_id: string }>(tx, "insert into ledger.transactions default values returning transaction_id");
        await tx.query("insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version) values ($1, 1, $2, 'USD', 0, 1000, 2)", [transaction_id, a]);
      });
      expect(code).toBe("23514");
    });
  });

  it("refuses an entry in another currency than its account's", async () => {
    await ledgerTransaction(async (tx) => {
      const { a } = await funded(tx);
      const euros = await openAccount(tx, "eur_wallet", { currency: "EUR" });
      expect(await tx.errorCode(() => transfer(tx, a, euros, 10))).toBe("LCURR");
      expect(await tx.errorCode(() => transfer(tx, a, euros, 10, "EUR"))).toBe("LCURR");
      expect(await tx.errorCode(() => tx.query(`select ledger.post_transaction(${entries([[a, -10, "USD"], [euros, 10, "USD"]])})`))).toBe("LCURR");
      const code = await tx.errorCode(async () => {
        const { transaction_id } = await one<{ transaction_id: string }>(tx, "insert into ledger.transactions default values returning transaction_id");
        await tx.query("insert into ledger.entries (transaction_id, line, account_id, currency, amount, balance_after, account_version) values ($1, 1, $2, 'USD', 10, 10, 1)", [transaction_id, euros]);
      });
      expect(code).toBe("23503");
    });
  });

  it("never lets anyone update, delete or truncate transactions and entries", async () => {
    await ledgerTransaction(async (tx) => {
      // Truncate first: pending commit-time checks would make PostgreSQL refuse it for another reason.
      expect(await tx.errorCode(() => tx.query("truncate ledger.entries"))).toBe("LIMMU");
      expect(await tx.errorCode(() => tx.query("truncate ledger.transactions, ledger.entries, ledger.holds"))).toBe("LIMMU");
      const { a, b } = await funded(tx);
      const id = await transfer(tx, a, b, 10);
      for (const [table, change] of [["ledger.entries", "amount = 1"], ["ledger.transactions", "memo = 'edited'"]]) {
        expect(await tx.errorCode(() => tx.query(`update ${table} set ${change} where transaction_id = $1`, [id]))).toBe("LIMMU");
        expect(await tx.errorCode(() => tx.query(`delete from ${table} where transaction_id = $1`, [id]))).toBe("LIMMU");
      }
      const user = await createUser(tx, "ledimm");
      await tx.become(user.claims);
      expect(await tx.errorCode(() => tx.query("update ledger.entries set amount = 1"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("delete from ledger.transactions"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("insert into ledger.transactions default values"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("update ledger.accounts set balance = 1000000"))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("insert into ledger.accounts (code, name, currency) values ('x', 'x', 'USD')"))).toBe("42501");
      expect(await countAsRoot(tx, "ledger.entries where transaction_id = $1", [id])).toBe(2);
    });
  });

  it("keeps every balance within its account's flags", async () => {
    await ledgerTransaction(async (tx) => {
      const { world, a, b } = await funded(tx);
      expect(await tx.errorCode(() => transfer(tx, a, b, 1001))).toBe("LFUND");
      expect(await tx.errorCode(() => transfer(tx, b, a, 1))).toBe("LFUND");
      const sink = await openAccount(tx, "credit_only", { allowPositive: false, allowNegative: true, kind: "revenue" });
      expect(await tx.errorCode(() => transfer(tx, a, sink, 1))).toBe("LFUND");
      await transfer(tx, sink, world, 5);
      expect(await tx.errorCode(() => tx.query("update ledger.accounts set balance = -1 where account_id = $1", [a]))).toBe("23514");
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 1000, version: 1 });
      expect(await transfer(tx, a, b, 1000)).toMatch(/^\d+$/);
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 0, version: 2 });
    });
  });

  it("names what refused a transfer, with both accounts, the transaction log and the entries left as they were", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      const sink = await openAccount(tx, "credit_only_sink", { allowPositive: false, allowNegative: true, kind: "revenue" });
      const euros = await openAccount(tx, "euro_wallet", { currency: "EUR" });
      const refusal = (from: string, to: string, amount: number) => tx.errorOf(() => transfer(tx, from, to, amount));
      // This test's own rows only: other files commit ledger transactions meanwhile.
      const written = () => ownFootprint(tx, { transactions: ["count(*)", "ledger.transactions"], entries: ["count(*)", "ledger.entries"] });
      const before = await written();
      expect(await refusal(a, b, 1001)).toBe(`LFUND: Insufficient funds in account ${a}: available 1000, needed 1001.`);
      // a could pay; the payee's flags refuse, so neither side moves.
      expect(await refusal(a, sink, 10)).toBe(`LFUND: Account ${sink} may not go above zero.`);
      expect(await refusal(a, euros, 10)).toBe(`LCURR: Currency mismatch: the transfer is in USD, account ${a} is in USD and account ${euros} in EUR.`);
      expect(await refusal(a, "999999999", 10)).toBe("NTFND: No such account: 999999999.");
      expect(await refusal("999999999", a, 10)).toBe("NTFND: No such account: 999999999.");
      await tx.query("savepoint refusal");
      await tx.query("select ledger.create_period('now', now() - interval '1 day', now() + interval '1 day')");
      await tx.query("select ledger.close_period(period_id) from ledger.periods where name = 'now'");
      expect(await tx.errorCode(() => transfer(tx, a, b, 10))).toBe("LPCLS");
      await tx.query("rollback to savepoint refusal");
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 1000, version: 1 });
      expect(await balanceOf(tx, b)).toMatchObject({ balance: 0, version: 0 });
      expect(await balanceOf(tx, sink)).toMatchObject({ balance: 0, version: 0 });
      expect(await written()).toEqual(before);
      expect(await transfer(tx, a, b, 10)).toMatch(/^\d+$/);
      expect(await balanceOf(tx, b)).toMatchObject({ balance: 10, version: 1 });
    });
  });

  it("keeps each balance equal to the sum of its entries, and verify() finds any account where it does not", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      for (let i = 1; i <= 5; i++) await transfer(tx, i % 2 ? a : b, i % 2 ? b : a, 100 - i);
      expect(await verifyLedger(tx)).toEqual([]);
      const sum = await one<{ total: string; n: string }>(tx, "select sum(amount) as total, count(*) as n from ledger.entries where account_id = $1", [a]);
      expect(await balanceOf(tx, a)).toMatchObject({ balance: Number(sum.total), version: Number(sum.n) });
      await tx.query("update ledger.accounts set balance = balance + 1 where account_id = $1", [b]);
      expect(await verifyLedger(tx)).toEqual([expect.objectContaining({ problem: "balance", account_id: b })]);
    });
  });

  it("returns the original transaction for a replayed idempotency key and refuses other content under it", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      const first = await transfer(tx, a, b, 10, "USD", "order-1");
      expect(await transfer(tx, a, b, 10, "USD", "order-1")).toBe(first);
      expect(await tx.errorCode(() => transfer(tx, a, b, 11, "USD", "order-1"))).toBe("LIDEM");
      expect(await tx.errorCode(() => transfer(tx, b, a, 10, "USD", "order-1"))).toBe("LIDEM");
      expect(await tx.errorCode(() => tx.query(`select ledger.post_transaction(${entries([[a, -10, "USD"], [b, 10, "USD"]])}, 'order-1', memo => 'other')`))).toBe("LIDEM");
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 990, version: 2 });
      expect(await countAsRoot(tx, "ledger.transactions where idempotency_key = 'order-1'")).toBe(1);
    });
  });

  it("scopes idempotency keys to the caller", async () => {
    await ledgerTransaction(async (tx) => {
      const world = await openWorld(tx);
      const alice = await createUser(tx, "ledka");
      const bob = await createUser(tx, "ledkb");
      const [aliceWallet, bobWallet] = await tx.asRoot(async () => {
        const wallets = [await openAccount(tx, "alice", { ownerUserId: alice.userId }), await openAccount(tx, "bob", { ownerUserId: bob.userId })];
        for (const wallet of wallets) await transfer(tx, world, wallet, 100);
        return wallets as [string, string];
      });
      await tx.become(alice.claims);
      const fromAlice = await transfer(tx, aliceWallet, bobWallet, 5, "USD", "same-key");
      await tx.become(bob.claims);
      const fromBob = await transfer(tx, bobWallet, aliceWallet, 7, "USD", "same-key");
      expect(fromBob).not.toBe(fromAlice);
    });
  });
});

describe("batches and multi-currency transactions", () => {
  it("posts a batch atomically: one failing transfer posts nothing", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      const batch = (amounts: number[]) =>
        `array[${amounts.map((amount, i) => `row(${i % 2 ? b : a}, ${i % 2 ? a : b}, ${amount}, 'USD', null, null)`).join(", ")}]::ledger.transfer_input[]`;
      const { rows } = await tx.query<{ transaction_id: string }>(`select transaction_id from ledger.post_batch(${batch([600, 100, 400])})`);
      expect(rows).toHaveLength(3);
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 100, version: 4 });
      expect(await tx.errorCode(() => tx.query(`select ledger.post_batch(${batch([50, 10, 200])})`))).toBe("LFUND");
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 100, version: 4 });
      expect(await verifyLedger(tx)).toEqual([]);
    });
  });

  it("gives a batch the same running balances as one transfer at a time, and replays keyed batches", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      const c = await openAccount(tx, "third");
      const euros = await openAccount(tx, "eur_wallet", { currency: "EUR" });
      const row = (from: string, to: string, amount: number, key: string | null = null, currency = "USD") =>
        `row(${from}, ${to}, ${amount}, '${currency}', ${key === null ? "null" : `'${key}'`}, null)`;
      const post = (rows: string[]) => tx.query<{ transaction_id: string }>(`select transaction_id from ledger.post_batch(array[${rows.join(", ")}]::ledger.transfer_input[])`);
      // a: 1000 -> 700 -> 650; b: 0 -> 300 -> 200 -> 250; c: 0 -> 100
      const { rows: posted } = await post([row(a, b, 300), row(b, c, 100), row(a, b, 50)]);
      expect(posted).toHaveLength(3);
      const { rows: lines } = await tx.query<{ account_id: string; amount: string; balance_after: string; account_version: string }>(
        "select account_id, amount, balance_after, account_version from ledger.entries where transaction_id = any ($1::bigint[]) order by transaction_id, line",
        [posted.map((p) => p.transaction_id)],
      );
      expect(lines.map((l) => [l.account_id, l.amount, l.balance_after, l.account_version])).toEqual([
        [a, "-300", "700", "2"], [b, "300", "300", "1"],
        [b, "-100", "200", "2"], [c, "100", "100", "1"],
        [a, "-50", "650", "3"], [b, "50", "250", "3"],
      ]);
      expect(await tx.errorCode(() => post([row(a, b, 1), row(b, "999999999", 1)]))).toBe("NTFND");
      expect(await tx.errorCode(() => post([row(a, b, 1), row(a, euros, 1)]))).toBe("LCURR");
      expect(await tx.errorCode(() => post([row(a, b, 0)]))).toBe("BADIN");
      expect(await tx.errorCode(() => post([row(a, a, 5)]))).toBe("BADIN");
      // A transfer that only fails at its intermediate balance: c has 100, gets 50 after spending 120.
      expect(await tx.errorCode(() => post([row(c, b, 120), row(a, c, 50)]))).toBe("LFUND");
      expect(await balanceOf(tx, c)).toMatchObject({ balance: 100, version: 1 });
      // Keyed: the replay returns the original, other content fails.
      const { rows: first } = await post([row(a, b, 10, "batch-1"), row(b, c, 5)]);
      const { rows: again } = await post([row(a, b, 10, "batch-1")]);
      expect(again).toEqual([first[0]]);
      expect(await tx.errorCode(() => post([row(a, b, 11, "batch-1")]))).toBe("LIDEM");
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 640, version: 4 });
      expect(await verifyLedger(tx)).toEqual([]);
    });
  });

  it("converts currencies through per-currency liquidity accounts, so each currency sums to zero", async () => {
    await ledgerTransaction(async (tx) => {
      const { a } = await funded(tx);
      const euros = await openAccount(tx, "eur_wallet", { currency: "EUR" });
      const fxUsd = await openAccount(tx, "fx_usd", { currency: "USD", kind: "asset", allowNegative: true });
      const fxEur = await openAccount(tx, "fx_eur", { currency: "EUR", kind: "asset", allowNegative: true });
      expect(await tx.errorCode(() => tx.query(`select ledger.post_transaction(${entries([[a, -100, "USD"], [euros, 92, "EUR"]])})`))).toBe("LUNBL");
      await tx.query(`select ledger.post_transaction(${entries([[a, -100, "USD"], [fxUsd, 100, "USD"], [fxEur, -92, "EUR"], [euros, 92, "EUR"]])}, kind => 'conversion')`);
      expect(await balanceOf(tx, euros)).toMatchObject({ balance: 92 });
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 900 });
      expect(await verifyLedger(tx)).toEqual([]);
    });
  });
});

describe("holds", () => {
  it("reserve funds, then post partially and release the rest", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      const hold = await one<{ hold_id: string; status: string }>(tx, "select hold_id, status from ledger.create_hold($1, $2, 700, 'USD')", [a, b]);
      expect(hold.status).toBe("pending");
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 1000, pendingOut: 700 });
      expect(await balanceOf(tx, b)).toMatchObject({ balance: 0, pendingIn: 700 });
      expect((await one<{ available: string }>(tx, "select ledger.accounts_available_balance(a) as available from ledger.accounts a where account_id = $1", [a])).available).toBe("300");
      expect(await tx.errorCode(() => transfer(tx, a, b, 301))).toBe("LFUND");
      expect(await tx.errorCode(() => tx.query("select ledger.create_hold($1, $2, 301, 'USD')", [a, b]))).toBe("LFUND");
      expect(await tx.errorCode(() => tx.query("select ledger.post_hold($1, 701)", [hold.hold_id]))).toBe("BADIN");
      const posted = await one<{ transaction_id: string; kind: string; hold_id: string }>(tx, "select * from ledger.post_hold($1, 500)", [hold.hold_id]);
      expect(posted).toMatchObject({ kind: "hold_post", hold_id: hold.hold_id });
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 500, pendingOut: 0 });
      expect(await balanceOf(tx, b)).toMatchObject({ balance: 500, pendingIn: 0 });
      expect(await one(tx, "select status, posted_amount, transaction_id from ledger.holds where hold_id = $1", [hold.hold_id])).toEqual({
        status: "posted",
        posted_amount: "500",
        transaction_id: posted.transaction_id,
      });
      expect(await tx.errorCode(() => tx.query("select ledger.post_hold($1)", [hold.hold_id]))).toBe("LHOLD");
      expect(await tx.errorCode(() => tx.query("select ledger.void_hold($1)", [hold.hold_id]))).toBe("LHOLD");
      expect(await verifyLedger(tx)).toEqual([]);
    });
  });

  it("void releases the reservation without moving money", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      const { hold_id } = await one<{ hold_id: string }>(tx, "select hold_id from ledger.create_hold($1, $2, 1000, 'USD')", [a, b]);
      expect((await one<{ status: string }>(tx, "select status from ledger.void_hold($1)", [hold_id])).status).toBe("voided");
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 1000, pendingOut: 0, version: 1 });
      expect(await tx.errorCode(() => tx.query("select ledger.post_hold($1)", [hold_id]))).toBe("LHOLD");
      expect(await verifyLedger(tx)).toEqual([]);
    });
  });

  it("cannot be posted after it expires", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      const { hold_id } = await one<{ hold_id: string }>(tx, "select hold_id from ledger.create_hold($1, $2, 100, 'USD', now() + interval '1 hour')", [a, b]);
      // Backdate the expiry (holds are mutable bookkeeping, unlike the log).
      await tx.query("update ledger.holds set expires_at = now() - interval '1 second' where hold_id = $1", [hold_id]);
      expect(await tx.errorCode(() => tx.query("select ledger.post_hold($1)", [hold_id]))).toBe("LHEXP");
      expect(await tx.errorCode(() => tx.query("select ledger.create_hold($1, $2, 100, 'USD', now() - interval '1 second')", [a, b]))).toBe("BADIN");
    });
  });

  it("expire through the ledger_expire_holds worker task, which releases the reservation", async () => {
    const ownerPool = workerPool(2);
    try {
      const db = rootDb();
      const world = await openWorld(db);
      const a = await openAccount(db, "expiring_a");
      const b = await openAccount(db, "expiring_b");
      await transfer(db, world, a, 500);
      const { rows } = await db.query<{ hold_id: string }>("select hold_id from ledger.create_hold($1, $2, 400, 'USD', now() + interval '1 hour')", [a, b]);
      const holdId = rows[0]!.hold_id;
      await db.query("update ledger.holds set expires_at = now() - interval '1 second' where hold_id = $1", [holdId]);
      expect(await balanceOf(db, a)).toMatchObject({ pendingOut: 400 });
      await ownerPool.query("select graphile_worker.add_job('ledger_expire_holds', '{}'::json)");
      await runOnce({ pgPool: ownerPool, taskList: { ledger_expire_holds: taskList.ledger_expire_holds! }, noHandleSignals: true });
      const hold = await db.query("select status, resolved_at is not null as resolved from ledger.holds where hold_id = $1", [holdId]);
      expect(hold.rows[0]).toEqual({ status: "expired", resolved: true });
      expect(await balanceOf(db, a)).toMatchObject({ balance: 500, pendingOut: 0 });
      expect(await balanceOf(db, b)).toMatchObject({ balance: 0, pendingIn: 0 });
    } finally {
      await ownerPool.end();
    }
  });
});

describe("reversals", () => {
  it("write the mirror transaction once", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      const original = await transfer(tx, a, b, 250);
      const reversal = await one<{ transaction_id: string; reverses_id: string; kind: string }>(tx, "select * from ledger.reverse($1)", [original]);
      expect(reversal).toMatchObject({ reverses_id: original, kind: "reversal" });
      expect(await balanceOf(tx, a)).toMatchObject({ balance: 1000, version: 3 });
      expect(await balanceOf(tx, b)).toMatchObject({ balance: 0, version: 2 });
      const { rows } = await tx.query("select account_id, amount from ledger.entries where transaction_id = $1 order by line", [reversal.transaction_id]);
      expect(rows).toEqual([{ account_id: a, amount: "250" }, { account_id: b, amount: "-250" }]);
      expect(await tx.errorCode(() => tx.query("select ledger.reverse($1)", [original]))).toBe("LREVD");
      expect(await tx.errorCode(() => tx.query("select ledger.reverse(-1)"))).toBe("NTFND");
      expect(await verifyLedger(tx)).toEqual([]);
    });
  });

  it("refuse to take back money the recipient no longer has", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      const c = await openAccount(tx, "wallet_c");
      const original = await transfer(tx, a, b, 250);
      await transfer(tx, b, c, 200);
      expect(await tx.errorCode(() => tx.query("select ledger.reverse($1)", [original]))).toBe("LFUND");
    });
  });
});

describe("periods", () => {
  it("refuse postings effective in a closed period until it is reopened", async () => {
    await ledgerTransaction(async (tx) => {
      const { a, b } = await funded(tx);
      // Far in the past so that no other test's postings fall into it.
      const { period_id } = await one<{ period_id: string }>(tx, "select period_id from ledger.create_period('1999-01', '1999-01-01', '1999-02-01')");
      expect(await tx.errorCode(() => tx.query("select ledger.create_period('overlap', '1999-01-15', '1999-03-01')"))).toBe("LPOVL");
      await tx.query("select ledger.post_transfer($1, $2, 1, 'USD', effective_at => '1999-01-10')", [a, b]);
      await tx.query("select ledger.close_period($1)", [period_id]);
      expect(
        await tx.errorCode(async () => {
          await tx.query("select ledger.post_transfer($1, $2, 1, 'USD', effective_at => '1999-01-10')", [a, b]);
          await settle(tx);
        }),
      ).toBe("LPCLS");
      await transfer(tx, a, b, 1);
      await tx.query("select ledger.reopen_period($1)", [period_id]);
      await tx.query("select ledger.post_transfer($1, $2, 1, 'USD', effective_at => '1999-01-10')", [a, b]);
    });
  });

  it("are closed by operators only", async () => {
    await ledgerTransaction(async (tx) => {
      const { period_id } = await one<{ period_id: string }>(tx, "select period_id from ledger.create_period('1998-01', '1998-01-01', '1998-02-01')");
      const user = await createUser(tx, "ledper");
      await tx.become(user.claims);
      expect(await tx.errorCode(() => tx.query("select ledger.close_period($1)", [period_id]))).toBe("42501");
      const operator = await createUser(tx, "ledpop");
      await tx.become(await roleClaims(tx, operator, "gw_admin"));
      const closed = await one<{ closed_by: string }>(tx, "select closed_by from ledger.close_period($1)", [period_id]);
      expect(closed.closed_by).toBe(operator.userId);
    });
  });
});

describe("who may move and see money", () => {
  it("owners move money out of their own accounts only, and see only their accounts, entries and transactions", async () => {
    await ledgerTransaction(async (tx) => {
      const world = await openWorld(tx);
      const alice = await createUser(tx, "ledowna");
      const bob = await createUser(tx, "ledownb");
      await tx.become(alice.claims);
      const aliceWallet = (await one<{ account_id: string }>(tx, "select account_id from ledger.create_account('wallet', 'Alice', 'USD')")).account_id;
      expect(await tx.errorCode(() => tx.query("select ledger.create_account('debt', 'Debt', 'USD', allow_negative => true)"))).toBe("DNIED");
      expect(await tx.errorCode(() => tx.query("select ledger.create_account('x', 'X', 'USD', owner_user_id => $1)", [bob.userId]))).toBe("DNIED");
      await tx.become(bob.claims);
      const bobWallet = (await one<{ account_id: string }>(tx, "select account_id from ledger.create_account('wallet', 'Bob', 'USD')")).account_id;
      await tx.asRoot(() => transfer(tx, world, aliceWallet, 100));

      await tx.become(bob.claims);
      expect(await tx.errorCode(() => transfer(tx, aliceWallet, bobWallet, 10))).toBe("DNIED");
      expect(await tx.errorCode(() => transfer(tx, world, bobWallet, 10))).toBe("DNIED");
      expect((await tx.query("select * from ledger.accounts where account_id = $1", [aliceWallet])).rows).toEqual([]);
      expect((await tx.query("select * from ledger.entries where account_id = $1", [aliceWallet])).rows).toEqual([]);
      expect(await countAsRoot(tx, "ledger.entries where account_id = $1", [aliceWallet])).toBe(1);
      expect(await tx.errorCode(() => tx.query("select * from ledger.trial_balance()"))).toBe("42501");

      await tx.become(alice.claims);
      const paid = await transfer(tx, aliceWallet, bobWallet, 30);
      const { rows: seen } = await tx.query<{ account_id: string }>("select account_id from ledger.accounts order by account_id");
      expect(seen.map((row) => row.account_id)).toEqual([aliceWallet]);
      expect((await tx.query("select transaction_id from ledger.transactions order by 1")).rows.map((r) => r.transaction_id)).toHaveLength(2);

      await tx.become(bob.claims);
      // Bob sees the payment (it touches his account) and only his own entry of it.
      expect((await tx.query("select transaction_id from ledger.transactions")).rows).toEqual([{ transaction_id: paid }]);
      expect((await tx.query("select account_id from ledger.entries")).rows).toEqual([{ account_id: bobWallet }]);
    });
  });

  it("organization owners and admins move the organization's money; members only see it", async () => {
    await ledgerTransaction(async (tx) => {
      const world = await openWorld(tx);
      const owner = await createUser(tx, "ledorgo");
      const admin = await createUser(tx, "ledorga");
      const member = await createUser(tx, "ledorgm");
      const outsider = await createUser(tx, "ledorgx");
      const org = await createOrganization(tx, owner, "ledger-org");
      await addMember(tx, owner, org, admin, "admin");
      await addMember(tx, owner, org, member, "member");
      await tx.become(admin.claims);
      const treasury = (await one<{ account_id: string }>(tx, "select account_id from ledger.create_account('treasury', 'Treasury', 'USD', organization_id => $1)", [org.organizationId])).account_id;
      await tx.become(member.claims);
      expect(await tx.errorCode(() => tx.query("select ledger.create_account('petty', 'Petty', 'USD', organization_id => $1)", [org.organizationId]))).toBe("DNIED");
      const memberWallet = (await one<{ account_id: string }>(tx, "select account_id from ledger.create_account('wallet', 'Member', 'USD')")).account_id;
      await tx.asRoot(() => transfer(tx, world, treasury, 1000));

      expect((await tx.query("select balance from ledger.accounts where account_id = $1", [treasury])).rows).toEqual([{ balance: "1000" }]);
      expect(await tx.errorCode(() => transfer(tx, treasury, memberWallet, 10))).toBe("DNIED");
      await tx.become(admin.claims);
      await transfer(tx, treasury, memberWallet, 10);
      await tx.become(outsider.claims);
      expect((await tx.query("select * from ledger.accounts where account_id = $1", [treasury])).rows).toEqual([]);
      expect((await tx.query("select * from ledger.holds")).rows).toEqual([]);
      expect(await countAsRoot(tx, "ledger.accounts where account_id = $1", [treasury])).toBe(1);
    });
  });

  it("gives operators the trial balance, currency totals and verify()", async () => {
    await ledgerTransaction(async (tx) => {
      await funded(tx);
      const operator = await createUser(tx, "ledop");
      await tx.become(await roleClaims(tx, operator, "gw_admin"));
      const totals = await tx.query<{ currency: string; net: string; debits: string; credits: string }>("select * from ledger.currency_totals()");
      expect(totals.rows.map((row) => row.currency)).toContain("USD");
      for (const row of totals.rows) {
        expect(row.net).toBe("0");
        expect(row.debits).toBe(row.credits);
      }
      const lines = await tx.query<{ currency: string; kind: string; debits: string; credits: string }>("select * from ledger.trial_balance()");
      const usd = lines.rows.filter((line) => line.currency === "USD");
      const sum = (key: "debits" | "credits") => usd.reduce((total, line) => total + BigInt(line[key]), 0n);
      expect(sum("debits")).toBe(sum("credits"));
      expect(sum("debits")).toBeGreaterThanOrEqual(1000n);
      expect((await tx.query("select * from ledger.verify()")).rows).toEqual([]);
    });
  });
});
