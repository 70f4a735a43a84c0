import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { addMember, anonymous, countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { actingIn, createEvent, createPost, createTenant, publishedEvent } from "./fixtures.ts";

// Posts, comments (replies, editing, moderation), reactions and cultural guides:
// visible exactly when their event is, written by whom the page says.

describe("posts", () => {
  it("are written by the organization's owners and admins acting in it, and read with their event", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evpost");
      const globex = await createTenant(tx, "evpostg");
      const member = await createUser(tx, "evpostm");
      await addMember(tx, acme.owner, acme.organization, member);
      const open = await publishedEvent(tx, acme);
      const draft = await createEvent(tx, acme.claims);
      const onOpen = await createPost(tx, acme, open, "Line-up announced");
      const onDraft = await createPost(tx, acme, draft, "Secret line-up");

      await tx.become(anonymous);
      expect((await tx.query("select post_id from events.event_posts where post_id = any($1::uuid[])", [[onOpen, onDraft]])).rows).toEqual([{ post_id: onOpen }]);
      expect(await countAsRoot(tx, "events.event_posts where post_id = $1", [onDraft])).toBe(1);

      for (const claims of [globex.claims, actingIn(member, acme.organization), member.claims]) {
        await tx.become(claims);
        expect(await tx.errorCode(() => tx.query("insert into events.event_posts (event_id, body) values ($1, 'Hi')", [open]))).toBe("42501");
        expect((await tx.query("update events.event_posts set body = 'Edited' where post_id = $1", [onOpen])).rowCount).toBe(0);
        expect((await tx.query("delete from events.event_posts where post_id = $1", [onOpen])).rowCount).toBe(0);
      }
      await tx.become(acme.claims);
      expect((await tx.query("update events.event_posts set body = 'Line-up, updated' where post_id = $1", [onOpen])).rowCount).toBe(1);
    });
  });
});

describe("comments", () => {
  it("are written by signed-in users on posts they can see, never by anonymous callers or on posts they cannot see", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evcom");
      const open = await publishedEvent(tx, acme);
      const draft = await createEvent(tx, acme.claims);
      const post = await createPost(tx, acme, open);
      const hiddenPost = await createPost(tx, acme, draft);
      const fan = await createUser(tx, "evfan");
      await tx.become(fan.claims);
      const comment = await one<{ comment_id: string; author_id: string }>(
        tx,
        "insert into events.event_comments (post_id, body) values ($1, 'See you there') returning comment_id, author_id",
        [post],
      );
      expect(comment.author_id).toBe(fan.userId);
      expect(await tx.errorCode(() => tx.query("insert into events.event_comments (post_id, body) values ($1, 'Peek')", [hiddenPost]))).toBe("42501");
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("insert into events.event_comments (post_id, body) values ($1, 'Hi')", [post]))).toBe("42501");
      expect((await tx.query("select body from events.event_comments where post_id = $1", [post])).rows).toEqual([{ body: "See you there" }]);
      expect(await countAsRoot(tx, "events.event_comments where post_id = $1", [hiddenPost])).toBe(0);
    });
  });

  it("are edited and deleted by their authors only; edits are stamped", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evcom");
      const post = await createPost(tx, acme, await publishedEvent(tx, acme));
      const alice = await createUser(tx, "evalice");
      const bob = await createUser(tx, "evbob");
      await tx.become(alice.claims);
      const { comment_id: id } = await one<{ comment_id: string }>(tx, "insert into events.event_comments (post_id, body) values ($1, 'First') returning comment_id", [post]);
      await tx.become(bob.claims);
      expect((await tx.query("update events.event_comments set body = 'Bob was here' where comment_id = $1", [id])).rowCount).toBe(0);
      expect((await tx.query("delete from events.event_comments where comment_id = $1", [id])).rowCount).toBe(0);
      // The organization moderates by hiding, not by rewriting.
      await tx.become(acme.claims);
      expect((await tx.query("update events.event_comments set body = 'Moderated' where comment_id = $1", [id])).rowCount).toBe(0);
      await tx.become(alice.claims);
      const edited = await one(tx, "update events.event_comments set body = 'First!' where comment_id = $1 returning body, edited_at is not null as edited", [id]);
      expect(edited).toEqual({ body: "First!", edited: true });
      expect(await tx.errorCode(() => tx.query("update events.event_comments set hidden_at = now() where comment_id = $1", [id]))).toBe("42501");
      expect((await tx.query("delete from events.event_comments where comment_id = $1", [id])).rowCount).toBe(1);
    });
  });

  it("take replies on the same post only, and keep the replies when the comment they answer is deleted", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evcom");
      const event = await publishedEvent(tx, acme);
      const post = await createPost(tx, acme, event, "One");
      const other = await createPost(tx, acme, event, "Two");
      const alice = await createUser(tx, "evalice");
      const bob = await createUser(tx, "evbob");
      await tx.become(alice.claims);
      const { comment_id: parent } = await one<{ comment_id: string }>(tx, "insert into events.event_comments (post_id, body) values ($1, 'Question?') returning comment_id", [post]);
      await tx.become(bob.claims);
      const { comment_id: reply } = await one<{ comment_id: string }>(
        tx,
        "insert into events.event_comments (post_id, parent_id, body) values ($1, $2, 'Answer.') returning comment_id",
        [post, parent],
      );
      expect(await tx.errorCode(() => tx.query("insert into events.event_comments (post_id, parent_id, body) values ($1, $2, 'Wrong post')", [other, parent]))).toBe("23503");
      // Alice hears about the reply (a notification), and the organization's webhooks about the comment.
      const notified = await tx.asRoot(() => tx.query("select topic, payload ->> 'commentId' as comment from outbox.notifications where user_id = $1", [alice.userId]));
      expect(notified.rows).toEqual([{ topic: "event.comment_added", comment: reply }]);
      expect(await countAsRoot(tx, "outbox.events where topic = 'event.comment_added' and organization_id = $1", [acme.organization.organizationId])).toBe(2);
      await tx.become(alice.claims);
      await tx.query("delete from events.event_comments where comment_id = $1", [parent]);
      expect(await tx.asRoot(() => one(tx, "select parent_id, body from events.event_comments where comment_id = $1", [reply]))).toEqual({ parent_id: null, body: "Answer." });
    });
  });

  it("are hidden by the event's organization: then only their author and the organization see them", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evmod");
      const globex = await createTenant(tx, "evmodg");
      const admin = await createUser(tx, "evmoda");
      const member = await createUser(tx, "evmodm");
      await addMember(tx, acme.owner, acme.organization, admin, "admin");
      await addMember(tx, acme.owner, acme.organization, member, "member");
      const post = await createPost(tx, acme, await publishedEvent(tx, acme));
      const troll = await createUser(tx, "evtroll");
      await tx.become(troll.claims);
      const { comment_id: id } = await one<{ comment_id: string }>(tx, "insert into events.event_comments (post_id, body) values ($1, 'Spam') returning comment_id", [post]);

      for (const [claims, code] of [
        [troll.claims, "DNIED"],
        [actingIn(member, acme.organization), "DNIED"],
        [globex.claims, "DNIED"],
        [admin.claims, "DNIED"],
        [anonymous, "LOGIN"],
      ] as const) {
        await tx.become(claims);
        expect(await tx.errorCode(() => tx.query("select events.hide_comment($1)", [id]))).toBe(code);
      }
      await tx.become(actingIn(admin, acme.organization));
      const hidden = await one(tx, "select hidden_at is not null as hidden, hidden_by from events.hide_comment($1)", [id]);
      expect(hidden).toEqual({ hidden: true, hidden_by: admin.userId });

      const sees = async (claims: Parameters<typeof tx.become>[0]) => {
        await tx.become(claims);
        return (await tx.query("select comment_id from events.event_comments where comment_id = $1", [id])).rowCount;
      };
      expect(await sees(anonymous)).toBe(0);
      expect(await sees(globex.claims)).toBe(0);
      expect(await sees(actingIn(member, acme.organization))).toBe(0);
      expect(await sees(troll.claims)).toBe(1);
      expect(await sees(acme.claims)).toBe(1);
      expect(await countAsRoot(tx, "events.event_comments where comment_id = $1", [id])).toBe(1);

      await tx.become(acme.claims);
      await tx.query("select events.hide_comment($1, false)", [id]);
      expect(await sees(anonymous)).toBe(1);
      await tx.become(acme.claims);
      expect(await tx.errorCode(() => tx.query("select events.hide_comment($1)", ["00000000-0000-0000-0000-000000000000"]))).toBe("NTFND");
    });
  });
});

