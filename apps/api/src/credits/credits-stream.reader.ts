import { type CreditsEvent, type CreditsState, type RecordedCreditsEvent, evolve, initialState } from '@libs/credits';
import type { EventStore, RecordedEvent } from '@libs/event-store';

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
    state = evolve(state, toCreditsEvent(event));
  }
  return state;
}

/** The store keeps events untyped; this stream only ever holds credits events (asserted). */
export function toCreditsEvent(event: RecordedEvent): RecordedCreditsEvent {
  const { id, type, schemaVersion, data, metadata, streamVersion, globalPosition } = event;
  if (type !== 'RechargeCompleted' && type !== 'CreditsConsumed' && type !== 'BonusGranted') {
    throw new Error(`stream ${event.streamId} holds an event of unknown type ${type} at version ${streamVersion}`);
  }
  if (schemaVersion !== 1) {
    throw new Error(`stream ${event.streamId}: ${type} schema version ${schemaVersion} is not known to this build`);
  }
  return { id, type, schemaVersion, data, metadata, streamVersion, globalPosition } as RecordedCreditsEvent;
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
