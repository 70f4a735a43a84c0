import pg from "pg";
import { postgraphile } from "postgraphile";
import type { GraphQLObjectType } from "postgraphile/graphql";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLogger } from "../../src/logger.ts";
import { makePreset } from "../../src/server/preset.ts";
import { createTokenService } from "../../src/server/jwt.ts";
import { exposedSchemas } from "../../src/modules.ts";
import { rootDb } from "../helpers/db.ts";
import { testJwt } from "../helpers/api.ts";

// Two modules with an `orders` table each, as sales and ticketing will have.
const schemas = [`gwtest_sales_${process.pid}`, `gwtest_ticketing_${process.pid}`];

describe("inflection across schemas", () => {
  beforeAll(async () => {
    for (const schema of schemas) {
      await rootDb().query(`create schema ${schema}; create table ${schema}.orders (order_id int primary key, note text);
        alter table ${schema}.orders enable row level security;
        grant usage on schema ${schema} to gw_user; grant select on ${schema}.orders to gw_user;`);
    }
  });
  afterAll(async () => {
    for (const schema of schemas) await rootDb().query(`drop schema if exists ${schema} cascade`);
  });

  it("keeps auth names plain and prefixes other schemas, so two `orders` tables coexist", async () => {
    const pool = new pg.Pool({ connectionString: inject("testDatabase").authenticatorUrl, max: 2 });
    const preset = makePreset({ pool, tokenService: createTokenService(testJwt, testJwt.secret), logger: createLogger("silent") });
    const service = preset.pgServices![0]!;
    (service as { schemas: string[] }).schemas = [...exposedSchemas, ...schemas];
    const pgl = postgraphile(preset);
    try {
      const { schema } = await pgl.getSchemaResult();
      const types = schema.getTypeMap();
      const [sales, ticketing] = schemas.map((name) => name.replace(/(^|_)([a-z0-9])/g, (_m, _s, c: string) => c.toUpperCase()));
      expect(types[`${sales}Order`]).toBeDefined();
      expect(types[`${ticketing}Order`]).toBeDefined();
      expect(types.User).toBeDefined();
      const query = schema.getQueryType() as GraphQLObjectType;
      expect(Object.keys(query.getFields())).toEqual(expect.arrayContaining(["currentUser", "users", "organizations"]));
    } finally {
      await pgl.release();
      await pool.end();
    }
  });
});
