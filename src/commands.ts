import { writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline/promises";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { openDatabase, type DatabaseHandle } from "./db/database.ts";
import { withClient } from "./db/diagnose.ts";
import { inspectDatabase } from "./db/inspect.ts";
import { commitMigration, migrateDatabase, resetAndMigrate, shadowDatabaseUrl } from "./db/migrate.ts";
import { afterResetPlaceholders } from "./db/provision.ts";
import { defaultSeedSizes, scaledSeedSizes, seedCapstone } from "./db/seed.ts";
import { writeReference } from "./db/reference.ts";
import { databaseName, redact, withDatabase } from "./db/urls.ts";
import { boot, BootAborted, makeTokenService, migrateTarget, type Running } from "./groundwork.ts";
import { commandHelp } from "./help.ts";
import { buildManifest } from "./server/persisted.ts";
import { checkWorkingSchema, defaultSchemaBase, printComparison } from "./schemaCheck.ts";
import { chooseLogFormat, createLogger, type Logger } from "./logger.ts";

const usage = `groundwork <command>

  start                 API + GraphiQL + worker (embedded PostgreSQL unless DATABASE_URL is set)
  serve                 API only
  worker                worker only
  migrate               apply migrations and the graphile-worker schema
  reset [--yes]         drop and recreate the database from migrations (development only)
  reference             migrate, then rewrite the generated schema reference from the database:
                        docs/reference/<module>.md and docs/schema.graphql (never edit them by hand)
  commit [--message M]  commit migrations/current/ as the next migrations/committed/ file
                        (graphile-migrate commit, checked on a shadow database), then rewrite
                        the reference from the shadow database (development only)
  token --user <id|email|username> [--role R] [--org O]
                        mint a development access token
  db-url                print the connection strings of the embedded database
  seed [--scale S]      load the capstone data set (1,000 customers, 10,000 orders,
                        200,000 transactions over 13 months...; S scales it); idempotent
  inspect               print the verification queries: tables, RLS policies,
                        functions, triggers, extensions, ledger and event/job objects
  schema-check [--base REF]
                        list breaking and dangerous changes of docs/schema.graphql against REF
                        (default main, or SCHEMA_BASE); fails on a breaking change that
                        docs/schema-changes.md does not list
  persisted <folder> [--out FILE]
                        build the persisted-operations manifest (sha256 → document) from the
                        .graphql files under <folder>; default FILE <folder>/persisted-operations.json
  help [<command>]      this text, or what a command does (also: groundwork <command> --help)
`;

/** `help`, `help <command>`, `<command> --help`: usage, or the command's own text. */
function printHelp(command: string | undefined): void {
  if (command === undefined || command === "help") {
    console.log(usage);
  } else if (Object.hasOwn(commandHelp, command)) {
    console.log(`${commandHelp[command]}\n`);
  } else {
    console.error(`Unknown command "${command}".\n\n${usage}`);
    process.exitCode = 2;
  }
}

async function seed(config: Config, logger: Logger, scale: number): Promise<void> {
  if (config.env === "production") throw new Error("seed loads demonstration data; it is refused with NODE_ENV=production.");
  if (!Number.isFinite(scale) || scale <= 0 || scale > 10) throw new Error("seed --scale takes a number above 0 and at most 10.");
  const sizes = scale === 1 ? defaultSeedSizes : scaledSeedSizes(scale);
  await withOpenDatabase(config, logger, async (db) => {
    await migrateDatabase(migrateTarget(config, db, logger));
    const tty = process.stdout.isTTY;
    const result = await seedCapstone({
      ownerUrl: db.ownerUrl,
      sizes,
      onProgress(step, index, total, elapsedMs) {
        const bar = "#".repeat(Math.round((index / total) * 30)).padEnd(30, ".");
        const text = `[${bar}] ${String(index).padStart(2)}/${total} ${(elapsedMs / 1000).toFixed(1).padStart(5)} s  ${step}`;
        if (tty) process.stdout.write(`\r${text.padEnd(79)}${step === "done" ? "\n" : ""}`);
        else console.log(text);
      },
    });
    if (!result.seeded) {
      console.log("The capstone data set is already loaded; nothing changed.");
      return;
    }
    console.log(`Seeded in ${(result.ms / 1000).toFixed(1)} s:`);
    for (const [table, count] of Object.entries(result.counts)) console.log(`  ${table.padEnd(24)} ${count.toLocaleString("en-US").padStart(9)}`);
  });
}


/** Ctrl-C under `npm start` reaches the process twice (from the terminal, and forwarded by npm): one request to stop. */
const repeatedSignalMs = 1000;
/** After SHUTDOWN_TIMEOUT_MS, this long for the pools and the embedded PostgreSQL to stop; then the process exits whatever holds it. */
const stopGraceMs = 3000;

async function runUntilSignal(config: Config, logger: Logger, parts: { api: boolean; worker: boolean }): Promise<void> {
  const timeoutMs = config.api.shutdownTimeoutMs;
  const booting = new AbortController();
  let requestedAt: number | undefined;
  let started: Promise<Running | undefined> | undefined;
  const shutdown = async (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (requestedAt !== undefined) {
      if (now - requestedAt < repeatedSignalMs) return;
      logger.warn({ signal }, "second signal: exiting at once");
      process.exit(1);
    }
    requestedAt = now;
    // The bound holds whatever still keeps the process alive (an embedded PostgreSQL is told to stop on exit).
    setTimeout(() => {
      logger.error({ timeoutMs }, "shutdown did not finish within SHUTDOWN_TIMEOUT_MS: exiting anyway");
      process.exit(1);
    }, timeoutMs + stopGraceMs).unref();
    logger.info({ signal, timeoutMs }, "shutting down: no new connections, finishing in-flight requests and jobs");
    booting.abort();
    // Undefined when start-up failed or was cut short: boot has stopped what it had started.
    const running = await started?.catch(() => undefined);
    await running?.stop(now + timeoutMs);
    logger.info({ ms: Date.now() - now }, running ? "shut down cleanly" : "stopped during start-up");
    process.exit(0);
  };
  // Before anything starts: a signal during start-up (the embedded PostgreSQL, migrations) stops what has started.
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  started = boot(config, logger, parts, booting.signal).catch((error: unknown) => {
    if (error instanceof BootAborted) return undefined;
    throw error;
  });
  const running = await started;
  if (!running) return;
  if (running.api) {
    const { url } = running.api;
    console.log(`\n  GraphQL   ${url}/graphql\n  GraphiQL  ${url}/graphiql\n  Health    ${url}/healthz  ${url}/readyz\n`);
  }
}

/**
 * graphile-migrate runs .gmrc's command actions with the database in GM_DBURL
 * (and DATABASE_URL set to a decoy): point the configuration at it, with
 * gw_authenticator on the same database, and provision nothing.
 */
function hookConfig(config: Config): Config {
  const url = process.env.GM_DBURL;
  if (!url) return config;
  const authDatabaseUrl = config.authDatabaseUrl && withDatabase(config.authDatabaseUrl, databaseName(url));
  return { ...config, databaseUrl: url, authDatabaseUrl, rootDatabaseUrl: undefined };
}

/** Opens the database, runs `fn`, and always stops an embedded cluster afterwards. */
async function withOpenDatabase<T>(config: Config, logger: Logger, fn: (db: DatabaseHandle) => Promise<T>): Promise<T> {
  // Ctrl-C ends a one-off command at once; exiting (rather than dying of the signal) lets an embedded cluster stop too.
  process.once("SIGINT", () => process.exit(130));
  process.once("SIGTERM", () => process.exit(143));
  const db = await openDatabase(config, logger);
  try {
    return await fn(db);
  } finally {
    await db.stop();
  }
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

async function mintToken(config: Config, logger: Logger, user: string, role: string, org: string | undefined): Promise<void> {
  const tokens = await makeTokenService(config);
  await withOpenDatabase(config, logger, async (db) => {
    await migrateDatabase(migrateTarget(config, db, logger));
    const grant = await withClient(db.ownerUrl, "minting a token", async (client) => {
      const { rows } = await client.query<{ user_id: string; session_id: string }>(
        "select * from auth_private.create_development_session($1, $2, $3)",
        [user, role, org ?? null],
      );
      return rows[0];
    });
    if (!grant) throw new Error(`No user matches "${user}".`);
    const { token, expiresAt } = await tokens.sign({ sub: grant.user_id, role, sid: grant.session_id, org_id: org ?? null });
    console.log(token);
    logger.info({ user: grant.user_id, role, org, expiresAt }, "development token minted");
  });
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      yes: { type: "boolean", short: "y" },
      user: { type: "string" },
      role: { type: "string", default: "gw_user" },
      org: { type: "string" },
      scale: { type: "string" },
      out: { type: "string" },
      base: { type: "string" },
      message: { type: "string", short: "m" },
      help: { type: "boolean", short: "h" },
    },
  });
  const command = positionals[0];
  if (!command || command === "help" || values.help) {
    printHelp(command === "help" ? positionals[1] : command);
    return;
  }
  if (command === "schema-check") {
    const base = values.base ?? process.env.SCHEMA_BASE ?? defaultSchemaBase;
    if (!printComparison(base, checkWorkingSchema(base))) process.exitCode = 1;
    return;
  }
  if (command === "persisted") {
    const folder = positionals[1];
    if (!folder) throw new Error("persisted needs the folder of .graphql documents.");
    const manifest = buildManifest(path.resolve(folder));
    const out = path.resolve(values.out ?? path.join(folder, "persisted-operations.json"));
    writeFileSync(out, `${JSON.stringify(manifest, null, 2)}\n`);
    console.log(`${Object.keys(manifest).length} operations → ${out}`);
    return;
  }
  const config = loadConfig();
  const logger = createLogger(config.logLevel, "groundwork", chooseLogFormat(config.logFormat, config.env));
  switch (command) {
    case "start":
      return runUntilSignal(config, logger, { api: true, worker: true });
    case "serve":
      return runUntilSignal(config, logger, { api: true, worker: false });
    case "worker":
      return runUntilSignal(config, logger, { api: false, worker: true });
    case "migrate":
      return withOpenDatabase(config, logger, async (db) => {
        await migrateDatabase(migrateTarget(config, db, logger));
        logger.info("database is up to date");
      });
    case "reset": {
      if (config.env === "production") throw new Error("reset is for development only (NODE_ENV=production).");
      if (!values.yes && !(await confirm("This drops the database and all its data. Type yes to continue: "))) {
        console.error("Not reset. Pass --yes to skip the question.");
        process.exitCode = 1;
        return;
      }
      return withOpenDatabase(config, logger, async (db) => {
        await resetAndMigrate(migrateTarget(config, db, logger));
        logger.info("database reset and migrated");
      });
    }
    case "reference":
      if (config.env === "production") throw new Error("reference writes into the checkout; it is refused with NODE_ENV=production.");
      return withOpenDatabase(hookConfig(config), logger, async (db) => {
        // Run as a graphile-migrate action (.gmrc), the database is the one it has just migrated, still under its migration lock.
        if (!process.env.GM_DBURL) await migrateDatabase({ ownerUrl: db.ownerUrl, rootUrl: db.rootUrl, logger });
        const changed = await writeReference(db.authenticatorUrl, logger);
        console.log(changed.length ? `Rewrote ${changed.join(", ")}.` : "The reference is up to date.");
      });
    case "commit":
      if (config.env === "production") throw new Error("commit is for development only (NODE_ENV=production).");
      return withOpenDatabase(config, logger, async (db) => {
        await migrateDatabase({ ownerUrl: db.ownerUrl, rootUrl: db.rootUrl, logger });
        await commitMigration({ ownerUrl: db.ownerUrl, rootUrl: db.rootUrl, logger, referenceUrl: db.authenticatorUrl }, values.message);
      });
    case "token":
      if (config.env === "production") throw new Error("token mints development tokens; it is refused with NODE_ENV=production.");
      if (!values.user) throw new Error("token needs --user <id|email|username>.");
      return mintToken(config, logger, values.user, values.role, values.org);
    case "seed":
      return seed(config, logger, Number(values.scale ?? "1"));
    case "inspect":
      return withOpenDatabase(config, logger, async (db) => {
        await migrateDatabase(migrateTarget(config, db, logger));
        await inspectDatabase(db.ownerUrl);
      });
    case "db-url": {
      // For driving graphile-migrate by hand (.gmrc): the connection strings and afterReset.sql's placeholders.
      const placeholders = Object.entries(afterResetPlaceholders).map(([name, value]) => `${name.slice(1)}=${value}`).join("\n");
      if (config.databaseUrl) {
        console.log(`DATABASE_URL=${redact(config.databaseUrl)}\n${placeholders}`);
        return;
      }
      return withOpenDatabase(config, logger, async (db) => {
        console.log(`DATABASE_URL=${db.ownerUrl}\nAUTH_DATABASE_URL=${db.authenticatorUrl}\nROOT_DATABASE_URL=${db.rootUrl}\nSHADOW_DATABASE_URL=${shadowDatabaseUrl(db.ownerUrl)}\n${placeholders}`);
        console.error("(the embedded cluster runs only while a groundwork command does: start it with npm start)");
      });
    }
    default:
      console.error(`Unknown command "${command}".\n\n${usage}`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(`groundwork: ${error instanceof Error ? error.message : String(error)}`);
  if (process.env.LOG_LEVEL === "debug" && error instanceof Error) console.error(error.stack);
  process.exit(1);
});
