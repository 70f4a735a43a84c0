import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { countAsRoot, createUser, one, roleClaims } from "../../helpers/fixtures.ts";
import { openAccount, openWorld, transfer } from "./fixtures.ts";

// Issue 15: what an ordinary account could label, date and attach to a
// transfer. System kinds are written only by the functions that mean them,
// effective times are bounded, metadata is capped at 16 kB. Every refusal is
// checked against the ledger as root: nothing was written.

/** A signed-in user with a funded wallet (1000) and an empty one, both theirs. */
async function userWithWallets(tx: TestTransaction, label: string) {
  const user = await createUser(tx, label);
  const { wallet, other } = await tx.asRoot(async () => {
    const world = await openWorld(tx);
    const wallet = await openAccount(tx, "rules_wallet", { ownerUserId: user.userId });
    const other = await openAccount(tx, "rules_other", { ownerUserId: user.userId });
    await transfer(tx, world, wallet, 1000);
    return { wallet, other };
  });
  await tx.become(user.claims);
  return { user, wallet, other };
}

const transactionsOf = (tx: TestTransaction, account: string) =>
  countAsRoot(tx, "ledger.entries where account_id = $1", [account]);

/** post_transfer with named arguments, as the current role. */
function postTransfer(tx: TestTransaction, from: string, to: string, extra: Record<string, string | null>, key: string | null = null) {
  const names = Object.keys(extra);
  return tx.query(
    `select * from ledger.post_transfer($1, $2, 1, 'USD', idempotency_key => $3${names.map((name, i) => `, ${name} => $${i + 4}`).join("")})`,
    [from, to, key, ...Object.values(extra)],
  );
}

const bigMetadata = () => JSON.stringify({ blob: "x".repeat(900_000) });

describe("reserved transaction kinds", () => {
  it("refuse a user who labels a transfer reversal, hold_post, adjustment or conversion, through every posting function", async () => {
    await withTransaction(async (tx) => {
      const { wallet, other } = await userWithWallets(tx, "kinds");
      for (const kind of ["reversal", "hold_post", "adjustment", "conversion"]) {
        expect(await tx.errorCode(() => postTransfer(tx, wallet, other, { kind })), kind).toBe("LKIND");
        expect(await tx.errorCode(() => postTransfer(tx, wallet, other, { kind }, `key-${kind}`)), `keyed ${kind}`).toBe("LKIND");
        expect(
          await tx.errorCode(() =>
            tx.query("select ledger.post_transaction(array[row($1, -1, 'USD'), row($2, 1, 'USD')]::ledger.entry_input[], kind => $3)", [wallet, other, kind]),
          ),
          `post_transaction ${kind}`,
        ).toBe("LKIND");
        for (const key of [null, `batch-${kind}`]) {
          expect(
            await tx.errorCode(() =>
              tx.query("select * from ledger.post_batch(array[row($1, $2, 1, 'USD', $4, null)]::ledger.transfer_input[], kind => $3)", [wallet, other, kind, key]),
            ),
            `post_batch ${kind} ${key}`,
          ).toBe("LKIND");
        }
      }
      // Nothing but the funding transfer touched the wallet.
      expect(await transactionsOf(tx, wallet)).toBe(1);
      // A plain transfer still goes through.
      expect((await postTransfer(tx, wallet, other, {})).rows[0]).toMatchObject({ kind: "transfer" });
    });
  });

  it("let operators post adjustments and conversions, but reversals and hold posts only through their functions", async () => {
    await withTransaction(async (tx) => {
      const { user, wallet, other } = await userWithWallets(tx, "kindop");
      await tx.become(await roleClaims(tx, user, "gw_admin"));
      expect((await postTransfer(tx, wallet, other, { kind: "adjustment" })).rows[0]).toMatchObject({ kind: "adjustment" });
      expect((await postTransfer(tx, wallet, other, { kind: "conversion" }, "op-conv")).rows[0]).toMatchObject({ kind: "conversion" });
      expect(await tx.errorCode(() => postTransfer(tx, wallet, other, { kind: "reversal" }))).toBe("LKIND");
      expect(await tx.errorCode(() => postTransfer(tx, wallet, other, { kind: "hold_post" }))).toBe("LKIND");
      // The functions that mean them still write them.
      await tx.become(user.claims);
      const original = await transfer(tx, wallet, other, 5);
      const reversal = await one<{ kind: string; reverses_id: string }>(tx, "select kind, reverses_id from ledger.reverse($1)", [original]);
      expect(reversal).toEqual({ kind: "reversal", reverses_id: original });
      const hold = await one<{ hold_id: string }>(tx, "select hold_id from ledger.create_hold($1, $2, 10, 'USD')", [wallet, other]);
      expect(await one(tx, "select kind, hold_id from ledger.post_hold($1)", [hold.hold_id])).toEqual({ kind: "hold_post", hold_id: hold.hold_id });
    });
  });

  it("hold even for the owner writing rows by hand: a reversal needs reversesId, a hold_post its hold", async () => {
    await withTransaction(async (tx) => {
      expect(await tx.errorCode(() => tx.query("insert into ledger.transactions (kind) values ('reversal')"))).toBe("23514");
      expect(await tx.errorCode(() => tx.query("insert into ledger.transactions (kind) values ('hold_post')"))).toBe("23514");
      expect(await tx.errorCode(() => tx.query("insert into ledger.transactions (metadata) values ($1)", [bigMetadata()]))).toBe("23514");
    });
  });
});

