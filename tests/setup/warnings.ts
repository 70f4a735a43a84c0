// graphile-worker only warns (console.warn) when it is given a pool without an
// 'error' listener, yet such a pool crashes the process when the server drops
// one of its idle connections: in tests that warning is a failure.
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === "string" && args[0].startsWith("Your pool doesn't have error handlers!")) {
    throw new Error("graphile-worker was given a pool without an 'error' handler: make it with createPool (src/db/pool.ts) or workerPool (tests/helpers/db.ts).");
  }
  warn(...args);
};
