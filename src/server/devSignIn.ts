import express, { type Request, type RequestHandler, type Router } from "express";
import pg from "pg";
import type { Logger } from "../logger.ts";
import { requestRoles } from "../modules.ts";
import type { TokenService } from "./jwt.ts";

/**
 * GraphiQL's "sign in as" (development only, docs/clients.md#graphiql-sign-in-as):
 * GET /graphiql/dev/users lists users with their staff roles and organizations,
 * POST /graphiql/dev/token opens a development session (as `groundwork token`
 * does) and returns its access token, which the page puts in the Authorization
 * header of every tab and in connection_init of subscriptions. Mounted only
 * when NODE_ENV=development (src/groundwork.ts); every request must come from
 * the loopback interface itself (the socket address, never X-Forwarded-For).
 */
export interface DevSignInOptions {
  /** gw_owner: auth_private.create_development_session is owner-only. */
  ownerUrl: string;
}

export const devSignInPath = "/graphiql/dev";

/** The options startApi gets: only in development; production and test servers have no such route. */
export function devSignInFor(env: "development" | "test" | "production", ownerUrl: string): DevSignInOptions | undefined {
  return env === "development" ? { ownerUrl } : undefined;
}

const loopback = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);
/** The socket is loopback and no proxy forwarded the request (a proxy on this host would make anyone look local). */
export const fromLoopback = (req: Request) =>
  loopback.has(req.socket.remoteAddress ?? "") && req.headers["x-forwarded-for"] === undefined && req.headers.forwarded === undefined;

interface DevUser {
  userId: string;
  username: string;
  email: string;
  roles: string[];
  organizations: Array<{ organizationId: string; name: string }>;
}

export function devSignInRouter(options: DevSignInOptions, tokens: TokenService, logger: Logger): { router: Router; close(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: options.ownerUrl, max: 2 });
  pool.on("error", (error) => logger.warn({ err: error }, "dev sign-in pool error"));
  const router = express.Router();
  // Anything else answers as if the route did not exist.
  const onlyLoopback: RequestHandler = (req, res, next) => (fromLoopback(req) ? next() : res.status(404).end());
  router.use(onlyLoopback);

  router.get("/users", async (_req, res) => {
    try {
      const { rows } = await pool.query<DevUser>(
        `select u.user_id as "userId", u.username, u.email::text as email,
                coalesce((select array_agg(r.role_name order by r.role_name) from auth.user_roles r where r.user_id = u.user_id), '{}') as roles,
                coalesce((select json_agg(json_build_object('organizationId', o.organization_id, 'name', o.name) order by o.name)
                            from auth.memberships m join auth.organizations o using (organization_id) where m.user_id = u.user_id), '[]') as organizations
           from auth.users u
          order by u.created_at desc
          limit 200`,
      );
      res.json({ users: rows, roles: requestRoles.filter((role) => role !== "gw_anonymous") });
    } catch (error) {
      logger.error({ err: error }, "dev sign-in: listing users failed");
      res.status(500).json({ error: "listing users failed" });
    }
  });

  router.post("/token", express.json({ limit: 4096 }), async (req, res) => {
    const { userId, role = "gw_user", organizationId = null } = (req.body ?? {}) as { userId?: unknown; role?: unknown; organizationId?: unknown };
    if (typeof userId !== "string" || typeof role !== "string" || (organizationId !== null && typeof organizationId !== "string")) {
      res.status(400).json({ error: "send { userId, role?, organizationId? }" });
      return;
    }
    try {
      const { rows } = await pool.query<{ user_id: string; session_id: string }>("select * from auth_private.create_development_session($1, $2, $3)", [
        userId,
        role,
        organizationId,
      ]);
      const grant = rows[0];
      if (!grant) {
        res.status(404).json({ error: "no such user" });
        return;
      }
      const { token, expiresAt } = await tokens.sign({ sub: grant.user_id, role, sid: grant.session_id, org_id: organizationId });
      logger.info({ user: grant.user_id, role, organizationId }, "GraphiQL sign-in-as token minted (development)");
      res.json({ token, expiresAt });
    } catch (error) {
      const code = (error as { code?: string }).code;
      res.status(400).json({ error: (error as Error).message, code });
    }
  });
  return { router, close: () => pool.end() };
}

