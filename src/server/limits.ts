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
import type { ApiLimits } from "../config.ts";
import type { ErrorCode } from "../errors.ts";

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
