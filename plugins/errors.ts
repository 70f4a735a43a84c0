import { randomUUID } from "node:crypto";
import { flagError, isSafeError, SafeError, type ObjectStep, type Step } from "postgraphile/grafast";
import { GraphQLError } from "postgraphile/graphql";
import type { Logger } from "../src/logger.ts";
import { NotificationFeedInterrupted } from "../src/server/notificationFeed.ts";
import { recordErrors, recordOf, requestOf } from "../src/server/requestContext.ts";
import { errorBody, isRegisteredSqlCode, type ErrorCode } from "../src/errors.ts";

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

/** grafast marks its planning and execution timeouts with a symbol-keyed extension. */
function isGrafastTimeout(error: Error & { extensions?: Record<string | symbol, unknown> }): boolean {
  const extensions = error.extensions;
  return !!extensions && Object.getOwnPropertySymbols(extensions).some((symbol) => symbol.description === "timeout");
}

/** graphql-js's "Did you mean …?" hints (fields, arguments, types, enum values, inline fragments). */
const suggestions = / ?Did you mean [^?]*\?/g;

/** The message without its suggestions: with introspection off, they would spell the schema out name by name. */
export function withoutSuggestions(message: string): string {
  return message.replace(suggestions, "");
}

export interface ErrorOptions {
  /** Strip "Did you mean …?" from every message (with introspection off). */
  hideSuggestions: boolean;
}

/**
 * grafserv's maskError: registered codes pass through with their message,
 * GraphQL's own errors get a code, everything else becomes an opaque
 * INTERNAL_SERVER_ERROR whose errorId points at the server log. With
 * `hideSuggestions`, no message keeps a "Did you mean …?".
 */
export function makeMaskError(logger: Logger, options: ErrorOptions = { hideSuggestions: false }): (error: GraphQLError) => GraphQLError {
  const mask = makeMask(logger);
  if (!options.hideSuggestions) return mask;
  return (error) => {
    const masked = mask(error);
    const message = withoutSuggestions(masked.message);
    return message === masked.message ? masked : withCode(masked, String(masked.extensions.code), message);
  };
}

function makeMask(logger: Logger): (error: GraphQLError) => GraphQLError {
  return (error) => {
    const original = error.originalError as (Error & { code?: unknown; extensions?: Record<string, unknown> }) | undefined;
    if (!original) {
      if (typeof error.extensions?.code === "string") return error;
      return withCode(error, /^Syntax Error/.test(error.message) ? "GRAPHQL_PARSE_FAILED" : "GRAPHQL_VALIDATION_FAILED");
    }
    if (isSafeError(original) && isGrafastTimeout(original)) {
      return /plan/i.test(original.message)
        ? withCode(error, "PLANNING_TIMEOUT", "The operation took too long to plan and was stopped (GRAPHQL_PLANNING_TIMEOUT_MS); simplify it.")
        : withCode(error, "EXECUTION_TIMEOUT", "The operation ran past its time budget and was stopped (GRAPHQL_EXECUTION_TIMEOUT_MS); ask for less.");
    }
    // The realtime feed ends its subscriptions this way when it cannot promise that nothing was missed.
    if (original instanceof NotificationFeedInterrupted) {
      return withCode(error, "SUBSCRIPTION_INTERRUPTED", original.message);
    }
    if ((original as { code?: unknown }).code === "57014") {
      return withCode(
        error,
        "STATEMENT_TIMEOUT",
        "A database statement ran past the statement timeout (STATEMENT_TIMEOUT_MS) and was cancelled; ask for less.",
      );
    }
    if (original instanceof GraphQLError || isSafeError(original)) {
      const code = original.extensions?.code ?? error.extensions?.code;
      if (typeof code === "string") return withCode(error, code, original.message, original.extensions ?? {});
      return withCode(error, "GRAPHQL_VALIDATION_FAILED", original.message);
    }
    if (isRegisteredSqlCode(original.code)) {
      return withCode(error, original.code, original.message);
    }
    // postgraphile-plugin-connection-filter refuses these while planning (plugins/limits.ts refuses them earlier, from the document).
    if (/^(Null literals|Empty objects) are forbidden in filter argument input\.$/.test(original.message)) {
      return withCode(error, "GRAPHQL_VALIDATION_FAILED", `${original.message} Leave the field out instead.`);
    }
    // PostGraphile's update/delete-by-key found no row the caller may change.
    if (/^No values were (deleted|updated) in collection/.test(original.message)) {
      return withCode(error, "NOT_FOUND", "No row you may change matches that key.");
    }
    // maskError has no request at hand: the request's own log line (src/server/app.ts)
    // names this errorId next to its requestId (ErrorCodesPlugin collects it).
    const errorId = randomUUID();
    logger.error({ err: original, errorId, path: error.path }, "unexpected error in a GraphQL request");
    return withCode(error, "INTERNAL_SERVER_ERROR", `An unexpected error occurred (errorId ${errorId}).`, { errorId });
  };
}

