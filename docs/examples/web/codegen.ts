import type { CodegenConfig } from "@graphql-codegen/cli";

// Typed documents for every graphql(`…`) call in src/, from the committed schema (docs/schema.graphql).
const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: ["src/**/*.tsx", "src/**/*.ts", "!src/gql/**/*"],
  ignoreNoDocuments: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: { scalars: { BigInt: "string", BigFloat: "string", Datetime: "string", UUID: "string", Cursor: "string", JSON: "unknown" }, enumsAsTypes: true },
    },
  },
};
export default config;
