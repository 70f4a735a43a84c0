import { randomUUID } from "node:crypto";
import { isSafeError, SafeError } from "postgraphile/grafast";
import { GraphQLError } from "postgraphile/graphql";
import type { Logger } from "../src/logger.ts";
import { errorCodes, isRegisteredSqlCode, type ErrorCode } from "./errorCodes.ts";

/** An error whose message and code are meant for the client. */
export function codedError(code: ErrorCode, message: string): SafeError {
  return new SafeError(message, { code });
}

function withCode(error: GraphQLError, code: string, message = error.message, extra: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...error.extensions, ...extra, code },
  });
}

/**
 * grafserv's maskError: registered codes pass through with their message,
 * GraphQL's own errors get a code, everything else becomes an opaque
 * INTERNAL_SERVER_ERROR whose errorId points at the server log.
 */
export function makeMaskError(logger: Logger): (error: GraphQLError) => GraphQLError {
  return (error) => {
    const original = error.originalError as (Error & { code?: unknown; extensions?: Record<string, unknown> }) | undefined;
    if (!original) {
      if (typeof error.extensions?.code === "string") return error;
      return withCode(error, /^Syntax Error/.test(error.message) ? "GRAPHQL_PARSE_FAILED" : "GRAPHQL_VALIDATION_FAILED");
    }
    if (original instanceof GraphQLError || isSafeError(original)) {
      const code = original.extensions?.code ?? error.extensions?.code;
      if (typeof code === "string") return withCode(error, code, original.message, original.extensions ?? {});
      return withCode(error, "GRAPHQL_VALIDATION_FAILED", original.message);
    }
    if (isRegisteredSqlCode(original.code)) {
      return withCode(error, original.code, original.message);
    }
    const errorId = randomUUID();
    logger.error({ err: original, errorId, path: error.path }, "unexpected error in a GraphQL request");
    return withCode(error, "INTERNAL_SERVER_ERROR", `An unexpected error occurred (errorId ${errorId}).`, { errorId });
  };
}

export function statusForCode(code: string): number {
  return errorCodes[code]?.status ?? 500;
}
