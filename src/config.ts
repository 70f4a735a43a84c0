import path from "node:path";
import { z } from "zod";
import { projectRoot } from "./paths.ts";

// Option types and their defaults: the server, the worker, tests and benchmarks
// start from these; the environment overrides them below.

/** Largest request body accepted; bigger ones get 413 before anything parses them. */
export const maxRequestBytes = 1_000_000;

/**
 * Longest bearer token accepted, over HTTP (Authorization) and in a WebSocket's
 * connection_init alike. Node refuses an HTTP header section over 16 KiB (431)
 * by itself; half of that leaves room for the other headers, so any token one
 * transport accepts the other does too (a WebSocket payload may be 1 MB).
 */
export const maxBearerTokenBytes = 8192;

/** What the API refuses, and how long it lets work run (loadConfig reads each from the environment). */
export interface ApiLimits {
  /** Deepest selection nesting (introspection fields excluded). */
  maxDepth: number;
  /** Most lists (connections, list fields) nested inside each other. */
  maxListDepth: number;
  /** Largest `first`/`last`; also the page size a root connection gets (and the cost estimate assumes) when neither is given. */
  maxPageSize: number;
  /** The page size a nested connection (one inside another object) gets when neither `first` nor `last` is given. */
  defaultPageSize: number;
  /** Most values (leaves, `in` list items included) in one connection's filter/condition/having argument. */
  maxFilterTerms: number;
  /** Deepest nesting of one filter argument's objects and lists (each `and`/`or` level adds two). */
  maxFilterDepth: number;
  /** Longest GraphQL document, in bytes of UTF-8. */
  maxDocumentBytes: number;
  /** Most root fields (aliases count) in the operation a request runs. */
  maxOperations: number;
  /** Highest cost estimate: every field costs 1, times the page sizes of the lists around it. */
  maxCost: number;
  planningTimeoutMs: number;
  executionTimeoutMs: number;
  /** PostgreSQL statement_timeout of every API transaction. */
  statementTimeoutMs: number;
  introspection: boolean;
  graphiql: boolean;
  /** off: any document; allow: ids or documents; only: ids (or documents whose hash is in the manifest). */
  persistedOperations: "off" | "allow" | "only";
  persistedOperationsFile: string | undefined;
  rateLimit: RateLimitOptions;
  /** Express `trust proxy`: which X-Forwarded-For hops to believe for the client IP. */
  trustProxy: boolean | number | string;
  /** Allowed browser origins; empty: no CORS headers (same-origin only). */
  corsOrigins: string[];
  /** How long SIGTERM waits for in-flight requests and jobs before closing connections. */
  shutdownTimeoutMs: number;
  metrics: boolean;
  /** When set, /metrics answers only `Authorization: Bearer <metricsToken>`. */
  metricsToken: string | undefined;
  /** POST /webhooks/:source: its own rate limit and concurrency (docs/modules/inbox.md). */
  inbox: InboxRouteOptions;
  /** POST /analytics/impressions: batches per window per client IP (docs/modules/analytics.md). */
  ingest: IngestRouteOptions;
}

export interface IngestRouteOptions {
  /** Batches per minute per client IP, shared by every API process through reserved chunks (src/server/quotas.ts; 0: no limit). */
  batchesPerMinute: number;
}

export interface InboxRouteOptions {
  /** Requests per minute per (source, client IP), counted in this process (0: no limit). */
  ratePerMinute: number;
  /** Requests this process verifies and stores at once; more are answered 503 with Retry-After. */
  concurrency: number;
}

export interface RateLimitOptions {
  windowSeconds: number;
  /** Requests per window per client IP (0: no limit). */
  perIp: number;
  /** Requests per window per signed-in user (0: no limit). */
  perUser: number;
  /** Sign-in attempts (fields of `signInFields` in src/server/rateLimit.ts; each alias counts) per window per IP. */
  signInPerIp: number;
  signInWindowSeconds: number;
}

export const apiDefaults = {
  maxDepth: 12,
  maxListDepth: 4,
  maxPageSize: 100,
  defaultPageSize: 20,
  maxFilterTerms: 500,
  maxFilterDepth: 12,
  maxDocumentBytes: 32_768,
  maxOperations: 20,
  maxCost: 25_000,
  planningTimeoutMs: 500,
  executionTimeoutMs: 10_000,
  statementTimeoutMs: 5_000,
  rateLimit: { windowSeconds: 60, perIp: 1200, perUser: 600, signInPerIp: 20, signInWindowSeconds: 300 },
  shutdownTimeoutMs: 10_000,
  inbox: { ratePerMinute: 600, concurrency: 4 },
  ingest: { batchesPerMinute: 600 },
} as const;

