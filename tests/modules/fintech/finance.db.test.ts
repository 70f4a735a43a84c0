import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { rootDb, withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { createAccount, createCustomer, createProduct, createStaff } from "./fixtures.ts";
import { anonymous, createUser, one, uniqueName } from "../../helpers/fixtures.ts";

const post = (tx: TestTransaction, account: string, amount: number | string | null, type: string | null, postedAt: string | null = null) =>
  tx.query("select * from finance.post_transaction($1, $2, $3::finance.tx_type, $4)", [account, amount, type, postedAt]);

const orderOf = (tx: TestTransaction, customer: string, lines: Array<[string | null, number | null]>, rep: string | null = null) =>
  tx.query(
    "select * from sales.create_order($1, (select coalesce(array_agg(row(p, q)::sales.order_line), '{}') from unnest($2::uuid[], $3::int[]) as l(p, q)), $4)",
    [customer, lines.map((l) => l[0]), lines.map((l) => l[1]), rep],
  );

describe("finance.transactions partitions", () => {
  it("routes a posting to the partition of its month", async () => {
    await withTransaction(async (tx) => {
      const account = await createAccount(tx, await createCustomer(tx, "part"), "checking", 10);
      const { rows } = await tx.query<{ partition: string; month: string }>(
        "select tableoid::regclass::text as partition, to_char(posted_at at time zone 'UTC', 'YYYY\"m\"MM') as month from finance.transactions where account_id = $1",
        [account],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]!.partition).toBe(`finance_private.transactions_y${rows[0]!.month}`);
    });
  });

  it("creates the partition on demand for a posting in a month that has none", async () => {
    await withTransaction(async (tx) => {
      const account = await createAccount(tx, await createCustomer(tx, "part"), "credit");
      expect((await one<{ r: string | null }>(tx, "select to_regclass('finance_private.transactions_y2037m03')::text as r")).r).toBeNull();
      // Without post_transaction, PostgreSQL has nowhere to put the row.
      expect(
        await tx.errorCode(() =>
          tx.query("insert into finance.transactions (account_id, tx_type, amount, posted_at) values ($1, 'credit', 5, '2037-03-15T12:00:00Z')", [account]),
        ),
      ).toBe("23514");
      const posted = (await post(tx, account, 5, "credit", "2037-03-15T12:00:00Z")).rows[0]!;
      expect(posted.balance_after).toBe("5.0000");
      const where = await one<{ partition: string }>(tx, "select tableoid::regclass::text as partition from finance.transactions where tx_id = $1", [posted.tx_id]);
      expect(where.partition).toBe("finance_private.transactions_y2037m03");
      // The new partition is under RLS like every table, and not reachable by API roles.
      const partition = await one<{ rls: boolean; usage: boolean }>(
        tx,
        "select relrowsecurity as rls, has_schema_privilege('gw_user', 'finance_private', 'usage') as usage from pg_class where oid = 'finance_private.transactions_y2037m03'::regclass",
      );
      expect(partition).toEqual({ rls: true, usage: false });
    });
  });

  it("creates the coming months ahead (the crontab task's function) and nothing twice", async () => {
    await withTransaction(async (tx) => {
      await tx.query("select finance_private.create_transaction_partitions(6)");
      expect((await one<{ n: number }>(tx, "select finance_private.create_transaction_partitions(6) as n")).n).toBe(0);
      const { rows } = await tx.query<{ name: string }>(
        `select 'finance_private.transactions_y' || to_char(m, 'YYYY"m"MM') as name
           from generate_series(date_trunc('month', now() at time zone 'UTC'), date_trunc('month', now() at time zone 'UTC') + interval '6 months', interval '1 month') m
          where to_regclass('finance_private.transactions_y' || to_char(m, 'YYYY"m"MM')) is null`,
      );
      expect(rows).toEqual([]);
    });
  });
});

