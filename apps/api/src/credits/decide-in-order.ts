import {
  type CreditsCommand,
  type CreditsEvent,
  type CreditsState,
  type Decision,
  decide,
  evolve,
} from '@libs/credits';

export type DecidedBatch = { decisions: Decision[]; events: CreditsEvent[] };

/** Stands for the global position of an event not yet stored; never leaves `decideInOrder`. */
const NOT_YET_STORED = '';

/**
 * Decides each command on the state the commands before it leave, as if each
 * had been appended on its own, and returns every decision and the events to
 * append, in order. The states folded here are provisional and dropped: a
 * state is immutable, so `state` is left as it was, and the caller folds the
 * events again once stored, with their positions.
 */
export function decideInOrder(commands: readonly CreditsCommand[], state: CreditsState): DecidedBatch {
  const decisions: Decision[] = [];
  const events: CreditsEvent[] = [];
  let provisional = state;
  commands.forEach((command, index) => {
    const decision = decide(command, provisional);
    decisions.push(decision);
    if (decision.kind !== 'recorded') return;
    events.push(...decision.events);
    if (index === commands.length - 1) return;
    for (const event of decision.events) {
      provisional = evolve(provisional, {
        ...event,
        streamVersion: provisional.version + 1,
        globalPosition: NOT_YET_STORED,
      });
    }
  });
  return { decisions, events };
}
