import type BTree from 'sorted-btree';
import type { CreditsEvent, HoldReturn, RecordedCreditsEvent } from './credits.events';
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
      // Not overwriting: the same tree back means the hold was placed before.
      const placed = holds.with(event.id, hold, false);
      if (placed === holds) throw new Error(`hold ${event.id} is placed twice`);
      return placed;
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
    case 'TopUpRequested':
    case 'TopUpSucceeded':
    case 'TopUpFailed':
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
  const capturedFrom = event.type === 'HoldCaptured' ? event.data.capturedFrom : [];
  const capturedAmount = sumOfCredits(capturedFrom);
  if (
    (event.type === 'HoldCaptured' && capturedAmount !== event.data.amount) ||
    !sameCreditsByGrant(endingCredits(capturedFrom, event.data), hold.drawnFrom)
  ) {
    throw new Error(`event ${event.id} does not end hold ${holdId} with the credits it reserved`);
  }
  return holds.with(holdId, { ...hold, status, capturedAmount }, true);
}

/** Every credit a hold's end moves: captured, paying debt, returned, lapsed. */
function endingCredits(
  capturedFrom: readonly GrantCredits[],
  { debtPaidFrom, returnedTo, lapsed }: Pick<HoldReturn, 'debtPaidFrom' | 'returnedTo' | 'lapsed'>,
): readonly GrantCredits[] {
  // The usual end (all captured, or all returned) names one list: no copy.
  const lists = [capturedFrom, debtPaidFrom, returnedTo, lapsed].filter((list) => list.length > 0);
  return lists.length === 1 ? lists[0] : lists.flat();
}

function sameCreditsByGrant(a: readonly GrantCredits[], b: readonly GrantCredits[]): boolean {
  if (a.length === b.length && a.every((draw, index) => sameDraw(draw, b[index]))) return true;
  const byGrant = new Map<string, number>();
  for (const { grantId, credits } of a) byGrant.set(grantId, (byGrant.get(grantId) ?? 0) + credits);
  for (const { grantId, credits } of b) byGrant.set(grantId, (byGrant.get(grantId) ?? 0) - credits);
  return [...byGrant.values()].every((difference) => difference === 0);
}

const sameDraw = (a: GrantCredits, b: GrantCredits) => a.grantId === b.grantId && a.credits === b.credits;

/**
 * How an event changes the credits held by active holds: a hold reserves its amount, and its end, however it
 * ends, frees all of it (what it captured, paid debt with, returned or let lapse).
 */
export function heldDelta(event: CreditsEvent): number {
  switch (event.type) {
    case 'CreditsHeld':
      return event.data.amount;
    case 'HoldCaptured':
      return -sumOfCredits(endingCredits(event.data.capturedFrom, event.data));
    case 'HoldReleased':
    case 'HoldExpired':
      return -sumOfCredits(endingCredits([], event.data));
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
    case 'TopUpRequested':
    case 'TopUpSucceeded':
    case 'TopUpFailed':
      return 0;
  }
}