describe("balance triggers under concurrency", () => {
  it("loses no update when 16 clients post on one account at once", async () => {
    const root = rootDb();
    const customer = (await root.query("insert into finance.customers (full_name, primary_email) values ('Concurrent', $1) returning customer_id", [`${uniqueName("conc")}@example.com`])).rows[0]!.customer_id;
    const account = (await root.query("insert into finance.accounts (customer_id, account_type) values ($1, 'checking') returning account_id", [customer])).rows[0]!.account_id;
    await root.query("select finance.post_transaction($1, 1000, 'credit')", [account]);

    const pool = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 16 });
    try {
      // 16 clients × 10 postings: debits of 7.25 and credits of 3.5, each its own transaction.
      const results = await Promise.all(
        Array.from({ length: 16 }, async (_, client) => {
          const connection = await pool.connect();
          try {
            for (let i = 0; i < 10; i++) {
              const type = (client + i) % 2 === 0 ? "debit" : "credit";
              await connection.query("select finance.post_transaction($1, $2, $3)", [account, type === "debit" ? 7.25 : 3.5, type]);
            }
          } finally {
            connection.release();
          }
        }),
      );
      expect(results).toHaveLength(16);
    } finally {
      await pool.end();
    }
    const rows = (
      await root.query<{ tx_type: string; amount: string; balance_after: string }>(
        "select tx_type, amount, balance_after from finance.transactions where account_id = $1 order by tx_id",
        [account],
      )
    ).rows;
    expect(rows).toHaveLength(161);
    // Each posting starts from the balance the previous one left: a chain without gaps.
    let balance = 0;
    for (const row of rows) {
      balance += (row.tx_type === "debit" ? -1 : 1) * Number(row.amount);
      expect(Number(row.balance_after)).toBeCloseTo(balance, 4);
    }
    expect(balance).toBeCloseTo(1000 - 80 * 7.25 + 80 * 3.5, 4);
    const final = (await root.query("select balance from finance.accounts where account_id = $1", [account])).rows[0]!.balance;
    expect(Number(final)).toBeCloseTo(balance, 4);
    expect((await root.query("select count(*)::int as n from finance.ledger l join finance.transactions t using (tx_id, posted_at) where t.account_id = $1", [account])).rows[0]!.n).toBe(161);
  });

  it("lets exactly as many concurrent debits through as the balance covers", async () => {
    const root = rootDb();
    const customer = (await root.query("insert into finance.customers (full_name, primary_email) values ('Overdraft', $1) returning customer_id", [`${uniqueName("over")}@example.com`])).rows[0]!.customer_id;
    const account = (await root.query("insert into finance.accounts (customer_id, account_type) values ($1, 'savings') returning account_id", [customer])).rows[0]!.account_id;
    await root.query("select finance.post_transaction($1, 1000, 'credit')", [account]);
    const pool = new pg.Pool({ connectionString: inject("testDatabase").rootUrl, max: 16 });
    let outcomes: Array<string>;
    try {
      outcomes = await Promise.all(
        Array.from({ length: 16 }, () =>
          pool.query("select finance.post_transaction($1, 100, 'debit')", [account]).then(
            () => "ok",
            (error: { code?: string }) => error.code ?? "NO_CODE",
          ),
        ),
      );
    } finally {
      await pool.end();
    }
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(10);
    expect(outcomes.filter((o) => o === "INSUF")).toHaveLength(6);
    expect((await root.query("select balance from finance.accounts where account_id = $1", [account])).rows[0]!.balance).toBe("0.0000");
  });
});

