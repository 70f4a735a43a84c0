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
    // maxWorkers stays at the default (the machine's cores). Tried at 4 on the 2-core CI machine (2026-12-03):
    // each suite took ~6.3 min instead of ~10, but files then overlap more and 6-9 tests failed: "wrote
    // nothing" checks that count a whole table (ledger entries, orders) saw other files' rows, and
    // registry.add_type_column in two files at once deadlocked. Those tests must count their own rows first.
  },
});
