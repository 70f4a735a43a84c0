import type { TestProject } from "vitest/node";
import { createTestDatabase, type TestDatabase } from "./testDatabase.ts";

declare module "vitest" {
  export interface ProvidedContext {
    testDatabase: TestDatabase;
  }
}

/** One migrated database per `npm test` run, shared by every test file. */
export default async function setup(project: TestProject) {
  const handle = await createTestDatabase("test");
  const { drop, ...testDatabase } = handle;
  project.provide("testDatabase", testDatabase);
  return async () => {
    await drop();
  };
}
