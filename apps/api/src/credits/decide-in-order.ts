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
 * append, in order. `state` is left as it was: `evolve` extends the outcome
 * map in place, so the outcomes of the events decided here are removed before
 * returning (the caller folds the events again once stored, with their
 * positions). Only for commands whose events touch nothing else in place
 * (consumptions and bonuses); any other command comes alone, and the last
 * command is never folded.
 */
export function decideInOrder(commands: readonly CreditsCommand[], state: CreditsState): DecidedBatch {
  const decisions: Decision[] = [];
  const events: CreditsEvent[] = [];
  const keysAdded: string[] = [];
  let provisional = state;
  try {
    commands.forEach((command, index) => {
      const decision = decide(command, provisional);
      decisions.push(decision);
      if (decision.kind !== 'recorded') return;
      events.push(...decision.events);
      if (index === commands.length - 1) return;
      for (const event of decision.events) {
        keysAdded.push(event.metadata.idempotencyKey);
        provisional = evolve(provisional, {
          ...event,
          streamVersion: provisional.version + 1,
          globalPosition: NOT_YET_STORED,
        });
      }
    });
  } finally {
    for (const key of keysAdded) state.outcomes.delete(key);
  }
  return { decisions, events };
}
