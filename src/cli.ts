#!/usr/bin/env node
// Grafast reads GRAPHILE_ENV when it is first imported, so set it before
// loading anything else.
process.env.GRAPHILE_ENV ??= process.env.NODE_ENV === "production" ? "production" : "development";
await import("./commands.ts");
