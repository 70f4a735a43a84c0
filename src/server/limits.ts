import {
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  Kind,
  parse,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type ArgumentNode,
  type FieldNode,
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
  /** The field the violation is about (a dotted path of response names), when there is one. */
  field?: string;
}

/**
 * The list that adds most to the cost: cutting its page to 1 would save
 * `saving`, so each row of its page adds `saving / (page - 1)`.
 */
export interface CostHotSpot {
  path: string;
  page: number;
  /** Whether first/last was given (otherwise the page is a default). */
  given: boolean;
  saving: number;
}

export interface DocumentShape {
  operation: OperationDefinitionNode | undefined;
  depth: number;
  listDepth: number;
  cost: number;
  rootFields: number;
  /** The largest first/last argument seen (after variables). */
  largestPage: number;
  /** The first first/last/offset argument below zero (after variables), if any. */
  negativeArgument: { field: string; argument: string; value: number } | undefined;
  /** The list whose page size adds most to the cost, if any list has a page over 1. */
  hotSpot: CostHotSpot | undefined;
  /** The first filter/condition/having argument over the filter limits (after variables), if any. */
  filterViolation: ({ field: string } & Complexity) | undefined;
}

/** Connection arguments that hold a filter: their values are counted (terms) and their nesting bounded. */
const filterArguments = new Set(["filter", "condition", "having"]);

/** Aggregate fields of a connection (@graphile/pg-aggregates): they read every row the filter selects, not a page. */
const aggregateFields = new Set(["aggregates", "groupedAggregates"]);

/** Values and nesting of a plain JS value (a variable's value). */
function jsComplexity(value: unknown, depth: number, into: Complexity, limit: number): void {
  if (into.terms > limit) return;
  if (Array.isArray(value)) {
    into.depth = Math.max(into.depth, depth + 1);
    if (value.length === 0) into.terms += 1;
    for (const item of value) jsComplexity(item, depth + 1, into, limit);
  } else if (value !== null && typeof value === "object") {
    into.depth = Math.max(into.depth, depth + 1);
    const entries = Object.values(value as Record<string, unknown>);
    if (entries.length === 0) {
      into.terms += 1;
      if (depth > 0) into.emptyOrNull = true;
    }
    for (const item of entries) jsComplexity(item, depth + 1, into, limit);
  } else {
    if (value === null && depth > 0) into.emptyOrNull = true;
    into.terms += 1;
  }
}

/** What a filter argument holds: values, nesting, and whether a field of it is null or an empty object (the filter plugin refuses both). */
export interface Complexity {
  terms: number;
  depth: number;
  emptyOrNull: boolean;
}

/**
 * Values (leaves; an empty object or list counts 1) and nesting of an argument,
 * variables substituted. Stops counting past `limit`: a 10,000-item list costs
 * no more to refuse than a 500-item one.
 */
export function argumentComplexity(value: ValueNode, variables: Record<string, unknown>, limit: number): Complexity {
  const into: Complexity = { terms: 0, depth: 0, emptyOrNull: false };
  const walk = (node: ValueNode, depth: number) => {
    if (into.terms > limit) return;
    if (node.kind === Kind.VARIABLE) {
      const given = variables[node.name.value];
      if (given === undefined) into.terms += 1;
      else jsComplexity(given, depth, into, limit);
    } else if (node.kind === Kind.LIST) {
      into.depth = Math.max(into.depth, depth + 1);
      if (node.values.length === 0) into.terms += 1;
      for (const item of node.values) walk(item, depth + 1);
    } else if (node.kind === Kind.OBJECT) {
      into.depth = Math.max(into.depth, depth + 1);
      if (node.fields.length === 0) {
        into.terms += 1;
        if (depth > 0) into.emptyOrNull = true;
      }
      for (const field of node.fields) walk(field.value, depth + 1);
    } else {
      if (node.kind === Kind.NULL && depth > 0) into.emptyOrNull = true;
      into.terms += 1;
    }
  };
  walk(value, 0);
  return into;
}

