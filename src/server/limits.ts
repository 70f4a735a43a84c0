import {
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from "postgraphile/graphql";
import type { ErrorCode } from "../../plugins/errorCodes.ts";

/** Largest request body accepted; bigger ones get 413 before anything parses them. */
export const maxRequestBytes = 1_000_000;

/** What the API refuses, and how long it lets work run (src/config.ts reads these from the environment). */
export interface ApiLimits {
  /** Deepest selection nesting (introspection fields excluded). */
  maxDepth: number;
  /** Most lists (connections, list fields) nested inside each other. */
  maxListDepth: number;
  /** Largest `first`/`last`; also the page size the cost estimate assumes when neither is given. */
  maxPageSize: number;
  /** Longest GraphQL document, in bytes of UTF-8. */
  maxDocumentBytes: number;
  /** Most root fields (aliases count) in the operation a request runs. */
  maxOperations: number;
  /** Highest cost estimate: every field costs 1, times the page sizes of the lists around it. */
  maxCost: number;
  planningTimeoutMs: number;
  executionTimeoutMs: number;
  /** PostgreSQL statement_timeout of every API transaction. */
  statementTimeoutMs: number;
  introspection: boolean;
  graphiql: boolean;
  /** off: any document; allow: ids or documents; only: ids (or documents whose hash is in the manifest). */
  persistedOperations: "off" | "allow" | "only";
  persistedOperationsFile: string | undefined;
  rateLimit: RateLimitOptions;
  /** Express `trust proxy`: which X-Forwarded-For hops to believe for the client IP. */
  trustProxy: boolean | number | string;
  /** Allowed browser origins; empty: no CORS headers (same-origin only). */
  corsOrigins: string[];
  /** How long SIGTERM waits for in-flight requests and jobs before closing connections. */
  shutdownTimeoutMs: number;
  metrics: boolean;
}

export interface RateLimitOptions {
  windowSeconds: number;
  /** Requests per window per client IP (0: no limit). */
  perIp: number;
  /** Requests per window per signed-in user (0: no limit). */
  perUser: number;
  /** Sign-in mutations (login, register, refreshSession, changePassword) per window per IP. */
  signInPerIp: number;
  signInWindowSeconds: number;
}

export const apiDefaults = {
  maxDepth: 12,
  maxListDepth: 4,
  maxPageSize: 100,
  maxDocumentBytes: 32_768,
  maxOperations: 20,
  maxCost: 25_000,
  planningTimeoutMs: 500,
  executionTimeoutMs: 10_000,
  statementTimeoutMs: 5_000,
  rateLimit: { windowSeconds: 60, perIp: 1200, perUser: 600, signInPerIp: 20, signInWindowSeconds: 300 },
  shutdownTimeoutMs: 10_000,
} as const;

/** Limits for code that starts an API without a Config (tests, benchmarks). */
export function defaultApiLimits(overrides: Partial<ApiLimits> = {}): ApiLimits {
  return {
    ...apiDefaults,
    rateLimit: { ...apiDefaults.rateLimit },
    introspection: true,
    graphiql: true,
    persistedOperations: "off",
    persistedOperationsFile: undefined,
    trustProxy: false,
    corsOrigins: [],
    metrics: true,
    ...overrides,
  };
}

export interface LimitViolation {
  code: ErrorCode;
  message: string;
}

export interface DocumentShape {
  operation: OperationDefinitionNode | undefined;
  depth: number;
  listDepth: number;
  cost: number;
  rootFields: number;
  /** The largest first/last argument seen (after variables). */
  largestPage: number;
}

/** Integer value of an argument node, with variables substituted; undefined if absent or not a number. */
function intArgument(value: ValueNode | undefined, variables: Record<string, unknown>): number | undefined {
  if (!value) return undefined;
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.VARIABLE) {
    const given = variables[value.name.value];
    return typeof given === "number" ? given : undefined;
  }
  return undefined;
}

function selectOperation(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | undefined {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName) return operations.find((op) => op.name?.value === operationName);
  return operations.length === 1 ? operations[0] : undefined;
}

const isConnectionType = (type: GraphQLNamedType) =>
  isObjectType(type) && type.name.endsWith("Connection") && "pageInfo" in type.getFields();

/**
 * Measures the operation a request runs: selection depth, list nesting, root
 * fields and a cost estimate. A list (a connection, or a list-typed field not
 * directly under a connection) multiplies everything below it by its page
 * size: `first`/`last` when given, otherwise the largest page allowed.
 * Introspection (`__schema`, `__type`) is not measured.
 */
