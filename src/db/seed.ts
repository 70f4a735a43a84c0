import { performance } from "node:perf_hooks";
import { withClient } from "./diagnose.ts";

/**
 * `groundwork seed`: a realistic data set for the capstone module, loaded with
 * set-based SQL (generate_series), in one transaction, as the owner.
 *
 * Pseudo-random values come from hashint4 of the row number, so two runs load
 * the same rows; ids are md5-derived uuids ('gw-seed:<kind>:<n>'). A second run
 * finds the first seed customer and changes nothing (idempotent).
 *
 * The owner disables the user triggers of the seeded tables for the length of
 * the transaction (ALTER TABLE ... DISABLE TRIGGER USER: other sessions wait on
 * the table lock and never see them disabled): the balance triggers would
 * serialise 200,000 postings one by one and the audit log would get a row per
 * seeded row. balance_after is computed set-based instead, with
 * finance.running_balance over each account's postings, and the accounts'
 * balances set from it. Foreign keys stay checked.
 */

export interface SeedSizes {
  customers: number;
  products: number;
  reps: number;
  orders: number;
  transactions: number;
  tickets: number;
  agents: number;
  employees: number;
  months: number;
}

export const defaultSeedSizes: SeedSizes = {
  customers: 1000,
  products: 50,
  reps: 20,
  orders: 10_000,
  transactions: 200_000,
  tickets: 3000,
  agents: 15,
  employees: 100,
  months: 13,
};

export interface SeedResult {
  seeded: boolean;
  ms: number;
  counts: Record<string, number>;
}

/** Scales every size (at least 1 of each); `scale` 1 is the default data set. */
export function scaledSeedSizes(scale: number): SeedSizes {
  const sizes = { ...defaultSeedSizes };
  for (const key of Object.keys(sizes) as Array<keyof SeedSizes>) {
    if (key !== "months" && key !== "products") sizes[key] = Math.max(1, Math.round(sizes[key] * scale));
  }
  return sizes;
}

/** The tables the seed fills, in load order. */
export const seedTables = [
  "finance.customers",
  "finance.accounts",
  "finance.transactions",
  "finance.ledger",
  "sales.products",
  "sales.sales_reps",
  "sales.orders",
  "sales.order_items",
  "support.support_agents",
  "support.tickets",
  "support.ticket_messages",
  "hr.employees",
  "hr.payroll",
];

