/**
 * Bench-only preload (`node --expose-gc --require tests/bench/gcProbe.cjs`): on
 * SIGUSR2 the process runs a full garbage collection and appends one JSON line
 * (heap used and total after the collection, RSS) to GC_PROBE_FILE. The load
 * script uses it to tell retained memory (a leak) from heap the process has
 * grown but is not using. Not loaded by Groundwork itself.
 */
const fs = require("node:fs");
const v8 = require("node:v8");

process.on("SIGUSR2", () => {
  if (typeof global.gc !== "function") return;
  global.gc();
  const heap = v8.getHeapStatistics();
  const line = { at: Date.now(), heapUsed: heap.used_heap_size, heapTotal: heap.total_heap_size, rss: process.memoryUsage().rss };
  fs.appendFileSync(process.env.GC_PROBE_FILE, JSON.stringify(line) + "\n");
});
