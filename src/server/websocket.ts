import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { handleProtocols, makeServer } from "graphql-ws";
import type { Pool } from "pg";
import { WebSocketServer, type WebSocket } from "ws";
import { makeGraphQLWSConfig, normalizeConnectionParams, type GrafservBase } from "postgraphile/grafserv";
import { GraphQLError } from "postgraphile/graphql";
import type { Logger } from "../logger.ts";
import { authOfRequest, claimsOf, setAuth, verifyBearer, type RequestAuth } from "./authenticate.ts";
import type { DocumentOf, RateLimiter } from "./rateLimit.ts";
import type { AccessClaims, TokenService } from "./jwt.ts";
import { maxRequestBytes } from "../config.ts";

/**
 * Close codes of our own, beside graphql-ws's (4400 bad request, 4408 init
 * timeout, 4500 internal error...). They mirror the HTTP statuses of a bad
 * bearer token, and graphql-ws clients treat both as fatal (no retry loop).
 */
export const closeCodes = {
  /** The token is invalid or expired, or its session was revoked: sign in or refresh, then reconnect. */
  unauthorized: 4401,
  /** The token is valid but its role is not one this API accepts. */
  forbidden: 4403,
  /** The server is stopping. */
  goingAway: 1001,
} as const;

const OPEN = 1;
const CLOSED = 3;
/** setTimeout's longest delay; a later expiry is re-armed in steps. */
const maxTimerMs = 2_147_483_647;

export interface WebSocketOptions {
  server: Server;
  serv: GrafservBase;
  tokens: TokenService;
  /** The API's gw_authenticator pool: revocation checks run on it as the token's role. */
  pool: Pool;
  logger: Logger;
  /** The GraphQL path; upgrades to any other path are refused. */
  path: string;
  /** How often a signed-in socket re-checks that its session is still alive. */
  revocationCheckIntervalMs: number;
  /** Ping interval; a socket that misses a pong for this long is dropped. 0 disables. */
  keepaliveMs: number;
  /** The HTTP API's rate limits, applied to every operation a socket starts. */
  limiter: RateLimiter;
  /** The document a subscribe payload runs (persisted operations resolved). */
  documentOf: DocumentOf;
  /** The client IP of an upgrade request, derived as for HTTP requests (trust proxy). */
  clientIp(request: IncomingMessage): string | undefined;
}

export interface WebSocketEndpoint {
  /** Closes every socket (1001), then stops accepting upgrades. */
  close(): Promise<void>;
}

/** Extra that graphql-ws hands to every hook; grafserv's config reads `socket` and `request`. */
interface SocketExtra {
  socket: WebSocket;
  request: IncomingMessage;
}

/** What one socket holds until it closes. */
interface SocketState {
  closed: boolean;
  timers: Set<NodeJS.Timeout>;
}

/**
 * True while the token's session is alive: auth.uid() is null once the session
 * family is revoked (logout, refresh-token reuse, password change) or the user
 * is gone. Runs as the token's role and claims, as its operations would.
 */
export async function sessionIsLive(pool: Pool, auth: RequestAuth): Promise<boolean> {
  const client = await pool.connect();
  let failure: Error | undefined;
  try {
    await client.query("begin");
    await client.query("select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)", [
      auth.role,
      JSON.stringify(auth.claims),
    ]);
    const { rows } = await client.query<{ ok: boolean }>("select auth.uid() is not null as ok");
    await client.query("commit");
    return rows[0]?.ok === true;
  } catch (error) {
    failure = error as Error;
    throw error;
  } finally {
    // A connection that failed mid-transaction is discarded rather than reused.
    client.release(failure);
  }
}

/**
 * graphql-ws on the API's HTTP server, in place of grafserv's upgrade handler
 * so that connection_init is authenticated: `connectionParams.authorization`
 * is verified like the HTTP Authorization header, and the socket then runs
 * every operation as that token until it expires (4401) or its session is
 * revoked (4401, checked every `revocationCheckIntervalMs`). No token means
 * anonymous; a bad one closes the socket (4401, or 4403 for a refused role).
 */