/**
 * The script GraphiQL's page runs first: requests to /graphql get the chosen
 * user's token when the tab sets no Authorization header of its own, and so
 * does connection_init of every subscription socket; then a small control
 * lists users and roles. Choosing reloads the page, so open sockets restart as
 * the new user.
 */
export const devSignInScript = `<script>
(() => {
  const KEY = "groundwork:signInAs";
  const read = () => { try { return JSON.parse(localStorage.getItem(KEY) || "null"); } catch { return null; } };
  const token = () => read()?.token;
  const graphqlPath = "/graphql";
  const realFetch = window.fetch.bind(window);
  const mint = async (choice) => {
    const answer = await realFetch("${devSignInPath}/token", { method: "POST", headers: { "content-type": "application/json" }, body: choice });
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.error || String(answer.status));
    localStorage.setItem(KEY, JSON.stringify({ choice, token: body.token, expiresAt: body.expiresAt }));
  };
  // A stored token near its expiry is replaced (same choice) before the first request goes out.
  const stored = read();
  const ready = stored && Date.parse(stored.expiresAt) < Date.now() + 60000 ? mint(stored.choice).catch(() => localStorage.removeItem(KEY)) : Promise.resolve();
  window.fetch = async (input, init = {}) => {
    const url = typeof input === "string" || input instanceof URL ? String(input) : input.url;
    if (new URL(url, location.href).pathname === graphqlPath) {
      await ready;
      const t = token();
      const headers = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
      if (t && !headers.has("authorization")) headers.set("authorization", "Bearer " + t);
      init = { ...init, headers };
    }
    return realFetch(input, init);
  };
  const realSend = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data !== "string" || !data.includes("connection_init")) return realSend.call(this, data);
    // connection_init waits for a replaced token; nothing else is sent before the server acknowledges it.
    ready.then(() => {
      const t = token();
      let out = data;
      try {
        const message = JSON.parse(data);
        if (t && message.type === "connection_init") {
          const payload = { ...(message.payload || {}) };
          if (!payload.authorization && !payload.Authorization) payload.authorization = "Bearer " + t;
          out = JSON.stringify({ ...message, payload });
        }
      } catch {}
      if (this.readyState === WebSocket.OPEN) realSend.call(this, out);
    });
  };
  const build = async () => {
    const box = document.createElement("div");
    box.id = "gw-sign-in-as";
    box.style.cssText = "position:fixed;top:6px;right:12px;z-index:1000;font:12px system-ui,sans-serif;background:#fff;color:#222;border:1px solid #bbb;border-radius:6px;padding:4px 8px;display:flex;gap:6px;align-items:center";
    const label = document.createElement("label");
    label.textContent = "Sign in as";
    label.htmlFor = "gw-sign-in-as-select";
    const select = document.createElement("select");
    select.id = "gw-sign-in-as-select";
    const add = (value, text) => { const o = document.createElement("option"); o.value = value; o.textContent = text; select.append(o); };
    const current = read();
    add("", "anonymous (no token)");
    box.append(label, select);
    document.body.append(box);
    try {
      const answer = await realFetch("${devSignInPath}/users", { headers: { accept: "application/json" } });
      const { users } = await answer.json();
      for (const user of users) {
        add(JSON.stringify({ userId: user.userId, role: "gw_user" }), user.username + " <" + user.email + ">");
        for (const org of user.organizations) add(JSON.stringify({ userId: user.userId, role: "gw_user", organizationId: org.organizationId }), user.username + " in " + org.name);
        for (const role of user.roles) add(JSON.stringify({ userId: user.userId, role }), user.username + " as " + role);
      }
    } catch (error) { add("", "(could not list users)"); }
    select.value = current ? current.choice : "";
    select.addEventListener("change", async () => {
      if (!select.value) { localStorage.removeItem(KEY); location.reload(); return; }
      try { await mint(select.value); } catch (error) { alert("Sign in as failed: " + error.message); return; }
      location.reload();
    });
    box.dataset.ready = "true";
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", build); else build();
})();
</script>`;
