/** `groundwork help <command>` and `groundwork <command> --help`: one text per command of the usage. */
export const commandHelp: Record<string, string> = {
  start: `groundwork start  (npm start)

Runs the API and the worker in one process. Without DATABASE_URL it starts an
embedded PostgreSQL first (data in .groundwork/, port EMBEDDED_PG_PORT, default
54329), creating the roles and the database on the first run; then it applies
the migrations and serves on HOST:PORT (default 127.0.0.1:5678):

  /graphql              the API (POST), subscriptions over WebSocket (graphql-ws)
  /graphiql             GraphiQL (development)
  /healthz /readyz      liveness, readiness
  /metrics              Prometheus metrics
  /webhooks/:source     inbound webhooks

Ctrl-C or SIGTERM stops it: new connections are refused, requests and jobs
already running may finish, and the process exits within SHUTDOWN_TIMEOUT_MS
(default 10000) whatever is still open. A second signal exits at once.

Logs go to stderr: readable lines on a terminal, JSON otherwise (LOG_FORMAT,
LOG_LEVEL). Every setting is read from the environment: README.md, Configuration.`,

  serve: `groundwork serve  (npm run serve)

Runs the API only, as start does, without the worker: run \`groundwork worker\`
beside it (or start elsewhere) so that jobs and the schedule run. Stops like
start.`,

  worker: `groundwork worker  (npm run worker)

Runs the worker only: graphile-worker with Groundwork's tasks (outbox delivery,
inbox processing, audit sealing, ...) and its schedule (crontab), WORKER_CONCURRENCY
jobs at a time (default 4). Scale out by running more of them. Stops like start:
running jobs may finish within SHUTDOWN_TIMEOUT_MS; later they are retried. A
killed worker's jobs run again on another within 45 s (heartbeats; docs/operations.md,
Crash recovery). Behind a transaction pooler: WORKER_DATABASE_URL and
DATABASE_PREPARED_STATEMENTS=off (docs/scaling.md).`,

  migrate: `groundwork migrate  (npm run migrate)

Installs or upgrades the graphile-worker schema, then applies the committed
migrations (migrations/committed/) and, in a working copy, migrations/current/.
Idempotent: start and serve do the same on every start (MIGRATE_ON_START=false
turns that off). Processes migrating at once take turns under an advisory lock
on DATABASE_URL, which must be a direct connection (not a transaction pooler).`,

  reset: `groundwork reset [--yes]

Drops the database and builds it again from the migrations: every row is lost.
Asks first on a terminal; --yes (-y) skips the question. Refused with
NODE_ENV=production; needs a superuser connection (ROOT_DATABASE_URL, or the
embedded PostgreSQL).`,

  token: `groundwork token --user <id|email|username> [--role R] [--org O]

Prints a development access token for an existing user, with a real session (so
logout and revocation apply to it): send it as Authorization: Bearer <token>.
--role picks a role granted to the user in auth.user_roles (default gw_user);
--org an organization they belong to (the token's org_id). Refused with
NODE_ENV=production.`,

  "db-url": `groundwork db-url

Prints the connection strings of the embedded PostgreSQL (owner, gw_authenticator,
superuser) and afterReset.sql's placeholders, as lines of NAME=value, for
driving graphile-migrate or psql by hand. The embedded cluster runs only while a
groundwork command does: keep npm start running meanwhile. With DATABASE_URL set
it prints that (password hidden).`,

  seed: `groundwork seed [--scale S]

Loads the capstone demonstration data set: 1,000 customers, 10,000 orders,
200,000 transactions over 13 months and the rest; --scale S (above 0, at most
10) multiplies the sizes. Idempotent: a second run changes nothing. Refused with
NODE_ENV=production.`,

  inspect: `groundwork inspect

Migrates, then prints the verification queries and their results: tables, RLS
policies, functions, triggers, extensions, ledger and event/job objects.`,

  persisted: `groundwork persisted <folder> [--out FILE]  (npm run persisted -- <folder>)

Builds the persisted-operations manifest from the .graphql files under <folder>
(one operation document per file; each is parsed, so a typo fails here): a JSON
object of sha256 -> document text, written to FILE (default
<folder>/persisted-operations.json). Serve it with PERSISTED_OPERATIONS=allow or
only and PERSISTED_OPERATIONS_FILE=FILE.`,

  "schema-check": `groundwork schema-check [--base REF]  (npm run schema:check)

Compares docs/schema.graphql in the working tree (run npm run reference first
after changing migrations or plugins) with the same file committed where HEAD
left REF (git merge-base; default main, or SCHEMA_BASE; on REF itself, HEAD) using graphql-js's findBreakingChanges and
findDangerousChanges, and lists every change. Exits 1 when a breaking change is
not listed in docs/schema-changes.md, where each reviewed one says who is
affected and how clients move (docs/clients.md#schema-changes).`,

  reference: `groundwork reference  (npm run reference)

Migrates, then rewrites the generated schema reference from the database:
docs/reference/<module>.md (tables, policies, grants, functions, triggers of each
module of src/modules.ts) and docs/schema.graphql (the GraphQL schema, sorted).
Never edit those files by hand; tests/project/reference.test.ts fails when they
are stale. Development runs of migrations/current/ rewrite them too. Refused
with NODE_ENV=production.`,

  commit: `groundwork commit [--message M]

Commits migrations/current/ as the next migrations/committed/ file
(graphile-migrate commit, checked on a <database>_shadow database built from
scratch), empties migrations/current/, then rewrites the schema reference from
the shadow database. Commit one module's files at a time (docs/modules/README.md,
"Numbering migrations/current/"). Development only.`,
};