describe("finance.post_transaction", () => {
  it("writes a balanced ledger entry found through the GIN index, and moves the balance", async () => {
    await withTransaction(async (tx) => {
      const account = await createAccount(tx, await createCustomer(tx, "led"), "checking", 100);
      await post(tx, account, "40.1234", "debit");
      await post(tx, account, 5, "adjustment");
      const balance = await one<{ balance: string }>(tx, "select balance from finance.accounts where account_id = $1", [account]);
      expect(balance.balance).toBe("64.8766");
      const { rows } = await tx.query<{ entry: { lines: Array<{ side: string; amount: number }>; balance_after: number } }>(
        "select entry from finance.ledger where entry @> jsonb_build_object('account_id', $1::text) order by (entry ->> 'tx_id')::bigint",
        [account],
      );
      expect(rows).toHaveLength(3);
      for (const { entry } of rows) {
        const sum = (side: string) => entry.lines.filter((l) => l.side === side).reduce((s, l) => s + Number(l.amount), 0);
        expect(sum("debit")).toBeCloseTo(sum("credit"), 4);
      }
      expect(rows.map((r) => Number(r.entry.balance_after))).toEqual([100, 59.8766, 64.8766]);
    });
  });

  it("answers bad input, strangers, customers overreaching and overdrafts with codes", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "poster");
      const mine = await createAccount(tx, await createCustomer(tx, "mine", user), "checking", 50);
      const theirs = await createAccount(tx, await createCustomer(tx, "theirs"), "checking", 50);
      const credit = await createAccount(tx, await createCustomer(tx, "cred"), "credit");
      const readonly = await createStaff(tx, "role_readonly");
      const finance = await createStaff(tx, "role_finance");

      await tx.become(finance.staffClaims);
      expect(await tx.errorCode(() => post(tx, mine, null, "credit"))).toBe("BADIN");
      expect(await tx.errorCode(() => post(tx, mine, 0, "credit"))).toBe("BADIN");
      expect(await tx.errorCode(() => post(tx, mine, -5, "credit"))).toBe("BADIN");
      expect(await tx.errorCode(() => post(tx, mine, "1.00001", "credit"))).toBe("BADIN");
      expect(await tx.errorCode(() => post(tx, mine, 1, null))).toBe("BADIN");
      expect(await tx.errorCode(() => post(tx, "00000000-0000-4000-8000-000000000000", 1, "credit"))).toBe("NTFND");
      expect(await tx.errorCode(() => post(tx, mine, "50.0001", "debit"))).toBe("INSUF");
      // A credit account may go below zero.
      expect((await post(tx, credit, 75, "debit")).rows[0]!.balance_after).toBe("-75.0000");

      await tx.become(user.claims);
      expect((await post(tx, mine, 20, "debit")).rows[0]!.balance_after).toBe("30.0000");
      expect(await tx.errorCode(() => post(tx, mine, 20, "credit"))).toBe("DNIED");
      expect(await tx.errorCode(() => post(tx, mine, 20, "adjustment"))).toBe("DNIED");
      expect(await tx.errorCode(() => post(tx, mine, 1, "debit", "2020-01-01T00:00:00Z"))).toBe("DNIED");
      expect(await tx.errorCode(() => post(tx, theirs, 1, "debit"))).toBe("NTFND");
      expect(await tx.errorCode(() => post(tx, mine, 31, "debit"))).toBe("INSUF");

      await tx.become(readonly.staffClaims);
      expect(await tx.errorCode(() => post(tx, theirs, 1, "debit"))).toBe("NTFND");
      await tx.become(anonymous);
      expect(await tx.errorCode(() => post(tx, theirs, 1, "debit"))).toBe("42501");

      // Nothing above changed the other customer's money.
      expect((await tx.asRoot(() => one<{ balance: string }>(tx, "select balance from finance.accounts where account_id = $1", [theirs]))).balance).toBe("50.0000");
    });
  });

  it("never changes or deletes a posting or a ledger record, even as the owner", async () => {
    await withTransaction(async (tx) => {
      const account = await createAccount(tx, await createCustomer(tx, "imm"), "checking", 10);
      expect(await tx.errorCode(() => tx.query("update finance.transactions set amount = 1 where account_id = $1", [account]))).toBe("TXIMM");
      expect(await tx.errorCode(() => tx.query("delete from finance.transactions where account_id = $1", [account]))).toBe("TXIMM");
      expect(await tx.errorCode(() => tx.query("delete from finance.ledger where entry ->> 'account_id' = $1", [account]))).toBe("TXIMM");
    });
  });
});

