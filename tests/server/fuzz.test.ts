import fc from "fast-check";
import {
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
  type IntrospectionQuery,
} from "postgraphile/graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { createUser, roleClaims } from "../helpers/fixtures.ts";
import { registerUser, useTestApi, type GraphQLResponse, type SignedIn } from "../helpers/api.ts";
import { rootDb, withTransaction } from "../helpers/db.ts";

/**
 * Property: whatever a client sends, the API answers without a 5xx, every
 * error carries extensions.code (never INTERNAL_SERVER_ERROR), and the
 * database invariants still hold afterwards. The mutation list comes from
 * introspecting the running schema, so every module's mutations are fuzzed
 * as soon as they are exposed.
 */
const api = useTestApi();
const runsPerMutation = Number(process.env.FUZZ_RUNS ?? 6);
const documentRuns = Number(process.env.FUZZ_DOCUMENT_RUNS ?? 150);

let schema: GraphQLSchema;
let user: SignedIn;

beforeAll(async () => {
  const introspection = await api.graphql<IntrospectionQuery>(getIntrospectionQuery());
  schema = buildClientSchema(introspection.body.data as IntrospectionQuery);
  user = await registerUser(api, "fuzz");
});

function expectWellBehaved(response: GraphQLResponse, context: unknown) {
  const problem =
    response.status >= 500
      ? `HTTP ${response.status}`
      : (response.body.errors ?? []).find((e) => typeof e.extensions?.code !== "string" || e.extensions.code === "INTERNAL_SERVER_ERROR");
  if (problem) {
    throw new Error(`ill-behaved answer: ${JSON.stringify(problem)}\nbody: ${JSON.stringify(response.body).slice(0, 800)}\nsent: ${JSON.stringify(context).slice(0, 800)}`);
  }
}

// Values that break naive code: unicode, NUL, huge, negative, NaN-like, injection, nested objects.
const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("", " ", "\u0000", "a\u0000b", "NaN", "-NaN", "Infinity", "-1", "0", "1e309", "-9223372036854775809", "null", "undefined",
    "' or 1=1 --", "'); drop table auth.users; --", "\\", "%", "_", "\ud800", "🦄".repeat(20), "ß".repeat(300), "<script>alert(1)</script>",
    "00000000-0000-0000-0000-000000000000", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "-infinity", "{}", "[]"),
  fc.integer({ min: 1000, max: 70_000 }).map((n) => "x".repeat(n)),
);
const nastyNumber = fc.oneof(fc.integer(), fc.constantFrom(0, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, -(2 ** 53), 1e308, -1e308, 0.5, -0.0));
const anyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    nastyString,
    nastyNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(nastyString, tie("value"), { maxKeys: 4 }),
  ),
})).value;

function scalarValue(name: string): fc.Arbitrary<unknown> {
  switch (name) {
    case "Int":
      return nastyNumber;
    case "Float":
      return fc.oneof(nastyNumber, fc.double({ noNaN: true, noDefaultInfinity: true }));
    case "Boolean":
      return fc.boolean();
    case "UUID":
      return fc.oneof(fc.uuid(), nastyString);
    case "BigInt":
    case "BigFloat":
      return fc.oneof(fc.bigInt().map(String), nastyString);
    case "Datetime":
    case "Date":
      return fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), nastyString);
    case "JSON":
      return anyJson;
    default:
      return nastyString;
  }
}

/** Values of a GraphQL input type, now and then of the wrong shape. */
function valueOf(type: GraphQLInputType, depth = 0): fc.Arbitrary<unknown> {
  const inner = getNullableType(type) as GraphQLInputType;
  let typed: fc.Arbitrary<unknown>;
  if (isListType(inner)) {
    typed = fc.array(valueOf(inner.ofType, depth + 1), { maxLength: 4 });
  } else if (isInputObjectType(inner)) {
    if (depth > 4) return fc.constant(null);
    const fields = Object.values(inner.getFields());
    typed = fc.record(Object.fromEntries(fields.map((f) => [f.name, valueOf(f.type, depth + 1)])), {
      requiredKeys: fields.filter((f) => isNonNullType(f.type)).map((f) => f.name),
    });
  } else if (isEnumType(inner)) {
    typed = fc.oneof(fc.constantFrom(...inner.getValues().map((v) => v.name)), nastyString);
  } else if (isScalarType(inner)) {
    typed = scalarValue(inner.name);
  } else {
    typed = anyJson;
  }
  const options: Array<fc.WeightedArbitrary<unknown>> = [
    { arbitrary: typed, weight: 8 },
    { arbitrary: anyJson, weight: 1 },
  ];
  if (!isNonNullType(type)) options.push({ arbitrary: fc.constant(null), weight: 1 });
  return fc.oneof(...options);
}

/** A document calling `field` with every argument as a variable, selecting only __typename (or nothing for scalars). */
function mutationDocument(field: GraphQLField<unknown, unknown>): string {
  const variables = field.args.map((a) => `$${a.name}: ${a.type.toString()}`).join(", ");
  const args = field.args.map((a) => `${a.name}: $${a.name}`).join(", ");
  const named = getNamedType(field.type);
  const selection = isScalarType(named) || isEnumType(named) ? "" : " { __typename }";
  return `mutation Fuzz${variables ? `(${variables})` : ""} { ${field.name}${args ? `(${args})` : ""}${selection} }`;
}

