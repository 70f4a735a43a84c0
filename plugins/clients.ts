import type { GraphQLInputType } from "postgraphile/graphql";

/**
 * Filter operators an ordinary btree index can serve. Every column that can be
 * filtered at all is indexed (PostGraphile's PgIndexBehaviorsPlugin removes
 * filterBy/orderBy from unindexed columns unless tagged `@isIndexed`), so a
 * filter built from these never forces a scan of a large table.
 */
export const indexOperators = [
  "isNull",
  "equalTo",
  "notEqualTo",
  "distinctFrom",
  "notDistinctFrom",
  "in",
  "notIn",
  "lessThan",
  "lessThanOrEqualTo",
  "greaterThan",
  "greaterThanOrEqualTo",
] as const;

/**
 * Text search operators: a column opts in with the smart tag
 * `@behavior +attribute:filterBy:pattern` (give it a trigram index first), and
 * its filter field then takes `StringPatternFilter` instead of `StringFilter`.
 */
export const patternOperators = [
  "includes",
  "notIncludes",
  "includesInsensitive",
  "notIncludesInsensitive",
  "startsWith",
  "notStartsWith",
  "startsWithInsensitive",
  "notStartsWithInsensitive",
  "endsWith",
  "notEndsWith",
  "endsWithInsensitive",
  "notEndsWithInsensitive",
  "like",
  "notLike",
  "likeInsensitive",
  "notLikeInsensitive",
] as const;

const patternFilterTypeName = "StringPatternFilter";

/**
 * Schema options of the filter and aggregate plugins. Aggregates exist only on
 * tables tagged `@behavior +aggregates` (docs/clients.md lists them); filters
 * reach no relations, functions or arrays (each would be a join or a scan the
 * cost estimate cannot see), and null or empty filter objects are refused.
 */
export const clientSchemaOptions: GraphileBuild.SchemaOptions = {
  connectionFilterRelations: false,
  connectionFilterComputedColumns: false,
  connectionFilterSetofFunctions: false,
  connectionFilterArrays: false,
  connectionFilterLogicalOperators: true,
  connectionFilterAllowNullInput: false,
  connectionFilterAllowEmptyObjectInput: false,
  defaultBehavior:
    "-aggregates -aggregates:filterBy -aggregates:orderBy -groupedAggregates -groupedAggregates:having -aggregate:filterBy -aggregate:orderBy -filterProc",
};

/**
 * Restricts filter operators to the index-servable ones, except on the text
 * columns that opt in to pattern search (`StringPatternFilter`).
 */
export const ClientsPlugin: GraphileConfig.Plugin = {
  name: "GroundworkClientsPlugin",
  version: "1.0.0",
  after: ["PgConnectionArgFilterPlugin", "PgConnectionArgFilterAttributesPlugin", "PgConnectionArgFilterOperatorsPlugin", "PgIndexBehaviorsPlugin"],
  gather: {
    hooks: {
      // A view has no index of its own, and PostGraphile gives views the benefit of the doubt (condition and orderBy
      // stay as they were); the new `filter` gives them none: a view's column is in its filter only when its comment
      // says `@isIndexed` (what it reads is indexed).
      pgCodecs_attribute(_info, event) {
        const table = event.pgAttribute.getClass();
        if (table?.relkind !== "v") return;
        const attribute = event.attribute as { extensions?: { groundworkViewColumn?: boolean } };
        attribute.extensions ??= Object.create(null) as { groundworkViewColumn?: boolean };
        attribute.extensions!.groundworkViewColumn = true;
      },
    },
  },
  schema: {
    behaviorRegistry: {
      add: {
        "attribute:filterBy:pattern": {
          entities: ["pgCodecAttribute"],
          description: "Text search operators (includes, startsWith, like …) in this column's filter; give it a trigram index first",
        },
      },
    },
    entityBehavior: {
      pgCodecAttribute: "-attribute:filterBy:pattern",
      // A relation filter is a join per row; a constraint that needs one says so with `@behavior +filterBy` (smart tags come later).
      pgCodecRelation: {
        inferred: {
          after: ["inferred", "postInferred"],
          provides: ["groundworkNoRelationFilters"],
          callback: (behavior) => [behavior, "-filterBy"],
        },
      },
    },
    hooks: {
      init(_, build) {
        const text = build.dataplanPg.TYPES.text;
        build.registerInputObjectType(
          patternFilterTypeName,
          {
            pgConnectionFilterOperators: { isList: false, pgCodecs: [text], inputTypeName: "String", rangeElementInputTypeName: null, domainBaseTypeName: null },
          } as GraphileBuild.ScopeInputObject,
          () => ({
            description: "A filter on a String field that opted in to text search (its column has a trigram index). All fields are combined with a logical ‘and.’",
          }),
          "GroundworkClientsPlugin",
        );
        return _;
      },
      GraphQLInputObjectType_fields(fields, build, context) {
        const scope = context.scope as GraphileBuild.ScopeInputObject & {
          pgConnectionFilterOperators?: unknown;
          isPgConnectionFilter?: boolean;
          pgCodec?: { attributes?: Record<string, { codec: unknown }> };
        };
        if (scope.pgConnectionFilterOperators) {
          const allowed: readonly string[] = context.Self.name === patternFilterTypeName ? [...indexOperators, ...patternOperators] : indexOperators;
          return Object.fromEntries(Object.entries(fields).filter(([name]) => allowed.includes(name)));
        }
        const codec = scope.pgCodec;
        if (!scope.isPgConnectionFilter || !codec?.attributes) return fields;
        const patternType = build.getTypeByName(patternFilterTypeName) as GraphQLInputType | undefined;
        if (!patternType) return fields;
        const result = { ...fields };
        for (const [attributeName, attribute] of Object.entries(codec.attributes)) {
          const fieldName = build.inflection.attribute({ codec: codec as never, attributeName });
          const field = result[fieldName];
          if (!field) continue;
          const extensions = (attribute as { extensions?: { groundworkViewColumn?: boolean; tags?: { isIndexed?: unknown } } }).extensions;
          if (extensions?.groundworkViewColumn && !extensions.tags?.isIndexed) {
            delete result[fieldName];
            continue;
          }
          if (!build.behavior.pgCodecAttributeMatches([codec as never, attributeName], "attribute:filterBy:pattern")) continue;
          result[fieldName] = { ...field, type: patternType };
        }
        return result;
      },
    },
  },
};

declare global {
  namespace GraphileBuild {
    interface BehaviorStrings {
      "attribute:filterBy:pattern": true;
    }
  }
}