describe("sales.create_order", () => {
  it("computes the total at today's prices, merging repeated products", async () => {
    await withTransaction(async (tx) => {
      const customer = await createCustomer(tx, "buyer");
      const a = await createProduct(tx, 12.5);
      const b = await createProduct(tx, 0.3333);
      const order = (await orderOf(tx, customer, [[a, 2], [b, 3], [a, 1]])).rows[0]!;
      expect(order).toMatchObject({ customer_id: customer, status: "placed", total_amount: "38.4999" });
      expect(order.placed_at).not.toBeNull();
      const items = (await tx.query("select product_id, quantity, unit_price from sales.order_items where order_id = $1 order by unit_price", [order.order_id])).rows;
      expect(items).toEqual([
        { product_id: b, quantity: 3, unit_price: "0.3333" },
        { product_id: a, quantity: 3, unit_price: "12.5000" },
      ]);
      // A later price change does not touch the order.
      await tx.query("update sales.products set price = 99 where product_id = $1", [a]);
      expect((await one<{ unit_price: string }>(tx, "select unit_price from sales.order_items where order_id = $1 and product_id = $2", [order.order_id, a])).unit_price).toBe("12.5000");
    });
  });

  it("refuses bad lists, unknown or inactive products, and other people's customers, with codes", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "orderer");
      const mine = await createCustomer(tx, "mine", user);
      const other = await createCustomer(tx, "other");
      const active = await createProduct(tx, 5);
      const inactive = await createProduct(tx, 5, false);
      const sales = await createStaff(tx, "role_sales");
      const finance = await createStaff(tx, "role_finance");
      const rep = (await tx.asRoot(() => one<{ rep_id: string }>(tx, "insert into sales.sales_reps (full_name, email) values ('R', $1) returning rep_id", [`${uniqueName("r")}@example.com`]))).rep_id;

      await tx.become(sales.staffClaims);
      expect(await tx.errorCode(() => orderOf(tx, other, []))).toBe("BADIN");
      expect(await tx.errorCode(() => orderOf(tx, other, [[active, 0]]))).toBe("BADIN");
      expect(await tx.errorCode(() => orderOf(tx, other, [[null, 1]]))).toBe("BADIN");
      expect(await tx.errorCode(() => orderOf(tx, other, [["00000000-0000-4000-8000-000000000000", 1]]))).toBe("NTFND");
      expect(await tx.errorCode(() => orderOf(tx, "00000000-0000-4000-8000-000000000000", [[active, 1]]))).toBe("NTFND");
      expect(await tx.errorCode(() => orderOf(tx, other, [[active, 1], [inactive, 1]]))).toBe("PINAC");
      expect(await tx.errorCode(() => orderOf(tx, other, [[active, 1]], "00000000-0000-4000-8000-000000000000"))).toBe("NTFND");
      expect((await orderOf(tx, other, [[active, 1]], rep)).rows[0]!.sales_rep_id).toBe(rep);

      await tx.become(user.claims);
      expect((await orderOf(tx, mine, [[active, 2]])).rows[0]!.total_amount).toBe("10.0000");
      expect(await tx.errorCode(() => orderOf(tx, other, [[active, 1]]))).toBe("NTFND");
      expect(await tx.errorCode(() => orderOf(tx, mine, [[active, 1]], rep))).toBe("DNIED");

      await tx.become(finance.staffClaims);
      expect(await tx.errorCode(() => orderOf(tx, other, [[active, 1]]))).toBe("NTFND");
      expect(await tx.asRoot(async () => (await one<{ n: number }>(tx, "select count(*)::int as n from sales.orders where customer_id = $1", [other])).n)).toBe(1);
    });
  });

  it("moves orders forward only", async () => {
    await withTransaction(async (tx) => {
      const order = (await orderOf(tx, await createCustomer(tx, "flow"), [[await createProduct(tx, 1), 1]])).rows[0]!;
      expect(await tx.errorCode(() => tx.query("update sales.orders set status = 'draft' where order_id = $1", [order.order_id]))).toBe("BADST");
      await tx.query("update sales.orders set status = 'shipped' where order_id = $1", [order.order_id]);
      expect(await tx.errorCode(() => tx.query("update sales.orders set status = 'cancelled' where order_id = $1", [order.order_id]))).toBe("BADST");
    });
  });
});