export function measure(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown>,
  limits: Pick<ApiLimits, "maxPageSize">,
): DocumentShape {
  const operation = selectOperation(document, operationName);
  const shape: DocumentShape = { operation, depth: 0, listDepth: 0, cost: 0, rootFields: 0, largestPage: 0 };
  if (!operation) return shape;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const rootType =
    operation.operation === "query" ? schema.getQueryType() : operation.operation === "mutation" ? schema.getMutationType() : schema.getSubscriptionType();
  if (!rootType) return shape;

  const fieldsOf = (type: GraphQLNamedType | undefined): Record<string, GraphQLField<unknown, unknown>> | undefined =>
    type && "getFields" in type && !("getValues" in type) ? (type.getFields() as Record<string, GraphQLField<unknown, unknown>>) : undefined;

  // Returns the cost of one instance of the selection set.
  const walk = (
    selectionSet: SelectionSetNode,
    parentType: GraphQLNamedType,
    depth: number,
    listDepth: number,
    underConnection: boolean,
    visiting: Set<string>,
  ): number => {
    let cost = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name.startsWith("__")) continue;
        if (depth === 1) shape.rootFields += 1;
        shape.depth = Math.max(shape.depth, depth);
        const field = fieldsOf(parentType)?.[name];
        if (!field) {
          cost += 1;
          continue;
        }
        const named = getNamedType(field.type);
        const connection = isConnectionType(named);
        const plainList = isListType(getNullableType(field.type)) && !underConnection;
        let page = 1;
        if (connection || plainList) {
          const args = new Map(selection.arguments?.map((arg) => [arg.name.value, arg.value]));
          const first = intArgument(args.get("first"), variables);
          const last = intArgument(args.get("last"), variables);
          const given = [first, last].filter((n): n is number => n !== undefined);
          for (const n of given) shape.largestPage = Math.max(shape.largestPage, n);
          page = given.length ? Math.max(0, Math.min(...given)) : limits.maxPageSize;
        }
        const nextListDepth = listDepth + (connection || plainList ? 1 : 0);
        shape.listDepth = Math.max(shape.listDepth, nextListDepth);
        const childCost = selection.selectionSet
          ? walk(selection.selectionSet, named, depth + 1, nextListDepth, connection, visiting)
          : 0;
        cost += 1 + page * childCost;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const typeName = selection.typeCondition?.name.value;
        const type = (typeName && schema.getType(typeName)) || parentType;
        cost += walk(selection.selectionSet, type, depth, listDepth, underConnection, visiting);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || visiting.has(name)) continue;
        const type = schema.getType(fragment.typeCondition.name.value) ?? parentType;
        visiting.add(name);
        cost += walk(fragment.selectionSet, type, depth, listDepth, underConnection, visiting);
        visiting.delete(name);
      }
    }
    return cost;
  };
  shape.cost = walk(operation.selectionSet, rootType, 1, 0, false, new Set());
  return shape;
}

/** The first limit a measured operation breaks, or null. */
export function checkShape(shape: DocumentShape, limits: ApiLimits): LimitViolation | null {
  if (shape.rootFields > limits.maxOperations) {
    return {
      code: "TOO_MANY_OPERATIONS",
      message: `The operation has ${shape.rootFields} root fields; at most ${limits.maxOperations} are allowed per request (aliases count).`,
    };
  }
  if (shape.depth > limits.maxDepth) {
    return { code: "DEPTH_LIMIT_EXCEEDED", message: `The operation is ${shape.depth} levels deep; at most ${limits.maxDepth} are allowed.` };
  }
  if (shape.listDepth > limits.maxListDepth) {
    return {
      code: "LIST_DEPTH_LIMIT_EXCEEDED",
      message: `The operation nests ${shape.listDepth} lists inside each other; at most ${limits.maxListDepth} are allowed.`,
    };
  }
  if (shape.largestPage > limits.maxPageSize) {
    return {
      code: "PAGE_SIZE_LIMIT_EXCEEDED",
      message: `first/last is ${shape.largestPage}; at most ${limits.maxPageSize} rows may be asked for at once (paginate with after/before).`,
    };
  }
  if (shape.cost > limits.maxCost) {
    return {
      code: "COST_LIMIT_EXCEEDED",
      message: `The operation's estimated cost is ${shape.cost}; the budget is ${limits.maxCost}. Ask for smaller pages or fewer nested lists.`,
    };
  }
  return null;
}

/** Operation definitions in a document (a document may hold several; a request runs one). */
export function operationCount(document: DocumentNode): number {
  return document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).length;
}
