import { pgSelectSingleFromRecord, sideEffectWithPgClientTransaction, type PgClient } from "postgraphile/@dataplan/pg";
import { access, context, lambda, type Step } from "postgraphile/grafast";
import { extendSchema, gql } from "postgraphile/utils";
import type { TokenService } from "../src/server/jwt.ts";
import { codedError } from "./errors.ts";
import type { ErrorCode } from "../src/errors.ts";

/** A row of `auth.token_grant`, as returned by the SQL sign-in functions. */
interface TokenGrant {
  user_id: string | null;
  session_id: string | null;
  role: string | null;
  org_id: string | null;
  refresh_token: string | null;
  refresh_expires_at: string | Date | null;
  error_code: string | null;
  error_message: string | null;
}

interface GrantResult {
  grant: TokenGrant | undefined;
  user: Record<string, unknown> | null;
}

declare global {
  namespace Grafast {
    interface Context {
      tokenService: TokenService;
      userAgent: string | null;
    }
  }
}

/**
 * Calls one of the SQL sign-in functions and, when it granted a session, reads
 * the user row in the same transaction as that user (gw_user with the new
 * session's sub and sid), so the payload's `user` is what the user may see of
 * themself rather than what the anonymous caller may.
 */
async function grantInTransaction(client: PgClient, text: string, values: unknown[]): Promise<GrantResult> {
  const { rows } = await client.query<TokenGrant>({ text, values });
  const grant = rows[0];
  if (!grant?.user_id || grant.error_code) return { grant, user: null };
  const claims = { sub: grant.user_id, role: "gw_user", sid: grant.session_id, iat: Math.floor(Date.now() / 1000) };
  await client.query({
    text: "select set_config('role', 'gw_user', true), set_config('request.jwt.claims', $1, true)",
    values: [JSON.stringify(claims)],
  });
  const { rows: users } = await client.query<{ user: Record<string, unknown> }>({
    text: "select row_to_json(u) as user from auth.users u where u.user_id = $1",
    values: [grant.user_id],
  });
  return { grant, user: users[0]?.user ?? null };
}

/**
 * Sign-in mutations: SQL decides (sessions, rotation, throttling); Node signs
 * the access JWT. Errors the SQL had to *return* rather than raise (so that
 * failed-attempt counters and family revocations commit) are thrown here,
 * after the transaction.
 */
