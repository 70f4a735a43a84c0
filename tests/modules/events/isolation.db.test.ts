import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { addMember, anonymous, countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { actingIn, createEvent, createTenant, publishEvent, publishedEvent, visibleEventIds } from "./fixtures.ts";

// Tenant isolation on events.events, with two organizations and anonymous
// callers: the seed's public_events rule (public, or owned by the organization
// the token acts in), writes only by owners and admins acting in the owner.
// Every "cannot see" is checked against rows that exist (countAsRoot).

describe("who sees which events", () => {
  it("keeps an organization's drafts, unlisted and private events from the other organization and from anonymous callers", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      const globex = await createTenant(tx, "evglobex");
      const draft = await createEvent(tx, acme.claims, { title: "Draft" });
      const hidden = await publishedEvent(tx, acme, { title: "Private", visibility: "private" });
      const unlisted = await publishedEvent(tx, acme, { title: "Unlisted", visibility: "unlisted" });
      const open = await publishedEvent(tx, acme, { title: "Public" });
      const all = [draft, hidden, unlisted, open];

      expect(await visibleEventIds(tx, globex.claims, all)).toEqual([open]);
      expect(await visibleEventIds(tx, anonymous, all)).toEqual([open]);
      expect(await visibleEventIds(tx, globex.owner.claims, all)).toEqual([open]);
      expect(await visibleEventIds(tx, acme.claims, all)).toEqual([...all].sort());
      expect(await countAsRoot(tx, "events.events where event_id = any($1::uuid[])", [all])).toBe(4);
    });
  });

  it("shows a member their organization's drafts only while their token acts in it", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      const member = await createUser(tx, "evmember");
      await addMember(tx, acme.owner, acme.organization, member);
      const draft = await createEvent(tx, acme.claims);
      expect(await visibleEventIds(tx, actingIn(member, acme.organization), [draft])).toEqual([draft]);
      expect(await visibleEventIds(tx, member.claims, [draft])).toEqual([]);
      // A claim for an organization one does not belong to is worth nothing.
      const stranger = await createUser(tx, "evstranger");
      expect(await visibleEventIds(tx, actingIn(stranger, acme.organization), [draft])).toEqual([]);
      expect(await countAsRoot(tx, "events.events where event_id = $1", [draft])).toBe(1);
    });
  });

  it("keeps cancelled and completed public events visible, drafts cancelled before publishing hidden", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      const cancelled = await publishedEvent(tx, acme);
      const completed = await publishedEvent(tx, acme, { startsAt: new Date(Date.now() - 48 * 3600e3), endsAt: new Date(Date.now() - 44 * 3600e3) });
      const draftCancelled = await createEvent(tx, acme.claims);
      await tx.query("select events.cancel_event($1)", [cancelled]);
      await tx.query("select events.complete_event($1)", [completed]);
      await tx.query("select events.cancel_event($1)", [draftCancelled]);
      expect(await visibleEventIds(tx, anonymous, [cancelled, completed, draftCancelled])).toEqual([cancelled, completed].sort());
    });
  });
});