describe("effective time", () => {
  it("refuses a user's transfer effective in 1970, a day ago or an hour ahead, and accepts one an hour back", async () => {
    await withTransaction(async (tx) => {
      const { wallet, other } = await userWithWallets(tx, "when");
      for (const effective_at of ["1970-01-01T00:00:00Z", new Date(Date.now() - 25 * 3600_000).toISOString(), new Date(Date.now() + 3600_000).toISOString()]) {
        expect(await tx.errorCode(() => postTransfer(tx, wallet, other, { effective_at })), effective_at).toBe("LDATE");
        expect(await tx.errorCode(() => postTransfer(tx, wallet, other, { effective_at }, `when-${effective_at}`)), effective_at).toBe("LDATE");
        expect(
          await tx.errorCode(() =>
            tx.query("select ledger.post_transaction(array[row($1, -1, 'USD'), row($2, 1, 'USD')]::ledger.entry_input[], effective_at => $3)", [wallet, other, effective_at]),
          ),
        ).toBe("LDATE");
        expect(
          await tx.errorCode(() =>
            tx.query("select * from ledger.post_batch(array[row($1, $2, 1, 'USD', null, null)]::ledger.transfer_input[], effective_at => $3)", [wallet, other, effective_at]),
          ),
        ).toBe("LDATE");
      }
      expect(await transactionsOf(tx, wallet)).toBe(1);
      const hourAgo = new Date(Date.now() - 3600_000).toISOString();
      const posted = await one<{ effective_at: Date }>(tx, "select effective_at from ledger.post_transfer($1, $2, 1, 'USD', effective_at => $3)", [wallet, other, hourAgo]);
      expect(posted.effective_at.toISOString()).toBe(hourAgo);
    });
  });

  it("lets trusted code back-date, but not before the earliest accounting period and never into the future", async () => {
    await withTransaction(async (tx) => {
      const world = await openWorld(tx);
      const wallet = await openAccount(tx, "trusted_wallet");
      await tx.query("select ledger.create_period('rules-2001', '2001-01-01', '2001-02-01')");
      await tx.query("select ledger.post_transfer($1, $2, 1, 'USD', effective_at => '2001-01-15')", [world, wallet]);
      expect(await tx.errorCode(() => tx.query("select ledger.post_transfer($1, $2, 1, 'USD', effective_at => '1970-01-01')", [world, wallet]))).toBe("LDATE");
      expect(await tx.errorCode(() => tx.query("select ledger.post_transfer($1, $2, 1, 'USD', effective_at => now() + interval '1 hour')", [world, wallet]))).toBe("LDATE");
      expect(await countAsRoot(tx, "ledger.entries where account_id = $1", [wallet])).toBe(1);
    });
  });
});

describe("metadata", () => {
  it("refuses 900 kB of metadata from every posting function and accepts a small object", async () => {
    await withTransaction(async (tx) => {
      const { wallet, other } = await userWithWallets(tx, "meta");
      const metadata = bigMetadata();
      expect(await tx.errorCode(() => postTransfer(tx, wallet, other, { metadata }))).toBe("LMETA");
      expect(await tx.errorCode(() => postTransfer(tx, wallet, other, { metadata }, "meta-key"))).toBe("LMETA");
      expect(
        await tx.errorCode(() =>
          tx.query("select ledger.post_transaction(array[row($1, -1, 'USD'), row($2, 1, 'USD')]::ledger.entry_input[], metadata => $3)", [wallet, other, metadata]),
        ),
      ).toBe("LMETA");
      expect(
        await tx.errorCode(() =>
          tx.query("select * from ledger.post_batch(array[row($1, $2, 1, 'USD', null, null)]::ledger.transfer_input[], metadata => $3)", [wallet, other, metadata]),
        ),
      ).toBe("LMETA");
      expect(await transactionsOf(tx, wallet)).toBe(1);
      const small = { orderId: "o-1", note: "y".repeat(10_000) };
      const posted = await one<{ metadata: unknown }>(tx, "select metadata from ledger.post_transfer($1, $2, 1, 'USD', metadata => $3)", [wallet, other, JSON.stringify(small)]);
      expect(posted.metadata).toEqual(small);
    });
  });
});
