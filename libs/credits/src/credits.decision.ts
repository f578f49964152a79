import type { CreditsDomainError } from './credits.errors';
import type { CreditsEvent } from './credits.events';
import type { CommandOutcome } from './credits.state';

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