// Mutations that end the session run last, so the others run signed in.
const last = (name: string) => (/^(logout|revoke|delete)/i.test(name) ? 1 : 0);

/**
 * What a request could break, checked after each run. (RLS on every table is a
 * property of the migrations, not of requests: tests/project/rls-coverage.test.ts
 * owns that check.)
 */
async function databaseInvariants() {
  await withTransaction(async (tx) => {
    const operator = await createUser(tx, "fuzzop");
    await tx.become(await roleClaims(tx, operator, "gw_admin"));
    const { rows } = await tx.query("select * from audit.verify_chain()");
    expect(rows).toEqual([]);
  });
  // The ledger: every transaction's entries sum to zero per currency.
  const { rows: unbalanced } = await rootDb().query(
    "select transaction_id, currency, sum(amount) from ledger.entries group by 1, 2 having sum(amount) <> 0",
  );
  expect(unbalanced).toEqual([]);
}

describe("fuzzing every mutation input", () => {
  it("finds the mutations by introspection", () => {
    const mutations = Object.keys(schema.getMutationType()?.getFields() ?? {});
    // Mutations of several modules, so the run below reaches beyond auth.
    expect(mutations).toEqual(
      expect.arrayContaining(["register", "login", "createOrganization", "ledgerPostTransfer", "inboxReplayMessages", "opsUnlockWorkers", "financePostTransaction"]),
    );
  });

  it("answers random, huge, unicode and wrongly typed input with coded errors and keeps the invariants", async () => {
    const fields = Object.values(schema.getMutationType()!.getFields()).sort((a, b) => last(a.name) - last(b.name));
    let sent = 0;
    for (const field of fields) {
      const document = mutationDocument(field);
      const variables = fc.record(Object.fromEntries(field.args.map((a) => [a.name, valueOf(a.type)])));
      await fc.assert(
        fc.asyncProperty(variables, fc.boolean(), async (values, signedIn) => {
          sent += 1;
          const response = await api.graphql(document, values as Record<string, unknown>, signedIn ? user.accessToken : undefined);
          expectWellBehaved(response, { document, values });
        }),
        { numRuns: runsPerMutation, endOnFailure: true },
      );
    }
    expect(sent).toBeGreaterThanOrEqual(fields.length * runsPerMutation);
    await databaseInvariants();
  });
});

describe("fuzzing GraphQL documents", () => {
  const seeds = [
    "query { currentUser { userId username memberships(first: 5) { nodes { role organization { name slug } } } } }",
    'mutation { login(input: { identifier: "nobody", password: "nothing" }) { accessToken } }',
    "query($n: Int, $after: Cursor) { organizations(first: $n, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { name } } }",
    "query { __typename ...F } fragment F on Query { currentUser { ...U } } fragment U on User { userId email }",
    'query { node(id: "WyJVc2VyIiwiMSJd") { id __typename } }',
  ];
  const edits = fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
      fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: fc.oneof(fc.constantFrom("{", "}", "(", ")", ":", "$", "@skip(if: true)", "...", '"', "#", "!", "[", "]", "999999999999999", "-1", "first: 1000000", "__schema { types { name } }", "\u0000", "query", "mutation", "fragment X on Y { z }"), fc.string({ maxLength: 6 })) }),
      fc.record({ kind: fc.constant("repeat" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 30 }), times: fc.integer({ min: 2, max: 40 }) }),
    ),
    { maxLength: 6 },
  );
  type Edit =
    | { kind: "delete"; at: number; length: number }
    | { kind: "insert"; at: number; text: string }
    | { kind: "repeat"; at: number; length: number; times: number };
  const apply = (seed: string, list: Edit[]) => {
    let text = seed;
    for (const edit of list) {
      const at = text.length ? edit.at % text.length : 0;
      if (edit.kind === "delete") text = text.slice(0, at) + text.slice(at + edit.length);
      else if (edit.kind === "insert") text = text.slice(0, at) + edit.text + text.slice(at);
      else text = text.slice(0, at) + text.slice(at, at + edit.length).repeat(edit.times) + text.slice(at + edit.length);
    }
    return text;
  };

  it("answers mutated and random documents with coded errors, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ arbitrary: fc.tuple(fc.constantFrom(...seeds), edits).map(([seed, list]) => apply(seed, list)), weight: 4 }, { arbitrary: fc.string({ maxLength: 200 }), weight: 1 }),
        fc.option(fc.dictionary(fc.string({ maxLength: 8 }), anyJson, { maxKeys: 3 })),
        fc.option(fc.string({ maxLength: 20 })),
        async (query, variables, operationName) => {
          const response = await fetch(`${api.url}/graphql`, {
            method: "POST",
            headers: { "content-type": "application/json", accept: "application/graphql-response+json", authorization: `Bearer ${user.accessToken}` },
            body: JSON.stringify({ query, variables, operationName }),
          });
          const body = (await response.json()) as GraphQLResponse["body"];
          expectWellBehaved({ status: response.status, headers: response.headers, body }, { query, variables, operationName });
        },
      ),
      { numRuns: documentRuns, endOnFailure: true },
    );
    await databaseInvariants();
  });
});