describe("reactions", () => {
  it("allow one reaction of each kind per person per post", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evreact");
      const post = await createPost(tx, acme, await publishedEvent(tx, acme));
      const fan = await createUser(tx, "evfan");
      const other = await createUser(tx, "evfan2");
      await tx.become(fan.claims);
      const react = (kind: string) => tx.query("insert into events.event_reactions (post_id, kind) values ($1, $2)", [post, kind]);
      await react("like");
      await react("love");
      expect(await tx.errorCode(() => react("like"))).toBe("23505");
      expect(await tx.errorCode(() => react("meh"))).toBe("RTYPE");
      await tx.become(other.claims);
      await react("like");
      await tx.become(anonymous);
      expect(await tx.errorCode(() => react("like"))).toBe("42501");
      const counts = await tx.query("select kind, count(*)::int as n from events.event_reactions where post_id = $1 group by kind order by kind", [post]);
      expect(counts.rows).toEqual([
        { kind: "like", n: 2 },
        { kind: "love", n: 1 },
      ]);
      await tx.become(fan.claims);
      expect((await tx.query("delete from events.event_reactions where post_id = $1", [post])).rowCount).toBe(2);
    });
  });

  it("are not possible on posts of events one cannot see", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evreact");
      const post = await createPost(tx, acme, await createEvent(tx, acme.claims));
      const fan = await createUser(tx, "evfan");
      await tx.become(fan.claims);
      expect(await tx.errorCode(() => tx.query("insert into events.event_reactions (post_id, kind) values ($1, 'like')", [post]))).toBe("42501");
    });
  });
});

describe("cultural guides", () => {
  it("are one per event and locale, written by the organization and read with the event", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "evguide");
      const id = await publishedEvent(tx, acme);
      await tx.become(acme.claims);
      const write = (locale: string) =>
        tx.query("insert into events.cultural_guides (event_id, locale, title, body) values ($1, $2, 'Etiquette', 'Greet the elders first.')", [id, locale]);
      await write("en");
      await write("yo-NG");
      expect(await tx.errorCode(() => write("en"))).toBe("23505");
      const stranger = await createUser(tx, "evguides");
      await tx.become(stranger.claims);
      expect(await tx.errorCode(() => write("fr"))).toBe("42501");
      await tx.become(anonymous);
      expect((await tx.query("select locale from events.cultural_guides where event_id = $1 order by locale", [id])).rows).toEqual([{ locale: "en" }, { locale: "yo-NG" }]);
    });
  });
});
