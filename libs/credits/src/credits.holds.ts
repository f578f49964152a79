import type BTree from 'sorted-btree';
import type { RecordedCreditsEvent } from './credits.events';
import { type GrantCredits, stringTree, sumOfCredits } from './credits.grants';

/** How long an uncaptured hold lasts when its request names no `expiresIn`. */
export const HOLD_EXPIRES_IN_DEFAULT = 'PT15M';

export type HoldStatus = 'active' | 'captured' | 'released' | 'expired';

/** What a user's stream says of one of their holds. */
export type HoldState = Readonly<{
  /** The id of the event that placed it. */
  holdId: string;
  feature: string;
  reference: string;
  /** Credits it reserved. */
  amount: number;
  expiresAt: string;
  expiresAtMs: number;
  /** The grants it reserved credits of, in spend order. */
  drawnFrom: readonly GrantCredits[];
  status: HoldStatus;
  /** Credits its capture consumed; 0 unless captured. */
  capturedAmount: number;
  /** Stream version of the event that placed it. */
  sequence: number;
}>;

export function emptyHolds(): BTree<string, HoldState> {
  return stringTree<HoldState>();
}

/** The holds of a stream after one of its events. */
export function evolveHolds(holds: BTree<string, HoldState>, event: RecordedCreditsEvent): BTree<string, HoldState> {
  switch (event.type) {
    case 'CreditsHeld': {
      const { feature, reference, amount, expiresAt, drawnFrom } = event.data;
      if (holds.has(event.id)) throw new Error(`hold ${event.id} is placed twice`);
      const hold: HoldState = {
        holdId: event.id,
        feature,
        reference,
        amount,
        expiresAt,
        expiresAtMs: Date.parse(expiresAt),
        drawnFrom,
        status: 'active',
        capturedAmount: 0,
        sequence: event.streamVersion,
      };
      return holds.with(event.id, hold, true);
    }
    case 'HoldCaptured':
      return ended(holds, event, 'captured');
    case 'HoldReleased':
      return ended(holds, event, 'released');
    case 'HoldExpired':
      return ended(holds, event, 'expired');
    case 'RechargeCompleted':
    case 'CreditsConsumed':
    case 'BonusGranted':
    case 'RechargeRefunded':
    case 'RefundReversed':
    case 'CreditsFrozen':
    case 'CreditsUnfrozen':
    case 'CreditsExpired':
    case 'CreditsRolledOver':
    case 'GrantVoided':
      return holds;
  }
}

function ended(
  holds: BTree<string, HoldState>,
  event: Extract<RecordedCreditsEvent, { type: 'HoldCaptured' | 'HoldReleased' | 'HoldExpired' }>,
  status: HoldStatus,
): BTree<string, HoldState> {
  const { holdId } = event.data;
  const hold = holds.get(holdId);
  if (hold?.status !== 'active') throw new Error(`hold ${holdId} ends, but is ${hold?.status ?? 'unknown'}`);
  const capturedAmount = event.type === 'HoldCaptured' ? sumOfCredits(event.data.capturedFrom) : 0;
  const { debtPaidFrom, returnedTo, lapsed } = event.data;
  const ending = [...(event.type === 'HoldCaptured' ? event.data.capturedFrom : []), ...debtPaidFrom];
  ending.push(...returnedTo, ...lapsed);
  if (
    (event.type === 'HoldCaptured' && capturedAmount !== event.data.amount) ||
    !sameCreditsByGrant(ending, hold.drawnFrom)
  ) {
    throw new Error(`event ${event.id} does not end hold ${holdId} with the credits it reserved`);
  }
  return holds.with(holdId, { ...hold, status, capturedAmount }, true);
}

function sameCreditsByGrant(a: readonly GrantCredits[], b: readonly GrantCredits[]): boolean {
  const byGrant = new Map<string, number>();
  for (const { grantId, credits } of a) byGrant.set(grantId, (byGrant.get(grantId) ?? 0) + credits);
  for (const { grantId, credits } of b) byGrant.set(grantId, (byGrant.get(grantId) ?? 0) - credits);
  return [...byGrant.values()].every((difference) => difference === 0);
}
