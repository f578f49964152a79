import { isPlanted } from '@libs/config';
import { assertNever, balanceDelta, frozenDelta, isBalanceAllowed } from '@libs/credits';
import { type ProjectedEvent, ProjectionInvariantError, isNextEvent } from '../runtime/projection';

/** One user's row of the balance read model. */
export type BalanceRow = {
  userId: string;
  /** Below zero only for a debt left by a refund (shortfall policy `debt`). */
  balance: number;
  /** Part of the balance an open dispute holds. */
  frozenCredits: number;
  /** Stream version of the last event applied. */
  version: number;
  lastPosition: string;
  lastEventAt: string;
  consumesCount: number;
  rechargesCount: number;
  bonusesCount: number;
};

export const BALANCE_PROJECTION = 'balance';

export function emptyBalanceRow(userId: string): BalanceRow {
  return {
    userId,
    balance: 0,
    frozenCredits: 0,
    version: 0,
    lastPosition: '0',
    lastEventAt: '',
    consumesCount: 0,
    rechargesCount: 0,
    bonusesCount: 0,
  };
}

/** The row after one event; the same row for an event already applied. Pure. */
export function evolveBalanceRow(row: BalanceRow, event: ProjectedEvent): BalanceRow {
  if (!isNextEvent(BALANCE_PROJECTION, row.version, event)) return row;
  const balance = row.balance + (skippedByPlantedDefect(event) ? 0 : balanceDelta(event));
  if (!isBalanceAllowed(row.balance, balance, event)) {
    throw new ProjectionInvariantError(
      `balance projection: user ${row.userId} would go below zero or out of bounds (${balance}) ` +
        `at version ${event.streamVersion}; only a refund under the debt policy may leave a debt`,
    );
  }
  const frozenCredits = row.frozenCredits + frozenDelta(event);
  if (frozenCredits < 0) {
    throw new ProjectionInvariantError(
      `balance projection: user ${row.userId} would unfreeze more than is frozen at version ${event.streamVersion}`,
    );
  }
  return {
    ...row,
    ...countedIn(row, event),
    balance,
    frozenCredits,
    version: event.streamVersion,
    lastPosition: event.globalPosition,
    lastEventAt: event.metadata.occurredAt,
  };
}

/** The simulation's planted defect (`runtime/planted-defect.ts`): false unless it is planted. */
function skippedByPlantedDefect(event: ProjectedEvent): boolean {
  return (
    isPlanted('balance-skips-a-consume') &&
    event.type === 'CreditsConsumed' &&
    BigInt(event.globalPosition) % 100n === 0n
  );
}

function countedIn(row: BalanceRow, event: ProjectedEvent): Partial<BalanceRow> {
  switch (event.type) {
    case 'CreditsConsumed':
    case 'HoldCaptured':
      return { consumesCount: row.consumesCount + 1 };
    case 'RechargeCompleted':
      return { rechargesCount: row.rechargesCount + 1 };
    case 'BonusGranted':
      return { bonusesCount: row.bonusesCount + 1 };
    case 'RechargeRefunded':
    case 'RefundReversed':
    case 'CreditsFrozen':
    case 'CreditsUnfrozen':
    case 'CreditsExpired':
    case 'CreditsRolledOver':
    case 'GrantVoided':
    case 'CreditsHeld':
    case 'HoldReleased':
    case 'HoldExpired':
    case 'TopUpRequested':
    case 'TopUpSucceeded':
    case 'TopUpFailed':
      return {};
    default:
      return assertNever(event);
  }
}
