import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { addMember, anonymous, countAsRoot, createUser, one, uniqueName } from "../../helpers/fixtures.ts";
import { actingIn, createTenant } from "../events/fixtures.ts";

// Invoices: draft -> issued -> paid | void (registry state machine), numbered
// per organization from 1 without gaps, also under 16 concurrent issuers
// (some of which roll back), visible to the organization acting in itself
// and to the user addressed.

const lines = JSON.stringify([{ description: "Booth", quantity: 2, unitAmount: 15000 }, { description: "Power", quantity: 1, unitAmount: 2500 }]);

describe("invoices", () => {
  it("moves draft -> issued -> paid, numbers at issue, and refuses every other move", async () => {
    await withTransaction(async (tx) => {
      const tenant = await createTenant(tx, "pyinv");
      const customer = await createUser(tx, "pyinvc");
      await tx.become(tenant.claims);
      const draft = await one<{ invoice_id: string; total: string; number: number | null; status: string }>(tx,
        "select invoice_id, total, number, status from payments.create_invoice('USD', $1, $2)", [lines, customer.userId]);
      expect(draft).toMatchObject({ total: "32500", number: null, status: "draft" });
      const move = (to: string, id = draft.invoice_id) => tx.errorCode(() => tx.query("select payments.move_invoice($1, $2)", [id, to]));
      expect(await move("paid")).toBe("RGTRN");
      expect(await move("void")).toBe("RGTRN");
      expect(await move("issued")).toBeUndefined();
      expect(await move("issued")).toBe("PYINV");
      expect(await move("draft")).toBe("RGTRN");
      expect(await move("paid")).toBeUndefined();
      expect(await move("void")).toBe("RGTRN");
      expect(await move("bogus")).toBe("RTYPE");
      const second = await one<{ invoice_id: string }>(tx, "select invoice_id from payments.create_invoice('USD', $1)", [lines]);
      expect(await move("issued", second.invoice_id)).toBeUndefined();
      expect(await move("void", second.invoice_id)).toBeUndefined();
      expect(await move("paid", second.invoice_id)).toBe("RGTRN");
      const numbers = await tx.asRoot(() => tx.query<{ number: number; status: string }>(
        "select number, status from payments.invoices where organization_id = $1 order by number", [tenant.organization.organizationId]));
      expect(numbers.rows).toEqual([{ number: 1, status: "paid" }, { number: 2, status: "void" }]);
      expect(await countAsRoot(tx, "outbox.events where topic = 'invoice.issued' and organization_id = $1", [tenant.organization.organizationId])).toBe(2);
    });
  });

  it("refuses bad lines, members who are not admins and other organizations", async () => {
    await withTransaction(async (tx) => {
      const tenant = await createTenant(tx, "pyinvb");
      const other = await createTenant(tx, "pyinvo");
      const member = await createUser(tx, "pyinvm");
      await addMember(tx, tenant.owner, tenant.organization, member, "member");
      await tx.become(tenant.claims);
      for (const bad of ["[]", '{"a":1}', '[{"description":"","quantity":1,"unitAmount":1}]', '[{"description":"x","quantity":0,"unitAmount":1}]',
        '[{"description":"x","quantity":1,"unitAmount":1.5}]', '[{"description":"x","quantity":1,"unitAmount":-1}]']) {
        expect(await tx.errorCode(() => tx.query("select payments.create_invoice('USD', $1)", [bad]))).toBe("PYLIN");
      }
      expect(await tx.errorCode(() => tx.query("select payments.create_invoice('ZZZ', $1)", [lines]))).toBe("PYCUR");
      const draft = await one<{ invoice_id: string }>(tx, "select invoice_id from payments.create_invoice('USD', $1)", [lines]);
      await tx.become(actingIn(member, tenant.organization));
      expect(await tx.errorCode(() => tx.query("select payments.create_invoice('USD', $1)", [lines]))).toBe("DNIED");
      expect(await tx.errorCode(() => tx.query("select payments.move_invoice($1, 'issued')", [draft.invoice_id]))).toBe("DNIED");
      // The member acting in the organization sees it; the other organization and anonymous callers do not.
      expect((await tx.query("select 1 from payments.invoices where invoice_id = $1", [draft.invoice_id])).rowCount).toBe(1);
      expect((await tx.query("select 1 from payments.invoice_lines where invoice_id = $1", [draft.invoice_id])).rowCount).toBe(2);
      await tx.become(other.claims);
      expect((await tx.query("select 1 from payments.invoices where invoice_id = $1", [draft.invoice_id])).rowCount).toBe(0);
      expect((await tx.query("select 1 from payments.invoice_lines where invoice_id = $1", [draft.invoice_id])).rowCount).toBe(0);
      expect(await tx.errorCode(() => tx.query("select payments.move_invoice($1, 'issued')", [draft.invoice_id]))).toBe("NTFND");
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select 1 from payments.invoices"))).toBe("42501");
      expect(await countAsRoot(tx, "payments.invoices where invoice_id = $1 and status = 'draft'", [draft.invoice_id])).toBe(1);
    });
  });

  it("shows a user the invoices addressed to them and nobody else's", async () => {
    await withTransaction(async (tx) => {
      const tenant = await createTenant(tx, "pyinvu");
      const alice = await createUser(tx, "pyinva");
      const bob = await createUser(tx, "pyinvbob");
      await tx.become(tenant.claims);
      const mine = await one<{ invoice_id: string }>(tx, "select invoice_id from payments.create_invoice('USD', $1, $2)", [lines, alice.userId]);
      await tx.become(alice.claims);
      expect((await tx.query("select invoice_id from payments.invoices")).rows).toEqual([{ invoice_id: mine.invoice_id }]);
      await tx.become(bob.claims);
      expect((await tx.query("select invoice_id from payments.invoices")).rows).toEqual([]);
      await tx.become(tenant.owner.claims); // not acting in the organization
      expect((await tx.query("select invoice_id from payments.invoices")).rows).toEqual([]);
      expect(await countAsRoot(tx, "payments.invoices where invoice_id = $1", [mine.invoice_id])).toBe(1);
    });
  });
});

