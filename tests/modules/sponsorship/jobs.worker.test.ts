import { runOnce } from "graphile-worker";
import { afterAll, describe, expect, it } from "vitest";
import { taskList } from "../../../src/worker/tasks/index.ts";
import { rootDb, workerPool } from "../../helpers/db.ts";
import { uniqueName } from "../../helpers/fixtures.ts";

// The sponsorship jobs through graphile-worker, on committed data.

const ownerPool = workerPool();
afterAll(() => ownerPool.end());

async function runTask(name: "sponsorship_expire_proposals" | "sponsorship_compute_matches") {
  const { rows } = await rootDb().query<{ id: string }>("select id from graphile_worker.add_job($1, '{}'::json) as j(id)", [name]);
  expect(rows).toHaveLength(1);
  await runOnce({ pgPool: ownerPool, taskList: { [name]: taskList[name]! }, noHandleSignals: true });
}

async function organization(label: string): Promise<string> {
  const slug = uniqueName(label, "-").toLowerCase();
  const { rows } = await rootDb().query<{ id: string }>("insert into auth.organizations (name, slug) values ($1, $1) returning organization_id as id", [slug]);
  return rows[0]!.id;
}

describe("sponsorship jobs", () => {
  it("expire sent proposals past their expiry and compute matches for upcoming events", async () => {
    const db = rootDb();
    const organizer = await organization("jg");
    const sponsorOrg = await organization("js");
    const { rows: [event] } = await db.query<{ event_id: string }>(
      `insert into events.events (owner_context_id, title, starts_at, ends_at, category_code, country_code)
       values ($1, 'Job jazz', now() + interval '9 days', now() + interval '9 days 2 hours', 'music.jazz', 'NG') returning event_id`, [organizer]);
    await db.query("update events.events set status = 'published' where event_id = $1", [event!.event_id]);
    const { rows: [sponsor] } = await db.query<{ sponsor_id: string }>(
      "insert into sponsorship.sponsors (organization_id, name, interests, country_code) values ($1, 'Jobs Co', '{music.jazz}', 'NG') returning sponsor_id", [sponsorOrg]);
    const { rows: [proposal] } = await db.query<{ proposal_id: string }>(
      `insert into sponsorship.proposals (event_id, sponsor_id, organizer_organization_id, sponsor_organization_id, proposed_by, terms, amount, currency, expires_at)
       values ($1, $2, $3, $4, 'organizer', 'Banner', 1000, 'USD', now() + interval '1 hour') returning proposal_id`,
      [event!.event_id, sponsor!.sponsor_id, organizer, sponsorOrg]);
    await db.query("update sponsorship.proposals set status = 'sent', sent_at = now(), expires_at = now() - interval '1 second' where proposal_id = $1", [proposal!.proposal_id]);

    await runTask("sponsorship_expire_proposals");
    const { rows: [after] } = await db.query<{ status: string }>("select status from sponsorship.proposals where proposal_id = $1", [proposal!.proposal_id]);
    expect(after!.status).toBe("expired");

    await runTask("sponsorship_compute_matches");
    const { rows: matches } = await db.query<{ score: string }>("select score from sponsorship.matches where event_id = $1 and sponsor_id = $2", [event!.event_id, sponsor!.sponsor_id]);
    expect(matches).toEqual([{ score: "0.9000" }]);
  });
});
