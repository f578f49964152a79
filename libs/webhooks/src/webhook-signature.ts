import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Outbound webhooks are signed as Stripe signs its own: the header
 * `Credits-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed by the endpoint's
 * secret. During a secret's rotation a delivery carries one `v1` per secret, so a receiver holding either
 * verifies it. The timestamp is signed too: a receiver refuses one outside its tolerance (a replay).
 */
export const WEBHOOK_SIGNATURE_HEADER = 'Credits-Signature';

/** Five minutes, as Stripe's libraries default to. */
export const WEBHOOK_SIGNATURE_TOLERANCE_SECONDS_DEFAULT = 300;

const SECRET_PREFIX = 'whsec_';

/** A new endpoint secret: `whsec_` and 32 random bytes in base64url. */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

function signatureOf(secret: string, timestamp: number, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

/** The header's value for `rawBody` signed at `timestamp` (unix seconds) with each secret. */
export function signWebhookPayload(
  rawBody: string | Buffer,
  secrets: readonly string[],
  timestamp: number = Math.floor(Date.now() / 1000),
): string {
  if (secrets.length === 0) throw new Error('a webhook payload needs a secret to be signed with');
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${signatureOf(secret, timestamp, rawBody)}`)].join(',');
}

export type WebhookVerification =
  | { valid: true; timestamp: number }
  | { valid: false; reason: 'malformed-header' | 'timestamp-outside-tolerance' | 'no-matching-signature' };

/**
 * For receivers: whether `header` (the `Credits-Signature` value) signs `rawBody` (the bytes received, before
 * any JSON parsing) with `secret`, at a time within `toleranceSeconds` of `nowSeconds`. Pass the raw body: a
 * re-serialized one does not verify.
 */
export function verifyWebhookSignature(
  rawBody: string | Buffer,
  header: string | undefined,
  secret: string,
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): WebhookVerification {
  const { toleranceSeconds = WEBHOOK_SIGNATURE_TOLERANCE_SECONDS_DEFAULT, nowSeconds = Date.now() / 1000 } = options;
  const parts = (header ?? '').split(',').map((part) => part.trim().split('='));
  const timestamps = parts.filter(([key]) => key === 't').map(([, value]) => value);
  // A signature is exactly 64 hex digits: Buffer.from(…, 'hex') would stop at the first other character.
  const signatures = parts.filter(([key]) => key === 'v1').map(([, value]) => value);
  if (signatures.some((signature) => !/^[0-9a-f]{64}$/i.test(signature ?? ''))) {
    return { valid: false, reason: 'malformed-header' };
  }
  if (timestamps.length !== 1 || !/^\d{1,12}$/.test(timestamps[0] ?? '') || signatures.length === 0) {
    return { valid: false, reason: 'malformed-header' };
  }
  const timestamp = Number(timestamps[0]);
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) {
    return { valid: false, reason: 'timestamp-outside-tolerance' };
  }
  const expected = Buffer.from(signatureOf(secret, timestamp, rawBody), 'hex');
  const matches = signatures.some((signature) => {
    const given = Buffer.from(signature, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return matches ? { valid: true, timestamp } : { valid: false, reason: 'no-matching-signature' };
}
