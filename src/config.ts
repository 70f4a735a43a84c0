import path from "node:path";
import { z } from "zod";
import { projectRoot } from "./paths.ts";
import { defaultTaskOptions, type TaskOptions } from "./worker/tasks/index.ts";

const { webhooks: webhookDefaults, inbox: inboxDefaults } = defaultTaskOptions;

const port = z.coerce.number().int().min(1).max(65535);
const postgresUrl = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), "must be a postgres:// connection string");
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const EnvSchema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  PORT: port.default(5678),
  HOST: optional(z.string()),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  GROUNDWORK_STATE_DIR: optional(z.string()),
  EMBEDDED_PG_PORT: port.default(54329),
  DATABASE_URL: optional(postgresUrl),
  ROOT_DATABASE_URL: optional(postgresUrl),
  AUTH_DATABASE_URL: optional(postgresUrl),
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
});

export type Env = z.infer<typeof EnvSchema>;

/** Validated configuration; read once at start-up. */
export interface Config {
  env: Env["NODE_ENV"];
  port: number;
  host: string;
  logLevel: Env["LOG_LEVEL"];
  stateDir: string;
  embeddedPort: number;
  /** Unset means: run the embedded PostgreSQL. */
  databaseUrl: string | undefined;
  rootDatabaseUrl: string | undefined;
  authDatabaseUrl: string | undefined;
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
  }
  if (env.JWT_PUBLIC_KEY && env.JWKS_URL) throw new ConfigError("Set JWT_PUBLIC_KEY or JWKS_URL, not both.");
  return {
    env: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST ?? (env.NODE_ENV === "production" ? "0.0.0.0" : "127.0.0.1"),
    logLevel: env.LOG_LEVEL,
    stateDir: path.resolve(projectRoot, env.GROUNDWORK_STATE_DIR ?? ".groundwork"),
    embeddedPort: env.EMBEDDED_PG_PORT,
    databaseUrl: env.DATABASE_URL,
    rootDatabaseUrl: env.ROOT_DATABASE_URL,
    authDatabaseUrl: env.AUTH_DATABASE_URL,
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
    },
    poolSize: env.DATABASE_POOL_SIZE,
  };
}
