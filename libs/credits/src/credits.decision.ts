import type { CreditsDomainError } from './credits.errors';
import type { CreditsEvent } from './credits.events';
import { BALANCE_CREDITS_MAX } from './credits.limits';
import type { CommandOutcome, CreditsState } from './credits.state';

export type Decision =
  /** New events to append at the state's version. */
  | { kind: 'recorded'; events: CreditsEvent[] }
  /** The same command was already recorded: answer with its original outcome. */
  | { kind: 'replayed'; outcome: CommandOutcome }
  | { kind: 'refused'; error: CreditsDomainError };

export function record(...events: CreditsEvent[]): Decision {
  return { kind: 'recorded', events };
}

export function refuse(error: CreditsDomainError): Decision {
  return { kind: 'refused', error };
}

/** Refuses credits that would take the balance above its bound; undefined when they fit. */
export function refuseAboveBalanceMax(credits: number, state: CreditsState): Decision | undefined {
  if (state.balance + credits <= BALANCE_CREDITS_MAX) return undefined;
  return refuse({
    type: 'balance-limit-exceeded',
    balance: state.balance,
    requested: credits,
    balanceMax: BALANCE_CREDITS_MAX,
  });
}
