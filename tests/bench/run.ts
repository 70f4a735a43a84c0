/**
 * `npm run bench`: every figure is reported next to a baseline measured in the
 * same run on the same machine. Results are recorded in docs/benchmarks.md.
 * BENCH_ONLY=startup,outbox,… runs a subset (default: all; the names are listed below).
 */
process.env.GRAPHILE_ENV ??= "production";
const { benchStartup } = await import("./startup.ts");
const { benchOutbox } = await import("./outbox.ts");
const { benchAudit } = await import("./audit.ts");
const { benchCapstone } = await import("./capstone.ts");
const { benchLedger } = await import("./ledger.ts");
const { benchApi } = await import("./api.ts");
const { benchEvents } = await import("./events.ts");
const { benchPooled, benchRecovery } = await import("./scaling.ts");
const { benchClients } = await import("./clients.ts");
const { benchBudget } = await import("./budget.ts");
const { benchTicketing } = await import("./ticketing.ts");
const { benchCommerce } = await import("./commerce.ts");
const { benchAnalytics } = await import("./analytics.ts");
const { benchSponsorship } = await import("./sponsorship.ts");
const { createTestDatabase } = await import("../setup/testDatabase.ts");
/** BENCH_ONLY=capstone (comma list of startup, api, clients, pooled, recovery, outbox, audit, ledger, capstone, ticketing, commerce, sponsorship, events, budget, analytics) runs only those; each takes minutes. */
const only = process.env.BENCH_ONLY?.split(",").map((name) => name.trim());
const runs = (name: string) => !only || only.includes(name);

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const ms = (value: number) => `${value.toFixed(1)} ms`;
const rate = (perSecond: number, unit: string) => `${Math.round(perSecond).toLocaleString("en-US")} ${unit}/s`;
const check = (ok: boolean) => (ok ? "✔" : "✘");

if (runs("startup")) {
const startup = await benchStartup(Number(process.env.BENCH_ROUNDS ?? 3));
console.log("\nStart-up (median of rounds)");
console.log(`  cold start to first GraphQL answer  ${fmt(startup.coldStartMs)}   (target < 5 s)`);
console.log(`  baseline: bare cluster init+start   ${fmt(startup.bareClusterColdMs)}   ratio ${startup.coldRatio.toFixed(2)}`);
console.log(`  warm restart to first answer        ${fmt(startup.warmRestartMs)}`);
console.log(`  baseline: bare cluster start        ${fmt(startup.bareClusterWarmMs)}   ratio ${startup.warmRatio.toFixed(2)}`);
console.log(JSON.stringify({ startup }));
}

