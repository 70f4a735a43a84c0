import { describe, expect, it } from "vitest";
import { withTransaction } from "../../helpers/db.ts";
import { addMember, anonymous, countAsRoot, createOrganization, createUser, one } from "../../helpers/fixtures.ts";

// Profiles and settings: one of each per user, made with the account; the
// handle is the username, shown through the profile; private profiles are for
// their owner and people who share an organization with them.

describe("profiles", () => {
  it("exist for every user, made when they register, with the username as handle", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "usalice");
      await tx.become(anonymous);
      const profile = await one(tx, "select p.user_id, users.profiles_handle(p) as handle, p.visibility from users.profiles p where p.user_id = $1", [alice.userId]);
      expect(profile).toEqual({ user_id: alice.userId, handle: alice.username, visibility: "public" });
      expect(await countAsRoot(tx, "auth.users u where not exists (select 1 from users.profiles p where p.user_id = u.user_id)")).toBe(0);
      expect(await countAsRoot(tx, "auth.users u where not exists (select 1 from users.settings s where s.user_id = u.user_id)")).toBe(0);
    });
  });

  it("are found by handle, ignoring case", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "usalice");
      await tx.become(anonymous);
      expect(await one(tx, "select user_id from users.profile_by_handle($1)", [alice.username.toUpperCase()])).toEqual({ user_id: alice.userId });
      expect((await tx.query("select user_id from users.profile_by_handle('nobody-here-at-all') where user_id is not null")).rowCount).toBe(0);
    });
  });

  it("when private, are seen only by their owner and by people who share an organization with them (the rows exist)", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "usalice");
      const colleague = await createUser(tx, "uscolleague");
      const stranger = await createUser(tx, "usstranger");
      const organization = await createOrganization(tx, alice, "usorg");
      await addMember(tx, alice, organization, colleague);
      await tx.become(alice.claims);
      await tx.query("update users.profiles set visibility = 'private', display_name = 'Alice' where user_id = $1", [alice.userId]);
      const sees = async (claims: Parameters<typeof tx.become>[0]) => {
        await tx.become(claims);
        return (await tx.query("select display_name, users.profiles_handle(p) as handle from users.profiles p where p.user_id = $1", [alice.userId])).rows;
      };
      expect(await sees(alice.claims)).toEqual([{ display_name: "Alice", handle: alice.username }]);
      expect(await sees(colleague.claims)).toEqual([{ display_name: "Alice", handle: alice.username }]);
      expect(await sees(stranger.claims)).toEqual([]);
      expect(await sees(anonymous)).toEqual([]);
      expect(await countAsRoot(tx, "users.profiles where user_id = $1", [alice.userId])).toBe(1);
      // The handle function given a forged row reveals nothing either.
      const stored = await tx.asRoot(() => one(tx, "select to_jsonb(p) as row from users.profiles p where p.user_id = $1", [alice.userId]));
      await tx.become(stranger.claims);
      expect(
        await one(tx, "select users.profiles_handle(jsonb_populate_record(null::users.profiles, $1::jsonb || '{\"visibility\": \"public\"}')) as handle", [JSON.stringify(stored.row)]),
      ).toEqual({ handle: null });
    });
  });

  it("are edited by their owner only, with country and time zone checked against the reference data", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "usalice");
      const bob = await createUser(tx, "usbob");
      await tx.become(bob.claims);
      expect((await tx.query("update users.profiles set bio = 'Hacked' where user_id = $1", [alice.userId])).rowCount).toBe(0);
      await tx.become(alice.claims);
      const updated = await one(
        tx,
        "update users.profiles set bio = '<b>hi</b>', country_code = 'NG', timezone = 'Africa/Lagos', avatar_url = 'https://example.com/a.png' where user_id = $1 returning bio, country_code, timezone",
        [alice.userId],
      );
      expect(updated).toEqual({ bio: "<b>hi</b>", country_code: "NG", timezone: "Africa/Lagos" });
      expect(await tx.errorCode(() => tx.query("update users.profiles set country_code = 'XX' where user_id = $1", [alice.userId]))).toBe("23503");
      expect(await tx.errorCode(() => tx.query("update users.profiles set timezone = 'Mars/Base' where user_id = $1", [alice.userId]))).toBe("23503");
      expect(await tx.errorCode(() => tx.query("update users.profiles set avatar_url = 'javascript:alert(1)' where user_id = $1", [alice.userId]))).toBe("23514");
      expect(await tx.errorCode(() => tx.query("update users.profiles set display_name = '   ' where user_id = $1", [alice.userId]))).toBe("23514");
      expect(await tx.errorCode(() => tx.query("update users.profiles set user_id = $2 where user_id = $1", [alice.userId, bob.userId]))).toBe("42501");
      expect(await tx.errorCode(() => tx.query("delete from users.profiles where user_id = $1", [alice.userId]))).toBe("42501");
    });
  });
});

