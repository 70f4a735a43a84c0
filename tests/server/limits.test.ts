import { createClient } from "graphql-ws";
import { getIntrospectionQuery } from "postgraphile/graphql";
import { beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { codesOf, registerUser, testLimits, useTestApi, type GraphQLResponse, type SignedIn } from "../helpers/api.ts";

// Two servers: one with a tight depth limit, one with tight list/page/cost/operation/document limits.
const deep = useTestApi({}, { limits: testLimits({ maxDepth: 6 }) });
const tight = useTestApi({}, {
  limits: testLimits({ maxListDepth: 2, maxCost: 201, maxOperations: 3, maxDocumentBytes: 2000, introspection: false, graphiql: false }),
});

let user: SignedIn;
beforeAll(async () => {
  user = await registerUser(tight, "limits");
});

function expectOk(response: GraphQLResponse) {
  expect(response.body.errors).toBeUndefined();
  expect(response.status).toBe(200);
}

function expectRefused(response: GraphQLResponse, code: string, status = 400) {
  expect(codesOf(response)).toEqual([code]);
  expect(response.status).toBe(status);
  expect(response.body.data ?? null).toBeNull();
}

describe("query depth (GRAPHQL_MAX_DEPTH)", () => {
  // currentUser 1 > memberships 2 > nodes 3 > organization 4 > memberships 5 > totalCount 6
  const atLimit = "{ currentUser { memberships(first: 1) { nodes { organization { memberships(first: 1) { totalCount } } } } } }";
  const overLimit = "{ currentUser { memberships(first: 1) { nodes { organization { memberships(first: 1) { nodes { role } } } } } } }";

  it("runs a query exactly as deep as the limit", async () => {
    expectOk(await deep.graphql(atLimit, {}, user.accessToken));
  });

  it("refuses one level deeper with DEPTH_LIMIT_EXCEEDED", async () => {
    expectRefused(await deep.graphql(overLimit, {}, user.accessToken), "DEPTH_LIMIT_EXCEEDED");
  });

  it("counts fragments where they are spread", async () => {
    const viaFragment = `{ currentUser { ...M } } fragment M on User { memberships(first: 1) { nodes { organization { memberships(first: 1) { nodes { role } } } } } }`;
    expectRefused(await deep.graphql(viaFragment, {}, user.accessToken), "DEPTH_LIMIT_EXCEEDED");
  });
});

describe("list depth (GRAPHQL_MAX_LIST_DEPTH)", () => {
  it("runs two nested lists", async () => {
    expectOk(await tight.graphql("{ currentUser { memberships(first: 1) { nodes { organization { memberships(first: 1) { totalCount } } } } } }", {}, user.accessToken));
  });

  it("refuses three with LIST_DEPTH_LIMIT_EXCEEDED", async () => {
    const three = "{ currentUser { memberships(first: 1) { nodes { organization { memberships(first: 1) { nodes { user { memberships(first: 1) { totalCount } } } } } } } } }";
    expectRefused(await tight.graphql(three, {}, user.accessToken), "LIST_DEPTH_LIMIT_EXCEEDED");
  });
});

describe("page size (GRAPHQL_MAX_PAGE_SIZE, default 100)", () => {
  const page = "query($n: Int) { organizations(first: $n) { totalCount } }";

  it("accepts first: 100, literally and as a variable", async () => {
    expectOk(await tight.graphql("{ organizations(first: 100) { totalCount } }", {}, user.accessToken));
    expectOk(await tight.graphql(page, { n: 100 }, user.accessToken));
  });

  it("refuses first: 101 and last: 101 with PAGE_SIZE_LIMIT_EXCEEDED, literally and as a variable", async () => {
    expectRefused(await tight.graphql("{ organizations(first: 101) { totalCount } }", {}, user.accessToken), "PAGE_SIZE_LIMIT_EXCEEDED");
    expectRefused(await tight.graphql("{ organizations(last: 101) { totalCount } }", {}, user.accessToken), "PAGE_SIZE_LIMIT_EXCEEDED");
    expectRefused(await tight.graphql(page, { n: 101 }, user.accessToken), "PAGE_SIZE_LIMIT_EXCEEDED");
  });
});

describe("page arguments out of range (issue 15: first: -5 was an INTERNAL_SERVER_ERROR)", () => {
  it("refuses a negative first, last or offset with GRAPHQL_VALIDATION_FAILED, literally, as a variable and as a variable's default", async () => {
    for (const [query, variables] of [
      ["{ organizations(first: -5) { nodes { name } } }", {}],
      ["{ organizations(last: -1) { nodes { name } } }", {}],
      ["{ organizations(offset: -5) { nodes { name } } }", {}],
      ["{ currentUser { memberships(first: 1, offset: -2147483648) { totalCount } } }", {}],
      ["query($n: Int) { organizations(first: $n) { totalCount } }", { n: -5 }],
      ["query($n: Int = -5) { organizations(last: $n) { totalCount } }", {}],
    ] as const) {
      const response = await tight.graphql(query, variables, user.accessToken);
      expect([query, codesOf(response), response.status]).toEqual([query, ["GRAPHQL_VALIDATION_FAILED"], 400]);
    }
  });

  it("refuses a huge last, and a first hidden in a variable's default, with PAGE_SIZE_LIMIT_EXCEEDED", async () => {
    expectRefused(await tight.graphql("{ organizations(last: 2147483647) { totalCount } }", {}, user.accessToken), "PAGE_SIZE_LIMIT_EXCEEDED");
    expectRefused(await tight.graphql("query($n: Int = 1000) { organizations(first: $n) { totalCount } }", {}, user.accessToken), "PAGE_SIZE_LIMIT_EXCEEDED");
  });

  it("answers a huge offset with an empty page, and an Int out of range with GRAPHQL_VALIDATION_FAILED", async () => {
    const far = await tight.graphql("{ organizations(first: 5, offset: 2147483647) { nodes { name } } }", {}, user.accessToken);
    expectOk(far);
    expect(far.body.data?.organizations.nodes).toEqual([]);
    expectRefused(await tight.graphql("{ organizations(offset: 2147483648) { totalCount } }", {}, user.accessToken), "GRAPHQL_VALIDATION_FAILED");
  });
});

describe("cost budget (GRAPHQL_MAX_COST)", () => {
  // organizations 1 + 100 rows × (nodes 1 + name 1) = 201
  it("runs an operation that costs exactly the budget", async () => {
    expectOk(await tight.graphql("{ organizations(first: 100) { nodes { name } } }", {}, user.accessToken));
  });

  it("refuses one that costs two more with COST_LIMIT_EXCEEDED", async () => {
    expectRefused(
      await tight.graphql("{ organizations(first: 100) { nodes { name } } currentUser { userId } }", {}, user.accessToken),
      "COST_LIMIT_EXCEEDED",
    );
  });

  it("prices a list without first/last at the largest page", async () => {
    expectRefused(await tight.graphql("{ organizations { nodes { name slug } } }", {}, user.accessToken), "COST_LIMIT_EXCEEDED");
  });
});

describe("operations per request (GRAPHQL_MAX_OPERATIONS)", () => {
  it("runs three root fields (aliases count)", async () => {
    expectOk(await tight.graphql("{ a: currentUser { userId } b: currentUser { userId } c: currentUser { userId } }", {}, user.accessToken));
  });

  it("refuses four with TOO_MANY_OPERATIONS, so aliases cannot batch sign-in attempts", async () => {
    expectRefused(
      await tight.graphql("{ a: currentUser { userId } b: currentUser { userId } c: currentUser { userId } d: currentUser { userId } }", {}, user.accessToken),
      "TOO_MANY_OPERATIONS",
    );
    const logins = Array.from({ length: 4 }, (_, i) => `l${i}: login(input: { identifier: "x", password: "y" }) { accessToken }`).join(" ");
    expectRefused(await tight.graphql(`mutation { ${logins} }`), "TOO_MANY_OPERATIONS");
  });

  it("refuses a JSON array (batch) with BATCHING_NOT_SUPPORTED", async () => {
    const response = await tight.post(JSON.stringify([{ query: "{ __typename }" }, { query: "{ __typename }" }]));
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).errors[0].extensions.code).toBe("BATCHING_NOT_SUPPORTED");
  });
});

