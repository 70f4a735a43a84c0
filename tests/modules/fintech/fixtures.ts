import type { Claims, TestTransaction } from "../../helpers/db.ts";
import { createUser, one, roleClaims, uniqueName, type TestUser } from "../../helpers/fixtures.ts";

/** The staff roles of the capstone module (from the foundation). */
export const staffRoles = ["role_sales", "role_finance", "role_support", "role_hr", "role_readonly"] as const;
export type StaffRole = (typeof staffRoles)[number];

/** Registers a user and grants them a staff role; claims run as that role. */
export async function createStaff(tx: TestTransaction, role: StaffRole): Promise<TestUser & { staffClaims: Claims }> {
  const user = await createUser(tx, role.replace("role_", "st"));
  return { ...user, staffClaims: await roleClaims(tx, user, role) };
}

/** A finance customer (as root), linked to `user` when given; returns its id. */
export async function createCustomer(tx: TestTransaction, label: string, user?: TestUser): Promise<string> {
  const name = uniqueName(label);
  return tx.asRoot(async () =>
    (
      await one<{ customer_id: string }>(
        tx,
        "insert into finance.customers (full_name, primary_email, user_id) values ($1, $2, $3) returning customer_id",
        [`Customer ${name}`, `${name}@example.com`, user?.userId ?? null],
      )
    ).customer_id,
  );
}

/** An account (as root) with an opening credit posted through finance.post_transaction. */
export async function createAccount(
  tx: TestTransaction,
  customerId: string,
  type: "checking" | "savings" | "credit" = "checking",
  opening = 0,
): Promise<string> {
  return tx.asRoot(async () => {
    const { account_id } = await one<{ account_id: string }>(
      tx,
      "insert into finance.accounts (customer_id, account_type) values ($1, $2) returning account_id",
      [customerId, type],
    );
    if (opening > 0) await tx.query("select finance.post_transaction($1, $2, 'credit')", [account_id, opening]);
    return account_id;
  });
}

export async function createProduct(tx: TestTransaction, price: number, active = true): Promise<string> {
  const sku = uniqueName("P", "-").toUpperCase().replace(/_/g, "-").slice(0, 32);
  return tx.asRoot(async () =>
    (
      await one<{ product_id: string }>(
        tx,
        "insert into sales.products (sku, name, price, active) values ($1, $2, $3, $4) returning product_id",
        [sku, `Product ${sku}`, price, active],
      )
    ).product_id,
  );
}

/** Everything the RLS matrix needs: one row at least in every table, for two customers. */
export interface CapstoneWorld {
  customer: TestUser;
  staff: Record<StaffRole, TestUser & { staffClaims: Claims }>;
  /** The signed-in customer's record, and another customer's. */
  c1: string;
  c2: string;
  a1: string;
  a2: string;
  activeProduct: string;
  inactiveProduct: string;
  rep: string;
  o1: string;
  o2: string;
  agent: string;
  t1: string;
  t2: string;
  employee: string;
}

export async function createWorld(tx: TestTransaction): Promise<CapstoneWorld> {
  const customer = await createUser(tx, "cust");
  const staff = {} as CapstoneWorld["staff"];
  for (const role of staffRoles) staff[role] = await createStaff(tx, role);
  const c1 = await createCustomer(tx, "c1", customer);
  const c2 = await createCustomer(tx, "c2");
  const a1 = await createAccount(tx, c1, "checking", 500);
  const a2 = await createAccount(tx, c2, "savings", 700);
  const activeProduct = await createProduct(tx, 12.5);
  const inactiveProduct = await createProduct(tx, 3, false);
  return tx.asRoot(async () => {
    await tx.query("select finance.post_transaction($1, 20, 'debit')", [a1]);
    await tx.query("select finance.post_transaction($1, 30, 'debit')", [a2]);
    const rep = (await one<{ rep_id: string }>(tx, "insert into sales.sales_reps (full_name, email) values ('Rep', $1) returning rep_id", [`${uniqueName("rep")}@example.com`])).rep_id;
    const order = async (c: string) =>
      (await one<{ order_id: string }>(tx, "select order_id from sales.create_order($1, array[row($2, 2)]::sales.order_line[], $3)", [c, activeProduct, rep])).order_id;
    const o1 = await order(c1);
    const o2 = await order(c2);
    // The support staffer works as this agent: their messages are written as it.
    const agent = (
      await one<{ agent_id: string }>(tx, "insert into support.support_agents (full_name, email, user_id) values ('Agent', $1, $2) returning agent_id", [
        `${uniqueName("agent")}@example.com`,
        staff.role_support.userId,
      ])
    ).agent_id;
    const ticket = async (c: string) =>
      (await one<{ ticket_id: string }>(tx, "insert into support.tickets (customer_id, subject) values ($1, 'Help') returning ticket_id", [c])).ticket_id;
    const t1 = await ticket(c1);
    const t2 = await ticket(c2);
    await tx.query(
      "insert into support.ticket_messages (ticket_id, sender_type, sender_id, message) values ($1, 'customer', $2, 'Hello'), ($3, 'agent', $4, 'Hi'), ($5, 'customer', $6, 'Hey')",
      [t1, c1, t1, agent, t2, c2],
    );
    const employee = (await one<{ employee_id: string }>(tx, "insert into hr.employees (full_name, department) values ('Emp', 'Ops') returning employee_id")).employee_id;
    await tx.query("insert into hr.payroll (employee_id, salary_amount) values ($1, 4000)", [employee]);
    // A closed period written directly (closing a real month would lock it for every concurrent test).
    await tx.query("insert into finance.closed_periods (period, closed_by, accounts_count, tx_count) values ('2001-01-01', 'test', 1, 0)");
    await tx.query(
      "insert into finance.monthly_closures (period, account_id, opening_balance, total_debits, total_credits, total_adjustments, closing_balance, tx_count) values ('2001-01-01', $1, 0, 0, 0, 0, 0, 0), ('2001-01-01', $2, 0, 0, 0, 0, 0, 0)",
      [a1, a2],
    );
    await tx.query("select finance.refresh_views()");
    return { customer, staff, c1, c2, a1, a2, activeProduct, inactiveProduct, rep, o1, o2, agent, t1, t2, employee };
  });
}