describe("invoice numbers under concurrency", () => {
  let pool: pg.Pool;
  beforeAll(() => {
    pool = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 17 });
  });
  afterAll(() => pool.end());

  it("has no gaps with 16 concurrent issuers, some of which roll back", async () => {
    const slug = uniqueName("pynum", "-").toLowerCase();
    const { rows: [org] } = await pool.query<{ organization_id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id", [slug]);
    const { rows: [owner] } = await pool.query<{ user_id: string }>(
      "insert into auth.users (username, email) values ($1, $1 || '@example.com') returning user_id", [slug.replace(/-/g, "").slice(0, 30)]);
    await pool.query("insert into auth.memberships (organization_id, user_id, role) values ($1, $2, 'owner')", [org!.organization_id, owner!.user_id]);
    const claims = JSON.stringify({ role: "gw_user", sub: owner!.user_id, org_id: org!.organization_id });
    const perIssuer = 10;
    let rolledBack = 0;
    await Promise.all(Array.from({ length: 16 }, async (_, issuer) => {
      const client = await pool.connect();
      try {
        for (let i = 0; i < perIssuer; i++) {
          await client.query("begin");
          await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [claims]);
          const { rows } = await client.query<{ invoice_id: string }>("select invoice_id from payments.create_invoice('USD', $1)", [lines]);
          await client.query("select payments.move_invoice($1, 'issued')", [rows[0]!.invoice_id]);
          if ((issuer + i) % 5 === 0) {
            await client.query("rollback");
            rolledBack++;
          } else {
            await client.query("commit");
          }
        }
      } finally {
        client.release();
      }
    }));
    const { rows } = await pool.query<{ number: number }>("select number from payments.invoices where organization_id = $1 order by number", [org!.organization_id]);
    const expected = 16 * perIssuer - rolledBack;
    expect(rolledBack).toBeGreaterThan(0);
    expect(rows.map((r) => r.number)).toEqual(Array.from({ length: expected }, (_, i) => i + 1));
  });
});
