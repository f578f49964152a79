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

/** Hash of everything the caller asked for: same key with another fingerprint is refused. */
export function payloadFingerprint(command: CreditsCommand): string {
  const canonical = stringify({ type: command.type, data: command.data }) ?? '';
  return createHash('sha256').update(canonical).digest('base64url');
}
