/**
 * `npm run load`: 60 seconds of mixed traffic at 32 connections against
 * `groundwork start` (API + worker, production mode, rate limiting on with
 * budgets high enough for one IP): reads, mutations (an organization created,
 * with its outbox and audit work; a profile update), sign-ins (bcrypt cost 10)
 * and, when a ledger module is exposed, transfers. Prints server errors (5xx and
 * INTERNAL_SERVER_ERROR) and the process's RSS after warm-up and at the end.
 * LOAD_SECONDS, LOAD_WARMUP_SECONDS and LOAD_CONNECTIONS change the defaults.
 */
process.env.GRAPHILE_ENV ??= "production";
import autocannon from "autocannon";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { setTimeout as sleep } from "node:timers/promises";
import { projectRoot } from "../../src/paths.ts";
import { createTestDatabase } from "../setup/testDatabase.ts";
import { groundworkEnv, mineQuery, password, seed, startServer } from "./apiSetup.ts";

const seconds = Number(process.env.LOAD_SECONDS ?? 60);
// 30 s of the same mix first: RSS climbs for the first ~40 s of load while V8 grows
// its heap to the working size for 32 concurrent requests (measured: 10 s was too short).
const warmupSeconds = Number(process.env.LOAD_WARMUP_SECONDS ?? 30);
const connections = Number(process.env.LOAD_CONNECTIONS ?? 32);
const high = "10000000";

