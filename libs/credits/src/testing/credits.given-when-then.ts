import type { CreditsCommand } from '../credits.commands';
import { type Decision, decide } from '../credits.decide';
import type { CreditsDomainError } from '../credits.errors';
import { CREDITS_EVENT_TYPES, type CreditsEvent, type RecordedCreditsEvent } from '../credits.events';
import { type CommandOutcome, type CreditsState, evolve, initialState } from '../credits.state';

/**
 * Given/When/Then for the credits decider, in the shape of Emmett's DeciderSpecification:
 *
 *   given(completeRecharge({ credits: 100 }))
 *     .when(consumeCredits({ amount: 30 }))
 *     .thenRefuses / thenRecords(...events) / thenReplays(originalOutcome)
 *
 * `given` takes the history of one stream, oldest first: commands are decided and their events folded, as the
 * command handler would; events are folded as they are. Every event is recorded the way the store records it, with
 * the next stream version and a global position. Other streams wrote before this one, so the stream's first event
 * is at global position 1001: a position is never mistaken for a version.
 */
const GLOBAL_POSITION_BEFORE_STREAM = 1000n;

export type CreditsHistory = ReadonlyArray<CreditsCommand | CreditsEvent>;

export type CreditsThen = {
  /** The command is accepted: these events are appended, in this order. Returns the state once they are folded. */
  thenRecords(...events: CreditsEvent[]): CreditsState;
  /** The command breaks a business rule: nothing is appended. */
  thenRefuses(error: CreditsDomainError): void;
  /** The command was already recorded: nothing is appended, the caller gets the original outcome. */
  thenReplays(outcome: CommandOutcome): void;
};

export function given(...history: CreditsHistory): { when(command: CreditsCommand): CreditsThen } {
  return { when: (command) => when(foldHistory(history), command) };
}

/** Adds what the store adds to decided events: the next stream versions and global positions. */
export function recordAfter(
  state: CreditsState,
  events: readonly CreditsEvent[],
  lastGlobalPosition: bigint,
): RecordedCreditsEvent[] {
  return events.map((event, index) => ({
    ...event,
    streamVersion: state.version + index + 1,
    globalPosition: (lastGlobalPosition + BigInt(index) + 1n).toString(),
  }));
}

function foldHistory(history: CreditsHistory): CreditsState {
  let state = initialState();
  for (const fact of history) {
    const events = isCreditsEvent(fact) ? [fact] : eventsRecordedBy(fact, state);
    state = recordAfter(state, events, globalPositionAfter(state)).reduce(evolve, state);
  }
  return state;
}

function globalPositionAfter(state: CreditsState): bigint {
  return GLOBAL_POSITION_BEFORE_STREAM + BigInt(state.version);
}

function eventsRecordedBy(command: CreditsCommand, state: CreditsState): CreditsEvent[] {
  const decision = decide(command, state);
  if (decision.kind !== 'recorded') {
    throw new Error(
      `given: ${command.type} "${command.metadata.idempotencyKey}" was not recorded: ${JSON.stringify(decision)}`,
    );
  }
  return decision.events;
}

function when(state: CreditsState, command: CreditsCommand): CreditsThen {
  const stateBefore = plainState(state);
  const decision = decide(command, state);
  // Every decision, whatever its kind, leaves the state it was given untouched.
  expect(plainState(state)).toEqual(stateBefore);
  return {
    thenRecords: (...events) => {
      expect(decision).toEqual<Decision>({ kind: 'recorded', events });
      return recordAfter(state, events, globalPositionAfter(state)).reduce(evolve, state);
    },
    thenRefuses: (error) => expect(decision).toEqual<Decision>({ kind: 'refused', error }),
    thenReplays: (outcome) => expect(decision).toEqual<Decision>({ kind: 'replayed', outcome }),
  };
}

function isCreditsEvent(fact: CreditsCommand | CreditsEvent): fact is CreditsEvent {
  return (CREDITS_EVENT_TYPES as readonly string[]).includes(fact.type);
}

/** A state as plain data (its trees as arrays of entries), to compare with `toEqual`. */
export function plainState(state: CreditsState): object {
  const { grants } = state;
  return {
    balance: state.balance,
    frozenCredits: state.frozenCredits,
    version: state.version,
    outcomes: [...state.outcomes.entries()],
    recharges: [...state.recharges.entries()],
    grants: {
      byId: [...grants.byId.entries()],
      rechargeGrants: [...grants.rechargeGrants.entries()],
      disputes: [...grants.disputes.entries()],
      spendOrder: [...grants.spendOrder.entries()],
      dueOrder: [...grants.dueOrder.entries()],
      debt: grants.debt,
      unfrozenRemaining: grants.unfrozenRemaining,
      held: grants.held,
    },
    holds: [...state.holds.entries()],
    topUps: state.topUps,
  };
}