/** Page arguments of connections and lists (first and last are page sizes); none of them may be negative. */
const pageArguments = ["first", "last", "offset"] as const;

/**
 * Counts saturate here rather than growing to Infinity (Infinity × a page of 0
 * would be NaN). Anything this large is over every budget anyway.
 */
const saturation = Number.MAX_SAFE_INTEGER;
const saturate = (n: number) => (n > saturation ? saturation : n);

/** Integer value of an argument node, with variables (or their defaults) substituted; undefined if absent or not a number. */
function intArgument(value: ValueNode | undefined, variables: Record<string, unknown>, defaults: ReadonlyMap<string, ValueNode>): number | undefined {
  if (!value) return undefined;
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.VARIABLE) {
    const name = value.name.value;
    const given = variables[name];
    if (typeof given === "number") return given;
    const fallback = given === undefined ? defaults.get(name) : undefined;
    return fallback?.kind === Kind.INT ? Number(fallback.value) : undefined;
  }
  return undefined;
}

export function selectOperation(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | undefined {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName) return operations.find((op) => op.name?.value === operationName);
  return operations.length === 1 ? operations[0] : undefined;
}

const isConnectionType = (type: GraphQLNamedType) =>
  isObjectType(type) && type.name.endsWith("Connection") && "pageInfo" in type.getFields();

/** What one instance of a selection set adds up to; fragments are summarised once and reused wherever spread. */
interface Summary {
  cost: number;
  /** Deepest field nesting inside it (a field of the set itself is 1). */
  depth: number;
  /** Most lists nested inside it. */
  listDepth: number;
  /** Fields of the set itself, each spread counted (the root fields, at the root). */
  fields: number;
  /** The list inside it whose page size adds most to its cost (path relative to the set). */
  hot?: CostHotSpot | undefined;
}

const empty: Summary = { cost: 0, depth: 0, listDepth: 0, fields: 0 };

const hotter = (a: CostHotSpot | undefined, b: CostHotSpot | undefined) => (!a ? b : !b ? a : b.saving > a.saving ? b : a);

/**
 * Where a selection set sits: directly under a connection (its `nodes`/`edges`
 * are not lists of their own), inside introspection or an unknown field (every
 * field costs 1, nothing is multiplied), or elsewhere.
 */
type Where = "connection" | "unpriced" | "data";

/** The introspection fields of the query root and their types (getFields() does not list them). */
const introspectionRoots = new Map([
  ["__schema", "__Schema"],
  ["__type", "__Type"],
]);

/**
 * Measures the operation a request runs: selection depth, list nesting, root
 * fields and a cost estimate. A list (a connection, or a list-typed field not
 * directly under a connection) multiplies everything below it by its page
 * size: `first`/`last` when given (at least 1), otherwise the largest page
 * allowed. Introspection (`__schema`, `__type`, `__typename`) is not priced
 * as data: no depth, no lists, root fields or page sizes, but each of its
 * fields costs 1, so that it cannot hide a fragment bomb either.
 *
 * Linear in the document's size, whatever it expands to: each fragment is
 * summarised once per (fragment, where it is spread: directly under a
 * connection, inside introspection, elsewhere) and a spread adds that summary, so a fragment spread twice by a fragment spread
 * twice... costs one visit per fragment, not 2^n. It runs before validation,
 * so it tolerates any parsed document: an unknown field costs 1 plus what it
 * selects, unknown fragments and types count nothing, and a fragment cycle is cut.
 */
