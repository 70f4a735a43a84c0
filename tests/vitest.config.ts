import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: path.resolve(path.dirname(fileURLToPath(import.meta.url)), ".."),
  test: {
    include: ["tests/**/*.test.ts"],
    exclude: ["tests/bench/**", "tests/pooler/**", "node_modules/**"],
    globalSetup: ["tests/setup/globalSetup.ts"],
    setupFiles: ["tests/setup/warnings.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Four files at once on the 2-core CI machine: most server and worker tests wait on timers, sockets
    // and child processes, so twice the cores keeps the CPU busy (measured 2026-12-03: a suite in ~3.7-5.2
    // min instead of ~10). Files then overlap more, so a test may only count the rows its own transaction
    // wrote (ownFootprint, tests/helpers/fixtures.ts) and delete only its own keys; DDL that locks shared
    // tables takes its lock before writing (tests/modules/registry/fixtures.ts) or runs alone among SQL
    // tests (attachesPartitions, tests/helpers/db.ts); task identifiers are registered once (globalSetup).
    maxWorkers: 4,
  },
});
