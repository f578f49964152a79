import { CREDITS_EVENT_TYPES, type RecordedCreditsEvent } from './credits.events';

/** An event as any store returns it: typed loosely, to be checked against the schemas this build knows. */
export type StoredEvent = {
  id: string;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: unknown;
  streamId: string;
  streamVersion: number;
  globalPosition: string;
};

/**
 * A credits stream holds only credits events of schema versions this build
 * knows; anything else is a corrupt stream or a newer writer, and must stop
 * the reader rather than be skipped (a skipped event is a wrong balance).
 */
export function parseCreditsEvent(stored: StoredEvent): RecordedCreditsEvent {
  const { id, type, schemaVersion, data, metadata, streamVersion, globalPosition } = stored;
  if (!(CREDITS_EVENT_TYPES as readonly string[]).includes(type)) {
    throw new Error(`stream ${stored.streamId} holds an event of unknown type ${type} at version ${streamVersion}`);
  }
  if (schemaVersion !== 1) {
    throw new Error(`stream ${stored.streamId}: ${type} schema version ${schemaVersion} is not known to this build`);
  }
  return { id, type, schemaVersion, data, metadata, streamVersion, globalPosition } as RecordedCreditsEvent;
}
