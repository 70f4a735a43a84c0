/**
 * `npm run test:e2e`: real-browser tests with playwright-core and Debian's
 * Chromium (/usr/bin/chromium, or CHROMIUM_PATH): the example web app's main
 * flow end to end, and GraphiQL (load, sign in as a user, run a query, receive
 * a subscription event). Against a fresh database and the real API started in
 * this process; the app is built (npm run build in docs/examples/web) and
 * served from a second port. Each step that fails leaves a screenshot and the
 * page's HTML in the artefacts directory printed at the end (E2E_ARTEFACTS to
 * choose it); the exit code is the number of failed steps (capped at 1).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import express from "express";
import pg from "pg";
import { chromium, type Browser, type Page } from "playwright-core";
import { defaultApiLimits } from "../../src/config.ts";
import { createLogger } from "../../src/logger.ts";
import { projectRoot } from "../../src/paths.ts";
import { startApi, type Api } from "../../src/server/app.ts";
import { createTokenService } from "../../src/server/jwt.ts";
import { createTestDatabase, type TestDatabaseHandle } from "../setup/testDatabase.ts";

process.env.GRAPHILE_ENV ??= "production";
const webDir = path.join(projectRoot, "docs", "examples", "web");
const artefacts = process.env.E2E_ARTEFACTS ?? path.join(tmpdir(), `groundwork-e2e-${Date.now().toString(36)}`);
mkdirSync(artefacts, { recursive: true });
const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const stepTimeoutMs = 20_000;
// Short-lived access tokens, so the flow meets an expired one and the app must refresh it.
const accessTokenTtlSeconds = 15;

interface StepResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}
const results: StepResult[] = [];
/** Errors and console errors of the pages, written next to a failed step's screenshot. */
const pageErrors: string[] = [];
function watch(page: Page): void {
  page.on("pageerror", (error) => pageErrors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") pageErrors.push(`console: ${message.text()}`);
  });
}

async function step(page: Page | undefined, name: string, run: () => Promise<void>): Promise<boolean> {
  const started = Date.now();
  try {
    await run();
    results.push({ name, ok: true, ms: Date.now() - started });
    console.log(`  ✓ ${name} (${Date.now() - started} ms)`);
    return true;
  } catch (error) {
    const file = name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
    if (page) {
      await page.screenshot({ path: path.join(artefacts, `${file}.png`), fullPage: true }).catch(() => undefined);
      writeFileSync(path.join(artefacts, `${file}.html`), await page.content().catch(() => ""));
      writeFileSync(path.join(artefacts, `${file}.console.txt`), pageErrors.join("\n"));
    }
    const message = `${error instanceof Error ? error.message : String(error)}${pageErrors.length ? ` [page: ${pageErrors.slice(-3).join(" | ")}]` : ""}`;
    results.push({ name, ok: false, ms: Date.now() - started, error: message });
    console.log(`  ✗ ${name}: ${message}`);
    return false;
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = stepTimeoutMs): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function buildWebApp(): void {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  if (!existsSync(path.join(webDir, "node_modules"))) execFileSync(npm, ["ci", "--no-audit", "--no-fund"], { cwd: webDir, stdio: "inherit" });
  execFileSync(npm, ["run", "build"], { cwd: webDir, stdio: "inherit" });
}

/** The built app, with the API's URL given to it in index.html (the app reads window.GROUNDWORK_GRAPHQL_URL). */
async function serveWebApp(graphqlUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  const index = readFileSync(path.join(webDir, "dist", "index.html"), "utf8").replace(
    "<head>",
    `<head><script>window.GROUNDWORK_GRAPHQL_URL = ${JSON.stringify(graphqlUrl)};</script>`,
  );
  app.use(express.static(path.join(webDir, "dist"), { index: false }));
  app.use((_req, res) => res.type("html").send(index));
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function main(): Promise<number> {
  console.log(`== e2e: artefacts in ${artefacts}`);
  if (!existsSync(executablePath)) throw new Error(`No Chromium at ${executablePath} (apt-get install -y chromium, or set CHROMIUM_PATH).`);
  buildWebApp();
  const db: TestDatabaseHandle = await createTestDatabase("e2e");
  const root = new pg.Pool({ connectionString: db.rootUrl, max: 2 });
  const secret = "e2e-secret-that-is-long-enough-for-hs256-0123456789";
  const jwt = { secret, issuer: "groundwork", audience: "groundwork", accessTokenTtlSeconds, publicKey: undefined, jwksUrl: undefined };
  let api: Api | undefined;
  let web: { url: string; close(): Promise<void> } | undefined;
  let browser: Browser | undefined;
  try {
    // The app is served from another port: CORS lets it call the API (WebSockets need no CORS).
    api = await startApi({
      authenticatorUrl: db.authenticatorUrl,
      tokenService: createTokenService(jwt, secret),
      logger: createLogger(process.env.LOG_LEVEL ?? "warn", "e2e-api"),
      port: 0,
      host: "127.0.0.1",
      poolSize: 8,
      limits: defaultApiLimits({ corsOrigins: ["*"], rateLimit: { ...defaultApiLimits().rateLimit, perIp: 0, perUser: 0, signInPerIp: 0 } }),
      devSignIn: { ownerUrl: db.ownerUrl },
    });
    web = await serveWebApp(`${api.url}/graphql`);
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-default-apps", "--disable-sync", "--no-first-run"],
    });
    await appFlow(browser, web.url, api, root);
    await graphiqlFlow(browser, api, root);
  } finally {
    await browser?.close().catch(() => undefined);
    await web?.close();
    await api?.stop();
    await root.end();
    await db.drop();
  }
  const failed = results.filter((r) => !r.ok);
  console.log(`\n== e2e: ${results.length - failed.length} passed, ${failed.length} failed${failed.length ? `; screenshots and HTML of failed steps in ${artefacts}` : ""}`);
  writeFileSync(path.join(artefacts, "results.json"), JSON.stringify(results, null, 2));
  console.log(`== e2e artefacts: ${artefacts}`);
  return failed.length ? 1 : 0;
}

