import { unprefixedSchemas } from "../src/modules.ts";

/**
 * Names that stay unique and readable as modules are added. Tables and
 * functions of the unprefixed schemas (src/modules.ts) keep their plain names
 * (`User`, `currentUser`); every other schema's get the schema as prefix, so
 * `sales.orders` is `SalesOrder` and `ticketing.orders` is `TicketingOrder`
 * rather than a start-up crash on a duplicate type name.
 */

export const SchemaPrefixInflectionPlugin: GraphileConfig.Plugin = {
  name: "GroundworkSchemaPrefixInflectionPlugin",
  version: "1.0.0",
  inflection: {
    replace: {
      _schemaPrefix(_previous, _options, { pgNamespace, serviceName }) {
        const databasePrefix = serviceName === "main" ? "" : `${serviceName}_`;
        const schemaPrefix = unprefixedSchemas.includes(pgNamespace.nspname) ? "" : `${pgNamespace.nspname}_`;
        return `${databasePrefix}${schemaPrefix}`;
      },
    },
  },
};