/** One step: a label and the SQL (parameters: $1 = sizes as json). */
const steps: Array<[string, string]> = [
  [
    "partitions",
    `select count(finance_private.ensure_transaction_partition(((date_trunc('month', now() at time zone 'UTC') - make_interval(months => i)))::date))
       from generate_series(0, ($1::jsonb ->> 'months')::int - 1) i`,
  ],
  ["disable triggers", seedTables.map((t) => `alter table ${t} disable trigger user;`).join("\n")],
  [
    "customers",
    `insert into finance.customers (customer_id, full_name, primary_email)
     select md5('gw-seed:customer:' || i)::uuid,
            (array['Ada','Ben','Chloe','Dev','Eva','Farid','Grace','Hugo','Ines','Jonas','Kira','Liam','Mona','Noor','Omar','Pia'])[1 + abs(hashint4(i)) % 16]
              || ' ' || (array['Abbott','Berg','Costa','Duval','Eriksen','Fischer','Garcia','Haddad','Ito','Jansen','Kowalski','Lopez','Moreau','Nakamura'])[1 + abs(hashint4(i + 7)) % 14],
            'customer' || i || '@seed.example.com'
       from generate_series(1, ($1::jsonb ->> 'customers')::int) i`,
  ],
  [
    "accounts",
    `insert into finance.accounts (account_id, customer_id, account_type)
     select md5('gw-seed:account:' || i || ':' || k)::uuid, md5('gw-seed:customer:' || i)::uuid,
            (array['checking','savings','credit'])[k]::finance.account_type
       from generate_series(1, ($1::jsonb ->> 'customers')::int) i
      cross join generate_series(1, 3) k
      where k = 1 or (k = 2 and i % 2 = 0) or (k = 3 and i % 5 = 0)`,
  ],
  [
    "products",
    `insert into sales.products (product_id, sku, name, price, active)
     select md5('gw-seed:product:' || i)::uuid, 'SEED-' || lpad(i::text, 4, '0'),
            (array['Card reader','Savings plan','Travel insurance','Premium card','Safe box','Advisory hour','Wire pack','FX bundle'])[1 + i % 8] || ' ' || i,
            (5 + abs(hashint4(i)) % 49500 / 100.0)::numeric(18, 4), i % 10 <> 0
       from generate_series(1, ($1::jsonb ->> 'products')::int) i`,
  ],
  [
    "sales reps",
    `insert into sales.sales_reps (rep_id, full_name, email)
     select md5('gw-seed:rep:' || i)::uuid, 'Rep ' || i, 'rep' || i || '@seed.example.com'
       from generate_series(1, ($1::jsonb ->> 'reps')::int) i`,
  ],
  [
    "orders",
    `insert into sales.orders (order_id, customer_id, sales_rep_id, status, placed_at)
     select md5('gw-seed:order:' || i)::uuid,
            md5('gw-seed:customer:' || (1 + abs(hashint4(i)) % ($1::jsonb ->> 'customers')::int))::uuid,
            case when i % 4 = 0 then null else md5('gw-seed:rep:' || (1 + i % ($1::jsonb ->> 'reps')::int))::uuid end,
            (case when i % 50 = 0 then 'draft' when i % 20 = 0 then 'cancelled' when i % 3 = 0 then 'placed' else 'shipped' end)::sales.order_status,
            case when i % 50 = 0 then null
                 else now() - make_interval(secs => (abs(hashint4(i + 1)) % (($1::jsonb ->> 'months')::int * 30 * 86400 - 86400)) + 3600) end
       from generate_series(1, ($1::jsonb ->> 'orders')::int) i`,
  ],
  [
    "order items",
    `insert into sales.order_items (order_id, product_id, quantity, unit_price)
     select md5('gw-seed:order:' || i)::uuid, p.product_id, 1 + abs(hashint4(i * 4 + j)) % 5, p.price
       from generate_series(1, ($1::jsonb ->> 'orders')::int) i
      cross join generate_series(1, 4) j
       join sales.products p on p.product_id = md5('gw-seed:product:' || (1 + (i * 31 + j * 17) % ($1::jsonb ->> 'products')::int))::uuid
      where j <= 1 + i % 4`,
  ],
  [
    "order totals",
    `update sales.orders o set total_amount = t.total
       from (select order_id, sum(quantity * unit_price) as total from sales.order_items group by order_id) t
      where t.order_id = o.order_id and o.total_amount = 0
        -- Only this run's orders: rows already there (not the seed's) stay as they are.
        and o.customer_id in (select md5('gw-seed:customer:' || i)::uuid from generate_series(1, ($1::jsonb ->> 'customers')::int) i)`,
  ],
  [
    "transactions",
    `with accounts as (
       select account_id, account_type, row_number() over (order by account_id) - 1 as n
         from finance.accounts
        where customer_id in (select md5('gw-seed:customer:' || i)::uuid from generate_series(1, ($1::jsonb ->> 'customers')::int) i)
     ), span as (
       select (date_trunc('month', now() at time zone 'UTC') - make_interval(months => ($1::jsonb ->> 'months')::int - 1)) at time zone 'UTC' as start_at,
              ($1::jsonb ->> 'transactions')::int as n,
              (select count(*) from accounts) as total
     ), base as (
       select nextval('finance.transactions_tx_id_seq') as first_id
     ), postings as (
       select g, a.account_id,
              -- Each account opens with a deposit; then 50 % debits, 40 % credits, 10 % adjustments.
              (case when g <= s.total then 'credit'
                    when abs(hashint4(g)) % 10 < 5 then 'debit'
                    when abs(hashint4(g)) % 10 < 9 then 'credit'
                    else 'adjustment' end)::finance.tx_type as tx_type,
              (case when g <= s.total then 1000 + abs(hashint4(g + 3)) % 4000
                    when abs(hashint4(g)) % 10 < 5 then 1 + abs(hashint4(g + 5)) % 6000 / 100.0
                    else 10 + abs(hashint4(g + 5)) % 19000 / 100.0 end)::numeric(18, 4) as amount,
              s.start_at + (now() - s.start_at) * ((g - 1)::numeric / s.n) as posted_at
         from span s
        cross join generate_series(1, s.n) g
         join accounts a on a.n = (g - 1) % s.total
     )
     insert into finance.transactions (tx_id, account_id, tx_type, amount, posted_at, balance_after)
     select b.first_id + p.g, p.account_id, p.tx_type, p.amount, p.posted_at,
            finance.running_balance(p.tx_type, p.amount) over (partition by p.account_id order by p.g)
       from postings p cross join base b`,
  ],
  ["sequence", `select setval('finance.transactions_tx_id_seq', (select max(tx_id) from finance.transactions))`],
  [
    "ledger",
    // finance_private.ledger_entry's shape, written inline (a function call per row costs more than the rest).
    `insert into finance.ledger (tx_id, posted_at, entry)
     select t.tx_id, t.posted_at,
            jsonb_build_object(
              'tx_id', t.tx_id, 'account_id', t.account_id, 'tx_type', t.tx_type, 'amount', t.amount,
              'balance_before', t.balance_after + case when t.tx_type = 'debit' then t.amount else -t.amount end,
              'balance_after', t.balance_after, 'posted_at', t.posted_at, 'posted_by', 'seed',
              'lines', case t.tx_type
                when 'debit' then jsonb_build_array(
                  jsonb_build_object('account', 'customer:' || t.account_id, 'side', 'debit', 'amount', t.amount),
                  jsonb_build_object('account', 'bank:cash', 'side', 'credit', 'amount', t.amount))
                when 'credit' then jsonb_build_array(
                  jsonb_build_object('account', 'bank:cash', 'side', 'debit', 'amount', t.amount),
                  jsonb_build_object('account', 'customer:' || t.account_id, 'side', 'credit', 'amount', t.amount))
                else jsonb_build_array(
                  jsonb_build_object('account', 'bank:adjustments', 'side', 'debit', 'amount', t.amount),
                  jsonb_build_object('account', 'customer:' || t.account_id, 'side', 'credit', 'amount', t.amount))
              end)
       from finance.transactions t
      where t.tx_id > (select coalesce(max(l.tx_id), 0) from finance.ledger l)`,
  ],
  [
    "balances",
    `update finance.accounts a set balance = last.balance_after
       from (select distinct on (account_id) account_id, balance_after from finance.transactions order by account_id, tx_id desc) last
      where last.account_id = a.account_id
        and a.customer_id in (select md5('gw-seed:customer:' || i)::uuid from generate_series(1, ($1::jsonb ->> 'customers')::int) i)`,
  ],
  [
    "support agents",
    `insert into support.support_agents (agent_id, full_name, email)
     select md5('gw-seed:agent:' || i)::uuid, 'Agent ' || i, 'agent' || i || '@seed.example.com'
       from generate_series(1, ($1::jsonb ->> 'agents')::int) i`,
  ],
  [
    "tickets",
    `insert into support.tickets (ticket_id, customer_id, subject, status, created_at)
     select md5('gw-seed:ticket:' || i)::uuid,
            md5('gw-seed:customer:' || (1 + abs(hashint4(i + 11)) % ($1::jsonb ->> 'customers')::int))::uuid,
            (array['Card blocked','Wrong fee','Transfer missing','Statement question','Address change','Login trouble'])[1 + i % 6],
            (array['open','pending','closed','closed'])[1 + i % 4]::support.ticket_status,
            now() - make_interval(secs => abs(hashint4(i + 13)) % (($1::jsonb ->> 'months')::int * 30 * 86400))
       from generate_series(1, ($1::jsonb ->> 'tickets')::int) i`,
  ],
  [
    "ticket messages",
    `insert into support.ticket_messages (ticket_id, sender_type, sender_id, message, sent_at)
     select t.ticket_id,
            (case when j % 2 = 1 then 'customer' else 'agent' end)::support.sender_type,
            case when j % 2 = 1 then t.customer_id else md5('gw-seed:agent:' || (1 + (i + j) % ($1::jsonb ->> 'agents')::int))::uuid end,
            case when j % 2 = 1 then 'Message ' || j || ' from the customer about: ' || t.subject else 'Agent reply ' || j end,
            t.created_at + make_interval(mins => j * 37)
       from generate_series(1, ($1::jsonb ->> 'tickets')::int) i
       join support.tickets t on t.ticket_id = md5('gw-seed:ticket:' || i)::uuid
      cross join generate_series(1, 4) j
      where j <= 2 + i % 3`,
  ],
  [
    "employees",
    `insert into hr.employees (employee_id, full_name, department, joined_at)
     select md5('gw-seed:employee:' || i)::uuid, 'Employee ' || i,
            (array['Finance','Sales','Support','Engineering','HR','Operations'])[1 + i % 6],
            now() - make_interval(days => 400 + abs(hashint4(i)) % 2000)
       from generate_series(1, ($1::jsonb ->> 'employees')::int) i`,
  ],
  [
    "payroll",
    `insert into hr.payroll (employee_id, salary_amount, paid_at)
     select md5('gw-seed:employee:' || i)::uuid, (3000 + abs(hashint4(i)) % 5000)::numeric(18, 4),
            (date_trunc('month', now() at time zone 'UTC') - make_interval(months => m) + interval '27 days') at time zone 'UTC'
       from generate_series(1, ($1::jsonb ->> 'employees')::int) i
      cross join generate_series(1, ($1::jsonb ->> 'months')::int) m`,
  ],
  ["enable triggers", seedTables.map((t) => `alter table ${t} enable trigger user;`).join("\n")],
  ["reporting views", "refresh materialized view finance_private.mv_monthly_revenue; refresh materialized view finance_private.mv_customer_value;"],
];

