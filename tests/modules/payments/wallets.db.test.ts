import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { addMember, anonymous, countAsRoot, createUser, one, roleClaims } from "../../helpers/fixtures.ts";
import { actingIn } from "../events/fixtures.ts";
import { balance, checkout, createBuyer, createShop, verify } from "../ticketing/fixtures.ts";

// Wallets, payouts, credit lots and breakage, fee rates: every movement one
// balanced ledger transaction, every refusal coded and writing nothing.

const lotsOf = (tx: Parameters<Parameters<typeof withTransaction>[0]>[0], walletId: string) =>
  tx.asRoot(async () => (await tx.query<{ amount: string; remaining: string }>(
    "select amount, remaining from payments.credit_lots where wallet_id = $1 order by expires_at nulls last, created_at", [walletId])).rows
    .map((r) => [Number(r.amount), Number(r.remaining)]));

describe("wallets", () => {
  it("opens a user's wallet once per currency and shows it only to its owner", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "pywa");
      const bob = await createUser(tx, "pywb");
      await tx.become(alice.claims);
      const first = await one<{ account_id: string }>(tx, "select account_id from payments.open_wallet('EUR')");
      const again = await one<{ account_id: string }>(tx, "select account_id from payments.open_wallet('EUR')");
      expect(again.account_id).toBe(first.account_id);
      expect(await tx.errorCode(() => tx.query("select payments.open_wallet('ZZZ')"))).toBe("PYCUR");
      expect((await tx.query("select wallet_id::text from payments.wallets")).rows).toEqual([{ wallet_id: first.account_id }]);
      await tx.become(bob.claims);
      expect((await tx.query("select wallet_id from payments.wallets")).rows).toEqual([]);
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select payments.open_wallet('EUR')"))).toBe("42501");
      expect(await countAsRoot(tx, "ledger.accounts where account_id = $1", [first.account_id])).toBe(1);
    });
  });

  it("lets members read their organization's fee rate, and only operators set it", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "pyfee");
      const other = await createShop(tx, "pyfeeo");
      const operator = await roleClaims(tx, await createUser(tx, "pyop"), "gw_admin");
      await tx.become(operator);
      await tx.query("insert into payments.organization_fees (organization_id, fee_rate) values ($1, 0.1)", [shop.tenant.organization.organizationId]);
      expect(await tx.errorCode(() => tx.query("update payments.organization_fees set fee_rate = 0.9 where organization_id = $1", [shop.tenant.organization.organizationId]))).toBe("23514");
      await tx.become(shop.tenant.claims);
      expect(await tx.errorCode(() => tx.query("update payments.organization_fees set fee_rate = 0 where organization_id = $1", [shop.tenant.organization.organizationId]))).toBe("42501");
      expect((await tx.query("select fee_rate from payments.organization_fees")).rows).toEqual([{ fee_rate: "0.1000" }]);
      await tx.become(other.tenant.claims);
      expect((await tx.query("select fee_rate from payments.organization_fees")).rows).toEqual([]);
      expect(await countAsRoot(tx, "payments.organization_fees where organization_id = $1", [shop.tenant.organization.organizationId])).toBe(1);
      const buyer = await createBuyer(tx, "pyfeeb");
      expect(await checkout(tx, buyer.claims, shop.tierId, 1)).toMatchObject({ total: "10000", fee: "1000" });
    });
  });
});

describe("payouts", () => {
  it("moves receivable to the organization's wallet, never more than it holds, by owners and admins only", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "pypo");
      const member = await createUser(tx, "pypom");
      await addMember(tx, shop.tenant.owner, shop.tenant.organization, member, "member");
      const buyer = await createBuyer(tx, "pypob");
      await checkout(tx, buyer.claims, shop.tierId, 2); // receivable 19000
      const org = shop.tenant.organization.organizationId;
      const payout = async (claims: Record<string, unknown>, amount: number) => {
        await tx.become(claims as never);
        return tx.errorCode(() => tx.query("select payments.payout($1, $2, 'USD')", [org, amount]));
      };
      expect(await payout(actingIn(member, shop.tenant.organization), 100)).toBe("DNIED");
      expect(await payout(buyer.claims, 100)).toBe("DNIED");
      expect(await payout(shop.tenant.claims, 19001)).toBe("LFUND");
      expect(await payout(shop.tenant.claims, 0)).toBe("BADIN");
      expect(await payout(shop.tenant.claims, 12000)).toBeUndefined();
      expect(await payout(shop.tenant.owner.claims, 7000)).toBeUndefined();
      expect(await payout(shop.tenant.claims, 1)).toBe("LFUND");
      const accounts = await tx.asRoot(() => tx.query<{ code: string; balance: string }>(
        "select code, balance from ledger.accounts where organization_id = $1 order by code", [org]));
      expect(accounts.rows).toEqual([{ code: "payments.receivable.usd", balance: "0" }, { code: "payments.wallet.usd", balance: "19000" }]);
      expect(await countAsRoot(tx, "outbox.events where topic = 'payout.completed' and organization_id = $1", [org])).toBe(2);
      expect(await tx.asRoot(() => verify(tx))).toEqual([]);
    });
  });
});