describe("finance.monthly_closure", () => {
  it("closes a month into per-account figures and then refuses postings dated in it", async () => {
    await withTransaction(async (tx) => {
      const account = await createAccount(tx, await createCustomer(tx, "close"), "checking");
      await post(tx, account, 100, "credit", "2003-03-20T10:00:00Z");
      await post(tx, account, 30, "debit", "2003-04-02T10:00:00Z");
      await post(tx, account, 12.5, "credit", "2003-04-15T10:00:00Z");
      await post(tx, account, 2, "adjustment", "2003-04-30T23:59:59Z");
      await post(tx, account, 7, "debit", "2003-05-01T00:00:00Z");
      const finance = await createStaff(tx, "role_finance");

      await tx.become(finance.staffClaims);
      const closed = await one<{ period: string; tx_count: number }>(tx, "select to_char(period, 'YYYY-MM-DD') as period, tx_count from finance.close_month(2003, 4)");
      expect(closed).toEqual({ period: "2003-04-01", tx_count: 3 });
      const figures = await one(tx, "select opening_balance, total_debits, total_credits, total_adjustments, closing_balance, tx_count from finance.monthly_closures where account_id = $1 and period = '2003-04-01'", [account]);
      expect(figures).toEqual({ opening_balance: "100.0000", total_debits: "30.0000", total_credits: "12.5000", total_adjustments: "2.0000", closing_balance: "84.5000", tx_count: 3 });

      expect(await tx.errorCode(() => post(tx, account, 1, "credit", "2003-04-10T00:00:00Z"))).toBe("PCLSD");
      expect(await tx.errorCode(() => post(tx, account, 1, "credit", "2003-04-30T23:59:59.999Z"))).toBe("PCLSD");
      // The neighbouring months stay open.
      await post(tx, account, 1, "credit", "2003-05-10T00:00:00Z");
      await post(tx, account, 1, "credit", "2003-03-31T23:59:59Z");

      // Closing again changes nothing.
      const before = await one(tx, "select closed_at, tx_count from finance.closed_periods where period = '2003-04-01'");
      await tx.query("call finance.monthly_closure(2003, 4)");
      expect(await one(tx, "select closed_at, tx_count from finance.closed_periods where period = '2003-04-01'")).toEqual(before);
      expect((await one<{ n: number }>(tx, "select count(*)::int as n from finance.monthly_closures where period = '2003-04-01'")).n).toBe(1);

      expect(await tx.errorCode(() => tx.query("call finance.monthly_closure(2003, 13)"))).toBe("BADIN");
      expect(await tx.errorCode(() => tx.query("call finance.monthly_closure(extract(year from now())::int, extract(month from now())::int)"))).toBe("BADST");
    });
  });

  it("is for finance staff only", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "closer");
      const sales = await createStaff(tx, "role_sales");
      await tx.become(user.claims);
      expect(await tx.errorCode(() => tx.query("call finance.monthly_closure(2003, 6)"))).toBe("42501");
      await tx.become(sales.staffClaims);
      expect(await tx.errorCode(() => tx.query("select finance.close_month(2003, 6)"))).toBe("42501");
      // A finance token whose grant was withdrawn is refused by the procedure itself.
      await tx.become({ ...user.claims, role: "role_finance" });
      expect(await tx.errorCode(() => tx.query("call finance.monthly_closure(2003, 6)"))).toBe("DNIED");
      expect(await tx.asRoot(async () => (await one<{ n: number }>(tx, "select count(*)::int as n from finance.closed_periods where period = '2003-06-01'")).n)).toBe(0);
    });
  });
});

describe("custom aggregates", () => {
  it("running_balance and weighted_avg match hand-computed figures", async () => {
    await withTransaction(async (tx) => {
      const sums = await one(
        tx,
        `select finance.running_balance(t, a) as balance,
                finance.weighted_avg(a, w) as wavg,
                (select finance.weighted_avg(v, 0) from (values (1.0), (2.0)) z(v)) as zero_weights,
                (select finance.running_balance(null::finance.tx_type, null::numeric) where false) as empty
           from (values ('credit'::finance.tx_type, 100.0, 1), ('debit', 30.25, 3), ('adjustment', 4.5, 0), ('debit', 10, 6)) v(t, a, w)`,
      );
      // 100 - 30.25 + 4.5 - 10 = 64.25; (100*1 + 30.25*3 + 4.5*0 + 10*6) / 10 = 25.075
      expect(sums).toEqual({ balance: "64.25", wavg: "25.0750000000000000", zero_weights: null, empty: "0" });
    });
  });

  it("gives the statement's running balance, equal to each posting's balance_after", async () => {
    await withTransaction(async (tx) => {
      const account = await createAccount(tx, await createCustomer(tx, "stmt"), "checking");
      await post(tx, account, 100, "credit", "2004-01-05T00:00:00Z");
      await post(tx, account, 40, "debit", "2004-02-05T00:00:00Z");
      await post(tx, account, 10, "adjustment", "2004-03-05T00:00:00Z");
      await post(tx, account, 25.5, "debit", "2004-03-06T00:00:00Z");
      const { rows } = await tx.query<{ tx_type: string; running_balance: string; balance_after: string }>(
        "select tx_type, running_balance, balance_after from finance.account_statement($1, '2004-02-01T00:00:00Z', '2004-04-01T00:00:00Z')",
        [account],
      );
      // Opening 100 (January), then -40, +10, -25.5.
      expect(rows.map((r) => Number(r.running_balance))).toEqual([60, 70, 44.5]);
      expect(rows.map((r) => Number(r.balance_after))).toEqual([60, 70, 44.5]);
    });
  });
});

