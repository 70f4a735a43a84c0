import { afterAll, beforeAll, inject } from "vitest";
import { createLogger } from "../../src/logger.ts";
import { startApi, type Api, type ApiOptions } from "../../src/server/app.ts";
import { createTokenService, type TokenService } from "../../src/server/jwt.ts";
import { defaultApiLimits, type ApiLimits } from "../../src/config.ts";
import type { RequestRole } from "../../src/modules.ts";
import { rootDb } from "./db.ts";
import { confirmationToken } from "./fixtures.ts";
import { startTcpProxy, type TcpProxy } from "./tcpProxy.ts";

export const testJwt = {
  secret: "test-secret-that-is-long-enough-for-hs256-0123456789",
  issuer: "groundwork",
  audience: "groundwork",
  accessTokenTtlSeconds: 900,
  publicKey: undefined as string | undefined,
  jwksUrl: undefined as string | undefined,
};

export interface GraphQLResponse<D = Record<string, any>> {
  status: number;
  headers: Headers;
  body: { data?: D | null; errors?: Array<{ message: string; extensions?: { code?: string; [key: string]: unknown } }> };
}

/**
 * The limits test APIs run with: the defaults, except rate limiting, which is
 * off (every test comes from 127.0.0.1); tests/server/rate-limit.test.ts and
 * tests/modules/analytics/ingest.api.test.ts turn it on.
 */
export function testLimits(overrides: Partial<ApiLimits> = {}): ApiLimits {
  return defaultApiLimits({ rateLimit: { ...defaultApiLimits().rateLimit, perIp: 0, perUser: 0, signInPerIp: 0 }, ingest: { batchesPerMinute: 0 }, ...overrides });
}

export interface TestApi {
  url: string;
  /** The running API (after beforeAll). */
  api(): Api;
  tokens: TokenService;
  graphql<D = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string): Promise<GraphQLResponse<D>>;
  /** Sends a raw body (for malformed-input tests). */
  post(body: string, headers?: Record<string, string>): Promise<{ status: number; text: string }>;
}

/** A test API on a free loopback port: silent logs and testLimits() unless overridden. */
function startTestApiOn(authenticatorUrl: string, tokenService: TokenService, name: string, overrides: Partial<ApiOptions>): Promise<Api> {
  return startApi({
    authenticatorUrl,
    tokenService,
    port: 0,
    host: "127.0.0.1",
    poolSize: 8,
    ...overrides,
    logger: overrides.logger ?? createLogger(process.env.LOG_LEVEL ?? "silent", name),
    limits: overrides.limits ?? testLimits(),
  });
}

/**
 * Starts the real API (express + PostGraphile + JWT) on a free port against the
 * test database for the current test file.
 */
export function useTestApi(
  jwtOverrides: Partial<typeof testJwt> = {},
  apiOverrides: Pick<ApiOptions, "revocationCheckIntervalMs" | "limits" | "extraPresets" | "devSignIn"> & Partial<Pick<ApiOptions, "logger">> = {},
): TestApi {
  let api: Api | undefined;
  const jwt = { ...testJwt, ...jwtOverrides };
  const tokens = createTokenService(jwt, jwt.secret);
  const handle: TestApi = {
    url: "",
    api() {
      if (!api) throw new Error("the test API is not started yet");
      return api;
    },
    tokens,
    async graphql(query, variables, token) {
      const response = await fetch(`${handle.url}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/graphql-response+json, application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse<never>["body"] };
    },
    async post(body, headers = {}) {
      const response = await fetch(`${handle.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...headers },
        body,
      });
      return { status: response.status, text: await response.text() };
    },
  };
  beforeAll(async () => {
    api = await startTestApiOn(inject("testDatabase").authenticatorUrl, tokens, "test-api", { poolSize: 8, ...apiOverrides });
    handle.url = api.url;
  });
  afterAll(async () => {
    await api?.stop();
  });
  return handle;
}

/**
 * A second API on the test database whose connections go through a proxy the
 * test can cut (a network partition of this process only), with its own
 * realtime and revocation-check settings. Tokens are the given TestApi's, so users signed up there
 * sign in here. Stop it with stop().
 */
export async function startCutOffApi(
  tokensOf: TestApi,
  options: Pick<ApiOptions, "realtime" | "revocationCheckIntervalMs">,
): Promise<{ url: string; proxy: TcpProxy; stop(): Promise<void> }> {
  const direct = inject("testDatabase").authenticatorUrl;
  const proxy = await startTcpProxy(direct);
  const api = await startTestApiOn(proxy.url(direct), tokensOf.tokens, "test-cut-off-api", { poolSize: 2, ...options });
  return {
    url: api.url,
    proxy,
    async stop() {
      proxy.restore();
      await api.stop();
      await proxy.close();
    },
  };
}

let counter = 0;
/** A username/e-mail pair no other test uses. */
export function uniqueUser(prefix = "user") {
  const tag = `${prefix}${process.pid}x${Date.now().toString(36)}x${++counter}`;
  return { username: tag.slice(0, 32), email: `${tag}@example.com`, password: "correct horse 42" };
}

export const authFields = "accessToken refreshToken expiresAt refreshExpiresAt user { userId username email }";

export interface SignedIn {
  userId: string;
  username: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

/**
 * Signs a user up through the API: register, then verifyEmail with the token
 * of the confirmation mail, which the mail task would make; here it is made as
 * root (confirmationToken in fixtures.ts) instead of read from a mailbox.
 * tests/modules/auth/signup.api.test.ts covers the mail itself.
 */
export async function registerUser(api: TestApi, prefix = "user"): Promise<SignedIn> {
  const user = uniqueUser(prefix);
  const registered = await api.graphql(`mutation($input: RegisterInput!) { register(input: $input) { email } }`, { input: user });
  if (!registered.body.data?.register) throw new Error(`register failed: ${JSON.stringify(registered.body)}`);
  const token = await confirmationToken(rootDb(), user.email);
  const result = await api.graphql(`mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { ${authFields} } }`, { input: { token } });
  const payload = result.body.data?.verifyEmail;
  if (!payload) throw new Error(`verifyEmail failed: ${JSON.stringify(result.body)}`);
  return { ...user, userId: payload.user.userId, accessToken: payload.accessToken, refreshToken: payload.refreshToken };
}

export function codesOf(response: GraphQLResponse): Array<string | undefined> {
  return (response.body.errors ?? []).map((error) => error.extensions?.code);
}

/**
 * Registers a user, grants them `role` in auth.user_roles (as root) and assumes
 * it: the one way API tests get an operator (gw_admin) or staff token.
 */
export async function registerWithRole(
  api: TestApi,
  role: RequestRole,
  prefix = role.replace(/^(gw_|role_)/, ""),
): Promise<SignedIn & { roleToken: string }> {
  const user = await registerUser(api, prefix);
  await rootDb().query("insert into auth.user_roles (user_id, role_name) values ($1, $2)", [user.userId, role]);
  const assumed = await api.graphql(`mutation($role: String!) { assumeRole(input: { role: $role }) { accessToken } }`, { role }, user.accessToken);
  const roleToken = assumed.body.data?.assumeRole?.accessToken;
  if (typeof roleToken !== "string") throw new Error(`assumeRole ${role} failed: ${JSON.stringify(assumed.body)}`);
  return { ...user, roleToken };
}
