import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { countAsRoot, createUser, one, roleClaims } from "../../helpers/fixtures.ts";
import { createStaff, createWorld } from "./fixtures.ts";

// Issue 15: what staff roles could do beyond their grant. Every "cannot" is
// checked against rows that exist (as root).

describe("the reporting views", () => {
  it("return nothing to a role_finance token whose grant was withdrawn or never existed", async () => {
    await withTransaction(async (tx) => {
      const w = await createWorld(tx);
      const finance = w.staff.role_finance;
      for (const view of ["finance.mv_customer_value", "finance.mv_monthly_revenue"]) {
        const rows = await countAsRoot(tx, view);
        expect(rows, view).toBeGreaterThan(0);
        await tx.become(finance.staffClaims);
        expect(await one(tx, `select count(*)::int as n from ${view}`), view).toEqual({ n: rows });
      }
      // Withdrawn: the token still says role_finance, auth.has_role no longer does.
      await tx.asRoot(() => tx.query("delete from auth.user_roles where user_id = $1 and role_name = 'role_finance'", [finance.userId]));
      await tx.become(finance.staffClaims);
      expect(await one(tx, "select (select count(*)::int from finance.mv_customer_value) as value, (select count(*)::int from finance.mv_monthly_revenue) as revenue")).toEqual({
        value: 0,
        revenue: 0,
      });
      // Never granted: a plain user with a forged role claim.
      await tx.become({ ...w.customer.claims, role: "role_finance" });
      expect(await one(tx, "select count(*)::int as n from finance.mv_customer_value where customer_id = $1", [w.c1])).toEqual({ n: 0 });
      expect(await countAsRoot(tx, "finance.mv_customer_value where customer_id = $1", [w.c1])).toBe(1);
      // The materialized views themselves are out of every request role's reach.
      await tx.become(finance.staffClaims);
      expect(await tx.errorCode(() => tx.query("select * from finance_private.mv_customer_value"))).toBe("42501");
    });
  });
});

describe("finance staff and the customer link", () => {
  it("cannot make themselves (or anyone) a customer, so cannot read that customer's tickets", async () => {
    await withTransaction(async (tx) => {
      const w = await createWorld(tx);
      const finance = w.staff.role_finance;
      await tx.become(finance.staffClaims);
      expect(await tx.errorCode(() => tx.query("update finance.customers set user_id = $1 where customer_id = $2", [finance.userId, w.c2]))).toBe("42501");
      expect(
        await tx.errorCode(() =>
          tx.query("insert into finance.customers (full_name, primary_email, user_id) values ('Mine', $1, $2)", [`mine-${process.pid}@example.com`, finance.userId]),
        ),
      ).toBe("42501");
      expect(await tx.errorCode(() => tx.query("select finance.link_customer_user($1, $2)", [w.c2, finance.userId]))).toBe("42501");
      // Name and e-mail stay theirs to edit.
      expect((await tx.query("update finance.customers set full_name = 'Renamed' where customer_id = $1", [w.c2])).rowCount).toBe(1);
      // As a plain user, the staffer is no customer: c2's tickets stay hidden.
      await tx.become(finance.claims);
      expect(await one(tx, "select count(*)::int as n from support.tickets where customer_id = $1", [w.c2])).toEqual({ n: 0 });
      expect(await countAsRoot(tx, "support.tickets where customer_id = $1", [w.c2])).toBe(1);
      expect(await countAsRoot(tx, "finance.customers where user_id = $1", [finance.userId])).toBe(0);
    });
  });

  it("is made by an operator, and not with a withdrawn grant", async () => {
    await withTransaction(async (tx) => {
      const w = await createWorld(tx);
      const user = await createUser(tx, "linked");
      const operator = await createUser(tx, "linkop");
      const operatorClaims = await roleClaims(tx, operator, "gw_admin");
      await tx.become(operatorClaims);
      expect(await one(tx, "select customer_id, user_id from finance.link_customer_user($1, $2)", [w.c2, user.userId])).toEqual({ customer_id: w.c2, user_id: user.userId });
      expect(await tx.errorCode(() => tx.query("select finance.link_customer_user(gen_random_uuid(), $1)", [user.userId]))).toBe("NTFND");
      await tx.become(user.claims);
      expect(await one(tx, "select count(*)::int as n from support.tickets where customer_id = $1", [w.c2])).toEqual({ n: 1 });
      await tx.asRoot(() => tx.query("delete from auth.user_roles where user_id = $1", [operator.userId]));
      await tx.become(operatorClaims);
      expect(await tx.errorCode(() => tx.query("select finance.link_customer_user($1, null)", [w.c2]))).toBe("DNIED");
    });
  });
});

describe("support staff and ticket messages", () => {
  it("write as their own agent whatever agent they name, and not at all without an agent record", async () => {
    await withTransaction(async (tx) => {
      const w = await createWorld(tx);
      const otherAgent = await tx.asRoot(
        async () => (await one<{ agent_id: string }>(tx, "insert into support.support_agents (full_name, email) values ('Other', $1) returning agent_id", [`other-${process.pid}@example.com`])).agent_id,
      );
      await tx.become(w.staff.role_support.staffClaims);
      expect(
        await tx.errorCode(() =>
          tx.query("insert into support.ticket_messages (ticket_id, sender_type, sender_id, message) values ($1, 'agent', $2, 'Spoofed')", [w.t2, otherAgent]),
        ),
      ).toBe("42501");
      const written = await one(tx, "insert into support.ticket_messages (ticket_id, message) values ($1, 'Hello') returning sender_type, sender_id", [w.t2]);
      expect(written).toEqual({ sender_type: "agent", sender_id: w.agent });
      expect(await countAsRoot(tx, "support.ticket_messages where sender_id = $1", [otherAgent])).toBe(0);
      // A support staffer no operator has linked to an agent writes nothing.
      const unlinked = await createStaff(tx, "role_support");
      await tx.become(unlinked.staffClaims);
      expect(await tx.errorCode(() => tx.query("insert into support.ticket_messages (ticket_id, message) values ($1, 'Hi')", [w.t2]))).toBe("DNIED");
      // The link is an operator's: support staff cannot point an agent at themselves.
      expect(await tx.errorCode(() => tx.query("select support.link_agent_user($1, $2)", [otherAgent, unlinked.userId]))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("update support.support_agents set user_id = $1 where agent_id = $2", [unlinked.userId, otherAgent]))).toBe("42501");
      await tx.become(await roleClaims(tx, unlinked, "gw_admin"));
      await tx.query("select support.link_agent_user($1, $2)", [otherAgent, unlinked.userId]);
      await tx.become(unlinked.staffClaims);
      expect(await one(tx, "insert into support.ticket_messages (ticket_id, message) values ($1, 'Hi') returning sender_id", [w.t2])).toEqual({ sender_id: otherAgent });
    });
  });

  it("let a customer write only on their own tickets, as themselves", async () => {
    await withTransaction(async (tx) => {
      const w = await createWorld(tx);
      await tx.become(w.customer.claims);
      expect(await one(tx, "insert into support.ticket_messages (ticket_id, message) values ($1, 'Mine') returning sender_type, sender_id", [w.t1])).toEqual({
        sender_type: "customer",
        sender_id: w.c1,
      });
      expect(await tx.errorCode(() => tx.query("insert into support.ticket_messages (ticket_id, message) values ($1, 'Not mine')", [w.t2]))).toBe("42501");
    });
  });
});
