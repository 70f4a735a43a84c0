#!/usr/bin/env node
// The command line's entry (package.json "bin" and scripts). Plain JavaScript,
// so that any Node gets as far as the version check; then the TypeScript.
import nodeVersion from "./node-version.cjs";

const problem = nodeVersion.nodeVersionProblem(process.versions.node, process.features.typescript);
if (problem) {
  console.error(problem);
  process.exit(1);
}
import("./cli.ts").catch((error) => {
  console.error(error);
  process.exit(1);
});