export interface SeedOptions {
  ownerUrl: string;
  sizes?: SeedSizes;
  /** Called before each step with its label, its index and the number of steps, and after the last with done. */
  onProgress?: (step: string, index: number, total: number, elapsedMs: number) => void;
}

export async function seedCapstone({ ownerUrl, sizes = defaultSeedSizes, onProgress }: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  return withClient(ownerUrl, "seeding the capstone data set", async (client) => {
    await client.query("begin");
    try {
      // One seeding at a time; the second waits and then finds the data.
      await client.query("select pg_advisory_xact_lock(4199, 0)");
      const { rows } = await client.query<{ seeded: boolean }>(
        "select exists (select 1 from finance.customers where customer_id = md5('gw-seed:customer:1')::uuid) as seeded",
      );
      if (rows[0]?.seeded) {
        await client.query("rollback");
        return { seeded: false, ms: performance.now() - started, counts: {} };
      }
      // Checked once, set-based, when re-added at the end instead of row by row
      // (a foreign key to a partitioned table is a per-row lookup through the parent).
      const deferred = await client.query<{ drop: string; create: string }>(
        `select format('alter table %s drop constraint %I', conrelid::regclass, conname) as drop,
                format('alter table %s add constraint %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) as create
           from pg_constraint
          where contype = 'f' and conparentid = 0
            and conrelid in ('finance.transactions'::regclass, 'finance.ledger'::regclass)
         union all
         select format('drop index %s', indexrelid::regclass), pg_get_indexdef(indexrelid)
           from pg_index
          where indexrelid = 'finance.ledger_entry_gin'::regclass`,
      );
      for (const { drop } of deferred.rows) await client.query(drop);
      for (const [index, [label, sql]] of steps.entries()) {
        onProgress?.(label, index, steps.length, performance.now() - started);
        await client.query(sql, sql.includes("$1") ? [JSON.stringify(sizes)] : []);
      }
      onProgress?.("foreign keys and GIN index", steps.length, steps.length + 1, performance.now() - started);
      for (const { create } of deferred.rows) await client.query(create);
      const counts: Record<string, number> = {};
      for (const table of seedTables) {
        counts[table] = Number((await client.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]?.n ?? 0);
      }
      const negative = await client.query<{ n: string }>(
        "select count(*) as n from finance.accounts where account_type <> 'credit' and balance < 0",
      );
      if (Number(negative.rows[0]?.n) > 0) throw new Error("seed produced a checking or savings account below zero");
      await client.query("commit");
      onProgress?.("done", steps.length, steps.length, performance.now() - started);
      return { seeded: true, ms: performance.now() - started, counts };
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    }
  });
}
