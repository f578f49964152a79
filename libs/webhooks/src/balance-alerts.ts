import { type RecordedCreditsEvent, balanceDelta, frozenDelta, heldDelta } from '@libs/credits';

/**
 * Balance alerts, decided from a user's events in stream order, so that two processes or a replay decide the
 * same and each crossing is sent once. Spendable here is what the recorded events leave: the balance less what
 * disputes froze and holds reserve, never below zero (a reaction acts on recorded events only: a grant past
 * its expiry counts until its `CreditsExpired` is recorded).
 */
export type BalanceAlertState = Readonly<{
  version: number;
  balance: number;
  frozenCredits: number;
  heldCredits: number;
  /** Below the low threshold since the last `credits.low`: no other is sent until spendable is back at it. */
  belowLow: boolean;
  /** At zero since the last `credits.depleted`: no other is sent until spendable is above zero again. */
  depleted: boolean;
}>;

export type BalanceAlert = 'credits.low' | 'credits.depleted';

/** A user with no events: nothing to spend, and nothing to alert about until they had credits. */
export const NO_BALANCE: BalanceAlertState = {
  version: 0,
  balance: 0,
  frozenCredits: 0,
  heldCredits: 0,
  belowLow: true,
  depleted: true,
};

export function spendableOf(state: BalanceAlertState): number {
  return Math.max(0, state.balance - state.frozenCredits - state.heldCredits);
}

/**
 * The state after the user's next event and the alerts it sends: `credits.low` when spendable falls below
 * `lowBelow` (again only once it has been back at `lowBelow` or above), `credits.depleted` when it reaches
 * zero (again only once it has been above zero). An event already applied (by version) changes nothing.
 */
export function evolveBalanceAlerts(
  state: BalanceAlertState,
  event: RecordedCreditsEvent,
  lowBelow: number,
): { state: BalanceAlertState; alerts: BalanceAlert[] } {
  if (event.streamVersion <= state.version) return { state, alerts: [] };
  const moved: BalanceAlertState = {
    ...state,
    version: event.streamVersion,
    balance: state.balance + balanceDelta(event),
    frozenCredits: state.frozenCredits + frozenDelta(event),
    heldCredits: state.heldCredits + heldDelta(event),
  };
  const spendable = spendableOf(moved);
  const alerts: BalanceAlert[] = [];
  let { belowLow, depleted } = state;
  if (spendable < lowBelow && !belowLow) alerts.push('credits.low');
  belowLow = spendable < lowBelow;
  if (spendable === 0 && !depleted) alerts.push('credits.depleted');
  depleted = spendable === 0;
  return { state: { ...moved, belowLow, depleted }, alerts };
}