describe("who writes which events", () => {
  it("lets only owners and admins acting in the organization create, edit, publish and cancel its events", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      const admin = await createUser(tx, "evadmin");
      const member = await createUser(tx, "evmember");
      await addMember(tx, acme.owner, acme.organization, admin, "admin");
      await addMember(tx, acme.owner, acme.organization, member, "member");
      const id = await createEvent(tx, actingIn(admin, acme.organization));

      await tx.become(actingIn(member, acme.organization));
      expect(await tx.errorCode(() => tx.query("select events.create_event('Mine', now() + interval '1 day', now() + interval '2 days')"))).toBe("DNIED");
      expect((await tx.query("update events.events set title = 'Renamed' where event_id = $1", [id])).rowCount).toBe(0);
      expect(await tx.errorCode(() => tx.query("select events.publish_event($1)", [id]))).toBe("DNIED");
      expect(await tx.errorCode(() => tx.query("delete from events.events where event_id = $1", [id]))).toBeUndefined();

      await tx.become(acme.owner.claims); // no org_id: acting in no organization
      expect(await tx.errorCode(() => tx.query("select events.create_event('Mine', now() + interval '1 day', now() + interval '2 days')"))).toBe("DNIED");
      expect(await tx.errorCode(() => tx.query("select events.publish_event($1)", [id]))).toBe("NTFND");

      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select events.create_event('Mine', now() + interval '1 day', now() + interval '2 days')"))).toBe("LOGIN");
      expect(await tx.errorCode(() => tx.query("insert into events.events (owner_context_id, title, starts_at, ends_at) values ($1, 'x', now(), now() + interval '1 hour')", [acme.organization.organizationId]))).toBe("42501");

      await tx.become(actingIn(admin, acme.organization));
      expect((await tx.query("update events.events set title = 'Renamed' where event_id = $1", [id])).rowCount).toBe(1);
      await tx.query("select events.publish_event($1)", [id]);
      await tx.query("select events.cancel_event($1)", [id]);
      expect(await one(tx, "select title, status from events.events where event_id = $1", [id])).toEqual({ title: "Renamed", status: "cancelled" });
    });
  });

  it("takes write access away the moment a member is removed from the organization", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      const admin = await createUser(tx, "evadmin");
      await addMember(tx, acme.owner, acme.organization, admin, "admin");
      const adminInAcme = actingIn(admin, acme.organization);
      const draft = await createEvent(tx, adminInAcme, { title: "Before" });
      const open = await publishedEvent(tx, acme);
      await tx.become(acme.owner.claims);
      await tx.query("select auth.remove_member($1, $2)", [acme.organization.organizationId, admin.userId]);

      // The same token, still carrying org_id: worth nothing now.
      await tx.become(adminInAcme);
      expect((await tx.query("update events.events set title = 'After' where event_id = any($1::uuid[])", [[draft, open]])).rowCount).toBe(0);
      expect(await tx.errorCode(() => tx.query("select events.publish_event($1)", [draft]))).toBe("NTFND");
      expect(await tx.errorCode(() => tx.query("select events.cancel_event($1)", [open]))).toBe("DNIED");
      expect(await tx.errorCode(() => tx.query("select events.create_event('New', now() + interval '1 day', now() + interval '2 days')"))).toBe("DNIED");
      expect(await visibleEventIds(tx, adminInAcme, [draft, open])).toEqual([open]);
      expect(await tx.asRoot(() => one(tx, "select title, status from events.events where event_id = $1", [draft]))).toEqual({ title: "Before", status: "draft" });
    });
  });

  it("lets a user who runs two organizations edit the events of the one their token acts in, and only those", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      const globex = await createTenant(tx, "evglobex");
      const both = await createUser(tx, "evboth");
      await addMember(tx, acme.owner, acme.organization, both, "admin");
      await addMember(tx, globex.owner, globex.organization, both, "admin");
      const acmeEvent = await createEvent(tx, acme.claims, { title: "Acme" });
      const globexEvent = await createEvent(tx, globex.claims, { title: "Globex" });

      await tx.become(actingIn(both, acme.organization));
      expect((await tx.query("update events.events set venue = 'Here' where event_id = any($1::uuid[]) returning event_id", [[acmeEvent, globexEvent]])).rows).toEqual([{ event_id: acmeEvent }]);
      const created = await one<{ owner_context_id: string }>(tx, "select owner_context_id from events.create_event('New', now() + interval '1 day', now() + interval '2 days')");
      expect(created.owner_context_id).toBe(acme.organization.organizationId);

      await tx.become(actingIn(both, globex.organization));
      expect((await tx.query("update events.events set venue = 'There' where event_id = any($1::uuid[]) returning event_id", [[acmeEvent, globexEvent]])).rows).toEqual([{ event_id: globexEvent }]);
      expect(await tx.asRoot(() => tx.query("select title, venue from events.events where event_id = any($1::uuid[]) order by title", [[acmeEvent, globexEvent]]))).toMatchObject({
        rows: [{ title: "Acme", venue: "Here" }, { title: "Globex", venue: "There" }],
      });
    });
  });

  it("refuses writes into another organization's events with a code, and changes nothing", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      const globex = await createTenant(tx, "evglobex");
      const draft = await createEvent(tx, acme.claims, { title: "Acme draft" });
      const open = await publishedEvent(tx, acme, { title: "Acme public" });

      await tx.become(globex.claims);
      const insert = "insert into events.events (owner_context_id, title, starts_at, ends_at) values ($1, 'Sneaky', now() + interval '1 day', now() + interval '2 days')";
      expect(await tx.errorCode(() => tx.query(insert, [acme.organization.organizationId]))).toBe("42501");
      expect((await tx.query("update events.events set title = 'Hijacked' where event_id = any($1::uuid[])", [[draft, open]])).rowCount).toBe(0);
      expect((await tx.query("delete from events.events where event_id = any($1::uuid[])", [[draft, open]])).rowCount).toBe(0);
      expect(await tx.errorCode(() => tx.query("select events.publish_event($1)", [draft]))).toBe("NTFND");
      expect(await tx.errorCode(() => tx.query("select events.cancel_event($1)", [open]))).toBe("DNIED");
      // Moving an event to another organization is not a column anyone may update.
      await tx.become(acme.claims);
      expect(await tx.errorCode(() => tx.query("update events.events set owner_context_id = $2 where event_id = $1", [open, globex.organization.organizationId]))).toBe("42501");

      const { rows } = await tx.asRoot(() =>
        tx.query("select title, status, owner_context_id from events.events where owner_context_id in ($1, $2) order by title", [acme.organization.organizationId, globex.organization.organizationId]),
      );
      expect(rows).toEqual([
        { title: "Acme draft", status: "draft", owner_context_id: acme.organization.organizationId },
        { title: "Acme public", status: "published", owner_context_id: acme.organization.organizationId },
      ]);
    });
  });
});

