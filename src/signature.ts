import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Webhook signatures, the same both ways: outbound deliveries
 * (src/worker/tasks/outbox_deliver.ts) sign, the inbound /webhooks/:source
 * route (src/server/inbox.ts) verifies. This file is the one place the check
 * lives.
 *
 * Standard Webhooks (standardwebhooks.com), what receivers' libraries expect:
 *   webhook-id: <message id>
 *   webhook-timestamp: <unix seconds>
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, `${id}.${timestamp}.${rawBody}`)>
 * The id and the timestamp are inside the MAC, so a captured request cannot be
 * replayed under another id, and not after the tolerance. The key is the
 * base64-decoded part of a `whsec_…` secret; any other secret string is used
 * as its UTF-8 bytes (so a Standard Webhooks library takes it as
 * `whsec_` + base64(secret)).
 *
 * Legacy (Groundwork's first scheme, still sent on every delivery and accepted
 * inbound only from sources that opt in): `X-Groundwork-Signature:
 * t=<unix seconds>,v1=<hex HMAC-SHA256(secret string, `${t}.${rawBody}`)>`. It
 * does not cover any header, so whatever identifies the message must come from
 * the signed body. docs/modules/outbox.md ("Verifying a signature") shows
 * receivers both.
 */
export const signatureHeader = "x-groundwork-signature";

export const standardHeaders = { id: "webhook-id", timestamp: "webhook-timestamp", signature: "webhook-signature" } as const;

/** Seconds a signature's timestamp may differ from the receiver's clock. */
export const signatureToleranceSeconds = 300;

const secretPrefix = "whsec_";

/** The HMAC key of a secret: the decoded bytes of `whsec_<base64>`, else the string's UTF-8 bytes. */
export function webhookKey(secret: string): Buffer {
  return secret.startsWith(secretPrefix) ? Buffer.from(secret.slice(secretPrefix.length), "base64") : Buffer.from(secret, "utf8");
}

const now = () => Math.floor(Date.now() / 1000);

export type StandardSignature = { "webhook-id": string; "webhook-timestamp": string; "webhook-signature": string };

/** The three Standard Webhooks headers for one message. */
export function signStandard(secret: string, id: string, rawBody: string, timestamp = now()): StandardSignature {
  const mac = createHmac("sha256", webhookKey(secret)).update(`${id}.${timestamp}.`).update(rawBody).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": `v1,${mac}` };
}

/** Why a Standard Webhooks request was refused, or "ok". */
export type StandardVerdict = "ok" | "malformed" | "stale" | "mismatch";

/** Whether the headers are well-formed and fresh: decidable without the secret (and so before reading the body). */
export function checkStandardHeaders(headers: { id: string | undefined; timestamp: string | undefined; signature: string | undefined }, at = now()): StandardVerdict {
  const { id, timestamp, signature } = headers;
  if (!id || id.length > 200 || !timestamp || !/^\d{1,12}$/.test(timestamp) || !signature) return "malformed";
  if (!signature.split(" ").some((part) => part.startsWith("v1,"))) return "malformed";
  if (Math.abs(at - Number(timestamp)) > signatureToleranceSeconds) return "stale";
  return "ok";
}

/**
 * Verifies Standard Webhooks headers: well-formed, within the tolerance, and
 * one of the space-separated `v1,` signatures is the HMAC (compared in
 * constant time).
 */
export function verifyStandard(
  secret: string,
  rawBody: string | Buffer,
  headers: { id: string | undefined; timestamp: string | undefined; signature: string | undefined },
  at = now(),
): StandardVerdict {
  const checked = checkStandardHeaders(headers, at);
  if (checked !== "ok") return checked;
  const expected = createHmac("sha256", webhookKey(secret)).update(`${headers.id}.${headers.timestamp}.`).update(rawBody).digest();
  for (const part of headers.signature!.split(" ")) {
    if (!part.startsWith("v1,")) continue;
    const given = Buffer.from(part.slice(3), "base64");
    if (given.length === expected.length && timingSafeEqual(given, expected)) return "ok";
  }
  return "mismatch";
}

/** The legacy X-Groundwork-Signature header. */
export function signPayload(secret: string, rawBody: string, timestamp = now()): string {
  const mac = createHmac("sha256", secret).update(`${timestamp}.${rawBody}`).digest("hex");
  return `t=${timestamp},v1=${mac}`;
}

/** Verifies a legacy X-Groundwork-Signature: well-formed, within the tolerance, the HMAC in constant time. */
export function verifySignature(secret: string, rawBody: string | Buffer, header: string | undefined, at = now()): boolean {
  if (!header) return false;
  const parts = new Map(header.split(",").map((part) => part.trim().split("=", 2) as [string, string]));
  const timestamp = Number(parts.get("t"));
  const given = parts.get("v1") ?? "";
  if (!Number.isSafeInteger(timestamp) || !/^[0-9a-f]{64}$/i.test(given)) return false;
  if (Math.abs(at - timestamp) > signatureToleranceSeconds) return false;
  const expected = createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(given, "hex"));
}