describe("document size (GRAPHQL_MAX_DOCUMENT_BYTES)", () => {
  const padded = (bytes: number) => {
    const base = "{ __typename }";
    return base + " ".repeat(bytes - Buffer.byteLength(base));
  };

  it("runs a document of exactly the limit", async () => {
    expectOk(await tight.graphql(padded(2000)));
  });

  it("refuses one byte more with DOCUMENT_TOO_LARGE (413)", async () => {
    const response = await tight.graphql(padded(2001));
    expect(codesOf(response)).toEqual(["DOCUMENT_TOO_LARGE"]);
    expect(response.status).toBe(413);
  });

  it("counts bytes, not characters", async () => {
    const base = "{ __typename } #";
    const response = await tight.graphql(base + "é".repeat(1000));
    expect(codesOf(response)).toEqual(["DOCUMENT_TOO_LARGE"]);
  });
});

describe("request body (1 MB)", () => {
  it("reads a body just under the limit and refuses one just over with PAYLOAD_TOO_LARGE", async () => {
    const envelope = (size: number) => {
      const shell = JSON.stringify({ query: "{ __typename }", variables: { pad: "" } });
      return JSON.stringify({ query: "{ __typename }", variables: { pad: "x".repeat(size - Buffer.byteLength(shell)) } });
    };
    const under = await tight.post(envelope(1_000_000));
    expect(under.status).toBe(200);
    const over = await tight.post(envelope(1_000_001));
    expect(over.status).toBe(413);
    expect(JSON.parse(over.text).errors[0].extensions.code).toBe("PAYLOAD_TOO_LARGE");
  });
});