/** Limits for code that starts an API without a Config (tests, benchmarks). */
export function defaultApiLimits(overrides: Partial<ApiLimits> = {}): ApiLimits {
  return {
    ...apiDefaults,
    rateLimit: { ...apiDefaults.rateLimit },
    inbox: { ...apiDefaults.inbox },
    ingest: { ...apiDefaults.ingest },
    introspection: true,
    graphiql: true,
    persistedOperations: "off",
    persistedOperationsFile: undefined,
    trustProxy: false,
    corsOrigins: [],
    metrics: true,
    metricsToken: undefined,
    ...overrides,
  };
}

/** When to try again after a failed delivery or processing attempt. */
export interface RetryPolicy {
  /** Attempts in all, the first included; after the last failure the work is dead-lettered. */
  maxAttempts: number;
  /** Delay after the first failure; doubles with each further failure. */
  baseDelayMs: number;
  /** Upper bound of one delay. */
  maxDelayMs: number;
}

export interface WebhookOptions extends RetryPolicy {
  /** How long one POST may take before it counts as failed. */
  timeoutMs: number;
}

/** How mail leaves (src/mail/): SMTP in production, .eml files in development and tests. */
export interface MailOptions {
  /** smtp:// or smtps:// URL (nodemailer); unset: write .eml files into `dir`. */
  smtpUrl: string | undefined;
  /** Where .eml files go when there is no SMTP URL. */
  dir: string;
  /** The From header. */
  from: string;
  /** The web app's base URL: links in mails point to <appUrl>/verify-email?token=… and /reset-password?token=…. */
  appUrl: string;
}

export interface TaskOptions {
  webhooks: WebhookOptions;
  inbox: RetryPolicy;
  mail: MailOptions;
}

export const mailDefaults = { from: "Groundwork <no-reply@localhost>", appUrl: "http://localhost:3000" } as const;

export const defaultTaskOptions: TaskOptions = {
  // 12 attempts: 11 waits of 5 s, 10 s, 20 s … 85 min, each 50–100 % of that (jitter): dead after about 1.5–3 hours.
  webhooks: { timeoutMs: 10_000, maxAttempts: 12, baseDelayMs: 5_000, maxDelayMs: 3 * 3600_000 },
  inbox: { maxAttempts: 10, baseDelayMs: 5_000, maxDelayMs: 3600_000 },
  mail: { smtpUrl: undefined, dir: path.join(projectRoot, ".groundwork", "mail"), ...mailDefaults },
};

const { webhooks: webhookDefaults, inbox: inboxDefaults } = defaultTaskOptions;

