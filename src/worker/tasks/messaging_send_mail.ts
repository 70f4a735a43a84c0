import type { Task } from "graphile-worker";
import type { MailTransport } from "../../mail/transport.ts";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function assertPayload(payload: unknown): asserts payload is { jobId: string; userId: string } {
  const { jobId, userId } = (payload ?? {}) as { jobId?: unknown; userId?: unknown };
  if (typeof jobId !== "string" || !uuid.test(jobId) || typeof userId !== "string" || !uuid.test(userId)) {
    throw new Error("messaging_send_mail expects { jobId, userId }");
  }
}

/**
 * Sends one recipient's mail of an e-mail message job (queued by the fan-out,
 * one job key per recipient). Re-reads it rendered: nothing is sent once the
 * job was cancelled or the recipient unsubscribed since.
 */
export function makeMessagingSendMail(transport: MailTransport): Task {
  return async (payload, helpers) => {
    assertPayload(payload);
    const { rows } = await helpers.query<{ to_address: string; subject: string; body: string }>(
      "select to_address, subject, body from messaging_private.mail_of($1, $2)",
      [payload.jobId, payload.userId],
    );
    const mail = rows[0];
    if (!mail) return;
    await transport.send({ to: mail.to_address, subject: mail.subject, text: mail.body });
  };
}