type WireError = { message?: string; extensions?: Record<string, unknown> };

/** grafserv refuses the HTTP request itself with these: not POST, unacceptable Accept, unsupported Content-Type. */
const refusedRequestStatuses = new Set([405, 406, 415]);

/**
 * Errors that never reach maskError get their code here: grafserv's refusals
 * of the request (its 405/406/415 answers, and the `statusCode` it puts on
 * "no Content-Type", "query must be a string", "Invalid variables"...) are
 * BAD_REQUEST; the rest are GraphQL's own parse and validation errors.
 */
function codeWireErrors(errors: WireError[], statusCode: number, options: ErrorOptions): boolean {
  let changed = false;
  for (const error of errors) {
    if (options.hideSuggestions && typeof error.message === "string") {
      const message = withoutSuggestions(error.message);
      if (message !== error.message) {
        error.message = message;
        changed = true;
      }
    }
    if (typeof error.extensions?.code === "string") continue;
    const { statusCode: ownStatus, ...rest } = error.extensions ?? {};
    const code =
      ownStatus === 413
        ? "PAYLOAD_TOO_LARGE"
        : typeof ownStatus === "number" || refusedRequestStatuses.has(statusCode)
          ? "BAD_REQUEST"
          : /^Syntax Error/.test(error.message ?? "")
            ? "GRAPHQL_PARSE_FAILED"
            : "GRAPHQL_VALIDATION_FAILED";
    error.extensions = { ...rest, code };
    changed = true;
  }
  return changed;
}

/** What an update by key that matched no row raises; maskError turns it into NOT_FOUND, as for deletes. */
function rowOrNotFound(row: unknown): unknown {
  return row ?? flagError(new Error("No values were updated in collection because no values you can update were found matching these criteria."));
}

/**
 * Every error in every response carries `extensions.code`, including the ones
 * GraphQL and grafserv produce before execution (grafserv middleware), so
 * clients can branch on codes alone; with `hideSuggestions` those lose their
 * "Did you mean …?" too (maskError handles the rest). And an update by key
 * that matches no row the caller may change answers NOT_FOUND, as a delete
 * does: PostGraphile's update step yields null there instead of an error
 * (schema hook).
 */
export const makeErrorCodesPlugin = (options: ErrorOptions = { hideSuggestions: false }): GraphileConfig.Plugin => ({
  name: "GroundworkErrorCodesPlugin",
  version: "1.0.0",
  schema: {
    hooks: {
      GraphQLObjectType_fields_field(field, build, context) {
        if (!context.scope.isPgUpdateMutation || !field.plan) return field;
        const { object, lambda } = build.grafast;
        const plan = field.plan;
        return {
          ...field,
          plan(...args) {
            // PostGraphile's plan is object({ result: $update }); the payload's fields read `result`.
            const $payload = plan(...args) as ObjectStep<{ result: Step }>;
            const $update = $payload.getStepForKey("result");
            return object({ result: $update, found: lambda($update, rowOrNotFound) });
          },
        };
      },
    },
  },
  grafserv: {
    middleware: {
      async processRequest(next, event) {
        const result = await next();
        if (!result) return result;
        const record = recordOf(requestOf(event.requestDigest.requestContext));
        if (result.type === "error") {
          const status = result.statusCode >= 400 && result.statusCode < 500 ? result.statusCode : 500;
          const ownCode = isSafeError(result.error) ? result.error.extensions?.code : undefined;
          const code =
            typeof ownCode === "string" ? (ownCode as ErrorCode) : status === 500 ? "INTERNAL_SERVER_ERROR" : status === 413 ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST";
          record?.errorCodes.push(code);
          return {
            type: "json",
            statusCode: status,
            headers: { ...result.headers, "content-type": "application/json; charset=utf-8" },
            json: errorBody(code, isSafeError(result.error) || status < 500 ? result.error.message : "An unexpected error occurred."),
          };
        }
        if (result.type === "json") {
          const errors = (result.json as { errors?: WireError[] } | null)?.errors;
          if (errors) {
            codeWireErrors(errors, result.statusCode, options);
            recordErrors(record, errors);
          }
          return result;
        }
        if (result.type === "buffer" && result.buffer.includes('"errors":')) {
          const payload = JSON.parse(result.buffer.toString("utf8")) as { errors?: WireError[] };
          const changed = payload.errors ? codeWireErrors(payload.errors, result.statusCode, options) : false;
          recordErrors(record, payload.errors ?? []);
          if (changed) {
            const buffer = Buffer.from(JSON.stringify(payload), "utf8");
            return { ...result, buffer, headers: { ...result.headers, "content-length": String(buffer.length) } };
          }
        }
        return result;
      },
    },
  },
});
