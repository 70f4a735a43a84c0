/**
 * Sponsorship and campaigns benchmarks (issue 22), in the same run and on the
 * same database:
 *
 * * Impression ingestion through the endpoint: POST /analytics/impressions
 *   (the one ingestion mechanism, stream "ad") on a `groundwork serve`
 *   (production mode, rate limits off), each client posting batches of
 *   `batch` (at most 1,000, the endpoint's limit) fresh impression ids for its
 *   own campaign's creative with its advertiser's bearer token ÷ COPY of the
 *   same number of rows into the same table, in the same round. This is the
 *   issue's figure.
 * * Impression ingestion: rows per second through the endpoint's function,
 *   campaigns.record_impressions (as gw_user with the advertiser's claims,
 *   one round trip per batch: begin, the claims, the call, commit; batches of
 *   `batch` fresh ids; budget and daily-cap check on: every campaign has a
 *   rate, a budget and a cap, all large enough never to refuse), at
 *   `clients` clients, each counting for its own campaign ÷ COPY of the same
 *   rows into the same partitioned table (campaigns.ad_impressions, same
 *   indexes and foreign keys) at the same number of clients, each COPY
 *   reading its rows from a server-side file written before the clock starts.
 *   Rounds alternate the two; the median round's ratio is reported.
 * * Escrow lifecycle: fund -> lock -> approve (release) per second at
 *   `clients` clients, each step its own transaction as the acting party
 *   (sponsor admin, organizer admin, sponsor admin) on its own pending
 *   order; three ledger-touching steps, two ledger transactions and eight
 *   outbox events per lifecycle.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import type { TestDatabase } from "../setup/testDatabase.ts";
import { groundworkEnv, startServer, tokens } from "./apiSetup.ts";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

interface Tenant {
  organizationId: string;
  userId: string;
  username: string;
  claims: string;
}

async function tenants(root: pg.Client, n: number, tag: string): Promise<Tenant[]> {
  const { rows: orgs } = await root.query<{ organization_id: string }>(
    "insert into auth.organizations (name, slug) select $1 || '-' || g, $1 || '-' || g from generate_series(1, $2::int) g returning organization_id", [tag, n]);
  const { rows: users } = await root.query<{ user_id: string; username: string }>(
    "insert into auth.users (username, email) select $1 || 'u' || g, $1 || 'u' || g || '@example.com' from generate_series(1, $2::int) g returning user_id, username", [tag.replace(/-/g, "_"), n]);
  await root.query("insert into auth.memberships (organization_id, user_id, role) select unnest($1::uuid[]), unnest($2::uuid[]), 'owner'",
    [orgs.map((o) => o.organization_id), users.map((u) => u.user_id)]);
  return orgs.map((o, i) => ({
    organizationId: o.organization_id,
    userId: users[i]!.user_id,
    username: users[i]!.username,
    claims: JSON.stringify({ role: "gw_user", sub: users[i]!.user_id, org_id: o.organization_id, iat: Math.floor(Date.now() / 1000) }),
  }));
}

async function fund(root: pg.Client, organizationIds: string[], amount: number) {
  await root.query(
    `select ledger_private.transfer(payments_private.system_account('payments.clearing.bench', 'Clearing: bench', 'USD', 'asset', true),
              payments_private.organization_account(o, 'wallet', 'USD'), $2, 'USD', null, 'payments.funding', null, null, null, null, false)
       from unnest($1::uuid[]) o`, [organizationIds, amount]);
}

async function asClaims(client: pg.Client, claims: string, sql: string, values: unknown[]) {
  await client.query("begin");
  await client.query("select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)", [claims]);
  await client.query(sql, values);
  await client.query("commit");
}

export async function benchSponsorship(
  db: TestDatabase,
  { batches = 20, batch = 1_000, rounds = 3, clients: clientCount = 16, lifecycles = 1_600 } = {},
) {
  const root = new pg.Client({ connectionString: db.rootUrl });
  await root.connect();
  const clients = await Promise.all(Array.from({ length: clientCount }, async () => {
    const client = new pg.Client({ connectionString: db.rootUrl });
    await client.connect();
    return client;
  }));
  const dir = mkdtempSync(path.join(tmpdir(), "gw-bench-copy-"));
  chmodSync(dir, 0o755);
  try {
    // --- Impression ingestion -------------------------------------------
    const advertisers = await tenants(root, clientCount, `cpb${process.pid}`);
    await fund(root, advertisers.map((a) => a.organizationId), 1_000_000_000);
    const campaigns: { campaignId: string; creativeId: string; tenant: Tenant }[] = [];
    for (const tenant of advertisers) {
      const { rows: [c] } = await root.query<{ campaign_id: string }>(
        "insert into campaigns.campaigns (organization_id, name, budget, daily_cap, impression_rate) values ($1, 'Bench', 100000000000, 100000000000, 1) returning campaign_id",
        [tenant.organizationId]);
      const { rows: [k] } = await root.query<{ creative_id: string }>(
        "insert into campaigns.ad_creatives (campaign_id, format, content) values ($1, 'banner', '{}') returning creative_id", [c!.campaign_id]);
      await root.query("update campaigns.ad_creatives set approval_status = 'approved' where creative_id = $1", [k!.creative_id]);
      await root.query("update campaigns.campaigns set status = 'active' where campaign_id = $1", [c!.campaign_id]);
      campaigns.push({ campaignId: c!.campaign_id, creativeId: k!.creative_id, tenant });
    }
    const perClient = batches * batch;
    const endpointRates: number[] = [];
    const copyRates: number[] = [];
    const httpRates: number[] = [];
    const httpCopyRates: number[] = [];
    // Each advertiser signs in (a development session acting in its organization) for the HTTP endpoint.
    const bearer: string[] = [];
    for (const { tenant } of campaigns) {
      const { rows: [session] } = await root.query<{ user_id: string; session_id: string }>(
        "select * from auth_private.create_development_session($1, 'gw_user', $2)", [tenant.username, tenant.organizationId]);
      bearer.push((await tokens.sign({ sub: session!.user_id, role: "gw_user", sid: session!.session_id, org_id: tenant.organizationId })).token);
    }
    const httpBatch = Math.min(batch, 1_000);
    const server = await startServer("src/cli.ts", ["serve"],
      groundworkEnv(db, { RATE_LIMIT_PER_IP: "0", RATE_LIMIT_PER_USER: "0", RATE_LIMIT_SIGN_IN_PER_IP: "0", INGEST_RATE_LIMIT_PER_MINUTE: "0",
        // 16 clients on a shared 2-core machine: a batch can wait seconds for a core; the default 5 s would cut the load, not measure it.
        STATEMENT_TIMEOUT_MS: "60000" }), "/healthz");
    const copyRound = async (label: string) => {
      const { rows: [now] } = await root.query<{ at: string }>("select now()::text as at");
      const files = campaigns.map(({ campaignId, creativeId, tenant }, c) => {
        const file = path.join(dir, `${label}-${c}.csv`);
        const lines: string[] = [];
        for (let i = 0; i < perClient; i++) lines.push(`${randomUUID()},${now!.at},${campaignId},${creativeId},,${tenant.organizationId},1`);
        writeFileSync(file, lines.join("\n") + "\n");
        chmodSync(file, 0o644);
        return file;
      });
      const started = performance.now();
      await Promise.all(clients.map((client, c) =>
        client.query(`copy campaigns.ad_impressions (impression_id, occurred_at, campaign_id, creative_id, event_id, organization_id, cost) from '${files[c]}' with (format csv)`)));
      const rate = (perClient * clientCount * 1000) / (performance.now() - started);
      for (const file of files) rmSync(file);
      return rate;
    };
    let httpAccepted = 0;
    const post = async (c: number, count: number) => {
      const items = Array.from({ length: count }, () => ({ stream: "ad", clientId: randomUUID(), id: campaigns[c]!.creativeId, occurredAt: new Date().toISOString() }));
      const response = await fetch(`${server.url}/analytics/impressions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${bearer[c]}` },
        body: JSON.stringify(items),
      });
      const answer = (await response.json()) as { accepted?: number };
      if (response.status !== 200) throw new Error(`ingest answered ${response.status}: ${JSON.stringify(answer)}`);
      return answer.accepted ?? 0;
    };
    try {
      // Warm-up: one batch per client (plans, connections), not counted.
      await Promise.all(campaigns.map((_, c) => post(c, httpBatch)));
      for (let round = 0; round < rounds; round++) {
        const started = performance.now();
        const sent = await Promise.all(campaigns.map(async (_, c) => {
          let accepted = 0;
          for (let b = 0; b < perClient / httpBatch; b++) accepted += await post(c, httpBatch);
          return accepted;
        }));
        const accepted = sent.reduce((a, b) => a + b, 0);
        httpAccepted += accepted;
        httpRates.push((accepted * 1000) / (performance.now() - started));
        httpCopyRates.push(await copyRound(`http${round}`));
      }
    } finally {
      await server.stop();
    }
    const countedSoFar = async () => Number((await root.query<{ n: string }>(
      "select coalesce(sum(impressions), 0)::text as n from campaigns.campaigns where campaign_id = any($1::uuid[])", [campaigns.map((c) => c.campaignId)])).rows[0]!.n);
    const httpCounted = await countedSoFar();
    const httpRoundRatios = httpRates.map((r, i) => r / httpCopyRates[i]!);
    const http = {
      clients: clientCount,
      batch: httpBatch,
      rowsPerRound: perClient * clientCount,
      rounds,
      endpointRowsPerSecond: median(httpRates),
      copyRowsPerSecond: median(httpCopyRates),
      ratio: median(httpRoundRatios),
      roundRatios: httpRoundRatios,
      accepted: httpAccepted,
      counted: httpCounted - campaigns.length * httpBatch, // less the warm-up batches
      sent: perClient * clientCount * rounds,
    };
    for (let round = 0; round < rounds; round++) {
      // The endpoint: each client records `batches` batches of fresh ids for its own campaign.
      let started = performance.now();
      await Promise.all(clients.map(async (client, c) => {
        const { campaignId, creativeId, tenant } = campaigns[c]!;
        for (let b = 0; b < batches; b++) {
          const ids = Array.from({ length: batch }, () => randomUUID());
          await asClaims(client, tenant.claims, "select campaigns.record_impressions($1, $2, $3::uuid[])", [campaignId, creativeId, ids]);
        }
      }));
      endpointRates.push((perClient * clientCount * 1000) / (performance.now() - started));
      // COPY: the same number of rows, the same shape, into the same table, from files written before the clock starts.
      const { rows: [now] } = await root.query<{ at: string }>("select now()::text as at");
      const files = campaigns.map(({ campaignId, creativeId, tenant }, c) => {
        const file = path.join(dir, `round${round}-${c}.csv`);
        const lines: string[] = [];
        for (let i = 0; i < perClient; i++) lines.push(`${randomUUID()},${now!.at},${campaignId},${creativeId},,${tenant.organizationId},1`);
        writeFileSync(file, lines.join("\n") + "\n");
        chmodSync(file, 0o644);
        return file;
      });
      started = performance.now();
      await Promise.all(clients.map((client, c) =>
        client.query(`copy campaigns.ad_impressions (impression_id, occurred_at, campaign_id, creative_id, event_id, organization_id, cost) from '${files[c]}' with (format csv)`)));
      copyRates.push((perClient * clientCount * 1000) / (performance.now() - started));
      for (const file of files) rmSync(file);
    }
    const roundRatios = endpointRates.map((r, i) => r / copyRates[i]!);
    const ingestion = {
      clients: clientCount,
      batch,
      rowsPerRound: perClient * clientCount,
      rounds,
      endpointRowsPerSecond: median(endpointRates),
      copyRowsPerSecond: median(copyRates),
      ratio: median(roundRatios),
      roundRatios,
    };
    // Every row sent through the function was counted (none refused: the budget check ran and passed).
    const counted = (await countedSoFar()) - httpCounted;

    // --- Escrow lifecycle -----------------------------------------------
    const organizers = await tenants(root, clientCount, `spg${process.pid}`);
    const sponsors = await tenants(root, clientCount, `sps${process.pid}`);
    await fund(root, sponsors.map((s) => s.organizationId), 1_000_000_000);
    const perLifecycleClient = Math.ceil(lifecycles / clientCount);
    const orders: string[][] = [];
    for (let c = 0; c < clientCount; c++) {
      const { rows: [event] } = await root.query<{ event_id: string }>(
        `insert into events.events (owner_context_id, title, starts_at, ends_at) values ($1, 'Bench gala', now() + interval '30 days', now() + interval '30 days 3 hours') returning event_id`,
        [organizers[c]!.organizationId]);
      await root.query("update events.events set status = 'published' where event_id = $1", [event!.event_id]);
      const { rows: [sponsor] } = await root.query<{ sponsor_id: string }>(
        "insert into sponsorship.sponsors (organization_id, name) values ($1, 'Bench sponsor') returning sponsor_id", [sponsors[c]!.organizationId]);
      const { rows: proposals } = await root.query<{ proposal_id: string }>(
        `insert into sponsorship.proposals (event_id, sponsor_id, organizer_organization_id, sponsor_organization_id, proposed_by, terms, amount, currency, expires_at)
         select $1, $2, $3, $4, 'organizer', 'Bench', 100000, 'USD', now() + interval '1 day' from generate_series(1, $5::int) returning proposal_id`,
        [event!.event_id, sponsor!.sponsor_id, organizers[c]!.organizationId, sponsors[c]!.organizationId, perLifecycleClient]);
      const ids = proposals.map((p) => p.proposal_id);
      for (const status of ["sent", "viewed", "accepted"]) await root.query("update sponsorship.proposals set status = $2 where proposal_id = any($1::uuid[])", [ids, status]);
      const { rows: created } = await root.query<{ order_id: string }>(
        `insert into sponsorship.orders (proposal_id, event_id, sponsor_id, organizer_organization_id, sponsor_organization_id, amount, currency)
         select p.proposal_id, p.event_id, p.sponsor_id, p.organizer_organization_id, p.sponsor_organization_id, p.amount, p.currency
           from sponsorship.proposals p where p.proposal_id = any($1::uuid[]) returning order_id`, [ids]);
      orders.push(created.map((o) => o.order_id));
    }
    await root.query("vacuum analyze sponsorship.orders, sponsorship.proposals, ledger.accounts, ledger.transactions, ledger.entries");
    let errors = 0;
    const started = performance.now();
    await Promise.all(clients.map(async (client, c) => {
      for (const orderId of orders[c]!) {
        try {
          await asClaims(client, sponsors[c]!.claims, "select sponsorship.fund_order($1)", [orderId]);
          await asClaims(client, organizers[c]!.claims, "select sponsorship.lock_order($1)", [orderId]);
          await asClaims(client, sponsors[c]!.claims, "select sponsorship.approve_order($1)", [orderId]);
        } catch {
          errors++;
          await client.query("rollback").catch(() => undefined);
        }
      }
    }));
    const elapsed = performance.now() - started;
    const done = orders.flat().length;
    const { rows: [books] } = await root.query<{ n: number }>("select count(*)::int as n from ledger.verify()");
    const { rows: [escrow] } = await root.query<{ released: number; nonempty: number }>(
      `select count(*) filter (where o.status = 'released')::int as released, count(*) filter (where a.balance <> 0)::int as nonempty
         from sponsorship.orders o join ledger.accounts a on a.account_id = o.escrow_account_id where o.order_id = any($1::uuid[])`, [orders.flat()]);
    const escrowLifecycle = {
      clients: clientCount,
      lifecycles: done,
      lifecyclesPerSecond: (done * 1000) / elapsed,
      stepsPerSecond: (done * 3 * 1000) / elapsed,
      errors,
      released: escrow!.released,
      escrowAccountsNotEmpty: escrow!.nonempty,
      consistent: books!.n === 0,
    };
    return { http, ingestion, counted, escrowLifecycle };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all(clients.map((client) => client.end()));
    await root.end();
  }
}