describe("materialized views", () => {
  it("hold the right figures after a refresh", async () => {
    await withTransaction(async (tx) => {
      await tx.query("set transaction isolation level repeatable read");
      const customer = await createCustomer(tx, "mv");
      await createAccount(tx, customer, "checking", 250);
      await createAccount(tx, customer, "savings", 50.5);
      const a = await createProduct(tx, 10);
      const b = await createProduct(tx, 4);
      await orderOf(tx, customer, [[a, 2], [b, 5]]); // 40
      const cancelled = (await orderOf(tx, customer, [[a, 1]])).rows[0]!;
      await tx.query("update sales.orders set status = 'cancelled' where order_id = $1", [cancelled.order_id]);
      await orderOf(tx, customer, [[b, 1]]); // 4

      const finance = await createStaff(tx, "role_finance");
      await tx.become(finance.staffClaims);
      expect((await one<{ ok: boolean }>(tx, "select finance.refresh_views() as ok")).ok).toBe(true);
      const value = await one(tx, "select orders_count, lifetime_value, accounts_count, total_balance, last_order_at is not null as has_last from finance.mv_customer_value where customer_id = $1", [customer]);
      expect(value).toEqual({ orders_count: 2, lifetime_value: "44.0000", accounts_count: 2, total_balance: "300.5000", has_last: true });

      const month = await one<{ revenue: string; orders_count: number; avg_unit_price: string }>(
        tx,
        "select revenue, orders_count, avg_unit_price from finance.mv_monthly_revenue where month = date_trunc('month', now() at time zone 'UTC')::date",
      );
      const expected = await tx.asRoot(() =>
        one<{ revenue: string; orders_count: number; avg_unit_price: string }>(
          tx,
          `select sum(i.quantity * i.unit_price)::numeric(18,4)::text as revenue, count(distinct o.order_id)::int as orders_count,
                  (sum(i.quantity * i.unit_price) / sum(i.quantity))::numeric(18,4)::text as avg_unit_price
             from sales.orders o join sales.order_items i using (order_id)
            where o.status in ('placed', 'shipped') and date_trunc('month', o.placed_at at time zone 'UTC') = date_trunc('month', now() at time zone 'UTC')`,
        ),
      );
      expect(month).toEqual(expected);
    });
  });

  it("are refreshed by finance staff and operators only", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "mvuser");
      await tx.become(user.claims);
      expect(await tx.errorCode(() => tx.query("select finance.refresh_views()"))).toBe("42501");
      await tx.become({ ...user.claims, role: "role_finance" });
      expect(await tx.errorCode(() => tx.query("select finance.refresh_views()"))).toBe("DNIED");
    });
  });
});

describe("coverage of the capstone schemas", () => {
  it("tracks every table in the audit log and keeps every table under RLS", async () => {
    await withTransaction(async (tx) => {
      const { rows } = await tx.query<{ name: string; tracked: boolean; rls: boolean }>(
        `select n.nspname || '.' || c.relname as name, audit.is_tracked(c.oid) as tracked, c.relrowsecurity as rls
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname in ('finance', 'sales', 'support', 'hr') and c.relkind in ('r', 'p') and not c.relispartition
          order by 1`,
      );
      expect(rows.length).toBe(15);
      expect(rows.filter((r) => !r.tracked || !r.rls)).toEqual([]);
    });
  });

  it("writes a posting, its ledger record and the balance change to the change log", async () => {
    await withTransaction(async (tx) => {
      const user = await createUser(tx, "audited");
      const account = await createAccount(tx, await createCustomer(tx, "aud", user), "checking", 10);
      await tx.query("reset role");
      const { rows } = await tx.query<{ table_name: string; action: string }>(
        "select schema_name || '.' || table_name as table_name, action from audit.change_log where txid = pg_current_xact_id()::text::bigint and (payload -> 'new' ->> 'account_id' = $1 or record_id = $1) order by audit_id",
        [account],
      );
      expect(rows).toEqual([
        { table_name: "finance.accounts", action: "insert" },
        { table_name: "finance.accounts", action: "update" },
        // Written by the partition's trigger, named after the partitioned table.
        { table_name: "finance.transactions", action: "insert" },
      ]);
      const ledger = await one<{ n: number }>(tx, "select count(*)::int as n from audit.change_log where txid = pg_current_xact_id()::text::bigint and table_name = 'ledger'");
      expect(ledger.n).toBe(1);
      // The customer reads the change-log entries of their own customer record.
      await tx.become(user.claims);
      expect((await one<{ n: number }>(tx, "select count(*)::int as n from audit.change_log where schema_name = 'finance' and table_name = 'customers'")).n).toBe(1);
    });
  });
});
