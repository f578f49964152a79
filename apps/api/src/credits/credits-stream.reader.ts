import { type CreditsEvent, type CreditsState, evolve, initialState, parseCreditsEvent } from '@libs/credits';
import type { EventStore } from '@libs/event-store';

/**
 * Reads a user's stream from the store and folds it with the domain's `evolve`,
 * from the beginning or onto a state already folded up to its version.
 */
export async function foldCreditsStream(
  store: EventStore,
  streamId: string,
  from: CreditsState = initialState(),
): Promise<CreditsState> {
  let state = from;
  for await (const event of store.readStream(streamId, { fromVersion: from.version + 1 })) {
    state = evolve(state, parseCreditsEvent(event));
  }
  return state;
}

export function toEventToAppend(event: CreditsEvent) {
  return {
    id: event.id,
    type: event.type,
    schemaVersion: event.schemaVersion,
    data: event.data,
    metadata: event.metadata,
  };
}