export function measure(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown>,
  limits: Pick<ApiLimits, "maxPageSize"> & Partial<Pick<ApiLimits, "defaultPageSize" | "maxFilterTerms" | "maxFilterDepth">>,
): DocumentShape {
  const operation = selectOperation(document, operationName);
  const shape: DocumentShape = {
    operation,
    depth: 0,
    listDepth: 0,
    cost: 0,
    rootFields: 0,
    largestPage: 0,
    negativeArgument: undefined,
    hotSpot: undefined,
    filterViolation: undefined,
  };
  const nestedPage = Math.min(limits.defaultPageSize ?? limits.maxPageSize, limits.maxPageSize);
  const maxFilterTerms = limits.maxFilterTerms ?? Number.MAX_SAFE_INTEGER;
  const maxFilterDepth = limits.maxFilterDepth ?? Number.MAX_SAFE_INTEGER;
  if (!operation) return shape;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION && !fragments.has(definition.name.value)) fragments.set(definition.name.value, definition);
  }
  const defaults = new Map<string, ValueNode>();
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue) defaults.set(definition.variable.name.value, definition.defaultValue);
  }
  const rootType =
    operation.operation === "query" ? schema.getQueryType() : operation.operation === "mutation" ? schema.getMutationType() : schema.getSubscriptionType();
  if (!rootType) return shape;
  const rootTypes = rootTypesOf(schema);

  const fieldsOf = (type: GraphQLNamedType | undefined): Record<string, GraphQLField<unknown, unknown>> | undefined =>
    type && "getFields" in type && !("getValues" in type) ? (type.getFields() as Record<string, GraphQLField<unknown, unknown>>) : undefined;

  const summaries = new Map<string, Summary>();
  const inProgress = new Set<string>();

  const fragmentSummary = (name: string, where: Where): Summary => {
    const fragment = fragments.get(name);
    const type = fragment && schema.getType(fragment.typeCondition.name.value);
    if (!fragment || !type) return empty;
    const key = `${where[0]}${name}`;
    const known = summaries.get(key);
    if (known) return known;
    if (inProgress.has(key)) return empty; // a cycle: invalid, and validation will say so
    inProgress.add(key);
    const summary = summarise(fragment.selectionSet, type, where);
    inProgress.delete(key);
    summaries.set(key, summary);
    return summary;
  };

  const summarise = (selectionSet: SelectionSetNode, parentType: GraphQLNamedType, where: Where): Summary => {
    let cost = 0;
    let depth = 0;
    let listDepth = 0;
    let fields = 0;
    let hot: CostHotSpot | undefined;
    const add = (part: Summary) => {
      cost = saturate(cost + part.cost);
      depth = Math.max(depth, part.depth);
      listDepth = Math.max(listDepth, part.listDepth);
      fields = saturate(fields + part.fields);
      hot = hotter(hot, part.hot);
    };
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (where === "unpriced" || name.startsWith("__")) {
          // Every field 1, nothing multiplied: GraphiQL's introspection query costs a few hundred.
          const type = introspectionRoots.has(name) ? schema.getType(introspectionRoots.get(name)!) : fieldsOf(parentType)?.[name]?.type;
          const child = selection.selectionSet ? summarise(selection.selectionSet, (type && getNamedType(type)) || parentType, "unpriced") : empty;
          add({ cost: saturate(1 + child.cost), depth: 0, listDepth: 0, fields: 0 });
          continue;
        }
        const field = fieldsOf(parentType)?.[name];
        if (!field) {
          // Invalid (validation will say so), but what it selects is still counted: nothing may hide a bomb.
          const child = selection.selectionSet ? summarise(selection.selectionSet, parentType, "unpriced") : empty;
          add({ cost: saturate(1 + child.cost), depth: 1, listDepth: 0, fields: 1 });
          continue;
        }
        const named = getNamedType(field.type);
        const connection = isConnectionType(named);
        const plainList = isListType(getNullableType(field.type)) && where !== "connection";
        const responseName = selection.alias?.value ?? name;
        // An aggregate reads every row its connection's filter selects: priced as a full page of each aggregated field.
        const aggregate = where === "connection" && aggregateFields.has(name);
        let page = 1;
        let given: number[] = [];
        let terms = 0;
        if (connection || plainList) {
          const args = new Map(selection.arguments?.map((arg) => [arg.name.value, arg.value]));
          const values = pageArguments.map((argument) => intArgument(args.get(argument), variables, defaults));
          values.forEach((value, i) => {
            if (value !== undefined && value < 0 && !shape.negativeArgument) shape.negativeArgument = { field: name, argument: pageArguments[i]!, value };
          });
          given = values.slice(0, 2).filter((n): n is number => n !== undefined);
          for (const n of given) shape.largestPage = Math.max(shape.largestPage, n);
          // A page of 0 still has its selection planned: it counts as 1, or `first: 0` would
          // hide any fragment bomb below it from the budget (and grafast's planner walks every spread).
          // Without first/last a connection gets a page (plugins/limits.ts adds `first`): the largest at
          // the root, the default page size anywhere deeper.
          page = given.length ? Math.max(1, Math.min(...given)) : connection && !rootTypes.has(parentType.name) ? nestedPage : limits.maxPageSize;
        }
        if (aggregate) page = limits.maxPageSize;
        for (const arg of selection.arguments ?? []) {
          if (!filterArguments.has(arg.name.value)) continue;
          const complexity = argumentComplexity(arg.value, variables, maxFilterTerms);
          terms = saturate(terms + complexity.terms);
          if ((complexity.terms > maxFilterTerms || complexity.depth > maxFilterDepth || complexity.emptyOrNull) && !shape.filterViolation) {
            shape.filterViolation = { field: responseName, ...complexity };
          }
        }
        const child = selection.selectionSet ? summarise(selection.selectionSet, named, connection ? "connection" : "data") : empty;
        const prefixed = child.hot && { ...child.hot, path: `${responseName}.${child.hot.path}`, saving: saturate(page * child.hot.saving) };
        const own: CostHotSpot | undefined =
          page > 1 && !aggregate ? { path: responseName, page, given: given.length > 0, saving: saturate((page - 1) * child.cost) } : undefined;
        add({
          // Each filter value is a comparison per row considered: it costs 1, like a field.
          cost: saturate(1 + terms + page * child.cost),
          depth: 1 + child.depth,
          listDepth: (connection || plainList ? 1 : 0) + child.listDepth,
          fields: 1,
          hot: hotter(own, prefixed),
        });
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const typeName = selection.typeCondition?.name.value;
        const type = (typeName && schema.getType(typeName)) || parentType;
        add(summarise(selection.selectionSet, type, where));
      } else {
        add(fragmentSummary(selection.name.value, where));
      }
    }
    return { cost, depth, listDepth, fields, hot };
  };

  const root = summarise(operation.selectionSet, rootType, "data");
  shape.hotSpot = root.hot;
  shape.cost = root.cost;
  shape.depth = root.depth;
  shape.listDepth = root.listDepth;
  shape.rootFields = root.fields;
  return shape;
}

