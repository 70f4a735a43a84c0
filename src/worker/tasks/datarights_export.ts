import { createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import type { PoolClient } from "pg";
import type { Task } from "graphile-worker";
import yazl from "yazl";
import type { MailTransport } from "../../mail/transport.ts";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function assertPayload(payload: unknown): asserts payload is { id: string } {
  const id = (payload as { id?: unknown } | null)?.id;
  if (typeof id !== "string" || !uuid.test(id)) throw new Error("datarights_export expects { id: <export job uuid> }");
}

/** Rows per FETCH: what the worker holds of one file at a time. */
export const exportFetchSize = 500;

export interface DatarightsExportOptions {
  /** Where the temporary ZIP is written (a fresh folder inside, always removed); default the OS temp dir. */
  tmpRoot?: string;
}

interface Exporter {
  name: string;
  fn: string;
}

/** One exporter's records as a JSON array, FETCHed from a cursor in batches (never the whole set in memory). */
async function* jsonArray(client: PoolClient, exporter: Exporter, userId: string, counts: Map<string, number>): AsyncGenerator<string> {
  // The function name comes from the catalog (regproc::text is quoted where needed), never from input.
  await client.query(`declare export_cursor no scroll cursor for select d::text as d from ${exporter.fn}($1) d`, [userId]);
  let count = 0;
  yield "[";
  try {
    for (;;) {
      const { rows } = await client.query<{ d: string }>(`fetch ${exportFetchSize} from export_cursor`);
      if (rows.length === 0) break;
      yield rows.map((row, i) => `${count + i === 0 ? "\n" : ",\n"}${row.d}`).join("");
      count += rows.length;
    }
  } finally {
    await client.query("close export_cursor");
  }
  counts.set(exporter.name, count);
  yield count === 0 ? "]\n" : "\n]\n";
}

/**
 * Collects everything a user owns (every row of datarights.exporters, one JSON
 * file each, read in one repeatable-read snapshot), zips it into a temporary
 * file streamed from cursors, mails it through the platform's mail transport
 * and records the outcome (datarights_private.finish_export: completed with
 * the size, or failed with the error; both notify the user). The temporary
 * folder is removed whatever happens. A job no longer pending or running exits
 * quietly; one still running is a retry after a crash and runs again.
 */
export function makeDatarightsExport(transport: MailTransport, options: DatarightsExportOptions = {}): Task {
  return async (payload, helpers) => {
    assertPayload(payload);
    const { rows: starts } = await helpers.query<{ user_id: string; email: string; username: string }>(
      "select user_id, email, username from datarights_private.start_export($1)",
      [payload.id],
    );
    const target = starts[0];
    if (!target) {
      helpers.logger.debug(`export ${payload.id} no longer applies`);
      return;
    }
    const folder = await mkdtemp(path.join(options.tmpRoot ?? tmpdir(), "gw-export-"));
    try {
      const file = path.join(folder, "export.zip");
      const counts = new Map<string, number>();
      const zip = new yazl.ZipFile();
      const written = pipeline(zip.outputStream, createWriteStream(file));
      const mtime = new Date();
      await helpers.withPgClient(async (client) => {
        await client.query("begin isolation level repeatable read read only");
        try {
          const { rows: exporters } = await client.query<Exporter>(
            "select name, function_name::regproc::text as fn from datarights.exporters order by sort_order, name",
          );
          for (const exporter of exporters) {
            const stream = Readable.from(jsonArray(client, exporter, target.user_id, counts), { objectMode: false });
            zip.addReadStream(stream, `${exporter.name}.json`, { mtime });
            // One cursor at a time on this connection: the next file starts when this one is read.
            await finished(stream);
          }
          await client.query("commit");
        } catch (error) {
          await client.query("rollback").catch(() => undefined);
          throw error;
        }
      });
      const manifest = {
        jobId: payload.id,
        userId: target.user_id,
        generatedAt: mtime.toISOString(),
        files: Object.fromEntries([...counts].map(([name, count]) => [`${name}.json`, { records: count }])),
      };
      zip.addBuffer(Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), "manifest.json", { mtime });
      zip.end();
      await written;
      const { size } = await stat(file);
      await transport.send({
        to: target.email,
        subject: "Your data export",
        text: [
          `Hello ${target.username},`,
          "",
          "Attached is everything our service holds about you, as JSON files in a ZIP archive (manifest.json lists them).",
          "We keep no copy of this export.",
          "",
        ].join("\n"),
        attachments: [{ filename: `export-${mtime.toISOString().slice(0, 10)}.zip`, path: file, contentType: "application/zip" }],
      });
      await helpers.query("select datarights_private.finish_export($1, $2, null)", [payload.id, size]);
      helpers.logger.info(`export ${payload.id} mailed (${size} bytes)`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      helpers.logger.error(`export ${payload.id} failed: ${message}`);
      // Recorded, not retried: the user may request again (failed exports never count).
      await helpers.query("select datarights_private.finish_export($1, null, $2)", [payload.id, message || "export failed"]);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  };
}