const port = z.coerce.number().int().min(1).max(65535);
const postgresUrl = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), "must be a postgres:// connection string");
const booleanString = z.enum(["true", "false", "1", "0", "on", "off"]).transform((value) => ["true", "1", "on"].includes(value));
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const EnvSchema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  PORT: port.default(5678),
  HOST: optional(z.string()),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  LOG_FORMAT: optional(z.enum(["auto", "json", "pretty"])),
  GROUNDWORK_STATE_DIR: optional(z.string()),
  EMBEDDED_PG_PORT: port.default(54329),
  DATABASE_URL: optional(postgresUrl),
  ROOT_DATABASE_URL: optional(postgresUrl),
  AUTH_DATABASE_URL: optional(postgresUrl),
  WORKER_DATABASE_URL: optional(postgresUrl),
  DATABASE_PREPARED_STATEMENTS: optional(booleanString),
  MIGRATE_ON_START: optional(booleanString),
  AUTHENTICATOR_PASSWORD: optional(z.string()),
  JWT_SECRET: optional(z.string().min(32, "must be at least 32 characters (256 bits) for HS256")),
  JWT_PUBLIC_KEY: optional(z.string().includes("BEGIN PUBLIC KEY", { message: "must be a PEM public key" })),
  JWKS_URL: optional(z.url({ message: "must be a URL" })),
  JWT_ISSUER: z.string().min(1).default("groundwork"),
  JWT_AUDIENCE: z.string().min(1).default("groundwork"),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(500).default(20),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(webhookDefaults.timeoutMs),
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(webhookDefaults.maxAttempts),
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(webhookDefaults.baseDelayMs),
  INBOX_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(inboxDefaults.maxAttempts),
  // Production API: every limit has a safe default (docs/operations.md#api-limits).
  GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(2).max(100).default(apiDefaults.maxDepth),
  GRAPHQL_MAX_LIST_DEPTH: z.coerce.number().int().min(1).max(20).default(apiDefaults.maxListDepth),
  GRAPHQL_MAX_PAGE_SIZE: z.coerce.number().int().min(1).max(10_000).default(apiDefaults.maxPageSize),
  GRAPHQL_DEFAULT_PAGE_SIZE: z.coerce.number().int().min(1).max(10_000).default(apiDefaults.defaultPageSize),
  GRAPHQL_MAX_FILTER_TERMS: z.coerce.number().int().min(1).max(100_000).default(apiDefaults.maxFilterTerms),
  GRAPHQL_MAX_FILTER_DEPTH: z.coerce.number().int().min(2).max(100).default(apiDefaults.maxFilterDepth),
  GRAPHQL_MAX_DOCUMENT_BYTES: z.coerce.number().int().min(100).max(1_000_000).default(apiDefaults.maxDocumentBytes),
  GRAPHQL_MAX_OPERATIONS: z.coerce.number().int().min(1).max(1000).default(apiDefaults.maxOperations),
  GRAPHQL_MAX_COST: z.coerce.number().int().min(1).max(100_000_000).default(apiDefaults.maxCost),
  GRAPHQL_PLANNING_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(apiDefaults.planningTimeoutMs),
  GRAPHQL_EXECUTION_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(apiDefaults.executionTimeoutMs),
  STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(apiDefaults.statementTimeoutMs),
  GRAPHQL_INTROSPECTION: optional(booleanString),
  GRAPHIQL: optional(booleanString),
  PERSISTED_OPERATIONS: z.enum(["off", "allow", "only"]).default("off"),
  PERSISTED_OPERATIONS_FILE: optional(z.string()),
  RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(apiDefaults.rateLimit.windowSeconds),
  RATE_LIMIT_PER_IP: z.coerce.number().int().min(0).max(10_000_000).default(apiDefaults.rateLimit.perIp),
  RATE_LIMIT_PER_USER: z.coerce.number().int().min(0).max(10_000_000).default(apiDefaults.rateLimit.perUser),
  RATE_LIMIT_SIGN_IN_PER_IP: z.coerce.number().int().min(0).max(10_000_000).default(apiDefaults.rateLimit.signInPerIp),
  RATE_LIMIT_SIGN_IN_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(apiDefaults.rateLimit.signInWindowSeconds),
  TRUST_PROXY: optional(z.string()),
  CORS_ORIGINS: optional(z.string()),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(apiDefaults.shutdownTimeoutMs),
  METRICS: optional(booleanString),
  INBOX_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(apiDefaults.inbox.ratePerMinute),
  INBOX_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(apiDefaults.inbox.concurrency),
  INGEST_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(10_000_000).default(apiDefaults.ingest.batchesPerMinute),
  SMTP_URL: optional(z.string().refine((value) => /^smtps?:\/\/[^\s]+$/.test(value), "must be an smtp:// or smtps:// URL")),
  MAIL_DIR: optional(z.string()),
  MAIL_FROM: z.string().min(3).default(mailDefaults.from),
  APP_URL: z
    .string()
    .refine((value) => /^https?:\/\/[^\s]+$/.test(value), "must be an http:// or https:// URL")
    .transform((value) => value.replace(/\/+$/, ""))
    .default(mailDefaults.appUrl),
  METRICS_TOKEN: optional(z.string().min(32, "must be at least 32 characters (e.g. openssl rand -hex 32)")),
});

export type Env = z.infer<typeof EnvSchema>;