describe("credit lots", () => {
  it("spends lots first-expiring-first, then the wallet's own money", async () => {
    await withTransaction(async (tx) => {
      const shop = await createShop(tx, "pylot", { price: 3000 });
      const buyer = await createBuyer(tx, "pylotb", 10000);
      const operator = await roleClaims(tx, await createUser(tx, "pylotop"), "gw_admin");
      await tx.become(operator);
      const grant = (amount: number, expires: string | null) =>
        tx.query("select payments.grant_credits($1, null, $2, 'USD', $3)", [buyer.userId, amount, expires]);
      await grant(2000, null);
      await grant(1000, new Date(Date.now() + 30 * 86400e3).toISOString());
      await grant(1500, new Date(Date.now() + 2 * 86400e3).toISOString());
      expect(await balance(tx, buyer.walletId)).toBe(14500);
      expect(await lotsOf(tx, buyer.walletId)).toEqual([[1500, 1500], [1000, 1000], [2000, 2000]]);
      await checkout(tx, buyer.claims, shop.tierId, 1); // 3000: 1500 + 1000 + 500
      expect(await lotsOf(tx, buyer.walletId)).toEqual([[1500, 0], [1000, 0], [2000, 1500]]);
      await checkout(tx, buyer.claims, shop.tierId, 1); // 3000: 1500 from lots, 1500 own
      expect(await lotsOf(tx, buyer.walletId)).toEqual([[1500, 0], [1000, 0], [2000, 0]]);
      expect(await balance(tx, buyer.walletId)).toBe(8500);
      expect(await tx.asRoot(() => verify(tx))).toEqual([]);
    });
  });

  it("moves an expired remainder to breakage revenue through the ledger, once", async () => {
    await withTransaction(async (tx) => {
      const buyer = await createBuyer(tx, "pybrk", 500);
      const operator = await roleClaims(tx, await createUser(tx, "pybrkop"), "gw_admin");
      await tx.become(operator);
      const lot = await one<{ lot_id: string }>(tx, "select lot_id from payments.grant_credits($1, null, 1200, 'USD', now() + interval '1 hour')", [buyer.userId]);
      await tx.asRoot(() => tx.query("update payments.credit_lots set expires_at = now() - interval '1 second' where lot_id = $1", [lot.lot_id]));
      const expired = await tx.asRoot(() => one<{ n: number }>(tx, "select payments_private.expire_credit_lots(100) as n"));
      expect(expired.n).toBe(1);
      expect(await tx.asRoot(() => one<{ n: number }>(tx, "select payments_private.expire_credit_lots(100) as n"))).toEqual({ n: 0 });
      expect(await balance(tx, buyer.walletId)).toBe(500);
      const breakage = await tx.asRoot(() => one<{ balance: string; kind: string }>(tx,
        "select a.balance, t.kind from payments.credit_lots l join ledger.transactions t on t.transaction_id = l.breakage_transaction_id join ledger.entries e on e.transaction_id = t.transaction_id and e.amount > 0 join ledger.accounts a on a.account_id = e.account_id where l.lot_id = $1", [lot.lot_id]));
      expect(breakage.kind).toBe("payments.breakage");
      expect(Number(breakage.balance)).toBeGreaterThanOrEqual(1200);
      expect(await countAsRoot(tx, "payments.credit_lots where lot_id = $1 and remaining = 0", [lot.lot_id])).toBe(1);
      expect(await tx.asRoot(() => verify(tx))).toEqual([]);
    });
  });

  it("grants through the trusted interface for trusted code only: from the issuing account it names, once per key", async () => {
    await withTransaction(async (tx) => {
      const buyer = await createBuyer(tx, "pytg", 1);
      const operator = await roleClaims(tx, await createUser(tx, "pytgop"), "gw_admin");
      const signature = "payments.trusted_grant_credits(uuid, uuid, bigint, text, timestamptz, text, text, uuid, bigint)";
      // It exists (so the refusals below are permission checks, not a missing function) ...
      expect(await tx.asRoot(async () => (await one<{ f: string | null }>(tx, "select to_regprocedure($1)::regprocedure::oid::text as f", [signature])).f)).not.toBeNull();
      // ... and no API role may execute it, operators included (they have payments.grant_credits).
      for (const claims of [buyer.claims, operator, anonymous]) {
        await tx.become(claims);
        expect(await tx.errorCode(() => tx.query("select payments.trusted_grant_credits($1, null, 1000, 'USD', null, 'granted', null, $1, null)", [buyer.userId]))).toBe("42501");
      }
      // Trusted code (the owner, as a security-definer function runs): a lot from the named issuing account, by the named actor.
      const grant = () => tx.asRoot(() => one<{ lot_id: string; amount: string; transaction_id: string }>(tx,
        `select l.lot_id, l.amount::text, l.grant_transaction_id as transaction_id
           from payments.trusted_grant_credits($1, null, 700, 'USD', now() + interval '1 day', 'granted', 'pytg-1', $1,
                                               payments.system_account('pytg.issuer', 'Test issuer', 'USD', 'expense', true)) l`, [buyer.userId]));
      const lot = await grant();
      expect(lot.amount).toBe("700");
      expect((await grant()).lot_id).toBe(lot.lot_id); // a replay of the key: the same lot, nothing more
      expect(await balance(tx, buyer.walletId)).toBe(701);
      expect(await lotsOf(tx, buyer.walletId)).toEqual([[700, 700]]);
      const posted = await tx.asRoot(() => one<{ code: string; amount: string; actor: string }>(tx,
        `select a.code, e.amount::text, t.posted_by::text as actor from ledger.transactions t join ledger.entries e using (transaction_id)
           join ledger.accounts a on a.account_id = e.account_id where t.transaction_id = $1 and e.amount < 0`, [lot.transaction_id]));
      expect(posted).toEqual({ code: "pytg.issuer.usd", amount: "-700", actor: buyer.userId });
      // The same checks as grant_credits (one implementation).
      expect(await tx.asRoot(() => tx.errorCode(() => tx.query("select payments.trusted_grant_credits($1, null, 0, 'USD', null, 'granted', null, null, null)", [buyer.userId])))).toBe("BADIN");
      expect(await tx.asRoot(() => verify(tx))).toEqual([]);
    });
  });

  it("lets only operators grant credits, and shows lots to the wallet's owner only", async () => {
    await withTransaction(async (tx) => {
      const buyer = await createBuyer(tx, "pylg", 0 + 1);
      const other = await createUser(tx, "pylgo");
      await tx.become(buyer.claims);
      expect(await tx.errorCode(() => tx.query("select payments.grant_credits($1, null, 1000, 'USD')", [buyer.userId]))).toBe("DNIED");
      const operator = await roleClaims(tx, await createUser(tx, "pylgop"), "gw_admin");
      await tx.become(operator);
      expect(await tx.errorCode(() => tx.query("select payments.grant_credits($1, null, 1000, 'USD', now() - interval '1 day')", [buyer.userId]))).toBe("PYLOT");
      expect(await tx.errorCode(() => tx.query("select payments.grant_credits($1, null, 0, 'USD')", [buyer.userId]))).toBe("BADIN");
      await tx.query("select payments.grant_credits($1, null, 1000, 'USD')", [buyer.userId]);
      await tx.become(buyer.claims);
      expect((await tx.query("select amount from payments.credit_lots")).rows).toEqual([{ amount: "1000" }]);
      await tx.become(other.claims);
      expect((await tx.query("select amount from payments.credit_lots")).rows).toEqual([]);
      expect(await countAsRoot(tx, "payments.credit_lots where wallet_id = $1", [buyer.walletId])).toBe(1);
    });
  });
});
