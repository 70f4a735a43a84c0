import { CombinedGraphQLErrors, ServerError } from "@apollo/client/errors";

/** Readable messages for the codes a person can meet here (docs/errors.md has them all). */
const messages: Record<string, string> = {
  UNAUTHENTICATED: "Your session has ended. Please sign in again.",
  CREDS: "That e-mail/username and password do not match.",
  RATE_LIMITED: "Too many attempts. Wait a minute and try again.",
  GRAPHQL_VALIDATION_FAILED: "The app sent a request the server does not understand.",
  COST_LIMIT_EXCEEDED: "That list is too large to load at once.",
  FILTER_TOO_COMPLEX: "That filter is too large.",
  "23505": "That name is already taken.",
  "42501": "You are not allowed to do that.",
};

/** The code of an Apollo error (extensions.code of its first GraphQL error), if any. */
export function errorCode(error: unknown): string | undefined {
  if (CombinedGraphQLErrors.is(error)) {
    const code = error.errors[0]?.extensions?.code;
    return typeof code === "string" ? code : undefined;
  }
  // Refusals before GraphQL runs (401, 429, 413) carry the same body: { errors: [{ extensions: { code } }] }.
  if (ServerError.is(error)) {
    try {
      const code = (JSON.parse(error.bodyText) as { errors?: Array<{ extensions?: { code?: unknown } }> }).errors?.[0]?.extensions?.code;
      return typeof code === "string" ? code : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function readableError(error: unknown): string {
  const code = errorCode(error);
  if (code && messages[code]) return `${messages[code]} (${code})`;
  if (CombinedGraphQLErrors.is(error)) return `${error.errors[0]?.message ?? "Something went wrong."}${code ? ` (${code})` : ""}`;
  return error instanceof Error ? error.message : "Something went wrong.";
}
