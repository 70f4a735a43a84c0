/**
 * The baseline for the API benchmark: the same SQL PostGraphile runs for
 * "my memberships, first 20, with their organization", through a minimal
 * express + pg handler that does what Groundwork does per request — verify the
 * JWT, then in one transaction SET LOCAL the role, the claims and
 * statement_timeout — and nothing else. Run as a child process by api.ts.
 */
import express from "express";
import pg from "pg";
import { createTokenService } from "../../src/server/jwt.ts";

const url = process.env.AUTH_DATABASE_URL!;
const secret = process.env.JWT_SECRET!;
const port = Number(process.env.PORT);
const pool = new pg.Pool({ connectionString: url, max: Number(process.env.DATABASE_POOL_SIZE ?? 20) });
const tokens = createTokenService(
  { secret, issuer: "groundwork", audience: "groundwork", accessTokenTtlSeconds: 900, publicKey: undefined, jwksUrl: undefined },
  secret,
);

export const mineSql = `
  select m.role, m.created_at, o.name, o.slug
    from auth.memberships m
    join auth.organizations o on o.organization_id = m.organization_id
   where m.user_id = auth.uid()
   order by m.membership_id
   limit 20`;

/** The next 20 public events with category and organizer name: what eventsSearchEvents(first: 20) asks, as gw_anonymous. */
export const upcomingSql = `
  select e.event_id, e.title, e.starts_at, events.events_category_name(e) as category, events.events_organizer_name(e) as organizer
    from events.search_events() e
   limit 20`;

/** "My unread notifications, newest 20, with the unread count": what UnreadQuery (tests/bench/clients.ts) asks, as the caller. */
export const unreadPageSql = `
  select n.notification_id, n.topic, n.message, n.created_at
    from outbox.notifications n
   where n.read_at is null
   order by n.created_at desc, n.notification_id
   limit 20`;
export const unreadCountSql = `select count(distinct n.notification_id) as unread from outbox.notifications n where n.read_at is null`;

const app = express();
app.use(express.json());
app.post("/mine", async (req, res) => {
  const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
  const verified = match?.[1] ? await tokens.verify(match[1]) : undefined;
  if (!verified?.ok) {
    res.status(401).json({ error: "unauthenticated" });
    return;
  }
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('role', $1, true), set_config('request.jwt.claims', $2, true), set_config('statement_timeout', '5000', true)", [
      verified.claims.role,
      JSON.stringify(verified.claims),
    ]);
    const { rows } = await client.query(mineSql);
    await client.query("commit");
    res.json({
      data: {
        currentUser: {
          memberships: {
            nodes: rows.map((r) => ({ role: r.role, createdAt: r.created_at, organization: { name: r.name, slug: r.slug } })),
          },
        },
      },
    });
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    res.status(500).json({ error: String(error) });
  } finally {
    client.release();
  }
});
app.post("/unread", async (req, res) => {
  const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
  const verified = match?.[1] ? await tokens.verify(match[1]) : undefined;
  if (!verified?.ok) {
    res.status(401).json({ error: "unauthenticated" });
    return;
  }
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('role', $1, true), set_config('request.jwt.claims', $2, true), set_config('statement_timeout', '5000', true)", [
      verified.claims.role,
      JSON.stringify(verified.claims),
    ]);
    const { rows } = await client.query(unreadPageSql);
    const { rows: count } = await client.query(unreadCountSql);
    await client.query("commit");
    res.json({
      data: {
        outboxNotifications: {
          aggregates: { distinctCount: { notificationId: String(count[0].unread) } },
          nodes: rows.map((r) => ({ notificationId: String(r.notification_id), topic: r.topic, message: r.message, createdAt: r.created_at })),
        },
      },
    });
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    res.status(500).json({ error: String(error) });
  } finally {
    client.release();
  }
});
app.post("/events", async (_req, res) => {
  // No token: anonymous, as a browser listing events without signing in.
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('role', 'gw_anonymous', true), set_config('request.jwt.claims', $1, true), set_config('statement_timeout', '5000', true)", [
      JSON.stringify({ role: "gw_anonymous" }),
    ]);
    const { rows } = await client.query(upcomingSql);
    await client.query("commit");
    res.json({
      data: {
        eventsSearchEvents: {
          nodes: rows.map((r) => ({ eventId: r.event_id, title: r.title, startsAt: r.starts_at, categoryName: r.category, organizerName: r.organizer })),
        },
      },
    });
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    res.status(500).json({ error: String(error) });
  } finally {
    client.release();
  }
});
app.get("/metrics", (_req, res) => {
  res.type("text/plain").send(`process_resident_memory_bytes ${process.memoryUsage().rss}\n`);
});
app.listen(port, "127.0.0.1", () => console.error("raw server listening"));