describe("the status of an event", () => {
  it("moves only draft -> published -> completed, or to cancelled; any other move is RGTRN", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      const id = await createEvent(tx, acme.claims);
      expect(await tx.errorCode(() => tx.query("select events.complete_event($1)", [id]))).toBe("RGTRN");
      expect(await tx.errorCode(() => tx.query("update events.events set status = 'completed' where event_id = $1", [id]))).toBe("RGTRN");
      await publishEvent(tx, acme.claims, id);
      // Publishing again is no move: nothing changes, nothing is published twice.
      await tx.query("select events.publish_event($1)", [id]);
      expect(await tx.asRoot(() => one(tx, "select count(*)::int as n from outbox.events where aggregate_id = $1 and topic = 'event.published'", [id]))).toEqual({ n: 1 });
      expect(await tx.errorCode(() => tx.query("update events.events set status = 'draft' where event_id = $1", [id]))).toBe("RGTRN");
      await tx.query("select events.cancel_event($1)", [id]);
      expect(await tx.errorCode(() => tx.query("select events.publish_event($1)", [id]))).toBe("RGTRN");
      expect(await tx.errorCode(() => tx.query("select events.complete_event($1)", [id]))).toBe("RGTRN");
      expect(await tx.errorCode(() => tx.query("update events.events set status = 'postponed' where event_id = $1", [id]))).toBe("RTYPE");
      // Trusted code is held to the same moves.
      expect(await tx.asRoot(() => tx.errorCode(() => tx.query("update events.events set status = 'published' where event_id = $1", [id])))).toBe("RGTRN");
      expect(await tx.asRoot(() => one(tx, "select status from events.events where event_id = $1", [id]))).toEqual({ status: "cancelled" });
    });
  });

  it("starts every event as a draft, whoever inserts it", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      await tx.become(acme.claims);
      // The status column has no insert grant: an API role cannot choose it.
      expect(
        await tx.errorCode(() =>
          tx.query("insert into events.events (title, starts_at, ends_at, status) values ('x', now() + interval '1 day', now() + interval '2 days', 'published')"),
        ),
      ).toBe("42501");
      const { rows } = await tx.query("insert into events.events (title, starts_at, ends_at) values ('x', now() + interval '1 day', now() + interval '2 days') returning status, owner_context_id");
      expect(rows).toEqual([{ status: "draft", owner_context_id: acme.organization.organizationId }]);
      const code = await tx.asRoot(() =>
        tx.errorCode(() =>
          tx.query("insert into events.events (owner_context_id, title, starts_at, ends_at, status) values ($1, 'x', now() + interval '1 day', now() + interval '2 days', 'published')", [
            acme.organization.organizationId,
          ]),
        ),
      );
      expect(code).toBe("RGTRN");
    });
  });

  it("stamps published_at and cancelled_at, and tells the outbox and the worker", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      const open = await publishedEvent(tx, acme);
      const hidden = await publishedEvent(tx, acme, { visibility: "private" });
      await tx.query("select events.cancel_event($1)", [open]);
      const row = await one<{ published: boolean; cancelled: boolean }>(
        tx,
        "select published_at is not null as published, cancelled_at is not null as cancelled from events.events where event_id = $1",
        [open],
      );
      expect(row).toEqual({ published: true, cancelled: true });
      const events = await tx.asRoot(() =>
        tx.query<{ topic: string; aggregate_id: string; organization_id: string }>(
          "select topic, aggregate_id, organization_id from outbox.events where aggregate_type = 'event' and aggregate_id = any($1::text[]) order by event_id",
          [[open, hidden]],
        ),
      );
      expect(events.rows).toEqual([
        { topic: "event.published", aggregate_id: open, organization_id: acme.organization.organizationId },
        { topic: "event.published", aggregate_id: hidden, organization_id: acme.organization.organizationId },
        { topic: "event.cancelled", aggregate_id: open, organization_id: acme.organization.organizationId },
      ]);
      // Only a public event is fanned out to followers.
      const jobs = await tx.asRoot(() =>
        tx.query("select key from graphile_worker.jobs where task_identifier = 'events_notify_followers' and key = any($1::text[])", [
          [open, hidden].map((id) => `events_notify_followers:${id}`),
        ]),
      );
      expect(jobs.rows).toEqual([{ key: `events_notify_followers:${open}` }]);
    });
  });
});

