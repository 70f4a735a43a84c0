import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Webhook signatures, the same both ways (outbound deliveries and the inbound
 * /webhooks/:source route): `X-Groundwork-Signature: t=<unix seconds>,v1=<hex>`
 * where v1 = HMAC-SHA256(secret, `${t}.${rawBody}`). Binding the timestamp
 * into the MAC stops replays of old bodies; docs/modules/outbox.md ("Verifying a signature") shows receivers.
 */
export const signatureHeader = "x-groundwork-signature";

/** Seconds a signature's timestamp may differ from the receiver's clock. */
export const signatureToleranceSeconds = 300;

export function signPayload(secret: string, rawBody: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac("sha256", secret).update(`${timestamp}.${rawBody}`).digest("hex");
  return `t=${timestamp},v1=${mac}`;
}

export function verifySignature(
  secret: string,
  rawBody: string,
  header: string | undefined,
  now = Math.floor(Date.now() / 1000),
): boolean {
  if (!header) return false;
  const parts = new Map(header.split(",").map((part) => part.trim().split("=", 2) as [string, string]));
  const timestamp = Number(parts.get("t"));
  const given = parts.get("v1") ?? "";
  if (!Number.isSafeInteger(timestamp) || !/^[0-9a-f]{64}$/i.test(given)) return false;
  if (Math.abs(now - timestamp) > signatureToleranceSeconds) return false;
  const expected = createHmac("sha256", secret).update(`${timestamp}.${rawBody}`).digest();
  return timingSafeEqual(expected, Buffer.from(given, "hex"));
}
