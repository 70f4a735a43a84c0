import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { balanceOf, openAccount, openWorld, verifyLedger } from "./fixtures.ts";

// Random sequences of ledger operations, run against the database and against
// a plain in-memory model of balances, pending amounts, holds and reversals.
// After every operation both must agree on whether it succeeded (and on the
// error code when not); at the end, on every balance, and verify() must be
// clean. Account 0 is a funding account that may go negative; 1-4 are wallets.

const wallets = 4;

type Op =
  | { type: "transfer"; from: number; to: number; amount: number }
  | { type: "hold"; from: number; to: number; amount: number }
  | { type: "postHold"; hold: number; percent: number }
  | { type: "voidHold"; hold: number }
  | { type: "reverse"; transaction: number };

const account = fc.integer({ min: 0, max: wallets });
const pair = fc.tuple(account, account).filter(([from, to]) => from !== to);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ pair, amount: fc.integer({ min: 1, max: 500 }) }).map(({ pair: [from, to], amount }) => ({ type: "transfer" as const, from, to, amount })) },
  { weight: 2, arbitrary: fc.record({ pair, amount: fc.integer({ min: 1, max: 500 }) }).map(({ pair: [from, to], amount }) => ({ type: "hold" as const, from, to, amount })) },
  { weight: 2, arbitrary: fc.record({ hold: fc.nat(20), percent: fc.integer({ min: 1, max: 100 }) }).map((o) => ({ type: "postHold" as const, ...o })) },
  { weight: 1, arbitrary: fc.nat(20).map((hold) => ({ type: "voidHold" as const, hold })) },
  { weight: 2, arbitrary: fc.nat(40).map((transaction) => ({ type: "reverse" as const, transaction })) },
);

interface Model {
  balance: number[];
  pendingOut: number[];
  pendingIn: number[];
  holds: Array<{ id: string; from: number; to: number; amount: number; status: "pending" | "posted" | "voided" }>;
  transactions: Array<{ id: string; entries: Array<[number, number]>; reversed: boolean }>;
}

const available = (model: Model, i: number) => (i === 0 ? Infinity : model.balance[i]! - model.pendingOut[i]!);

/** What the model predicts: an error code, or a function applying the success to the model. */
function predict(model: Model, o: Op): string | ((dbId: string) => void) {
  switch (o.type) {
    case "transfer":
      if (available(model, o.from) < o.amount) return "LFUND";
      return (id) => {
        model.balance[o.from]! -= o.amount;
        model.balance[o.to]! += o.amount;
        model.transactions.push({ id, entries: [[o.from, -o.amount], [o.to, o.amount]], reversed: false });
      };
    case "hold":
      if (available(model, o.from) < o.amount) return "LFUND";
      return (id) => {
        model.pendingOut[o.from]! += o.amount;
        model.pendingIn[o.to]! += o.amount;
        model.holds.push({ id, from: o.from, to: o.to, amount: o.amount, status: "pending" });
      };
    case "postHold":
    case "voidHold": {
      const hold = model.holds[o.hold % Math.max(1, model.holds.length)]!;
      if (hold.status !== "pending") return "LHOLD";
      return (id) => {
        model.pendingOut[hold.from]! -= hold.amount;
        model.pendingIn[hold.to]! -= hold.amount;
        if (o.type === "voidHold") {
          hold.status = "voided";
          return;
        }
        const amount = Math.max(1, Math.floor((hold.amount * o.percent) / 100));
        hold.status = "posted";
        model.balance[hold.from]! -= amount;
        model.balance[hold.to]! += amount;
        model.transactions.push({ id, entries: [[hold.from, -amount], [hold.to, amount]], reversed: false });
      };
    }
    case "reverse": {
      const original = model.transactions[o.transaction % model.transactions.length]!;
      if (original.reversed) return "LREVD";
      if (original.entries.some(([i, amount]) => amount > 0 && available(model, i) < amount)) return "LFUND";
      return (id) => {
        original.reversed = true;
        for (const [i, amount] of original.entries) model.balance[i]! -= amount;
        model.transactions.push({ id, entries: original.entries.map(([i, amount]) => [i, -amount]), reversed: false });
      };
    }
  }
}

async function run(tx: TestTransaction, ids: string[], model: Model, o: Op): Promise<{ id?: string; code?: string }> {
  let id: string | undefined;
  const code = await tx.errorCode(async () => {
    switch (o.type) {
      case "transfer":
        id = (await tx.query<{ id: string }>("select transaction_id as id from ledger.post_transfer($1, $2, $3, 'USD')", [ids[o.from], ids[o.to], o.amount])).rows[0]!.id;
        break;
      case "hold":
        id = (await tx.query<{ id: string }>("select hold_id as id from ledger.create_hold($1, $2, $3, 'USD')", [ids[o.from], ids[o.to], o.amount])).rows[0]!.id;
        break;
      case "postHold": {
        const hold = model.holds[o.hold % model.holds.length]!;
        const amount = Math.max(1, Math.floor((hold.amount * o.percent) / 100));
        id = (await tx.query<{ id: string }>("select transaction_id as id from ledger.post_hold($1, $2)", [hold.id, amount])).rows[0]!.id;
        break;
      }
      case "voidHold":
        await tx.query("select ledger.void_hold($1)", [model.holds[o.hold % model.holds.length]!.id]);
        id = "void";
        break;
      case "reverse":
        id = (await tx.query<{ id: string }>("select transaction_id as id from ledger.reverse($1)", [model.transactions[o.transaction % model.transactions.length]!.id])).rows[0]!.id;
        break;
    }
  });
  return code ? { code } : { id: id! };
}

describe("ledger against an in-memory model", () => {
  it("agrees with the model on every outcome and balance for random operation sequences", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        await withTransaction(async (tx) => {
          const ids = [await openWorld(tx)];
          for (let i = 1; i <= wallets; i++) ids.push(await openAccount(tx, `prop_${i}`));
          const model: Model = { balance: Array(wallets + 1).fill(0), pendingOut: Array(wallets + 1).fill(0), pendingIn: Array(wallets + 1).fill(0), holds: [], transactions: [] };
          for (const o of ops) {
            if ((o.type === "postHold" || o.type === "voidHold") && model.holds.length === 0) continue;
            if (o.type === "reverse" && model.transactions.length === 0) continue;
            const expected = predict(model, o);
            const outcome = await run(tx, ids, model, o);
            if (typeof expected === "string") {
              expect({ op: o, code: outcome.code }).toEqual({ op: o, code: expected });
            } else {
              expect({ op: o, code: outcome.code }).toEqual({ op: o, code: undefined });
              expected(outcome.id!);
            }
          }
          for (let i = 0; i <= wallets; i++) {
            expect(await balanceOf(tx, ids[i]!)).toMatchObject({ balance: model.balance[i], pendingOut: model.pendingOut[i], pendingIn: model.pendingIn[i] });
          }
          expect(await verifyLedger(tx)).toEqual([]);
          await tx.query("set constraints all immediate");
        });
      }),
      { numRuns: Number(process.env.LEDGER_PROPERTY_RUNS ?? 60) },
    );
  });
});
