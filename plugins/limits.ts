import { SafeError } from "postgraphile/grafast";
import { GraphQLError, type DocumentNode, type GraphQLSchema, type ValidationRule } from "postgraphile/graphql";
import type { ApiLimits } from "../src/config.ts";
import { checkShape, measure, parseDocument, selectOperation, withDefaultPages, type DocumentShape } from "../src/server/limits.ts";
import type { Manifest } from "../src/server/persisted.ts";
import { resolveDocument } from "../src/server/persisted.ts";
import { recordOf, requestOf } from "../src/server/requestContext.ts";

/** `__schema` and `__type` refused (`__typename` stays: clients need it for unions). */
const NoIntrospection: ValidationRule = (context) => ({
  Field(node) {
    const name = node.name.value;
    if (name === "__schema" || name === "__type") {
      context.reportError(
        new GraphQLError("Introspection is disabled on this server (GRAPHQL_INTROSPECTION).", {
          nodes: node,
          extensions: { code: "INTROSPECTION_DISABLED" },
        }),
      );
    }
  },
});

const maxShapeKeyLength = 1024;
const maxShapesPerDocument = 64;

type Args = { document: DocumentNode; operationName?: string | null; variableValues?: Record<string, unknown> | null; requestContext?: Partial<Grafast.RequestContext> };

/**
 * Request limits around PostGraphile: persisted operations, document size and
 * the operation's shape (depth, list depth, page size, root fields, cost, with
 * the variables) when grafserv has read the body, before it parses and
 * validates the document; introspection as a validation rule. Every refusal
 * carries a code, over HTTP and WebSocket alike.
 *
 * The shape is measured before validation because validating is not cheap
 * either: OverlappingFieldsCanBeMerged compares fields pairwise, and a 32 kB
 * document of 1,000 root fields with one response name costs it half a
 * second, while measuring it costs microseconds (tests/server/fragment-bomb.test.ts).
 */
export function makeLimitsPlugin(limits: ApiLimits, manifest: Manifest): GraphileConfig.Plugin {
  // The schema the shape is measured against: captured when built (watch mode rebuilds it).
  let schema: GraphQLSchema | undefined;
  // The shape of a document depends only on the document, the operation chosen and
  // the variables (page sizes): remember it per parsed document (parseDocument keeps
  // the same DocumentNode for the same text while it is cached) and per operation
  // name + variables, when those are small. Bounded per document.
  const shapes = new WeakMap<DocumentNode, Map<string, DocumentShape>>();
  const measureCached = (built: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown>) => {
    const key = `${operationName ?? ""}\n${JSON.stringify(variables)}`;
    if (key.length > maxShapeKeyLength) return measure(built, document, operationName, variables, limits);
    let byKey = shapes.get(document);
    if (!byKey) shapes.set(document, (byKey = new Map()));
    let shape = byKey.get(key);
    if (!shape) {
      shape = measure(built, document, operationName, variables, limits);
      if (byKey.size >= maxShapesPerDocument) byKey.clear();
      byKey.set(key, shape);
    }
    return shape;
  };
  /** Refuses a document whose operation breaks a limit; one that does not parse is left to grafserv to report. */
  const checkDocument = (query: string, operationName: unknown, variables: unknown) => {
    // startApi builds the schema before it listens, so this is a broken invariant, not a state.
    if (!schema) throw new Error("GroundworkLimitsPlugin: a request arrived before the schema was built");
    const document = parseDocument(query);
    if (!document) return;
    const name = typeof operationName === "string" ? operationName : undefined;
    const values = variables && typeof variables === "object" && !Array.isArray(variables) ? (variables as Record<string, unknown>) : {};
    const violation = checkShape(measureCached(schema, document, name, values), limits);
    if (violation) {
      throw new SafeError(violation.message, { statusCode: 400, code: violation.code, ...(violation.field ? { field: violation.field } : {}) });
    }
  };
  const untimedPresets = new WeakMap<GraphileConfig.ResolvedPreset, GraphileConfig.ResolvedPreset>();
  // Documents with their default pages filled in, per validated document (the same object while it is cached).
  const paged = new WeakMap<DocumentNode, DocumentNode>();
  const withPages = (document: DocumentNode) => {
    if (!schema) return document;
    let result = paged.get(document);
    if (!result) paged.set(document, (result = withDefaultPages(schema, document, limits)));
    return result;
  };
  /** Names the operation in the request's log line and metrics. */
  const recordOperation = (args: Args) => {
    const record = recordOf(requestOf(args.requestContext));
    const operation = record && selectOperation(args.document, args.operationName);
    if (record && operation) {
      record.operationName = operation.name?.value;
      record.operationType = operation.operation;
    }
  };
  return {
    name: "GroundworkLimitsPlugin",
    version: "1.0.0",
    schema: {
      hooks: {
        finalize(built) {
          schema = built;
          return built;
        },
      },
    },
    grafserv: {
      middleware: {
        setPreset(next, event) {
          if (!limits.introspection) event.validationRules.push(NoIntrospection);
          return next();
        },
        processGraphQLRequestBody(next, event) {
          const { body } = event;
          const resolved = resolveDocument(limits.persistedOperations, manifest, body);
          if (!resolved.ok) throw new SafeError(resolved.message, { statusCode: 400, code: resolved.code });
          if (resolved.query !== undefined) body.query = resolved.query;
          if (typeof body.query === "string") {
            if (Buffer.byteLength(body.query, "utf8") > limits.maxDocumentBytes) {
              throw new SafeError(`The GraphQL document is larger than ${limits.maxDocumentBytes} bytes (GRAPHQL_MAX_DOCUMENT_BYTES).`, {
                statusCode: 413,
                code: "DOCUMENT_TOO_LARGE",
              });
            }
            checkDocument(body.query, body.operationName, body.variableValues);
          }
          return next();
        },
      },
    },
    grafast: {
      middleware: {
        // A connection without first/last gets a page (documented in docs/operations.md#cost), over HTTP and WebSocket alike.
        prepareArgs(next, event) {
          event.args.document = withPages(event.args.document);
          return next();
        },
        // grafast's execution timeout runs from the start of an operation; a subscription's events all
        // share that start, so every event after GRAPHQL_EXECUTION_TIMEOUT_MS would fail. A subscription
        // runs without it (each event's statements keep statement_timeout; the socket ends with its token).
        subscribe(next, event) {
          const args = event.args as Args & { resolvedPreset?: GraphileConfig.ResolvedPreset };
          const preset = args.resolvedPreset;
          if (preset?.grafast?.timeouts?.execution !== undefined && selectOperation(args.document, args.operationName)?.operation === "subscription") {
            let untimed = untimedPresets.get(preset);
            if (!untimed) {
              untimed = { ...preset, grafast: { ...preset.grafast, timeouts: { ...preset.grafast.timeouts, execution: undefined } } };
              untimedPresets.set(preset, untimed);
            }
            args.resolvedPreset = untimed;
          }
          return next();
        },
        execute(next, event) {
          recordOperation(event.args as Args);
          // Over HTTP grafserv writes the payload out itself (grafserv.outputDataAsString),
          // so grafast may build the JSON text of `data` directly instead of objects that are
          // then stringified. WebSocket payloads (graphql-ws) need objects.
          if (event.args.requestContext?.expressv4) event.args.outputDataAsString = true;
          return next();
        },
      },
    },
  };
}
