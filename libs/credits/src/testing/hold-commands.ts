import type { CaptureHold, ExpireHold, PlaceHold, ReleaseHold } from '../credits.commands';
import { eventIdFor, holdEndedIdempotencyKey } from '../credits.idempotency';
import { creditsStreamId } from '../credits.stream';
import { GRANTS_USER_ID, T0 } from './grant-commands';

/** Hold commands of the grant specifications' user, short to write. `amount` is the caller's. */
export function placeHoldOf(key: string, amount: number, now = T0, expiresIn?: string): PlaceHold {
  return {
    type: 'PlaceHold',
    data: {
      userId: GRANTS_USER_ID,
      feature: 'video',
      reference: key,
      requestedAmount: amount,
      price: { credits: 1, amountOverride: { amountMax: 1_000_000_000 } },
      metadata: {},
      ...(expiresIn === undefined ? {} : { expiresIn }),
    },
    metadata: { idempotencyKey: key, now },
  };
}

export function captureOf(holdId: string, now: string, amount?: number): CaptureHold {
  return {
    type: 'CaptureHold',
    data: { userId: GRANTS_USER_ID, holdId, ...(amount === undefined ? {} : { amount }) },
    metadata: { idempotencyKey: holdEndedIdempotencyKey(holdId), now },
  };
}

export function releaseOf(holdId: string, now: string): ReleaseHold {
  return {
    type: 'ReleaseHold',
    data: { userId: GRANTS_USER_ID, holdId },
    metadata: { idempotencyKey: holdEndedIdempotencyKey(holdId), now },
  };
}

export function expireHoldOf(holdId: string, now: string): ExpireHold {
  return {
    type: 'ExpireHold',
    data: { userId: GRANTS_USER_ID, holdId },
    metadata: { idempotencyKey: holdEndedIdempotencyKey(holdId), now },
  };
}

/** The hold a `PlaceHold` places: its event's id. */
export function holdIdOf(command: PlaceHold): string {
  return eventIdFor(creditsStreamId(command.data.userId), command.metadata.idempotencyKey);
}
