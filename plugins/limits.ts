import { SafeError } from "postgraphile/grafast";
import { GraphQLError, type ValidationRule } from "postgraphile/graphql";
import type { ApiLimits } from "../src/config.ts";
import { checkShape, measure } from "../src/server/limits.ts";
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

type Args = { document: import("postgraphile/graphql").DocumentNode; operationName?: string | null; variableValues?: Record<string, unknown> | null; schema: import("postgraphile/graphql").GraphQLSchema; requestContext?: Partial<Grafast.RequestContext> };

/**
 * Request limits around PostGraphile: persisted operations and document size
 * when the body is read (grafserv), introspection as a validation rule, and
 * depth, list depth, page size, root fields and cost before planning
 * (grafast), with variables known. Every refusal carries a code.
 */
export function makeLimitsPlugin(limits: ApiLimits, manifest: Manifest): GraphileConfig.Plugin {
  // The shape of a document depends only on the document, the operation chosen and
  // the variables (page sizes): remember it per parsed document (grafserv hands the
  // same DocumentNode for the same text while it is in its parse cache) and per
  // operation name + variables, when those are small. Bounded per document.
  const shapes = new WeakMap<Args["document"], Map<string, ReturnType<typeof measure>>>();
  const measureCached = (args: Args) => {
    const variables = args.variableValues ?? {};
    const key = `${args.operationName ?? ""}\n${JSON.stringify(variables)}`;
    if (key.length > maxShapeKeyLength) return measure(args.schema, args.document, args.operationName, variables, limits);
    let byKey = shapes.get(args.document);
    if (!byKey) shapes.set(args.document, (byKey = new Map()));
    let shape = byKey.get(key);
    if (!shape) {
      shape = measure(args.schema, args.document, args.operationName, variables, limits);
      if (byKey.size >= maxShapesPerDocument) byKey.clear();
      byKey.set(key, shape);
    }
    return shape;
  };
  const check = (args: Args) => {
    const shape = measureCached(args);
    const record = recordOf(requestOf(args.requestContext));
    if (record && shape.operation) {
      record.operationName = shape.operation.name?.value;
      record.operationType = shape.operation.operation;
    }
    const violation = checkShape(shape, limits);
    return violation ? { errors: [new GraphQLError(violation.message, { extensions: { code: violation.code } })] } : null;
  };
  return {
    name: "GroundworkLimitsPlugin",
    version: "1.0.0",
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
          if (typeof body.query === "string" && Buffer.byteLength(body.query, "utf8") > limits.maxDocumentBytes) {
            throw new SafeError(`The GraphQL document is larger than ${limits.maxDocumentBytes} bytes (GRAPHQL_MAX_DOCUMENT_BYTES).`, {
              statusCode: 413,
              code: "DOCUMENT_TOO_LARGE",
            });
          }
          return next();
        },
      },
    },
    grafast: {
      middleware: {
        execute(next, event) {
          const refused = check(event.args as Args);
          if (refused) return refused;
          // Over HTTP grafserv writes the payload out itself (grafserv.outputDataAsString),
          // so grafast may build the JSON text of `data` directly instead of objects that are
          // then stringified. WebSocket payloads (graphql-ws) need objects.
          if (event.args.requestContext?.expressv4) event.args.outputDataAsString = true;
          return next();
        },
        subscribe(next, event) {
          return check(event.args as Args) ?? next();
        },
      },
    },
  };
}
