import { createHash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';
import { v5 as uuidv5 } from 'uuid';
import type { CreditsCommand } from './credits.commands';

/** Fixed namespace of this ledger's event ids; never change it, or retries stop deduplicating. */
const EVENT_ID_NAMESPACE = '6f1c2a4e-93b5-4d0a-8f7e-2b9c1d5e7a30';

/**
 * The event id is a pure function of the stream, the idempotency key and the
 * event's index in the decision, so the store itself refuses a second copy.
 */
export function eventIdFor(streamId: string, idempotencyKey: string, index = 0): string {
  return uuidv5(`${streamId}\n${idempotencyKey}\n${index}`, EVENT_ID_NAMESPACE);
}

/**
 * A recharge's event id depends on its recharge id alone, not on the user: a
 * payment is credited once in the whole ledger, so the store refuses the same
 * recharge for a second user too.
 */
export function rechargeEventId(rechargeId: string): string {
  return uuidv5(`recharge\n${rechargeId}`, EVENT_ID_NAMESPACE);
}

/** A recharge is idempotent by its recharge id (for Stripe, the payment's id): that is its key. */
export function rechargeIdempotencyKey(rechargeId: string): string {
  return `recharge:${rechargeId}`;
}

/**
 * Hash of everything the caller asked for: same key with another fingerprint
 * is refused. A consumption's price is not what the caller asked for: a retry
 * after the price list changed is the same request.
 */
export function payloadFingerprint(command: CreditsCommand): string {
  const asked = command.type === 'ConsumeCredits' ? { ...command.data, price: undefined } : command.data;
  const canonical = stringify({ type: command.type, data: asked }) ?? '';
  return createHash('sha256').update(canonical).digest('base64url');
}
