import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import type { Pool } from "pg";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { AuthPlugin } from "../../plugins/auth.ts";
import { ErrorCodesPlugin, makeMaskError } from "../../plugins/errors.ts";
import { SchemaPrefixInflectionPlugin } from "../../plugins/inflection.ts";
import { RealtimePlugin } from "../../plugins/realtime.ts";
import type { Logger } from "../logger.ts";
import { maxRequestBytes } from "./limits.ts";
import { authOf, claimsOf } from "./authenticate.ts";
import type { TokenService } from "./jwt.ts";
import { exposedSchemas } from "./schemas.ts";

export interface PresetOptions {
  /** gw_authenticator connections; every transaction on them becomes the caller. */
  pool: Pool;
  tokenService: TokenService;
  logger: Logger;
}

export function makePreset({ pool, tokenService, logger }: PresetOptions): GraphileConfig.Preset {
  return {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
    plugins: [SchemaPrefixInflectionPlugin, AuthPlugin, RealtimePlugin, ErrorCodesPlugin],
    pgServices: [
      makePgService({
        pool,
        schemas: [...exposedSchemas],
        // Every transaction becomes the caller: SET LOCAL ROLE + request.jwt.claims.
        // Over a WebSocket the caller is the token given in connection_init.
        pgSettings(requestContext) {
          const auth = authOf(requestContext);
          return { role: auth.role, "request.jwt.claims": JSON.stringify(auth.claims) };
        },
      }),
    ],
    grafast: {
      context(requestContext) {
        const req = requestContext.expressv4?.req ?? requestContext.ws?.request;
        const userAgent = req?.headers["user-agent"];
        return {
          tokenService,
          userAgent: typeof userAgent === "string" ? userAgent.slice(0, 512) : null,
          // Verified claims (or null): subscriptions derive their topics from these, never from arguments.
          jwtClaims: claimsOf(authOf(requestContext)),
          transport: requestContext.ws ? ("websocket" as const) : ("http" as const),
        };
      },
    },
    grafserv: {
      graphqlPath: "/graphql",
      graphiql: true,
      graphiqlPath: "/graphiql",
      graphiqlOnGraphQLGET: false,
      watch: false,
      maxRequestLength: maxRequestBytes,
      // Served by src/server/websocket.ts (grafserv's own upgrade handler has no onConnect hook).
      websockets: true,
      maskError: makeMaskError(logger),
    },
  };
}