/** Validated configuration; read once at start-up. */
export interface Config {
  env: Env["NODE_ENV"];
  port: number;
  host: string;
  logLevel: Env["LOG_LEVEL"];
  /** auto: readable lines on a terminal outside production, JSON otherwise. */
  logFormat: "auto" | "json" | "pretty";
  stateDir: string;
  embeddedPort: number;
  /** Unset means: run the embedded PostgreSQL. */
  databaseUrl: string | undefined;
  rootDatabaseUrl: string | undefined;
  authDatabaseUrl: string | undefined;
  /** gw_owner for the worker; default databaseUrl. Poolable with preparedStatements off. */
  workerDatabaseUrl: string | undefined;
  /** false: PostGraphile and graphile-worker prepare no statement (a transaction pooler in front). */
  preparedStatements: boolean;
  /** false: serve/worker/start do not migrate (a deploy step runs `groundwork migrate` first). */
  migrateOnStart: boolean;
  authenticatorPassword: string | undefined;
  jwt: {
    /** Unset means: generated once and kept in the state directory (never in production). */
    secret: string | undefined;
    publicKey: string | undefined;
    jwksUrl: string | undefined;
    issuer: string;
    audience: string;
    accessTokenTtlSeconds: number;
  };
  workerConcurrency: number;
  /** Webhook delivery and inbox retry schedules. */
  tasks: TaskOptions;
  /** Connections the API keeps to PostgreSQL. */
  poolSize: number;
  /** GraphQL limits, timeouts, rate limits, CORS, persisted operations, shutdown. */
  api: ApiLimits;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses the environment, naming every bad value, or throws a ConfigError. */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(environment);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${problems.join("\n")}`);
  }
  const env = parsed.data;
  if (env.NODE_ENV === "production") {
    if (!env.DATABASE_URL) throw new ConfigError("DATABASE_URL is required in production (the embedded PostgreSQL is for development).");
    // Groundwork signs its own access tokens (HS256), so it needs the secret even
    // when an external identity provider's keys are accepted as well.
    if (!env.JWT_SECRET) throw new ConfigError("JWT_SECRET is required in production; a generated secret is for development only.");
    // Without mail nobody can confirm a sign-up or reset a password.
    if (!env.SMTP_URL) throw new ConfigError("SMTP_URL is required in production (sign-up confirmations and password resets are mailed); .eml files are for development.");
  }
  if (env.JWT_PUBLIC_KEY && env.JWKS_URL) throw new ConfigError("Set JWT_PUBLIC_KEY or JWKS_URL, not both.");
  const stateDir = path.resolve(projectRoot, env.GROUNDWORK_STATE_DIR ?? ".groundwork");
  return {
    env: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST ?? (env.NODE_ENV === "production" ? "0.0.0.0" : "127.0.0.1"),
    logLevel: env.LOG_LEVEL,
    logFormat: env.LOG_FORMAT ?? "auto",
    stateDir,
    embeddedPort: env.EMBEDDED_PG_PORT,
    databaseUrl: env.DATABASE_URL,
    rootDatabaseUrl: env.ROOT_DATABASE_URL,
    authDatabaseUrl: env.AUTH_DATABASE_URL,
    workerDatabaseUrl: env.WORKER_DATABASE_URL,
    preparedStatements: env.DATABASE_PREPARED_STATEMENTS ?? true,
    migrateOnStart: env.MIGRATE_ON_START ?? true,
    authenticatorPassword: env.AUTHENTICATOR_PASSWORD,
    jwt: {
      secret: env.JWT_SECRET,
      publicKey: env.JWT_PUBLIC_KEY,
      jwksUrl: env.JWKS_URL,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      accessTokenTtlSeconds: env.ACCESS_TOKEN_TTL_SECONDS,
    },
    workerConcurrency: env.WORKER_CONCURRENCY,
    tasks: {
      webhooks: {
        timeoutMs: env.WEBHOOK_TIMEOUT_MS,
        maxAttempts: env.WEBHOOK_MAX_ATTEMPTS,
        baseDelayMs: env.WEBHOOK_RETRY_BASE_MS,
        maxDelayMs: Math.max(env.WEBHOOK_RETRY_BASE_MS, webhookDefaults.maxDelayMs),
      },
      inbox: {
        maxAttempts: env.INBOX_MAX_ATTEMPTS,
        baseDelayMs: env.WEBHOOK_RETRY_BASE_MS,
        maxDelayMs: Math.max(env.WEBHOOK_RETRY_BASE_MS, inboxDefaults.maxDelayMs),
      },
      mail: {
        smtpUrl: env.SMTP_URL,
        dir: env.MAIL_DIR ? path.resolve(projectRoot, env.MAIL_DIR) : path.join(stateDir, "mail"),
        from: env.MAIL_FROM,
        appUrl: env.APP_URL,
      },
    },
    poolSize: env.DATABASE_POOL_SIZE,
    api: apiLimitsFrom(env),
  };
}

function apiLimitsFrom(env: Env): ApiLimits {
  const production = env.NODE_ENV === "production";
  if (env.PERSISTED_OPERATIONS !== "off" && !env.PERSISTED_OPERATIONS_FILE) {
    throw new ConfigError("PERSISTED_OPERATIONS_FILE is required when PERSISTED_OPERATIONS is allow or only (generate it with npm run persisted).");
  }
  if (env.GRAPHQL_DEFAULT_PAGE_SIZE > env.GRAPHQL_MAX_PAGE_SIZE) {
    throw new ConfigError("GRAPHQL_DEFAULT_PAGE_SIZE cannot be more than GRAPHQL_MAX_PAGE_SIZE.");
  }
  if (env.GRAPHQL_MAX_LIST_DEPTH > env.GRAPHQL_MAX_DEPTH) {
    throw new ConfigError("GRAPHQL_MAX_LIST_DEPTH cannot be more than GRAPHQL_MAX_DEPTH.");
  }
  // /metrics names operations and shows load: in production only a scraper holding METRICS_TOKEN reads it.
  if (production && env.METRICS === true && !env.METRICS_TOKEN) {
    throw new ConfigError("METRICS_TOKEN is required for METRICS=true in production (the scraper sends it as a bearer token).");
  }
  const origins = (env.CORS_ORIGINS ?? "").split(",").map((origin) => origin.trim()).filter(Boolean);
  for (const origin of origins) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(`CORS_ORIGINS: "${origin}" is not an origin (scheme://host[:port], no path) or *.`);
    }
  }
  return {
    maxDepth: env.GRAPHQL_MAX_DEPTH,
    maxListDepth: env.GRAPHQL_MAX_LIST_DEPTH,
    maxPageSize: env.GRAPHQL_MAX_PAGE_SIZE,
    defaultPageSize: env.GRAPHQL_DEFAULT_PAGE_SIZE,
    maxFilterTerms: env.GRAPHQL_MAX_FILTER_TERMS,
    maxFilterDepth: env.GRAPHQL_MAX_FILTER_DEPTH,
    maxDocumentBytes: env.GRAPHQL_MAX_DOCUMENT_BYTES,
    maxOperations: env.GRAPHQL_MAX_OPERATIONS,
    maxCost: env.GRAPHQL_MAX_COST,
    planningTimeoutMs: env.GRAPHQL_PLANNING_TIMEOUT_MS,
    executionTimeoutMs: env.GRAPHQL_EXECUTION_TIMEOUT_MS,
    statementTimeoutMs: env.STATEMENT_TIMEOUT_MS,
    introspection: env.GRAPHQL_INTROSPECTION ?? !production,
    graphiql: env.GRAPHIQL ?? !production,
    persistedOperations: env.PERSISTED_OPERATIONS,
    persistedOperationsFile: env.PERSISTED_OPERATIONS_FILE ? path.resolve(projectRoot, env.PERSISTED_OPERATIONS_FILE) : undefined,
    rateLimit: {
      windowSeconds: env.RATE_LIMIT_WINDOW_SECONDS,
      perIp: env.RATE_LIMIT_PER_IP,
      perUser: env.RATE_LIMIT_PER_USER,
      signInPerIp: env.RATE_LIMIT_SIGN_IN_PER_IP,
      signInWindowSeconds: env.RATE_LIMIT_SIGN_IN_WINDOW_SECONDS,
    },
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    corsOrigins: origins,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    metrics: env.METRICS ?? (!production || env.METRICS_TOKEN !== undefined),
    metricsToken: env.METRICS_TOKEN,
    inbox: { ratePerMinute: env.INBOX_RATE_LIMIT_PER_MINUTE, concurrency: env.INBOX_CONCURRENCY },
    ingest: { batchesPerMinute: env.INGEST_RATE_LIMIT_PER_MINUTE },
  };
}

/** Express's trust proxy: a hop count, true/false, or a list of addresses/subnets. */
function parseTrustProxy(value: string | undefined): boolean | number | string {
  if (value === undefined || value === "false") return false;
  if (value === "true") return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}
