import { hash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';
import { parse as parseUuid } from 'uuid';
import type { CreditsCommand } from './credits.commands';
import { assertNever } from './credits.state';

/** Fixed namespace of this ledger's event ids; never change it, or retries stop deduplicating. */
const EVENT_ID_NAMESPACE = '6f1c2a4e-93b5-4d0a-8f7e-2b9c1d5e7a30';
const EVENT_ID_NAMESPACE_BYTES = Buffer.from(parseUuid(EVENT_ID_NAMESPACE));

/**
 * A name-based UUID (RFC 9562 version 5: SHA-1 of the namespace's bytes and the name's UTF-8, version and variant
 * bits set). Written here rather than with `uuid`'s `v5`, which makes the same ids (a test pins them over the
 * committed streams) at about twice the cost: it hashes through a `createHash` object and copies the bytes twice,
 * and every event of the consume path pays it.
 */
function uuidV5Of(name: string): string {
  const bytes = hash('sha1', Buffer.concat([EVENT_ID_NAMESPACE_BYTES, Buffer.from(name, 'utf8')]), 'buffer');
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The event id is a pure function of the stream, the idempotency key and the
 * event's index in the decision, so the store itself refuses a second copy.
 */
export function eventIdFor(streamId: string, idempotencyKey: string, index = 0): string {
  return uuidV5Of(`${streamId}\n${idempotencyKey}\n${index}`);
}

/**
 * A recharge's event id depends on its recharge id alone, not on the user: a
 * payment is credited once in the whole ledger, so the store refuses the same
 * recharge for a second user too.
 */
export function rechargeEventId(rechargeId: string): string {
  return uuidV5Of(`recharge\n${rechargeId}`);
}

/** A recharge is idempotent by its recharge id (for Stripe, the payment's id): that is its key. */
export function rechargeIdempotencyKey(rechargeId: string): string {
  return `recharge:${rechargeId}`;
}

/**
 * Each report of a charge's refunds is keyed by its cumulative amount refunded
 * and when Stripe made it: a redelivery repeats it; the charge's next partial
 * refund does not, nor does a refund that brings the charge back to an amount
 * reported before a refund of it failed. (Refunds recorded before the time was
 * part of the key carry `refund:<rechargeId>:<chargeId>:<amount>`.)
 */
export function refundIdempotencyKey(
  rechargeId: string,
  chargeId: string,
  amountRefundedOfCharge: number,
  refundedAt: number,
): string {
  return `refund:${rechargeId}:${chargeId}:${amountRefundedOfCharge}@${refundedAt}`;
}

/** A refund fails (or is canceled) once, however many events report it. */
export function refundReversedIdempotencyKey(refundId: string): string {
  return `refund-reversed:${refundId}`;
}

/** A grant expires once, and is voided once. */
export function grantClosedIdempotencyKey(grantId: string, how: 'expired' | 'voided'): string {
  return `grant:${grantId}:${how}`;
}

/**
 * A hold ends once: captured, released or expired. Its own namespace: no caller's key, whatever it is, can take
 * it (the API keys a hold `hold:<key>`, a consumption `consume:<key>`), and `decide` refuses one that tries.
 */
export const HOLD_ENDED_KEY_PREFIX = 'hold-ended:';

export function holdEndedIdempotencyKey(holdId: string): string {
  return `${HOLD_ENDED_KEY_PREFIX}${holdId}`;
}

/** A dispute opens once and closes once. */
export function disputeIdempotencyKey(disputeId: string, phase: 'opened' | 'closed'): string {
  return `dispute:${disputeId}:${phase}`;
}

/**
 * Hash of everything the caller asked for: same key with another fingerprint
 * is refused. A consumption's price is not what the caller asked for: a retry
 * after the price list changed is the same request. A source names the Stripe
 * event that reported a fact: the several events of one payment (session,
 * payment intent) are the same recharge, not a reused key.
 */
export function payloadFingerprint(command: CreditsCommand): string {
  const canonical = stringify({ type: command.type, data: askedOf(command) }) ?? '';
  // One-shot `hash`: a third of the cost of a `createHash` object for inputs this small.
  return hash('sha256', canonical, 'base64url');
}

function askedOf(command: CreditsCommand): object {
  switch (command.type) {
    case 'ConsumeCredits':
    case 'PlaceHold':
      return { ...command.data, price: undefined };
    case 'CompleteRecharge':
      return { ...command.data, source: undefined, expiresAt: undefined, rollover: undefined };
    case 'RefundRecharge':
    case 'OpenDispute':
    case 'CloseDispute':
      return { ...command.data, source: undefined };
    case 'ReverseRefund':
      // refund.failed and refund.updated report one failure moments apart: the same request.
      return { ...command.data, source: undefined, failedAt: undefined };
    case 'GrantBonus':
    case 'ExpireGrant':
    case 'CaptureHold':
    case 'ReleaseHold':
    case 'ExpireHold':
      return command.data;
    case 'RequestTopUp':
      // One request per crossing: a retry after the settings changed is the same request.
      return { userId: command.data.userId, crossingEventId: command.data.crossingEventId };
    case 'RecordTopUpOutcome':
      // A top-up has one outcome: the first recorded stands, a later report is the same request.
      return { userId: command.data.userId, topUpId: command.data.topUpId };
    case 'VoidGrant':
      // A grant is voided once: a second request, whatever its reason, gets the first one's outcome.
      return { userId: command.data.userId, grantId: command.data.grantId };
    default:
      return assertNever(command);
  }
}