export function attachWebSockets(options: WebSocketOptions): WebSocketEndpoint {
  const { server, serv, tokens, pool, logger, path } = options;
  const states = new WeakMap<WebSocket, SocketState>();

  const close = (socket: WebSocket, code: number, reason: string) => {
    if (socket.readyState === OPEN) socket.close(code, reason);
  };

  const later = (state: SocketState, delayMs: number, fn: () => void) => {
    if (state.closed) return;
    const timer = setTimeout(() => {
      state.timers.delete(timer);
      if (!state.closed) fn();
    }, delayMs);
    timer.unref();
    state.timers.add(timer);
  };

  const watchExpiry = (socket: WebSocket, state: SocketState, claims: AccessClaims) => {
    const expiresAt = (claims.exp ?? 0) * 1000;
    const arm = () => {
      const remaining = expiresAt - Date.now();
      if (remaining <= 0) close(socket, closeCodes.unauthorized, "token expired");
      else later(state, Math.min(remaining, maxTimerMs), arm);
    };
    arm();
  };

  const watchRevocation = (socket: WebSocket, state: SocketState, auth: RequestAuth) => {
    const check = async () => {
      let live = true;
      try {
        live = await sessionIsLive(pool, auth);
      } catch (error) {
        // A database blip should not drop every socket; the next check decides.
        logger.warn({ err: error }, "websocket session check failed");
      }
      if (!live) close(socket, closeCodes.unauthorized, "session revoked");
      else later(state, options.revocationCheckIntervalMs, () => void check());
    };
    later(state, options.revocationCheckIntervalMs, () => void check());
  };

  const keepAlive = (socket: WebSocket, state: SocketState) => {
    if (!(options.keepaliveMs > 0)) return;
    let answered = true;
    socket.on("pong", () => {
      answered = true;
    });
    const beat = () => {
      if (!answered) {
        socket.terminate();
        return;
      }
      answered = false;
      socket.ping();
      later(state, options.keepaliveMs, beat);
    };
    later(state, options.keepaliveMs, beat);
  };

  const grafservConfig = makeGraphQLWSConfig(serv);
  const graphqlWs = makeServer<Record<string, unknown> | undefined, SocketExtra>({
    ...grafservConfig,
    // Every operation spends from the same budgets as an HTTP request: the IP's, the
    // user's and, per sign-in attempt, the IP's sign-in budget. Over one, that operation
    // gets an error (RATE_LIMITED); the socket and its other operations carry on.
    async onSubscribe(ctx, id, payload) {
      const { request } = ctx.extra;
      const sub = claimsOf(authOfRequest(request))?.sub;
      const refusal = await options.limiter.hit({
        ip: options.clientIp(request) ?? request.socket.remoteAddress ?? "unknown",
        sub: typeof sub === "string" ? sub : undefined,
        ...options.documentOf(payload),
      });
      if (refusal) {
        return [new GraphQLError(refusal.message, { extensions: { code: "RATE_LIMITED", limit: refusal.limit, retryAfter: refusal.retryAfter } })];
      }
      return grafservConfig.onSubscribe!(ctx, id, payload);
    },
    async onConnect(ctx) {
      const { socket, request } = ctx.extra;
      const state = states.get(socket);
      if (!state || state.closed) return false;
      const header = normalizeConnectionParams(ctx.connectionParams)?.authorization;
      if (header === undefined) return true;
      const reject = (code: number, reason: string) => {
        close(socket, code, reason);
        // graphql-ws then closes with 4403 Forbidden, a no-op on a closing socket.
        return false;
      };
      // A repeated key arrives as an array: malformed, like two Authorization headers.
      const result = await verifyBearer(tokens, typeof header === "string" ? header : "");
      if (!result.ok) {
        return reject(result.status === 403 ? closeCodes.forbidden : closeCodes.unauthorized, result.reason.replaceAll("_", " "));
      }
      const claims = result.auth.claims as AccessClaims;
      // jose allows 5 s of clock skew; a socket would close at once anyway.
      if ((claims.exp ?? 0) * 1000 <= Date.now()) return reject(closeCodes.unauthorized, "token expired");
      // Tokens without sub have no session to revoke (and auth.uid() is null for them).
      const revocable = typeof claims.sub === "string";
      if (revocable && !(await sessionIsLive(pool, result.auth))) return reject(closeCodes.unauthorized, "session revoked");
      if (state.closed) return false;
      setAuth(request, result.auth);
      watchExpiry(socket, state, claims);
      if (revocable) watchRevocation(socket, state, result.auth);
      return true;
    },
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxRequestBytes,
    handleProtocols: (protocols) => handleProtocols(protocols),
  });

  const onConnection = (socket: WebSocket, request: IncomingMessage) => {
    const state: SocketState = { closed: false, timers: new Set() };
    states.set(socket, state);
    socket.on("error", (error) => logger.debug({ err: error }, "websocket error"));
    keepAlive(socket, state);
    const closed = graphqlWs.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => close(socket, code ?? 1000, reason ?? ""),
        onMessage: (handle) =>
          socket.on("message", async (data) => {
            try {
              // Resolves when the message is dealt with: init after onConnect, a subscription when it ends.
              await handle(String(data));
            } catch (error) {
              logger.error({ err: error }, "websocket message failed");
              close(socket, 4500, "internal server error");
            }
          }),
      },
      { socket, request },
    );
    socket.once("close", (code, reason) => {
      state.closed = true;
      for (const timer of state.timers) clearTimeout(timer);
      state.timers.clear();
      void closed(code, reason.toString()).catch((error: unknown) => logger.warn({ err: error }, "websocket cleanup failed"));
    });
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = request.url ?? "";
    const query = url.indexOf("?");
    if ((query >= 0 ? url.slice(0, query) : url) !== path) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, request));
  };
  server.on("upgrade", onUpgrade);

  return {
    async close() {
      server.off("upgrade", onUpgrade);
      const sockets = [...wss.clients];
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.readyState === CLOSED) {
                resolve();
                return;
              }
              // A client that does not answer the close frame is cut off.
              const force = setTimeout(() => socket.terminate(), 1000);
              socket.once("close", () => {
                clearTimeout(force);
                resolve();
              });
              socket.close(closeCodes.goingAway, "server shutting down");
            }),
        ),
      );
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