describe("settings", () => {
  it("start with every default, and are seen and changed by their owner only", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "usalice");
      const bob = await createUser(tx, "usbob");
      await tx.become(alice.claims);
      expect(await one(tx, "select locale, notification_preferences from users.settings")).toEqual({
        locale: "en",
        notification_preferences: {
          in_app: { event_published: true, comment_added: true, organization_message: true, direct_message: true },
          email: { event_published: false, comment_added: false, organization_message: true, direct_message: false, digest: "weekly" },
        },
      });
      await tx.become(bob.claims);
      expect((await tx.query("select 1 from users.settings where user_id = $1", [alice.userId])).rowCount).toBe(0);
      expect((await tx.query("update users.settings set locale = 'fr' where user_id = $1", [alice.userId])).rowCount).toBe(0);
      await tx.become(anonymous);
      expect(await tx.errorCode(() => tx.query("select 1 from users.settings"))).toBe("42501");
    });
  });

  it("keep what is given and fill in the rest from the schema's defaults", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "usalice");
      await tx.become(alice.claims);
      const saved = await one(
        tx,
        `update users.settings set locale = 'yo-NG', notification_preferences = '{"email": {"digest": "off"}, "in_app": {"comment_added": false}}' returning locale, notification_preferences`,
      );
      expect(saved).toEqual({
        locale: "yo-NG",
        notification_preferences: {
          in_app: { event_published: true, comment_added: false, organization_message: true, direct_message: true },
          email: { event_published: false, comment_added: false, organization_message: true, direct_message: false, digest: "off" },
        },
      });
      await tx.asRoot(async () => {
        expect(await one(tx, "select users.notification_enabled($1, 'in_app', 'comment_added') as on", [alice.userId])).toEqual({ on: false });
        expect(await one(tx, "select users.notification_enabled($1, 'in_app', 'event_published') as on", [alice.userId])).toEqual({ on: true });
      });
    });
  });

  it("refuse unknown keys, wrong types, values outside the schema and bad locales with USSET, storing nothing", async () => {
    await withTransaction(async (tx) => {
      const alice = await createUser(tx, "usalice");
      await tx.become(alice.claims);
      const set = (preferences: unknown) => tx.query("update users.settings set notification_preferences = $1::jsonb", [JSON.stringify(preferences)]);
      expect(await tx.errorOf(() => set({ sms: { event_published: true } }))).toBe("USSET: Notification preferences do not match the schema: $: unknown key sms.");
      expect(await tx.errorOf(() => set({ in_app: { event_published: "yes" } }))).toBe(
        "USSET: Notification preferences do not match the schema: $.in_app.event_published: expected boolean, got string.",
      );
      expect(await tx.errorCode(() => set({ email: { digest: "hourly" } }))).toBe("USSET");
      expect(await tx.errorCode(() => set({ email: { unsubscribe_all: true } }))).toBe("USSET");
      expect(await tx.errorCode(() => set([true]))).toBe("USSET");
      expect(await tx.errorCode(() => set({ in_app: null }))).toBe("USSET");
      expect(await tx.errorCode(() => tx.query("update users.settings set locale = 'english'"))).toBe("USSET");
      expect(await tx.errorCode(() => tx.query("update users.settings set locale = null"))).toBe("USSET");
      expect(await one(tx, "select locale, notification_preferences -> 'email' ->> 'digest' as digest from users.settings")).toEqual({ locale: "en", digest: "weekly" });
    });
  });
});
