import { describe, expect, it } from "vitest";
import { withTransaction, type TestTransaction } from "../../helpers/db.ts";
import { addMember, countAsRoot, createUser, one } from "../../helpers/fixtures.ts";
import { actingIn, createTenant, type Tenant } from "../events/fixtures.ts";

// Templates: checked when saved, rendered as inert text.

async function saveTemplate(tx: TestTransaction, tenant: Tenant, subject: string, body: string, variables: string[] = [], name = "t"): Promise<string> {
  await tx.become(tenant.claims);
  return (
    await one<{ template_id: string }>(tx, "insert into messaging.message_templates (name, subject, body, variables) values ($1, $2, $3, $4) returning template_id", [
      name,
      subject,
      body,
      variables,
    ])
  ).template_id;
}

describe("saving templates", () => {
  it("accepts built-in and declared placeholders", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "mstpl");
      const id = await saveTemplate(tx, acme, "{{event_title}} is coming", "Hello {{ recipient_name }}, use code {{ code }} at {{ organization_name }}.", ["code"]);
      expect(await countAsRoot(tx, "messaging.message_templates where template_id = $1", [id])).toBe(1);
    });
  });

  it("refuses malformed placeholder syntax with MSTPL and undeclared names with MSVAR, storing nothing", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "mstpl");
      const malformed = ["Hi {{ user.email }}", "{% if admin %}x{% endif %}", "Hi {{ name", "Hi }} there", "{{ Name }}", "{{ constructor['prototype'] }}", "{{}}", "{{{ raw }}}"];
      for (const body of malformed) {
        expect(await tx.errorCode(() => saveTemplate(tx, acme, "s", body, ["name", "raw"]))).toBe("MSTPL");
      }
      expect(await tx.errorCode(() => saveTemplate(tx, acme, "s", "Hi {{ secret_token }}"))).toBe("MSVAR");
      expect(await tx.errorCode(() => saveTemplate(tx, acme, "{{ password }}", "ok"))).toBe("MSVAR");
      for (const variables of [["Bad"], ["a", "a"], ["recipient_name"], Array.from({ length: 21 }, (_, i) => `v${i}`)]) {
        expect(await tx.errorCode(() => saveTemplate(tx, acme, "s", "b", variables))).toBe("MSTPL");
      }
      expect(await countAsRoot(tx, "messaging.message_templates where organization_id = $1", [acme.organization.organizationId])).toBe(0);
      // An edit is checked the same way.
      const id = await saveTemplate(tx, acme, "s", "fine");
      expect(await tx.errorCode(() => tx.query("update messaging.message_templates set body = 'Hi {{ nope }}' where template_id = $1", [id]))).toBe("MSVAR");
      expect(await tx.asRoot(() => one(tx, "select body from messaging.message_templates where template_id = $1", [id]))).toEqual({ body: "fine" });
    });
  });
});

describe("rendering", () => {
  it("inserts hostile values as plain text, never interpreting them again", async () => {
    await withTransaction(async (tx) => {
      const hostile = {
        recipient_name: "{{ code }}",
        code: "<script>alert(1)</script>'; drop table messaging.message_templates; --",
        organization_name: "%s %n ${process.env} {% raw %}",
      };
      const { rendered } = await one<{ rendered: string }>(
        tx,
        "select messaging_private.render('Hi {{ recipient_name }}, code {{code}} from {{ organization_name }}.', $1) as rendered",
        [JSON.stringify(hostile)],
      );
      expect(rendered).toBe(`Hi {{ code }}, code ${hostile.code} from ${hostile.organization_name}.`);
      expect(await countAsRoot(tx, "pg_class where relname = 'message_templates'")).toBe(1);
      expect(await tx.errorCode(() => tx.query("select messaging_private.render('Hi {{ missing }}', '{}')"))).toBe("MSVAR");
    });
  });
});

describe("who sees and writes templates", () => {
  it("lets members acting in the organization read its templates, only owners and admins write them, and nobody else see them", async () => {
    await withTransaction(async (tx) => {
      const acme = await createTenant(tx, "mstplr");
      const globex = await createTenant(tx, "mstplr2");
      const id = await saveTemplate(tx, acme, "s", "b");
      const member = await createUser(tx, "mstplm");
      await addMember(tx, acme.owner, acme.organization, member);
      await tx.become(actingIn(member, acme.organization));
      expect((await tx.query("select template_id from messaging.message_templates")).rows).toEqual([{ template_id: id }]);
      expect(await tx.errorCode(() => tx.query("insert into messaging.message_templates (name, subject, body) values ('m', 's', 'b')"))).toBe("42501");
      expect((await tx.query("update messaging.message_templates set body = 'changed' where template_id = $1", [id])).rowCount).toBe(0);
      await tx.become(globex.claims);
      expect((await tx.query("select template_id from messaging.message_templates where template_id = $1", [id])).rows).toEqual([]);
      expect(await tx.errorCode(() => tx.query("insert into messaging.message_templates (organization_id, name, subject, body) values ($1, 'x', 's', 'b')", [acme.organization.organizationId]))).toBe("42501");
      expect(await tx.asRoot(() => one(tx, "select body from messaging.message_templates where template_id = $1", [id]))).toEqual({ body: "b" });
    });
  });
});