export const AuthPlugin = extendSchema((build) => {
  const executor = build.input.pgRegistry.pgExecutors.main;
  const users = Object.values(build.input.pgRegistry.pgResources).find(
    (resource) =>
      !resource.parameters &&
      resource.codec.extensions?.pg?.schemaName === "auth" &&
      resource.codec.extensions?.pg?.name === "users",
  );
  if (!executor || !users) throw new Error("AuthPlugin: the auth.users table was not introspected; are migrations applied?");

  const grantMutation = (sqlText: string, valuesOf: (input: Record<string, unknown>) => unknown[]) =>
    (_$root: Step, fieldArgs: { getRaw(path?: string | string[]): Step }) => {
      const $input = fieldArgs.getRaw("input");
      const $userAgent = context().get("userAgent");
      const $result = sideEffectWithPgClientTransaction(
        executor,
        { input: $input, userAgent: $userAgent },
        async (client, { input, userAgent }) =>
          grantInTransaction(client, sqlText, [...valuesOf((input ?? {}) as Record<string, unknown>), userAgent]),
      );
      return lambda({ result: $result, tokenService: context().get("tokenService") }, async ({ result, tokenService }) => {
        const { grant, user } = result;
        if (grant?.error_code) throw codedError(grant.error_code as ErrorCode, grant.error_message ?? grant.error_code);
        if (!grant?.user_id || !grant.session_id || !grant.role || !grant.refresh_expires_at) {
          throw new Error("a sign-in function returned an incomplete grant");
        }
        const access = await tokenService.sign({ sub: grant.user_id, role: grant.role, sid: grant.session_id, org_id: grant.org_id });
        return {
          accessToken: access.token,
          expiresAt: access.expiresAt.toISOString(),
          refreshToken: grant.refresh_token,
          refreshExpiresAt: new Date(grant.refresh_expires_at).toISOString(),
          user,
        };
      });
    };

  const text = (value: unknown) => (typeof value === "string" ? value : null);

  return {
    typeDefs: gql`
      """
      A signed-in session: a short-lived access token (send it as
      \`Authorization: Bearer <accessToken>\`) and a single-use refresh token.
      """
      type AuthPayload {
        "The access JWT (HS256): claims sub, role, sid, org_id, iat, exp, iss, aud."
        accessToken: String!
        "When the access token expires; refresh before then."
        expiresAt: Datetime!
        """
        Opaque and single-use: refreshSession returns a new one; presenting a spent
        one revokes the whole session family. Null from switchOrganization and
        assumeRole: they change what your current refresh token refreshes into, and
        an access token alone never yields a refresh token.
        """
        refreshToken: String
        "When your refresh token expires."
        refreshExpiresAt: Datetime!
        "The signed-in user, as the new token sees it."
        user: User
      }

      input RegisterInput {
        "A public handle: 2 to 32 characters (letters, digits, _ and -), starting with a letter."
        username: String!
        email: String!
        "At least 10 characters and at most 72 bytes, with a letter and a digit."
        password: String!
      }
      """
      A sign-up was accepted: check the mailbox. The answer is the same whether or
      not the address already has an account (which then gets a notice instead of a
      link), so it tells nothing about the address.
      """
      type RegisterPayload {
        "The address the mail goes to, as given."
        email: String!
        "Until when the confirmation link works."
        linkExpiresAt: Datetime!
      }
      input VerifyEmailInput {
        "The token from the confirmation mail."
        token: String!
      }
      input ResetPasswordInput {
        "The token from the password reset mail."
        token: String!
        "At least 10 characters and at most 72 bytes, with a letter and a digit."
        newPassword: String!
      }
      input LoginInput {
        "E-mail address or username (case-insensitive)."
        identifier: String!
        password: String!
      }
      input RefreshSessionInput {
        refreshToken: String!
      }
      input ChangePasswordInput {
        oldPassword: String!
        newPassword: String!
      }
      input SwitchOrganizationInput {
        "The organization to act in; null to act in none."
        organizationId: UUID
      }
      input AssumeRoleInput {
        "A staff role granted to you in auth.user_roles, or gw_user to drop back."
        role: String!
      }
      type LogoutPayload {
        "True if a session was revoked."
        success: Boolean!
      }

      extend type Mutation {
        """
        Starts a sign-up: mails a confirmation link to the address (verifyEmail then
        creates the account and signs it in). Answers alike for every valid input.
        """
        register(input: RegisterInput!): RegisterPayload
        "Confirms a sign-up with the token from its mail: creates the account and signs it in. The token works once (AUTOK)."
        verifyEmail(input: VerifyEmailInput!): AuthPayload
        """
        Sets a new password with the token from a reset mail (requestPasswordReset),
        signs out every session of the account and returns a new one. The token works
        once, for an hour (AUTOK).
        """
        resetPassword(input: ResetPasswordInput!): AuthPayload
        "Signs in. After 5 failures within 15 minutes the account is locked for the rest of the window (LOCKD)."
        login(input: LoginInput!): AuthPayload
        "Exchanges a refresh token for a new access and refresh token (rotation)."
        refreshSession(input: RefreshSessionInput!): AuthPayload
        "Revokes the current session family."
        logout: LogoutPayload
        "Changes the password, revokes every session, and returns a fresh one."
        changePassword(input: ChangePasswordInput!): AuthPayload
        "Returns tokens whose org_id is the given organization (you must be a member)."
        switchOrganization(input: SwitchOrganizationInput!): AuthPayload
        "Returns tokens whose role is a staff role granted to you."
        assumeRole(input: AssumeRoleInput!): AuthPayload
      }
    `,
    plans: {
      Mutation: {
        register(_$root: Step, fieldArgs: { getRaw(path?: string | string[]): Step }) {
          const $input = fieldArgs.getRaw("input");
          const $userAgent = context().get("userAgent");
          return sideEffectWithPgClientTransaction(executor, { input: $input, userAgent: $userAgent }, async (client, { input, userAgent }) => {
            const values = (input ?? {}) as Record<string, unknown>;
            const { rows } = await client.query<{ expires_at: string | Date }>({
              text: "select auth.register($1, $2, $3, $4) as expires_at",
              values: [text(values.username), text(values.email), text(values.password), userAgent],
            });
            return { email: text(values.email), linkExpiresAt: new Date(rows[0]!.expires_at).toISOString() };
          });
        },
        verifyEmail: grantMutation("select * from auth.verify_email($1, $2)", (input) => [text(input.token)]),
        resetPassword: grantMutation("select * from auth.reset_password($1, $2, $3)", (input) => [text(input.token), text(input.newPassword)]),
        login: grantMutation("select * from auth.login($1, $2, $3)", (input) => [text(input.identifier), text(input.password)]),
        refreshSession: grantMutation("select * from auth.refresh_session($1, $2)", (input) => [text(input.refreshToken)]),
        changePassword: grantMutation("select * from auth.change_password($1, $2, $3)", (input) => [
          text(input.oldPassword),
          text(input.newPassword),
        ]),
        switchOrganization: grantMutation("select * from auth.switch_organization($1, $2)", (input) => [
          text(input.organizationId),
        ]),
        assumeRole: grantMutation("select * from auth.assume_role($1, $2)", (input) => [text(input.role)]),
        logout() {
          const $revoked = sideEffectWithPgClientTransaction(executor, {}, async (client) => {
            const { rows } = await client.query<{ revoked: boolean | null }>({ text: "select auth.logout() as revoked" });
            return Boolean(rows[0]?.revoked);
          });
          return lambda($revoked, (success) => ({ success }));
        },
      },
      AuthPayload: {
        user($payload: Step) {
          // row_to_json gave the row's values as text, which is what the record codec encodes.
          return pgSelectSingleFromRecord(users, access($payload, "user"));
        },
      },
    },
  };
});