// One fresh database for the platform primitives, dropped at the end.
const db = await createTestDatabase("bench");
try {
  if (runs("api")) {
    const figures = await benchApi(db, {
      seconds: Number(process.env.BENCH_API_SECONDS ?? 10),
      users: Number(process.env.BENCH_API_USERS ?? 50),
      rounds: Number(process.env.BENCH_API_ROUNDS ?? 3),
      warmupSeconds: Number(process.env.BENCH_API_WARMUP_SECONDS ?? 10),
    });
    const line = (label: string, f: typeof figures.raw) =>
      console.log(`  ${label}  ${rate(f.requestsPerSecond, "req")}   p50 ${ms(f.p50Ms)}   p99 ${ms(f.p99Ms)}   CPU ${Math.round(f.cpuUsPerRequest)} µs/req   non-2xx ${f.non2xx}   errors ${f.errors}`);
    console.log(`\nGraphQL API: own memberships, first 20 + organization (${figures.connections} connections, ${figures.rounds} rounds of ${figures.seconds} s after ${figures.warmupSeconds} s of warm-up each, median round shown, ${figures.users} users)`);
    line("baseline: express + pg, same SQL/role/claims ", figures.raw);
    line("Groundwork (PostGraphile), rate limits off   ", figures.postgraphile);
    line("Groundwork, rate limits on (reserved chunks)  ", figures.postgraphileRateLimited);
    console.log(`    round ratios, off ${figures.roundRatios.map((r) => r.toFixed(2)).join(", ")}; on ${figures.rateLimitedRoundRatios.map((r) => r.toFixed(2)).join(", ")}`);
    console.log(`    CPU per request ÷ baseline (median): off ${figures.cpuRatio.toFixed(2)}, on ${figures.rateLimitedCpuRatio.toFixed(2)}`);
    console.log(`    ratio off ${figures.ratio.toFixed(3)} (target ≥ 0.8 ${check(figures.ratio >= 0.8)})   on ${figures.rateLimitedRatio.toFixed(3)} (target ≥ 0.75 ${check(figures.rateLimitedRatio >= 0.75)})`);
    console.log(`  at a fixed rate, half the baseline's saturated throughput (${figures.fixedRate.rate} req/s):`);
    line("  baseline                                   ", figures.fixedRate.raw);
    line("  Groundwork, rate limits off                ", figures.fixedRate.postgraphile);
    line("  Groundwork, rate limits on                 ", figures.fixedRate.postgraphileRateLimited);
    console.log(`    p99 target < 25 ms with rate limits on ${check(figures.fixedRate.postgraphileRateLimited.p99Ms < 25)} (baseline's own p99 ${ms(figures.fixedRate.raw.p99Ms)})`);
    console.log(JSON.stringify({ api: figures }));
  }

  if (runs("pooled")) {
    const pooled = await benchPooled(db, {
      seconds: Number(process.env.BENCH_API_SECONDS ?? 10),
      rounds: Number(process.env.BENCH_API_ROUNDS ?? 3),
    });
    const line = (label: string, f: { requestsPerSecond: number; p50Ms: number; p99Ms: number; non2xx: number; errors: number }) =>
      console.log(`  ${label}  ${rate(f.requestsPerSecond, "req")}   p50 ${ms(f.p50Ms)}   p99 ${ms(f.p99Ms)}   non-2xx ${f.non2xx}   errors ${f.errors}`);
    console.log(`\nMany processes and PgBouncer: the API bench's query, ${pooled.connections} connections, ${pooled.rounds} rounds of ${pooled.seconds} s, median round`);
    line("baseline: one groundwork serve, direct       ", pooled.direct);
    line("one groundwork serve through PgBouncer       ", pooled.pooledOne);
    line("two groundwork serve through PgBouncer (sum) ", pooled.pooledTwo);
    console.log(`    ratios to the baseline: one pooled ${pooled.pooledOneRatio.toFixed(2)}, two pooled ${pooled.pooledTwoRatio.toFixed(2)}`);
    console.log(JSON.stringify({ pooled }));
  }

  if (runs("recovery")) {
    const recovery = await benchRecovery(db, { events: Number(process.env.BENCH_RECOVERY_EVENTS ?? 300) });
    const s = (run: { ms: number; delivered: boolean }) => `${(run.ms / 1000).toFixed(1)} s${run.delivered ? "" : " ✘ not all delivered"}`;
    console.log(`\nCrash recovery: ${recovery.events} outbox events to a receiver answering in 20 ms, worker stopped at 10 % delivered, restarted at once; signal → all delivered`);
    console.log(`  worker processes (direct):     SIGTERM (baseline) ${s(recovery.multi.graceful)}   SIGKILL ${s(recovery.multi.killed)}   ratio ${recovery.multi.ratio.toFixed(2)}`);
    console.log(`  groundwork start, embedded:    SIGTERM (baseline) ${s(recovery.embedded.graceful)}   SIGKILL of node and postmaster ${s(recovery.embedded.killed)}   ratio ${recovery.embedded.ratio.toFixed(2)}`);
    console.log(JSON.stringify({ recovery }));
  }

  if (runs("clients")) {
    const clients = await benchClients(db, {
      seconds: Number(process.env.BENCH_API_SECONDS ?? 10),
      rounds: Number(process.env.BENCH_API_ROUNDS ?? 3),
      users: Number(process.env.BENCH_API_USERS ?? 50),
    });
    const line = (label: string, f: typeof clients.raw) =>
      console.log(`  ${label}  ${rate(f.requestsPerSecond, "req")}   p50 ${ms(f.p50Ms)}   p99 ${ms(f.p99Ms)}   CPU ${Math.round(f.cpuUsPerRequest)} µs/req   non-2xx ${f.non2xx}   errors ${f.errors}`);
    console.log(`\nClients: unread notifications, filtered (readAt isNull), ordered (createdAt desc), first 20 + distinctCount aggregate (${clients.users} users × ${clients.notificationsPerUser}, ${clients.connections} connections, ${clients.rounds} rounds of ${clients.seconds} s, median round)`);
    line("baseline: express + pg, same SQL/role/claims", clients.raw);
    line("Groundwork (filter + order + aggregate)     ", clients.postgraphile);
    console.log(`    round ratios ${clients.roundRatios.map((r) => r.toFixed(2)).join(", ")}   ratio ${clients.ratio.toFixed(3)} (target ≥ 0.6 ${check(clients.ratio >= 0.6)})`);
    console.log(JSON.stringify({ clients }));
  }

  if (runs("outbox")) {
  const burstEvents = Number(process.env.BENCH_OUTBOX_EVENTS ?? 10_000);
  const outbox = await benchOutbox(db, { burstEvents });
  const { latency, throughput } = outbox;
  const { spread, ordered, bareWorker } = throughput;
  const delivered = (run: typeof spread) =>
    run.complete ? "" : `   ✘ only ${run.delivered} of ${run.events} arrived (${run.orphanedDispatches} dispatches left without a job)`;
  console.log("\nOutbox → webhook (Groundwork worker in process, concurrency 4, receiver on 127.0.0.1)");
  console.log(`  latency, ${latency.events} events, each its own aggregate and transaction, ${latency.pauseMs} ms apart:`);
  console.log(`    p50 ${ms(latency.p50Ms)} (target < 15 ms ${check(latency.p50Ms < 15)})   p95 ${ms(latency.p95Ms)}   p99 ${ms(latency.p99Ms)} (target < 60 ms ${check(latency.p99Ms < 60)})   max ${ms(latency.maxMs)}`);
  console.log(`  throughput, burst of ${spread.events} events over ${spread.aggregates} aggregates (10 transactions × 10 statements × 100 publish):`);
  console.log(`    ${rate(spread.eventsPerSecond, "events")}   first commit → last arrival ${fmt(spread.wallMs)} (publishing ${fmt(spread.publishMs)}, then ${fmt(spread.drainMs)})${delivered(spread)}`);
  console.log(`  baseline: bare graphile-worker, ${bareWorker.jobs} no-op jobs in one add_jobs   ${rate(bareWorker.jobsPerSecond, "jobs")}`);
  console.log(`    ratio ${throughput.ratio.toFixed(2)} (target ≥ 0.5 ${check(throughput.ratio >= 0.5)})`);
  console.log(`  same burst over ${ordered.aggregates} aggregates (strictly ordered streams):`);
  console.log(`    ${rate(ordered.eventsPerSecond, "events")}   ${fmt(ordered.wallMs)} (publishing ${fmt(ordered.publishMs)}, then ${fmt(ordered.drainMs)})   ratio ${throughput.orderedRatio.toFixed(2)}${delivered(ordered)}`);
  console.log(`  order violations per aggregate at the receiver: ${spread.orderViolations + ordered.orderViolations}   duplicates: ${latency.duplicates + spread.duplicates + ordered.duplicates}`);
  console.log(`  worker: mean job fetch ${ms(latency.worker.meanFetchMs)} / ${ms(spread.worker.meanFetchMs)} / ${ms(ordered.worker.meanFetchMs)} (latency / burst / ordered), job queue rows at the end ${ordered.jobQueueRows}`);
  console.log(JSON.stringify({ outbox }));
  }

  if (runs("audit")) {
  const audit = await benchAudit(db, { rounds: Number(process.env.BENCH_AUDIT_ROUNDS ?? 3) });
  console.log(`\nAudit tracking (${audit.rows.toLocaleString("en-US")} rows per table, median of ${audit.rounds} rounds)`);
  const shape = (label: string, figure: typeof audit.singleRow) =>
    console.log(`  ${label}  tracked ${rate(figure.trackedRowsPerSecond, "rows")}   baseline untracked ${rate(figure.plainRowsPerSecond, "rows")}   ratio ${figure.ratio.toFixed(2)}`);
  shape(`single-row inserts, ${audit.clients} clients`, audit.singleRow);
  shape("one multi-row insert       ", audit.multiRow);
  console.log(`  sealer: audit_private.seal over ${audit.seal.rows.toLocaleString("en-US")} rows  ${fmt(audit.seal.ms)}   ${rate(audit.seal.rowsPerSecond, "rows")}   chain verifies ${check(audit.chainIntact)}`);
  console.log(JSON.stringify({ audit }));
  }

  if (runs("capstone")) {
    const capstone = await benchCapstone(db, {
      scale: Number(process.env.BENCH_CAPSTONE_SCALE ?? 1),
      postings: Number(process.env.BENCH_CAPSTONE_POSTINGS ?? 4000),
    });
    const { seed, posting, statement } = capstone;
    console.log(`\nCapstone (seed: ${(seed.counts["finance.transactions"] ?? 0).toLocaleString("en-US")} transactions, ${(seed.counts["sales.orders"] ?? 0).toLocaleString("en-US")} orders, loaded in ${fmt(seed.ms)})`);
    console.log(`  finance.post_transaction, ${posting.clients} clients   ${rate(posting.postPerSecond, "postings")}`);
    console.log(`  baseline: raw update + insert, same clients   ${rate(posting.rawPerSecond, "postings")}   ratio ${posting.ratio.toFixed(2)}   accounts whose balance ≠ last balance_after: ${posting.lostUpdates}`);
    console.log(`  statement, one account, 13 months, first 50 rows: p50 ${ms(statement.p50Ms)}   p99 ${ms(statement.p99Ms)}   (${statement.runs} runs, ${statement.rows} rows)`);
    console.log(`  partitions scanned for the postings: ${statement.partitionsScanned} of ${statement.partitionsTotal} (13 months); ${statement.oneMonthPartitionsScanned} for a statement from 20 days ago`);
    console.log(statement.plan.map((line) => `    ${line}`).join("\n"));
    console.log(JSON.stringify({ capstone }));
  }

  if (runs("ledger")) {
    const ledger = await benchLedger(db, {
      transfers: Number(process.env.BENCH_LEDGER_TRANSFERS ?? 20_000),
      accounts: Number(process.env.BENCH_LEDGER_ACCOUNTS ?? 10_000),
      rounds: Number(process.env.BENCH_LEDGER_ROUNDS ?? 3),
      pgbenchSeconds: Number(process.env.BENCH_PGBENCH_SECONDS ?? 10),
    });
    console.log(`\nLedger (${ledger.clients} clients, ${ledger.transfers.toLocaleString("en-US")} transfers per phase, median of ${ledger.rounds} rounds)`);
    console.log(`  post_transfer, ${ledger.accounts.toLocaleString("en-US")} accounts   ${rate(ledger.single.transfersPerSecond, "transfers")}   baseline raw SQL ${rate(ledger.single.baselinePerSecond, "transfers")}   ratio ${ledger.single.ratio.toFixed(2)} (target ≥ 0.9 ${check(ledger.single.ratio >= 0.9)})`);
    const rounds = (values: number[]) => values.map((value) => value.toFixed(2)).join(", ");
    console.log(`    round ratios ${rounds(ledger.single.roundRatios)}   CPU per transfer (whole machine): ${Math.round(ledger.single.cpuUsPerTransfer)} µs vs ${Math.round(ledger.single.baselineCpuUsPerTransfer)} µs, ratio ${ledger.single.cpuRatio.toFixed(2)}`);
    console.log(`    reference: raw SQL + a transaction row   ${rate(ledger.baselineWithRow.transfersPerSecond, "transfers")}   ratio ${ledger.baselineWithRow.ratio.toFixed(2)}   CPU ${Math.round(ledger.baselineWithRow.cpuUsPerTransfer)} µs, ratio ${ledger.baselineWithRow.cpuRatio.toFixed(2)}`);
    console.log(`  post_transfer, 2 hot accounts     ${rate(ledger.hot.transfersPerSecond, "transfers")}   baseline raw SQL ${rate(ledger.hot.baselinePerSecond, "transfers")}   ratio ${ledger.hot.ratio.toFixed(2)} (target ≥ 0.8 ${check(ledger.hot.ratio >= 0.8)})`);
    console.log(`    round ratios ${rounds(ledger.hot.roundRatios)}`);
    console.log(`  post_batch, ${ledger.batchSize} per call           ${rate(ledger.batch.transfersPerSecond, "transfers")}   ÷ single post_transfer   ratio ${ledger.batch.ratio.toFixed(2)} (target ≥ 5 ${check(ledger.batch.ratio >= 5)})`);
    console.log(`    round ratios ${rounds(ledger.batch.roundRatios)}`);
    console.log(`  bytes on disk per transfer        ${Math.round(ledger.bytesPerTransfer)} (transactions + entries, with indexes; baseline entries only ${Math.round(ledger.baselineBytesPerTransfer)}; pgledger reports 743)`);
    if (ledger.pgbench) console.log(`  reference: pgbench -b tpcb-like -c ${ledger.clients} -s ${ledger.pgbench.scale}, ${ledger.pgbench.seconds} s   ${Math.round(ledger.pgbench.tps).toLocaleString("en-US")} tps`);
    else console.log("  reference: pgbench not on PATH, skipped");
    console.log(`  books consistent after the run (verify(), currency totals): ${check(ledger.consistent)}`);
    console.log(JSON.stringify({ ledger }));
  }

  if (runs("ticketing")) {
    const ticketing = await benchTicketing(db, {
      checkouts: Number(process.env.BENCH_TICKETING_CHECKOUTS ?? 4_000),
      rounds: Number(process.env.BENCH_TICKETING_ROUNDS ?? 3),
    });
    const { race } = ticketing;
    console.log(`\nTicketing (${ticketing.clients} clients, ${ticketing.checkoutsPerRound.toLocaleString("en-US")} calls per phase, ${ticketing.events.toLocaleString("en-US")} events of ${ticketing.organizations} organizations, ${ticketing.buyers.toLocaleString("en-US")} buyers, median of ${ticketing.rounds} rounds)`);
    console.log(`  checkout, one ticket of a random event   ${rate(ticketing.checkoutsPerSecond, "checkouts")}   ledger.post_transfer in the same run ${rate(ticketing.transfersPerSecond, "transfers")}   ratio ${ticketing.ratio.toFixed(2)} (target ≥ 0.4 ${check(ticketing.ratio >= 0.4 && ticketing.checkoutErrors === 0)})`);
    console.log(`    round ratios ${ticketing.roundRatios.map((r) => r.toFixed(2)).join(", ")}   failed checkouts ${ticketing.checkoutErrors}`);
    console.log(`    diagnostic, one round with a pg_notify per notification (the push before outbox split 2370): ${rate(ticketing.withNotify.checkoutsPerSecond, "checkouts")} vs ${rate(ticketing.withNotify.transfersPerSecond, "transfers")}, ratio ${ticketing.withNotify.ratio.toFixed(2)}`);
    console.log(`  last ${race.seats} tickets, ${race.buyers} concurrent buyers (pool of 50 connections): ${fmt(race.wallMs)}   sold ${race.sold}   refused TKSLD ${race.refused}   other errors ${race.otherErrors.length} ${check(race.sold === race.seats && race.otherErrors.length === 0)}   retries 0 (none needed)`);
    console.log(`  books consistent after the run (verify(), currency totals): ${check(ticketing.consistent)}`);
    console.log(JSON.stringify({ ticketing }));
  }

  if (runs("commerce")) {
    const commerce = await benchCommerce(db, {
      subscriptions: Number(process.env.BENCH_COMMERCE_SUBSCRIPTIONS ?? 10_000),
      calls: Number(process.env.BENCH_COMMERCE_CHECKOUTS ?? 4_000),
      rounds: Number(process.env.BENCH_COMMERCE_ROUNDS ?? 3),
    });
    const { renewal, checkout } = commerce;
    if (renewal) {
      console.log(`\nCommerce: ${renewal.subscriptions.toLocaleString("en-US")} subscriptions due at one instant, one renewal job each (graphile-worker, concurrency ${renewal.concurrency})`);
      console.log(`  renewals ${rate(renewal.renewalsPerSecond, "renewals")} (${fmt(renewal.renewalWallMs)})   bare graphile-worker no-op jobs in the same run ${rate(renewal.bareJobsPerSecond, "jobs")}   ratio ${renewal.ratio.toFixed(2)} (target ≥ 0.3 ${check(renewal.ratio >= 0.3)})`);
      console.log(`  every subscription renewed exactly once, also after every job ran again, its next renewal once in the calendar: ${check(renewal.exactlyOnce)} (${JSON.stringify(renewal.afterDuplicatedJobs)})`);
      console.log(`    diagnostic, jobs doing only a renewal's charge (payments.post_sale, same wallets and merchants): ${rate(renewal.chargeJobsPerSecond, "jobs")}   renewals ÷ charge jobs ${renewal.ratioToChargeJobs.toFixed(2)}`);
    } else console.log("\nCommerce (renewals skipped: BENCH_COMMERCE_SUBSCRIPTIONS=0)");
    console.log(`  checkout with a promotion code and points, ${checkout.clients} clients, ${checkout.callsPerRound.toLocaleString("en-US")} calls per phase, median of ${checkout.rounds} rounds:`);
    console.log(`    ${rate(checkout.checkoutsPerSecond, "checkouts")}   ledger.post_transfer in the same run ${rate(checkout.transfersPerSecond, "transfers")}   ratio ${checkout.ratio.toFixed(2)}   round ratios ${checkout.roundRatios.map((r) => r.toFixed(2)).join(", ")}   failed checkouts ${checkout.checkoutErrors}${checkout.firstError ? ` (first: ${checkout.firstError})` : ""}`);
    console.log(`  books consistent after the run (verify(), currency totals): ${check(commerce.consistent)}`);
    console.log(JSON.stringify({ commerce }));
  }

  if (runs("sponsorship")) {
    const sponsorship = await benchSponsorship(db, {
      batches: Number(process.env.BENCH_SPONSORSHIP_BATCHES ?? 20),
      batch: Number(process.env.BENCH_SPONSORSHIP_BATCH ?? 1_000),
      rounds: Number(process.env.BENCH_SPONSORSHIP_ROUNDS ?? 3),
      lifecycles: Number(process.env.BENCH_SPONSORSHIP_LIFECYCLES ?? 1_600),
    });
    const { http, ingestion, escrowLifecycle: escrow } = sponsorship;
    console.log(`\nCampaigns and sponsorship (${ingestion.clients} clients, median of ${ingestion.rounds} rounds of ${ingestion.rowsPerRound.toLocaleString("en-US")} rows)`);
    console.log(`  impressions through POST /analytics/impressions (stream ad, batches of ${http.batch}, budget and cap checked)   ${rate(http.endpointRowsPerSecond, "rows")}   COPY into the same partitioned table ${rate(http.copyRowsPerSecond, "rows")}   ratio ${http.ratio.toFixed(2)} (target ≥ 0.3 ${check(http.ratio >= 0.3)})`);
    console.log(`    round ratios ${http.roundRatios.map((r) => r.toFixed(2)).join(", ")}   accepted ${http.accepted.toLocaleString("en-US")} and counted ${http.counted.toLocaleString("en-US")} of ${http.sent.toLocaleString("en-US")} sent`);
    console.log(`  the endpoint's function alone, campaigns.record_impressions (batches of ${ingestion.batch})   ${rate(ingestion.endpointRowsPerSecond, "rows")}   COPY into the same partitioned table ${rate(ingestion.copyRowsPerSecond, "rows")}   ratio ${ingestion.ratio.toFixed(2)} (target ≥ 0.3 ${check(ingestion.ratio >= 0.3)})`);
    console.log(`    round ratios ${ingestion.roundRatios.map((r) => r.toFixed(2)).join(", ")}   counted ${sponsorship.counted.toLocaleString("en-US")} of ${(ingestion.rowsPerRound * ingestion.rounds).toLocaleString("en-US")} sent`);
    console.log(`  escrow lifecycle fund -> lock -> approve (release), ${escrow.clients} clients   ${rate(escrow.lifecyclesPerSecond, "lifecycles")} (${rate(escrow.stepsPerSecond, "steps")})   ${escrow.lifecycles} lifecycles, released ${escrow.released}, errors ${escrow.errors}, escrow accounts not empty ${escrow.escrowAccountsNotEmpty}`);
    console.log(`  books consistent after the run (verify()): ${check(escrow.consistent)}`);
    console.log(JSON.stringify({ sponsorship }));
  }

  if (runs("events")) {
    const events = await benchEvents(db, {
      events: Number(process.env.BENCH_EVENTS ?? 10_000),
      searchEvents: Number(process.env.BENCH_EVENTS_SEARCH ?? 100_000),
      seconds: Number(process.env.BENCH_API_SECONDS ?? 10),
      rounds: Number(process.env.BENCH_API_ROUNDS ?? 3),
      warmupSeconds: Number(process.env.BENCH_API_WARMUP_SECONDS ?? 10),
      queries: Number(process.env.BENCH_EVENTS_QUERIES ?? 500),
    });
    const { listing, search } = events;
    const line = (label: string, f: typeof listing.raw) =>
      console.log(`  ${label}  ${rate(f.requestsPerSecond, "req")}   p50 ${ms(f.p50Ms)}   p99 ${ms(f.p99Ms)}   CPU ${Math.round(f.cpuUsPerRequest)} µs/req   non-2xx ${f.non2xx}   errors ${f.errors}`);
    console.log(`\nEvents: anonymous listing of the next 20 public events with category and organizer (${events.events.toLocaleString("en-US")} events, ${events.organizations} organizations; ${listing.connections} connections, ${listing.rounds} rounds of ${listing.seconds} s after ${listing.warmupSeconds} s of warm-up, median round shown)`);
    line("baseline: express + pg, same SQL as gw_anonymous", listing.raw);
    line("Groundwork (PostGraphile), rate limits off     ", listing.postgraphile);
    console.log(`    round ratios ${listing.roundRatios.map((r) => r.toFixed(2)).join(", ")}   CPU per request, Groundwork / baseline (median): ${listing.cpuRatio.toFixed(2)}`);
    console.log(`    ratio ${listing.ratio.toFixed(3)} (target ≥ 0.7 ${check(listing.ratio >= 0.7)})`);
    console.log(`  text search over ${search.events.toLocaleString("en-US")} events, first 20 as gw_anonymous, ${search.queries} queries each:`);
    console.log(`    one word   p50 ${ms(search.p50Ms)}   p99 ${ms(search.p99Ms)}`);
    console.log(`    two words  p50 ${ms(search.p50TwoWordsMs)}   p99 ${ms(search.p99TwoWordsMs)}`);
    console.log("    plan, query 'jazz':");
    console.log(search.plan.map((planLine) => `      ${planLine}`).join("\n"));
    console.log("    plan, query 'jazz festival':");
    console.log(search.twoWordPlan.map((planLine) => `      ${planLine}`).join("\n"));
    console.log(JSON.stringify({ events }));
  }

  if (runs("budget")) {
    const budget = await benchBudget(db, {
      expenses: Number(process.env.BENCH_BUDGET_EXPENSES ?? 20_000),
      corrections: Number(process.env.BENCH_BUDGET_CORRECTIONS ?? 1_000),
      queries: Number(process.env.BENCH_BUDGET_QUERIES ?? 1_000),
      inserts: Number(process.env.BENCH_BUDGET_INSERTS ?? 5_000),
    });
    const mb = (value: number) => `${value.toFixed(1)} MB`;
    console.log(`\nBudgeting app: one user, ${budget.periods} periods, ${budget.expenses.toLocaleString("en-US")} ledger entries (${budget.corrections.toLocaleString("en-US")} corrections), seeded through the API functions in ${fmt(budget.seedMs)}`);
    console.log(`  period summary, ${budget.summary.queries} queries as gw_user   p50 ${ms(budget.summary.p50Ms)}   p99 ${ms(budget.summary.p99Ms)}   (target p99 < 10 ms ${check(budget.summary.p99Ms < 10)})`);
    for (const run of budget.exports) {
      console.log(`  export, ${run.expenses.toLocaleString("en-US")} expenses   ${fmt(run.wallMs)}   ZIP ${Math.round(run.zipBytes / 1024)} kB   peak heap +${mb(run.peakHeapMb)}   peak RSS +${mb(run.peakRssMb)}   (target < 5 s ${check(run.wallMs < 5000)})`);
    }
    const [smallRun, fullRun] = budget.exports;
    if (smallRun && fullRun) console.log(`    memory flat in the number of expenses: ×${(fullRun.expenses / smallRun.expenses).toFixed(0)} expenses, peak heap ×${(fullRun.peakHeapMb / Math.max(smallRun.peakHeapMb, 0.1)).toFixed(2)}`);
    console.log(`  inserts, one per statement   expenses.create_expense ${rate(budget.inserts.functionPerSecond, "rows")}   plain insert into an unconstrained copy ${rate(budget.inserts.plainPerSecond, "rows")}   ratio ${budget.inserts.ratio.toFixed(2)}`);
    console.log(`    baseline: select 1 on the same connection   p50 ${ms(budget.summary.baselineP50Ms)}   p99 ${ms(budget.summary.baselineP99Ms)}`);
    console.log(JSON.stringify({ budget }));
  }

  if (runs("analytics")) {
    const a = await benchAnalytics(db, {
      ingestRows: Number(process.env.BENCH_ANALYTICS_INGEST_ROWS ?? 100_000),
      rows: Number(process.env.BENCH_ANALYTICS_ROWS ?? 10_000_000),
      events: Number(process.env.BENCH_ANALYTICS_EVENTS ?? 1_000),
      recipients: Number(process.env.BENCH_ANALYTICS_RECIPIENTS ?? 10_000),
      similarEvents: Number(process.env.BENCH_ANALYTICS_SIMILAR_EVENTS ?? 100_000),
    });
    const { ingestion, dashboard, messaging, similar } = a;
    console.log(`\nAnalytics: impression ingestion, ${ingestion.endpoint.rows.toLocaleString("en-US")} rows`);
    console.log(`  POST /analytics/impressions (groundwork serve, ${ingestion.endpoint.clients} clients, batches of ${ingestion.endpoint.batch})  ${rate(ingestion.endpoint.rowsPerSecond, "rows")}   ${fmt(ingestion.endpoint.ms)}`);
    console.log(`  baseline: COPY into the same partitioned table                       ${rate(ingestion.copy.rowsPerSecond, "rows")}   ${fmt(ingestion.copy.ms)}`);
    console.log(`    ratio ${ingestion.ratio.toFixed(2)} (target ≥ 0.3 ${check(ingestion.ratio >= 0.3)})`);
    console.log(`Analytics: dashboard, 30 days of one event (${dashboard.rows.toLocaleString("en-US")} impressions over 90 days, ${dashboard.events} events; bulk load ${fmt(dashboard.loadMs)}, concurrent refresh ${fmt(dashboard.refreshMs)})`);
    console.log(`  from the materialized view (as the organization)  p50 ${ms(dashboard.mv.p50Ms)}   p99 ${ms(dashboard.mv.p99Ms)}   ${dashboard.mv.days} days`);
    console.log(`  the same aggregate over raw impressions           p50 ${ms(dashboard.raw.p50Ms)}   p99 ${ms(dashboard.raw.p99Ms)}   ${dashboard.raw.days} days`);
    console.log(`    raw / view ${dashboard.ratio.toFixed(1)}×   same totals ${check(dashboard.sameAnswer)}   (seed: < 100 ms vs 5-10 s)`);
    console.log(`  the seed's query: the organization's busiest event-days of the last 30 days, top 20`);
    console.log(`    from the materialized view   p50 ${ms(dashboard.organization.mv.p50Ms)}   p99 ${ms(dashboard.organization.mv.p99Ms)}`);
    console.log(`    over raw impressions         p50 ${ms(dashboard.organization.raw.p50Ms)}   p99 ${ms(dashboard.organization.raw.p99Ms)}   raw / view ${dashboard.organization.ratio.toFixed(1)}×`);
    console.log(`Messaging: fan-out of one message job to ${messaging.fanOut.recipients.toLocaleString("en-US")} followers (worker concurrency 4)`);
    console.log(`  ${rate(messaging.fanOut.notificationsPerSecond, "notifications")}   ${fmt(messaging.fanOut.ms)}   delivered ${messaging.fanOut.delivered}`);
    console.log(`  baseline: bare graphile-worker, ${messaging.bare.jobs} no-op jobs   ${rate(messaging.bare.jobsPerSecond, "jobs")}`);
    console.log(`    ratio ${messaging.ratio.toFixed(2)} (target ≥ 0.5 ${check(messaging.ratio >= 0.5)})`);
    console.log(`ML: similar events over ${similar.events.toLocaleString("en-US")} events (hash-v1, exact cosine; seeding and embedding ${fmt(similar.seedMs)}, of which embedding ${fmt(similar.embedMs)})`);
    console.log(`  ml.similar_events(id, 10) as gw_anonymous, ${similar.queries} queries   p50 ${ms(similar.p50Ms)}   p99 ${ms(similar.p99Ms)}   mean results ${similar.meanResults.toFixed(1)}`);
    console.log(`  against brute force (ml.cosine over every vector) for ${similar.bruteForce.sources} sources: ${similar.bruteForce.mismatches} differing answers ${check(similar.bruteForce.mismatches === 0)}   (${ms(similar.bruteForce.msPerSource)} per source)`);
    console.log(JSON.stringify({ analytics: a }));
  }
} finally {
  await db.drop();
}