describe("unlisted events and organizers", () => {
  it("opens an unlisted event by its id for anyone, but never a draft or a private event", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      const unlisted = await publishedEvent(tx, acme, { visibility: "unlisted" });
      const hidden = await publishedEvent(tx, acme, { visibility: "private" });
      const draft = await createEvent(tx, acme.claims, { visibility: "unlisted" });
      await tx.become(anonymous);
      const { rows } = await tx.query("select event_id from unnest($1::uuid[]) i, lateral events.event_by_link(i) where event_id is not null", [
        [unlisted, hidden, draft],
      ]);
      expect(rows).toEqual([{ event_id: unlisted }]);
      expect((await tx.query("select * from events.search_events()")).rows.map((row) => row.event_id)).not.toContain(unlisted);
    });
  });

  it("shows an organization's name as organizer once it shows a public event, and to its members", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evacme");
      const quiet = await createTenant(tx, "evquiet");
      const open = await publishedEvent(tx, acme);
      const secret = await publishedEvent(tx, quiet, { visibility: "private" });
      await tx.become(anonymous);
      expect(await one(tx, "select events.events_organizer_name(e) as name, events.events_organizer_slug(e) as slug from events.events e where e.event_id = $1", [open])).toEqual({ name: acme.organization.name, slug: acme.organization.slug });
      // A row forged in SQL (here: the private event's own row) names the quiet organization: still nothing.
      const byId = await tx.asRoot(() => tx.query("select * from events.events where event_id = $1", [secret]));
      await tx.become(anonymous);
      const leaked = await tx.query("select events.events_organizer_name(jsonb_populate_record(null::events.events, $1::jsonb)) as name", [JSON.stringify(byId.rows[0])]);
      expect(leaked.rows).toEqual([{ name: null }]);
      await tx.become(quiet.claims);
      const own = await tx.query("select events.events_organizer_name(e) as name from events.events e where e.event_id = $1", [secret]);
      expect(own.rows).toEqual([{ name: quiet.organization.name }]);
    });
  });
});
