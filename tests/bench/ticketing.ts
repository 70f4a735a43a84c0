/**
 * Ticketing benchmarks (issue 19), in the same run and on the same database:
 *
 * * Checkouts per second at 16 clients, one ticket each of a random event
 *   (of `events` published events of `organizations` organizations), by
 *   random funded buyers, as gw_user with claims (one round trip: begin, the
 *   claims, ticketing.checkout, commit) ÷ ledger.post_transfer per second at
 *   16 clients between random accounts (owner connection, as the ledger
 *   bench). Rounds alternate the two; the median round's ratio is reported.
 *   A checkout is a tier lock, a hold row, an order, an item, a ticket, one
 *   ledger transaction of three entries, two outbox events and a
 *   notification; post_transfer is one transaction of two entries.
 * * The last-50-tickets race: 200 buyers on their own connections (a pool of
 *   50) for a tier with 50 seats left; wall time, sold, refused (TKSLD),
 *   other errors (retries: none are needed, nothing aborts but TKSLD).
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import type { TestDatabase } from "../setup/testDatabase.ts";
import { seededRandom } from "../helpers/random.ts";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;

export async function setUp(root: pg.Client, organizations: number, events: number, buyers: number, accounts: number) {
  const tag = `tkb${process.pid}`;
  const { rows: orgs } = await root.query<{ organization_id: string }>(
    "insert into auth.organizations (name, slug) select $1 || '-' || g, $1 || '-' || g from generate_series(1, $2::int) g returning organization_id", [tag, organizations]);
  const orgIds = orgs.map((o) => o.organization_id);
  const { rows: evs } = await root.query<{ event_id: string }>(
    `insert into events.events (owner_context_id, title, starts_at, ends_at)
     select ($2::uuid[])[1 + (g % array_length($2::uuid[], 1))], 'Bench ' || g, now() + interval '30 days', now() + interval '30 days 3 hours'
       from generate_series(1, $1::int) g returning event_id`, [events, orgIds]);
  await root.query("update events.events set status = 'published' where event_id = any($1::uuid[])", [evs.map((e) => e.event_id)]);
  const { rows: tiers } = await root.query<{ tier_id: string }>(
    "insert into ticketing.ticket_tiers (event_id, name, price, currency, capacity) select unnest($1::uuid[]), 'GA', 2500, 'USD', 1000000 returning tier_id",
    [evs.map((e) => e.event_id)]);
  const { rows: users } = await root.query<{ user_id: string }>(
    "insert into auth.users (username, email) select $1 || 'u' || g, $1 || 'u' || g || '@example.com' from generate_series(1, $2::int) g returning user_id", [tag, buyers]);
  const userIds = users.map((u) => u.user_id);
  await root.query(
    `select ledger_private.transfer(payments_private.system_account('payments.clearing.bench', 'Clearing: bench', 'USD', 'asset', true),
              payments_private.user_wallet(u, 'USD'), 1000000000, 'USD', null, 'payments.funding', null, null, null, null, false)
       from unnest($1::uuid[]) u`, [userIds]);
  const { rows: acc } = await root.query<{ account_id: string }>(
    "select (ledger.create_account('tkbench-' || g, 'Bench ' || g, 'USD', 'liability', null, null, true, true)).account_id from generate_series(1, $1::int) g", [accounts]);
  await root.query("vacuum analyze ledger.accounts, ledger.transactions, ledger.entries, ticketing.ticket_tiers, ticketing.orders, ticketing.tickets, ticketing.ticket_holds");
  return { tierIds: tiers.map((t) => t.tier_id), userIds, accountIds: acc.map((a) => a.account_id), orgIds };
}

async function drive(clients: pg.Client[], total: number, call: (client: pg.Client, pick: (n: number) => number, i: number) => Promise<unknown>, seed: number) {
  const perClient = Math.ceil(total / clients.length);
  const started = performance.now();
  let errors = 0;
  await Promise.all(clients.map(async (client, c) => {
    const pick = seededRandom(seed * 1000 + c);
    for (let i = 0; i < perClient; i++) {
      try {
        await call(client, pick, c * perClient + i);
      } catch {
        errors++;
        await client.query("rollback").catch(() => undefined);
      }
    }
  }));
  const calls = perClient * clients.length;
  return { perSecond: (calls / (performance.now() - started)) * 1000, errors };
}

export async function benchTicketing(
  db: TestDatabase,
  { checkouts = 4_000, organizations = 100, events = 1_000, buyers = 2_000, accounts = 10_000, rounds = 3, clients: clientCount = 16 } = {},
) {
  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  const connect = async (url: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return client;
  };
  // post_transfer as trusted code on owner connections (as the ledger bench); checkout as the API runs it: gw_authenticator becoming gw_user.
  const clients = await Promise.all(Array.from({ length: clientCount }, () => connect(db.ownerUrl)));
  const apiClients = await Promise.all(Array.from({ length: clientCount }, () => connect(db.authenticatorUrl)));
  let runTag = 0;
  try {
    const { tierIds, userIds, accountIds } = await setUp(root, organizations, events, buyers, accounts);
    const transfer = (client: pg.Client, pick: (n: number) => number) => {
      const from = pick(accountIds.length);
      const to = (from + 1 + pick(accountIds.length - 1)) % accountIds.length;
      return client.query({ name: "tk_transfer", text: "select transaction_id from ledger.post_transfer($1, $2, $3, 'USD')", values: [accountIds[from], accountIds[to], 1 + pick(1000)] });
    };
    const checkout = (tag: number) => async (client: pg.Client, pick: (n: number) => number, i: number) => {
      const user = userIds[pick(userIds.length)]!;
      const tier = tierIds[pick(tierIds.length)]!;
      const claims = JSON.stringify({ role: "gw_user", sub: user, iat: Math.floor(Date.now() / 1000) });
      // One round trip, as the API's transaction: role and claims, the call, commit.
      await client.query(`begin; select set_config('role', 'gw_user', true), set_config('request.jwt.claims', ${quote(claims)}, true);
        select order_id from ticketing.checkout(${quote(`b${tag}-${i}`)}, null, ${quote(tier)}, 1); commit;`);
    };
    // Warm-up (not measured).
    await drive(clients, clientCount * 30, transfer, 1);
    await drive(apiClients, clientCount * 30, checkout(++runTag), 1);
    const checkoutRates: number[] = [];
    const transferRates: number[] = [];
    const ratios: number[] = [];
    let checkoutErrors = 0;
    for (let round = 0; round < rounds; round++) {
      const t = await drive(clients, checkouts, transfer, 10 + round);
      const c = await drive(apiClients, checkouts, checkout(++runTag), 20 + round);
      checkoutErrors += c.errors;
      transferRates.push(t.perSecond);
      checkoutRates.push(c.perSecond);
      ratios.push(c.perSecond / t.perSecond);
    }
    const ratio = median(ratios);
    // Diagnostic, not the figure: one more round with a pg_notify per notification, as the realtime push was
    // before outbox split 2370. A NOTIFY takes PostgreSQL's global notify lock from before the commit record
    // until after its flush, so notifying transactions cannot share a WAL flush (no group commit): this shows
    // what that design cost a checkout, in the same run.
    await root.query(`create function outbox_private.bench_notify() returns trigger language plpgsql as $$
      begin perform pg_notify('gw:notifications:' || new.user_id::text, json_build_object('id', new.notification_id)::text); return null; end $$;
      create trigger _500_bench_notify after insert on outbox.notifications for each row execute function outbox_private.bench_notify()`);
    let withNotify: { checkoutsPerSecond: number; transfersPerSecond: number; ratio: number };
    try {
      const t = await drive(clients, checkouts, transfer, 40);
      const c = await drive(apiClients, checkouts, checkout(++runTag), 41);
      withNotify = { checkoutsPerSecond: c.perSecond, transfersPerSecond: t.perSecond, ratio: c.perSecond / t.perSecond };
    } finally {
      await root.query("drop trigger _500_bench_notify on outbox.notifications; drop function outbox_private.bench_notify()");
    }

    // The last 50 tickets: 200 buyers, own connections (a pool of 50).
    const { rows: [race] } = await root.query<{ tier_id: string }>(
      "insert into ticketing.ticket_tiers (event_id, name, price, currency, capacity) select event_id, 'Last 50', 2500, 'USD', 50 from ticketing.ticket_tiers where tier_id = $1 returning tier_id", [tierIds[0]]);
    const pool = new pg.Pool({ connectionString: db.authenticatorUrl, max: 50 });
    const raceBuyers = userIds.slice(0, 200);
    const started = performance.now();
    const codes = await Promise.all(raceBuyers.map(async (user, i) => {
      const client = await pool.connect();
      try {
        const claims = JSON.stringify({ role: "gw_user", sub: user, iat: Math.floor(Date.now() / 1000) });
        await client.query(`begin; select set_config('role', 'gw_user', true), set_config('request.jwt.claims', ${quote(claims)}, true);
          select order_id from ticketing.checkout(${quote(`race-${i}`)}, null, ${quote(race!.tier_id)}, 1); commit;`);
        return "ok";
      } catch (error) {
        await client.query("rollback").catch(() => undefined);
        return (error as { code?: string }).code ?? "error";
      } finally {
        client.release();
      }
    }));
    const raceWallMs = performance.now() - started;
    await pool.end();
    const { rows: [sold] } = await root.query<{ sold: number }>("select sold from ticketing.ticket_tiers where tier_id = $1", [race!.tier_id]);
    const verify = await root.query("select * from ledger.verify()");
    const totals = await root.query<{ net: string }>("select net from ledger.currency_totals()");
    return {
      clients: clientCount,
      checkoutsPerRound: checkouts,
      events,
      organizations,
      buyers,
      rounds,
      checkoutsPerSecond: median(checkoutRates),
      transfersPerSecond: median(transferRates),
      ratio,
      roundRatios: ratios,
      withNotify,
      checkoutErrors,
      race: {
        buyers: raceBuyers.length,
        seats: 50,
        wallMs: raceWallMs,
        sold: sold!.sold,
        ok: codes.filter((c) => c === "ok").length,
        refused: codes.filter((c) => c === "TKSLD").length,
        otherErrors: codes.filter((c) => c !== "ok" && c !== "TKSLD"),
      },
      consistent: verify.rowCount === 0 && totals.rows.every((row) => row.net === "0"),
    };
  } finally {
    await Promise.all([...clients, ...apiClients].map((client) => client.end()));
    await root.end();
  }
}
