import type { CreditsEvent, CreditsEventType, RecordedCreditsEvent } from './credits.events';
import { BALANCE_CREDITS_MAX } from './credits.limits';

/** What a command produced, kept per idempotency key so a retry gets the same answer. */
export type CommandOutcome = {
  payloadFingerprint: string;
  eventId: string;
  eventType: CreditsEventType;
  /** Credits moved by the command, always positive. */
  amount: number;
  balanceAfter: number;
  streamVersion: number;
  globalPosition: string;
};

export type CreditsState = {
  balance: number;
  /** Number of events folded so far: the stream version to append after. */
  version: number;
  /**
   * Outcomes by idempotency key. Append-only; `evolve` extends this map in
   * place instead of copying it per event (a copy would make replay quadratic),
   * so a fold owns its state: do not keep an older state and fold on.
   */
  outcomes: Map<string, CommandOutcome>;
};

export function initialState(): CreditsState {
  return { balance: 0, version: 0, outcomes: new Map() };
}

export function evolve(state: CreditsState, event: RecordedCreditsEvent): CreditsState {
  assertNextVersion(state, event);
  const balance = state.balance + balanceDelta(event);
  assertBalanceInBounds(balance, event);
  assertFirstUseOfKey(state, event);
  state.outcomes.set(event.metadata.idempotencyKey, {
    payloadFingerprint: event.metadata.payloadFingerprint,
    eventId: event.id,
    eventType: event.type,
    amount: Math.abs(balanceDelta(event)),
    balanceAfter: balance,
    streamVersion: event.streamVersion,
    globalPosition: event.globalPosition,
  });
  return { balance, version: event.streamVersion, outcomes: state.outcomes };
}

export function balanceDelta(event: CreditsEvent): number {
  switch (event.type) {
    case 'RechargeCompleted':
      return event.data.credits;
    case 'BonusGranted':
      return event.data.amount;
    case 'CreditsConsumed':
      return -event.data.amount;
    default:
      return assertNever(event);
  }
}

/** A gap in versions is a programmer error in the store or the reader: crash. */
function assertNextVersion(state: CreditsState, event: RecordedCreditsEvent): void {
  if (event.streamVersion !== state.version + 1) {
    throw new Error(
      `credits stream folded out of order: state at version ${state.version}, event ${event.id} at ${event.streamVersion}`,
    );
  }
}

/** `decide` refuses any overdraft or overflow; a fold outside the bounds means a bug or a tampered stream. */
function assertBalanceInBounds(balance: number, event: RecordedCreditsEvent): void {
  if (balance < 0 || balance > BALANCE_CREDITS_MAX) {
    throw new Error(
      `credits balance out of bounds (${balance}) after event ${event.id} at version ${event.streamVersion}`,
    );
  }
}

/** `decide` never records a key twice; a repeat would hide the first outcome from retries. */
function assertFirstUseOfKey(state: CreditsState, event: RecordedCreditsEvent): void {
  if (state.outcomes.has(event.metadata.idempotencyKey)) {
    throw new Error(
      `idempotency key recorded twice in one stream, again by event ${event.id} at version ${event.streamVersion}`,
    );
  }
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
