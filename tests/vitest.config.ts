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
  },
});
