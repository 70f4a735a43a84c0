// Plain CommonJS on purpose: any Node can run it, so an old one is told what is
// wrong instead of failing on the first .ts file (ERR_UNKNOWN_FILE_EXTENSION).
// `npm install` runs it (preinstall), and so does every command (src/bin.mjs)
// before any TypeScript is loaded. `node src/node-version.cjs 20.11.1` checks a
// given version instead of this one.
"use strict";

const required = "22.18.0";

/**
 * Why this Node cannot run Groundwork, or null. `typescript` is
 * process.features.typescript ("strip", "transform", false; undefined when
 * unknown): Node runs .ts files only with type stripping on.
 */
function nodeVersionProblem(version, typescript) {
  const [major, minor] = String(version).replace(/^v/, "").split(".").map(Number);
  if (!(major > 22 || (major === 22 && minor >= 18))) {
    return [
      `Groundwork needs Node.js ${required} or later; this is Node.js ${version}.`,
      "It runs its TypeScript files directly (type stripping), which older Node.js cannot do",
      '(it fails with ERR_UNKNOWN_FILE_EXTENSION ".ts").',
      "Install Node.js 22 LTS or later (https://nodejs.org, or: nvm install 22), then run npm install again.",
    ].join("\n");
  }
  if (typescript === false) {
    return [
      `Groundwork runs its TypeScript files directly, and this Node.js ${version} has type stripping off`,
      "(--no-experimental-strip-types in NODE_OPTIONS, or a Node.js 23 before 23.6).",
      `Use Node.js ${required} or later with its defaults.`,
    ].join("\n");
  }
  return null;
}

module.exports = { nodeVersionProblem, required };

if (require.main === module) {
  const given = process.argv[2];
  const problem = nodeVersionProblem(given || process.versions.node, given ? undefined : (process.features || {}).typescript);
  if (problem) {
    console.error(problem);
    process.exit(1);
  }
}
