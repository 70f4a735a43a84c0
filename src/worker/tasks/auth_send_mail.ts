import type { Task } from "graphile-worker";
import type { MailOptions } from "../../config.ts";
import type { MailMessage, MailTransport } from "../../mail/transport.ts";

/** The mails of the auth module, queued in SQL by auth_private.enqueue_mail. */
export const authMailKinds = ["verify_email", "signup_attempt", "password_reset"] as const;
export type AuthMailKind = (typeof authMailKinds)[number];

function assertPayload(payload: unknown): asserts payload is { kind: AuthMailKind; id: string } {
  const { kind, id } = (payload ?? {}) as { kind?: unknown; id?: unknown };
  if (!authMailKinds.includes(kind as AuthMailKind) || typeof id !== "string") {
    throw new Error(`auth_send_mail expects { kind: ${authMailKinds.join(" | ")}, id }`);
  }
}

interface Mailing {
  to_address: string;
  username: string;
  token: string | null;
  expires_at: Date | null;
}

const when = (date: Date | null) => (date ? `${date.toISOString().slice(0, 16).replace("T", " ")} UTC` : "");

/** The message for one mailing: plain text, the link and the bare token (for clients without a web page). */
export function authMail(kind: AuthMailKind, mailing: Mailing, appUrl: string): MailMessage {
  const to = mailing.to_address;
  const token = mailing.token ?? "";
  if (kind === "verify_email") {
    return {
      to,
      subject: "Confirm your e-mail address",
      text: [
        `Hello ${mailing.username},`,
        "",
        "Confirm your e-mail address to finish signing up:",
        `${appUrl}/verify-email?token=${encodeURIComponent(token)}`,
        "",
        `Or use this code: ${token}`,
        "",
        `The link works once, until ${when(mailing.expires_at)}. If you did not sign up, ignore this mail: no account exists until the address is confirmed.`,
        "",
      ].join("\n"),
    };
  }
  if (kind === "password_reset") {
    return {
      to,
      subject: "Reset your password",
      text: [
        `Hello ${mailing.username},`,
        "",
        "Someone (we hope you) asked to reset the password of your account. Choose a new one here:",
        `${appUrl}/reset-password?token=${encodeURIComponent(token)}`,
        "",
        `Or use this code: ${token}`,
        "",
        `The link works once, until ${when(mailing.expires_at)}. Resetting signs out every session of your account. If you did not ask, ignore this mail: your password stays as it is.`,
        "",
      ].join("\n"),
    };
  }
  return {
    to,
    subject: "Someone tried to sign up with your e-mail address",
    text: [
      `Hello ${mailing.username},`,
      "",
      "Someone tried to create an account with this e-mail address, which already has your account. Nothing was changed.",
      "",
      `If it was you, sign in instead, or reset your password: ${appUrl}/reset-password`,
      "If it was not you, you need do nothing.",
      "",
    ].join("\n"),
  };
}

/**
 * Sends one auth mail: re-reads what to send (auth_private.mail_for makes the
 * link's token now, so it exists only in the mail) and exits quietly when the
 * mail no longer applies (verified, used, expired, gone). A failed send throws:
 * graphile-worker retries, with a new token each time.
 */
export function makeAuthSendMail(transport: MailTransport, options: Pick<MailOptions, "appUrl">): Task {
  return async (payload, helpers) => {
    assertPayload(payload);
    const { rows } = await helpers.query<Mailing>("select * from auth_private.mail_for($1, $2)", [payload.kind, payload.id]);
    const mailing = rows[0];
    if (!mailing) {
      helpers.logger.debug(`auth mail ${payload.kind} ${payload.id} no longer applies`);
      return;
    }
    await transport.send(authMail(payload.kind, mailing, options.appUrl));
  };
}
