/**
 * `npm run bench`: every figure is reported next to a baseline measured in the
 * same run on the same machine. Results are recorded in docs/benchmarks.md.
 */
process.env.GRAPHILE_ENV ??= "production";
const { benchStartup } = await import("./startup.ts");

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const startup = await benchStartup(Number(process.env.BENCH_ROUNDS ?? 3));
console.log("\nStart-up (median of rounds)");
console.log(`  cold start to first GraphQL answer  ${fmt(startup.coldStartMs)}   (target < 5 s)`);
console.log(`  baseline: bare cluster init+start   ${fmt(startup.bareClusterColdMs)}   ratio ${startup.coldRatio.toFixed(2)}`);
console.log(`  warm restart to first answer        ${fmt(startup.warmRestartMs)}`);
console.log(`  baseline: bare cluster start        ${fmt(startup.bareClusterWarmMs)}   ratio ${startup.warmRatio.toFixed(2)}`);
console.log(JSON.stringify({ startup }));