describe("introspection and GraphiQL", () => {
  it("refuses __schema and __type with INTROSPECTION_DISABLED when introspection is off, but answers __typename", async () => {
    expectRefused(await tight.graphql("{ __schema { queryType { name } } }"), "INTROSPECTION_DISABLED");
    expectRefused(await tight.graphql('{ __type(name: "User") { name } }'), "INTROSPECTION_DISABLED");
    expectOk(await tight.graphql("{ __typename }"));
  });

  it("answers introspection when it is on (the development default), GraphiQL's whole query within the default limits", async () => {
    const response = await deep.graphql("{ __schema { queryType { name } } }");
    expectOk(response);
    expect(response.body.data?.__schema.queryType.name).toBe("Query");
    const full = await deep.graphql(getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, inputValueDeprecation: true }));
    expectOk(full);
    expect(full.body.data?.__schema.types.length).toBeGreaterThan(100);
  });

  it("names nothing in \"Did you mean …?\" when introspection is off (fields, arguments, enum values, over HTTP and WebSocket)", async () => {
    const typos: Array<[string, Record<string, unknown>, RegExp]> = [
      ["{ currentUser { usernme } }", {}, /username/],
      ["{ organizatons { totalCount } }", {}, /organizations/],
      ["{ organizations(frist: 1) { totalCount } }", {}, /"first"/],
      ["{ organizations(orderBy: SLUG_ASCC) { totalCount } }", {}, /SLUG_ASC\b/],
      ["query($o: [OrganizationOrderBy!]) { organizations(orderBy: $o) { totalCount } }", { o: ["SLUG_ASCC"] }, /SLUG_ASC\b/],
    ];
    for (const [query, variables, leak] of typos) {
      const hidden = await tight.graphql(query, variables, user.accessToken);
      const shown = await deep.graphql(query, variables, user.accessToken);
      expect([query, codesOf(hidden)]).toEqual([query, ["GRAPHQL_VALIDATION_FAILED"]]);
      expect(hidden.body.errors?.[0]?.message).not.toMatch(/Did you mean/);
      expect(hidden.body.errors?.[0]?.message).not.toMatch(leak);
      // In development (introspection on) the hint stays.
      expect(shown.body.errors?.[0]?.message).toMatch(/Did you mean/);
    }
    const socket = createClient({ url: `${tight.url.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    try {
      const errors = await new Promise<unknown>((resolve) => {
        socket.subscribe({ query: "{ currentUser { usernme } }" }, { next: () => undefined, error: resolve, complete: () => resolve([]) });
      });
      expect(JSON.stringify(errors)).toMatch(/Cannot query field/);
      expect(JSON.stringify(errors)).not.toMatch(/Did you mean|username/);
    } finally {
      await socket.dispose();
    }
  });

  it("serves GraphiQL only when it is on", async () => {
    expect((await fetch(`${tight.url}/graphiql`)).status).toBe(404);
    expect((await fetch(`${deep.url}/graphiql`)).status).toBe(200);
  });
});

describe("every response", () => {
  it("carries a request id (the client's, when it sends a plain one) and security headers", async () => {
    const response = await fetch(`${tight.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "client-req-42" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(response.headers.get("x-request-id")).toBe("client-req-42");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(response.headers.get("x-powered-by")).toBeNull();
    const generated = await fetch(`${tight.url}/healthz`, { headers: { "x-request-id": "bad id with spaces" } });
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