const user = { username: `e2e${Date.now().toString(36)}`, email: `e2e${Date.now().toString(36)}@example.com`, password: "correct horse 42" };

async function graphqlAs(api: Api, token: string, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const response = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: unknown; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

async function notify(root: pg.Pool, userId: string, message: string): Promise<void> {
  await root.query("insert into outbox.notifications (user_id, topic, message) values ($1, 'e2e.test', $2)", [userId, message]);
}

async function appFlow(browser: Browser, appUrl: string, api: Api, root: pg.Pool): Promise<void> {
  console.log("\nExample web app");
  const context = await browser.newContext();
  const page = await context.newPage();
  watch(page);
  page.setDefaultTimeout(stepTimeoutMs);
  const refreshCalls: string[] = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && request.postData()?.includes("refreshSession")) refreshCalls.push(request.url());
  });
  let userId = "";
  const token = async () => (await page.evaluate(() => JSON.parse(localStorage.getItem("groundwork-example:session") ?? "null")?.accessToken)) as string;

  if (!(await step(page, "register: the form sends the sign-up and asks to check the mail", async () => {
    await page.goto(appUrl);
    await page.getByRole("button", { name: "Create an account" }).click();
    await page.getByLabel("Username").fill(user.username);
    await page.getByLabel("E-mail", { exact: true }).fill(user.email);
    await page.getByLabel("Password").fill(user.password);
    await page.getByRole("button", { name: "Register" }).click();
    await page.getByText("Check your e-mail").waitFor();
  }))) return;

  if (!(await step(page, "verify: the mail's link (/verify-email?token=) signs the new user in", async () => {
    // The mail task would write the link into .groundwork/mail/*.eml; the token is the one it would send.
    const { rows } = await root.query<{ token: string }>(
      `select m.token from auth_private.signups s cross join lateral auth_private.mail_for('verify_email', s.signup_id) m
        where lower(s.email) = lower($1) order by s.created_at desc limit 1`,
      [user.email],
    );
    await page.goto(`${appUrl}/verify-email?token=${encodeURIComponent(rows[0]!.token)}`);
    await page.getByTestId("username").filter({ hasText: user.username }).waitFor();
    userId = (await graphqlAs(api, await token(), "{ currentUser { userId } }")).currentUser.userId;
  }))) return;

  await step(page, "readable errors: a wrong password shows the message for extensions.code CREDS", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("E-mail or username").fill(user.username);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "(CREDS)" }).waitFor();
    await page.getByLabel("Password").fill(user.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByTestId("username").waitFor();
  });

  await step(page, "switch organization: the token now carries the chosen organization", async () => {
    const t = await token();
    for (const name of ["Alpha Org", "Beta Org"]) {
      await graphqlAs(api, t, `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId } } }`, {
        input: { name, slug: `${name.split(" ")[0]!.toLowerCase()}-${user.username}` },
      });
    }
    await page.reload();
    await page.getByLabel("Organization").selectOption({ label: "Beta Org" });
    await page.getByTestId("current-organization").filter({ hasText: "Beta Org" }).waitFor();
    const claims = JSON.parse(Buffer.from((await token()).split(".")[1]!, "base64url").toString()) as { org_id?: string };
    const { rows } = await root.query<{ organization_id: string }>("select organization_id from auth.organizations where name = 'Beta Org' and slug like $1", [`beta-%`]);
    if (!rows.some((r) => r.organization_id === claims.org_id)) throw new Error(`org_id ${claims.org_id} is not Beta Org`);
  });

  await step(page, "notifications: one arrives over the subscription, the counter goes up, mark as read brings it down", async () => {
    await page.getByTestId("unread-count").filter({ hasText: /^0$/ }).waitFor();
    // Let the socket connect (subscriptions are lazy) before the notification is written.
    await page.waitForTimeout(1000);
    await notify(root, userId, "Alice added you to Beta Org");
    await page.getByTestId("unread-count").filter({ hasText: /^1$/ }).waitFor();
    await page.getByRole("button", { name: "Mark as read" }).click();
    await page.getByTestId("unread-count").filter({ hasText: /^0$/ }).waitFor();
  });

  await step(page, "ledger statement: cursor pages of 3, a filter and the sum aggregate", async () => {
    const { rows: world } = await root.query<{ account_id: string }>(
      "select account_id from ledger.create_account($1, 'World', 'USD', 'equity', null, null, true, true)",
      [`world_${user.username}`],
    );
    const { rows: wallet } = await root.query<{ account_id: string }>(
      "select account_id from ledger.create_account($1, 'Wallet', 'USD', 'liability', $2, null, false, true)",
      [`wallet_${user.username}`, userId],
    );
    for (const amount of [100, 200, 300, 400]) {
      await root.query("select ledger.post_transfer($1, $2, $3, 'USD', null)", [world[0]!.account_id, wallet[0]!.account_id, String(amount)]);
    }
    await page.reload();
    await page.getByTestId("entry-sum").filter({ hasText: /^1000$/ }).waitFor();
    if ((await page.getByTestId("statement").locator("tr").count()) !== 3) throw new Error("the first page is not 3 rows");
    await page.getByRole("button", { name: "Next" }).click();
    await page.getByTestId("statement").locator("tr").first().filter({ hasText: "400" }).waitFor();
    await page.getByLabel("From version").fill("3");
    await page.getByTestId("entry-sum").filter({ hasText: /^700$/ }).waitFor();
    await page.getByTestId("entry-count").filter({ hasText: /^2$/ }).waitFor();
  });

  await step(page, "refresh: after the access token expires, concurrent queries share one refreshSession and succeed", async () => {
    const before = refreshCalls.length;
    // Past the token's lifetime and the 5 s clock tolerance the API allows (src/server/jwt.ts).
    await page.waitForTimeout((accessTokenTtlSeconds + 7) * 1000);
    // A reload runs Me, Unread and Accounts at once, each with the expired token.
    await page.reload();
    await page.getByTestId("entry-sum").waitFor();
    await page.getByLabel("Organization").locator("option", { hasText: "Beta Org" }).waitFor({ state: "attached" });
    const calls = refreshCalls.length - before;
    if (calls !== 1) throw new Error(`${calls} refreshSession requests (expected exactly 1)`);
    await page.getByTestId("username").waitFor();
  });
  await context.close();
}

