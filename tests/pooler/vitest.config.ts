import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// `npm run test:pooler`: Groundwork behind PgBouncer (transaction pooling), several processes.
// Needs /usr/sbin/pgbouncer (Debian's package; .ci/run installs it). Not part of `npm test`.
export default defineConfig({
  root: path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../.."),
  test: {
    include: ["tests/pooler/**/*.test.ts"],
    setupFiles: ["tests/setup/warnings.ts"],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: "forks",
    // One scenario at a time: each starts several processes on a machine with few cores.
    fileParallelism: false,
  },
});