const db = await createTestDatabase("load");
// Heap after a full collection, on demand (tests/bench/gcProbe.cjs): retained memory, not just RSS.
const probeFile = path.join(mkdtempSync(path.join(tmpdir(), "gw-load-")), "gc.jsonl");
const server = await startServer(
  "src/cli.ts",
  ["start"],
  {
    ...groundworkEnv(db, { RATE_LIMIT_PER_IP: high, RATE_LIMIT_PER_USER: high, RATE_LIMIT_SIGN_IN_PER_IP: high, GRAPHQL_INTROSPECTION: "true" }),
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --expose-gc --require ${path.join(projectRoot, "tests/bench/gcProbe.cjs")}`.trim(),
    GC_PROBE_FILE: probeFile,
  },
  "/healthz",
);
/** Full GC in the server, then its heap used (bytes) afterwards. */
const heapAfterGc = async (): Promise<{ heapUsed: number; heapTotal: number; rss: number }> => {
  const before = existsSync(probeFile) ? readFileSync(probeFile, "utf8").split("\n").filter(Boolean).length : 0;
  server.child.kill("SIGUSR2");
  for (let i = 0; i < 100; i++) {
    await sleep(100);
    const lines = existsSync(probeFile) ? readFileSync(probeFile, "utf8").split("\n").filter(Boolean) : [];
    if (lines.length > before) return JSON.parse(lines.at(-1)!);
  }
  return { heapUsed: NaN, heapTotal: NaN, rss: NaN };
};
try {
  const { users } = await seed(db, 50);
  // Ledger transfers join the mix only if this build exposes a ledger transfer mutation.
  const introspection = (await (
    await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __schema { mutationType { fields { name } } } }" }),
    })
  ).json()) as { data: { __schema: { mutationType: { fields: Array<{ name: string }> } } } };
  const mutations = introspection.data.__schema.mutationType.fields.map((f) => f.name);
  const ledgerTransfer = mutations.find((name) => /^ledger.*transfer/i.test(name));
  const run = Date.now().toString(36);
  // Each user gets a funded USD wallet (as trusted code, from a system account);
  // the transfer slot moves 1 cent to the next user's wallet.
  const wallets: string[] = [];
  if (ledgerTransfer) {
    const root = new pg.Client({ connectionString: db.rootUrl });
    await root.connect();
    try {
      const { rows: world } = await root.query<{ account_id: string }>(
        "select (ledger.create_account('load-world', 'Load world', 'USD', 'equity', null, null, true, true)).account_id",
      );
      for (const user of users) {
        const { rows } = await root.query<{ account_id: string }>(
          "select (ledger.create_account('load-wallet', 'Wallet', 'USD', 'liability', $1)).account_id",
          [user.userId],
        );
        wallets.push(rows[0]!.account_id);
        await root.query("select ledger.post_transfer($1, $2, 100000000, 'USD')", [world[0]!.account_id, rows[0]!.account_id]);
      }
    } finally {
      await root.end();
    }
  }

  // Each connection cycles through ten requests: 6 reads, 2 mutations, 1 sign-in, 1 transfer (or read).
  const kinds = ["read", "read", "createOrganization", "read", "read", "updateUser", "read", "signIn", "read", "transfer"] as const;
  const counts: Record<string, number> = {};
  let n = 0;
  const body = (kind: (typeof kinds)[number], i: number, user: (typeof users)[number]): string => {
    switch (kind) {
      case "createOrganization":
        return JSON.stringify({
          query: "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId } } }",
          variables: { input: { name: `Load ${i}`, slug: `load-${run}-${i}` } },
        });
      case "updateUser":
        return JSON.stringify({
          query: "mutation($input: UpdateUserInput!) { updateUser(input: $input) { user { userId } } }",
          variables: { input: { userId: user.userId, patch: { hasCompletedOnboarding: i % 2 === 0 } } },
        });
      case "signIn":
        return JSON.stringify({
          query: "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
          variables: { input: { identifier: user.username, password } },
        });
      case "transfer": {
        if (!ledgerTransfer) return JSON.stringify({ query: mineQuery }); // no ledger module: a read stands in
        const from = users.indexOf(user);
        return JSON.stringify({
          query: "mutation($input: LedgerPostTransferInput!) { ledgerPostTransfer(input: $input) { transaction { transactionId } } }",
          variables: { input: { fromAccountId: wallets[from], toAccountId: wallets[(from + 1) % wallets.length], amount: "1", currency: "USD" } },
        });
      }
      default:
        return JSON.stringify({ query: mineQuery });
    }
  };
  const cannon = (duration: number) =>
    autocannon({
      url: `${server.url}/graphql`,
      connections,
      duration,
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      requests: [
        {
          setupRequest(request) {
            const i = n++;
            const kind = kinds[i % kinds.length]!;
            const user = users[Math.floor(i / kinds.length) % users.length]!;
            counts[kind] = (counts[kind] ?? 0) + 1;
            return { ...request, headers: { ...request.headers, authorization: `Bearer ${user.token}` }, body: body(kind, i, user) };
          },
        },
      ],
    });

  await cannon(warmupSeconds);
  const rssAfterWarmup = await server.rss();
  const heapAfterWarmup = await heapAfterGc();
  for (const key of Object.keys(counts)) counts[key] = 0;
  // RSS every 10 s, to tell a plateau (V8 growing its heap once) from a steady climb (a leak).
  const samples: number[] = [];
  const sampler = setInterval(() => void server.rss().then((rss) => samples.push(rss)), 10_000);
  const result = await cannon(seconds);
  clearInterval(sampler);
  const rssAtEnd = await server.rss();
  const heapAtEnd = await heapAfterGc();
  const heapUsed = async () => Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? NaN);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const errorsByCode = Object.fromEntries(
    [...metrics.matchAll(/^groundwork_errors_total\{code="([^"]+)"\} (\S+)$/gm)].map((m) => [m[1], Number(m[2])]),
  );
  const internal = errorsByCode.INTERNAL_SERVER_ERROR ?? 0;
  const serverErrors = result["5xx"] + internal;
  const growth = rssAtEnd / rssAfterWarmup - 1;
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const check = (ok: boolean) => (ok ? "✔" : "✘");
  console.log(`\nMixed load: ${seconds} s at ${connections} connections (after ${warmupSeconds} s warm-up), groundwork start, production mode`);
  console.log(`  requests ${result.requests.total}   ${Math.round(result.requests.average)} req/s   p50 ${result.latency.p50} ms   p99 ${result.latency.p99} ms`);
  console.log(`  mix ${JSON.stringify(counts)}${ledgerTransfer ? `   (transfers through ${ledgerTransfer})` : "   (no ledger module: transfers replaced by reads)"}`);
  console.log(`  server errors: 5xx ${result["5xx"]}, INTERNAL_SERVER_ERROR ${internal}   ${check(serverErrors === 0)} (target 0)`);
  console.log(`  other answers: non-2xx ${result.non2xx}, connection errors ${result.errors}, timeouts ${result.timeouts}, error codes ${JSON.stringify(errorsByCode)}`);
  console.log(`  RSS after warm-up ${mb(rssAfterWarmup)}, at end ${mb(rssAtEnd)}: ${(growth * 100).toFixed(1)} %   ${check(Math.abs(growth) <= 0.2)} (target within 20 %)`);
  console.log(`  RSS every 10 s during the load: ${samples.map(mb).join(", ")}   heap used at end ${mb(await heapUsed())}`);
  const retained = heapAtEnd.heapUsed / heapAfterWarmup.heapUsed - 1;
  console.log(
    `  heap used after a full GC: after warm-up ${mb(heapAfterWarmup.heapUsed)}, at end ${mb(heapAtEnd.heapUsed)}: ${(retained * 100).toFixed(1)} %   ${check(retained <= 0.2)} (retained memory; a leak grows this)`,
  );
  console.log(JSON.stringify({ load: { seconds, connections, requests: result.requests.total, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, counts, serverErrors, errorsByCode, rssAfterWarmup, rssAtEnd, growth, samples, heapAfterWarmup, heapAtEnd } }));
  const code = await server.stop();
  console.log(`  SIGTERM after the load: exit code ${code} ${check(code === 0)}`);
} finally {
  if (server.child.exitCode === null) await server.stop();
  await db.drop();
}