async function graphiqlFlow(browser: Browser, api: Api, root: pg.Pool): Promise<void> {
  console.log("\nGraphiQL");
  const context = await browser.newContext();
  const page = await context.newPage();
  watch(page);
  page.setDefaultTimeout(stepTimeoutMs);
  const run = async (query: string) => {
    // GraphiQL keeps the editor's text in localStorage; a reload opens it.
    await page.evaluate((text) => {
      localStorage.removeItem("graphiql:tabState");
      localStorage.setItem("graphiql:query", text);
    }, query);
    await page.reload();
    await page.locator(".graphiql-execute-button").click();
  };
  // CodeMirror renders spaces as no-break spaces.
  const result = async () => (await page.locator(".result-window").innerText()).replace(/\u00a0/g, " ");
  // What the sockets say, for the artefacts of a failed step.
  page.on("websocket", (socket) => {
    socket.on("framesent", (frame) => pageErrors.push(`ws sent: ${String(frame.payload).replace(/Bearer [\w.-]+/, "Bearer …").slice(0, 200)}`));
    socket.on("framereceived", (frame) => pageErrors.push(`ws received: ${String(frame.payload).slice(0, 200)}`));
    socket.on("close", () => pageErrors.push("ws closed"));
  });

  if (!(await step(page, "GraphiQL loads with every asset served locally", async () => {
    const external: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(api.url) && !request.url().startsWith("data:") && !request.url().startsWith("blob:")) external.push(request.url());
    });
    await page.goto(`${api.url}/graphiql`);
    await page.locator(".graphiql-execute-button").waitFor();
    await page.locator("#gw-sign-in-as[data-ready=true]").waitFor();
    if (external.length) throw new Error(`requests outside the server: ${external.slice(0, 5).join(", ")}`);
  }))) return;

  await step(page, "sign in as a user, then a query runs with that user's token", async () => {
    // Choosing reloads the page.
    await Promise.all([page.waitForNavigation(), page.locator("#gw-sign-in-as-select").selectOption({ label: `${user.username} <${user.email}>` })]);
    await page.locator("#gw-sign-in-as[data-ready=true]").waitFor();
    await run("{ currentUser { username } }");
    await until("the query's result", async () => (await result()).includes(user.username));
  });

  await step(page, "a subscription in a fresh tab receives an event as that user", async () => {
    await run("subscription { notificationAdded { notification { message } } }");
    const { rows } = await root.query<{ user_id: string }>("select user_id from auth.users where username = $1", [user.username]);
    // The socket connects some time after the click (a page reload renews the token first): notify until one is seen.
    let sent = 0;
    await until("the subscription event", async () => {
      if ((await result()).includes("Seen in GraphiQL")) return true;
      await notify(root, rows[0]!.user_id, `Seen in GraphiQL ${++sent}`);
      await page.waitForTimeout(1000);
      return false;
    });
  });
  await context.close();
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`e2e: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    console.log(`== e2e artefacts: ${artefacts}`);
    process.exit(1);
  },
);
