import { PgAggregatesPreset } from "@graphile/pg-aggregates";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";
import type { Pool } from "pg";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { AuthPlugin } from "../../plugins/auth.ts";
import { clientSchemaOptions, ClientsPlugin } from "../../plugins/clients.ts";
import { makeErrorCodesPlugin, makeMaskError } from "../../plugins/errors.ts";
import { SchemaPrefixInflectionPlugin } from "../../plugins/inflection.ts";
import { makeLimitsPlugin } from "../../plugins/limits.ts";
import { RealtimePlugin } from "../../plugins/realtime.ts";
import type { Logger } from "../logger.ts";
import { exposedSchemas } from "../modules.ts";
import { defaultApiLimits, maxRequestBytes, type ApiLimits } from "../config.ts";
import type { Manifest } from "./persisted.ts";
import { authOf, claimsOf } from "./authenticate.ts";
import { requestOf } from "./requestContext.ts";
import type { TokenService } from "./jwt.ts";
import type { NotificationFeed } from "./notificationFeed.ts";
import { selectOperation } from "./limits.ts";
import { callerSettings, requestTransaction, transactionPerCall } from "./transactions.ts";

export interface PresetOptions {
  /** gw_authenticator connections; every transaction on them becomes the caller. */
  pool: Pool;
  /** notificationAdded's events (src/server/notificationFeed.ts); absent where nothing subscribes (the reference build). */
  notificationFeed?: NotificationFeed | undefined;
  tokenService: TokenService;
  logger: Logger;
  /** Default: defaultApiLimits(). */
  limits?: ApiLimits;
  manifest?: Manifest;
  extraPresets?: GraphileConfig.Preset[] | undefined;
  /** A <script> GraphiQL's page runs before its own (development "sign in as", src/server/devSignIn.ts). */
  graphiqlHeadScript?: string | undefined;
}

export function makePreset({ pool, notificationFeed, tokenService, logger, limits = defaultApiLimits(), manifest = {}, extraPresets = [], graphiqlHeadScript }: PresetOptions): GraphileConfig.Preset {
  // With introspection off, "Did you mean …?" would name the schema's fields one typo at a time.
  const errorOptions = { hideSuggestions: !limits.introspection };
  const settingsOf = callerSettings(limits.statementTimeoutMs);
  const pgService = makePgService({
    pool,
    schemas: [...exposedSchemas],
    // Every transaction becomes the caller: SET LOCAL ROLE + request.jwt.claims.
    // Over a WebSocket the caller is the token given in connection_init.
    pgSettings(requestContext) {
      return settingsOf(authOf(requestContext));
    },
  });
  // Transactions with one round trip less; a query's statements in one transaction (src/server/transactions.ts).
  const perCall = transactionPerCall(pool);
  pgService.adaptor = { ...pgService.adaptor, createWithPgClient: (settings, variant) => (variant === "SUPERUSER" ? pgService.adaptor.createWithPgClient(settings, variant) : perCall) };
  return {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset, PostGraphileConnectionFilterPreset, PgAggregatesPreset, ...extraPresets],
    plugins: [SchemaPrefixInflectionPlugin, AuthPlugin, ClientsPlugin, RealtimePlugin, makeErrorCodesPlugin(errorOptions), makeLimitsPlugin(limits, manifest)],
    pgServices: [pgService],
    // Filtering, ordering and aggregates: what clients may ask for (plugins/clients.ts, docs/clients.md).
    schema: clientSchemaOptions,
    grafast: {
      timeouts: { planning: limits.planningTimeoutMs, execution: limits.executionTimeoutMs },
      context(requestContext, args) {
        const req = requestOf(requestContext);
        const pgSettings = args.contextValue.pgSettings;
        const query = selectOperation(args.document, args.operationName)?.operation === "query";
        const userAgent = req?.headers["user-agent"];
        return {
          tokenService,
          userAgent: typeof userAgent === "string" ? userAgent.slice(0, 512) : null,
          // Verified claims (or null): subscriptions derive their topics from these, never from arguments.
          jwtClaims: claimsOf(authOf(requestContext)),
          transport: requestContext.ws ? ("websocket" as const) : ("http" as const),
          notificationFeed: notificationFeed ?? null,
          ...(query && pgSettings ? { withPgClient: requestTransaction(pool, pgSettings, perCall) } : {}),
        };
      },
    },
    ...(graphiqlHeadScript ? { ruru: { htmlParts: { headerScripts: (original: string) => `${graphiqlHeadScript}\n${original}` } } } : {}),
    grafserv: {
      graphqlPath: "/graphql",
      graphiql: limits.graphiql,
      graphiqlPath: "/graphiql",
      graphiqlOnGraphQLGET: false,
      watch: false,
      maxRequestLength: maxRequestBytes,
      // HTTP responses: grafast writes `data` as JSON text (set per request in plugins/limits.ts).
      outputDataAsString: true,
      // Served by src/server/websocket.ts (grafserv's own upgrade handler has no onConnect hook).
      websockets: true,
      maskError: makeMaskError(logger, errorOptions),
    },
  };
}