/** The first limit a measured operation breaks, or null. */
export function checkShape(shape: DocumentShape, limits: ApiLimits): LimitViolation | null {
  const negative = shape.negativeArgument;
  if (negative) {
    return {
      code: "GRAPHQL_VALIDATION_FAILED",
      message: `${negative.field}(${negative.argument}: ${negative.value}): ${negative.argument} cannot be negative.`,
    };
  }
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
  const filter = shape.filterViolation;
  if (filter?.emptyOrNull && filter.terms <= limits.maxFilterTerms && filter.depth <= limits.maxFilterDepth) {
    return {
      code: "GRAPHQL_VALIDATION_FAILED",
      field: filter.field,
      message: `The filter of \`${filter.field}\` holds a null or an empty object; leave the field out instead.`,
    };
  }
  if (filter) {
    return {
      code: "FILTER_TOO_COMPLEX",
      field: filter.field,
      message:
        filter.terms > limits.maxFilterTerms
          ? `The filter of \`${filter.field}\` has more than ${limits.maxFilterTerms} values (GRAPHQL_MAX_FILTER_TERMS); split the query or filter on a range.`
          : `The filter of \`${filter.field}\` nests ${filter.depth} levels deep; at most ${limits.maxFilterDepth} are allowed (GRAPHQL_MAX_FILTER_DEPTH).`,
    };
  }
  if (shape.cost > limits.maxCost) {
    return { code: "COST_LIMIT_EXCEEDED", field: shape.hotSpot?.path, message: costMessage(shape, limits) };
  }
  return null;
}

