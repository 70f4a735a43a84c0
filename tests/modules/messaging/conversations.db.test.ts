import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { countAsRoot, createUser, one, type TestUser } from "../../helpers/fixtures.ts";

// Direct messages: only current participants see a conversation, its
// messages and its read receipts; a participant can leave.

async function start(tx: TestTransaction, from: TestUser, to: TestUser[], body = "Hi!"): Promise<string> {
  await tx.become(from.claims);
  return (await one<{ conversation_id: string }>(tx, "select conversation_id from messaging.start_conversation($1, $2)", [to.map((user) => user.userId), body])).conversation_id;
}

async function messagesSeenBy(tx: TestTransaction, user: TestUser, conversationId: string): Promise<string[]> {
  await tx.become(user.claims);
  return (await tx.query<{ body: string }>("select body from messaging.direct_messages where conversation_id = $1 order by created_at, body", [conversationId])).rows.map((row) => row.body);
}

describe("conversations", () => {
  it("shows messages to participants only, though the rows exist", async () => {
    await withTransaction(async (tx) => {
      const ada = await createUser(tx, "msada");
      const bo = await createUser(tx, "msbo");
      const eve = await createUser(tx, "mseve");
      const id = await start(tx, ada, [bo], "Lunch?");
      await tx.become(bo.claims);
      await tx.query("select messaging.send_direct_message($1, 'Yes')", [id]);
      expect(await messagesSeenBy(tx, ada, id)).toEqual(["Lunch?", "Yes"]);
      expect(await messagesSeenBy(tx, eve, id)).toEqual([]);
      await tx.become(eve.claims);
      expect((await tx.query("select * from messaging.conversations where conversation_id = $1", [id])).rows).toEqual([]);
      expect((await tx.query("select * from messaging.conversation_participants where conversation_id = $1", [id])).rows).toEqual([]);
      expect(await tx.errorCode(() => tx.query("select messaging.send_direct_message($1, 'let me in')", [id]))).toBe("NTFND");
      expect(await tx.errorCode(() => tx.query("insert into messaging.direct_messages (conversation_id, body) values ($1, 'sneaky')", [id]))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("insert into messaging.conversation_participants (conversation_id, user_id) values ($1, $2)", [id, eve.userId]))).toBe("42501");
      expect(await countAsRoot(tx, "messaging.direct_messages where conversation_id = $1", [id])).toBe(2);
      // The other participant hears of a new message (without its text).
      const { rows } = await tx.asRoot(() => tx.query("select user_id, message from outbox.notifications where topic = 'messaging.direct_message' and payload ->> 'conversationId' = $1 order by notification_id", [id]));
      expect(rows).toEqual([
        { user_id: bo.userId, message: `${ada.username} wrote to you` },
        { user_id: ada.userId, message: `${bo.username} wrote to you` },
      ]);
    });
  });

  it("shows each participant the others' read receipts", async () => {
    await withTransaction(async (tx) => {
      const ada = await createUser(tx, "msada");
      const bo = await createUser(tx, "msbo");
      const id = await start(tx, ada, [bo]);
      await tx.become(ada.claims);
      const unread = await one<{ last_read_at: string | null }>(tx, "select last_read_at from messaging.conversation_participants where conversation_id = $1 and user_id = $2", [id, bo.userId]);
      expect(unread.last_read_at).toBeNull();
      await tx.become(bo.claims);
      await tx.query("select messaging.mark_conversation_read($1)", [id]);
      await tx.become(ada.claims);
      const read = await one<{ last_read_at: Date | null }>(tx, "select last_read_at from messaging.conversation_participants where conversation_id = $1 and user_id = $2", [id, bo.userId]);
      expect(read.last_read_at).toBeInstanceOf(Date);
      // Nobody moves someone else's receipt.
      expect((await tx.query("update messaging.conversation_participants set last_read_at = null where conversation_id = $1 and user_id = $2", [id, bo.userId])).rowCount).toBe(0);
    });
  });

  it("lets a participant leave: they see nothing of it any more, and the others go on", async () => {
    await withTransaction(async (tx) => {
      const ada = await createUser(tx, "msada");
      const bo = await createUser(tx, "msbo");
      const cy = await createUser(tx, "mscy");
      const id = await start(tx, ada, [bo, cy]);
      await tx.become(cy.claims);
      expect(await one(tx, "select messaging.leave_conversation($1) as left", [id])).toEqual({ left: true });
      await tx.become(ada.claims);
      await tx.query("select messaging.send_direct_message($1, 'after cy left')", [id]);
      expect(await messagesSeenBy(tx, cy, id)).toEqual([]);
      expect(await tx.errorCode(() => tx.query("select messaging.send_direct_message($1, 'back?')", [id]))).toBe("NTFND");
      expect(await tx.errorCode(() => tx.query("select messaging.leave_conversation($1)", [id]))).toBe("NTFND");
      expect(await messagesSeenBy(tx, bo, id)).toEqual(["Hi!", "after cy left"]);
      expect(await countAsRoot(tx, "outbox.notifications where user_id = $1 and payload ->> 'conversationId' = $2", [cy.userId, id])).toBe(1);
    });
  });

  it("refuses people one cannot see, empty messages and conversations with nobody", async () => {
    await withTransaction(async (tx) => {
      const ada = await createUser(tx, "msada");
      const hidden = await createUser(tx, "mshid");
      await tx.become(hidden.claims);
      await tx.query("update users.profiles set visibility = 'private' where user_id = $1", [hidden.userId]);
      await tx.become(ada.claims);
      expect(await tx.errorCode(() => tx.query("select messaging.start_conversation($1, 'hi')", [[hidden.userId]]))).toBe("NTFND");
      expect(await tx.errorCode(() => tx.query("select messaging.start_conversation($1, 'hi')", [[ada.userId]]))).toBe("BADIN");
      expect(await tx.errorCode(() => tx.query("select messaging.start_conversation($1, '   ')", [[hidden.userId]]))).toBe("BADIN");
      expect(await countAsRoot(tx, "messaging.conversations where created_by = $1", [ada.userId])).toBe(0);
      expect(await countAsRoot(tx, "users.profiles where user_id = $1", [hidden.userId])).toBe(1);
    });
  });
});