/** Names the list that makes an operation expensive, and the page size that would fit the budget. */
function costMessage(shape: DocumentShape, limits: ApiLimits): string {
  const head = `The operation's estimated cost is ${shape.cost}; the budget is ${limits.maxCost}.`;
  const hot = shape.hotSpot;
  if (!hot) return `${head} Select fewer fields.`;
  const perRow = hot.saving / (hot.page - 1);
  const fits = Math.floor(hot.page - (shape.cost - limits.maxCost) / perRow);
  const page = hot.given ? `first/last: ${hot.page}` : `no first/last, so a page of ${hot.page} is assumed`;
  const advice = fits >= 1 ? `add \`first: ${fits}\` (or less) to it` : "even `first: 1` there is over the budget: select fewer nested lists";
  return `${head} Most of it comes from \`${hot.path}\` (${page}): ${advice}, or paginate it in its own query.`;
}

/** Names of the root operation types: connections on them default to the largest page, deeper ones to the default page size. */
export function rootTypesOf(schema: GraphQLSchema): Set<string> {
  return new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((type) => (type ? [type.name] : [])));
}

/** Operation definitions in a document (a document may hold several; a request runs one). */
export function operationCount(document: DocumentNode): number {
  return document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).length;
}

/** Documents parsed lately (most recent last); shapes are remembered per parsed document. */
const parsedDocuments = new Map<string, DocumentNode | null>();
const parsedDocumentsKept = 64;

/**
 * Parses a GraphQL document without locations, or null when it does not parse
 * (grafserv reports the syntax error itself). The last few texts are kept, so
 * a client repeating its operations does not pay for parsing here again.
 */
export function parseDocument(text: string): DocumentNode | null {
  const known = parsedDocuments.get(text);
  if (known !== undefined) {
    parsedDocuments.delete(text);
    parsedDocuments.set(text, known);
    return known;
  }
  let document: DocumentNode | null;
  try {
    document = parse(text, { noLocation: true });
  } catch {
    document = null;
  }
  if (parsedDocuments.size >= parsedDocumentsKept) parsedDocuments.delete(parsedDocuments.keys().next().value!);
  parsedDocuments.set(text, document);
  return document;
}

/**
 * The document with `first:` added to every connection asked for without
 * `first`/`last`: the largest page (GRAPHQL_MAX_PAGE_SIZE) on a root field,
 * the default page size (GRAPHQL_DEFAULT_PAGE_SIZE) on a nested one, which is
 * what measure() priced. The same DocumentNode comes back when nothing changes.
 */
export function withDefaultPages(schema: GraphQLSchema, document: DocumentNode, limits: Pick<ApiLimits, "maxPageSize" | "defaultPageSize">): DocumentNode {
  const typeInfo = new TypeInfo(schema);
  const rootTypes = rootTypesOf(schema);
  const nestedPage = Math.min(limits.defaultPageSize, limits.maxPageSize);
  return visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field: {
        enter(node: FieldNode): FieldNode | undefined {
          const field = typeInfo.getFieldDef();
          const parent = typeInfo.getParentType();
          if (!field || !parent || !isConnectionType(getNamedType(field.type))) return undefined;
          if (!field.args.some((arg) => arg.name === "first")) return undefined;
          if (node.arguments?.some((arg) => arg.name.value === "first" || arg.name.value === "last")) return undefined;
          const page = rootTypes.has(parent.name) ? limits.maxPageSize : nestedPage;
          const first: ArgumentNode = { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: "first" }, value: { kind: Kind.INT, value: String(page) } };
          return { ...node, arguments: [...(node.arguments ?? []), first] };
        },
      },
    }),
  );
}
