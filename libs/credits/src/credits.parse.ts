import { CREDITS_EVENT_TYPES, type CreditsEventType, type RecordedCreditsEvent } from './credits.events';
import { CURRENT_SCHEMA_VERSION, upcast } from './credits.upcast';

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
 * Older versions are upcast to the current one.
 */
export function parseCreditsEvent(stored: StoredEvent): RecordedCreditsEvent {
  const { id, type, schemaVersion, data, metadata, streamVersion, globalPosition } = stored;
  if (!(CREDITS_EVENT_TYPES as readonly string[]).includes(type)) {
    throw new Error(`stream ${stored.streamId} holds an event of unknown type ${type} at version ${streamVersion}`);
  }
  let current: unknown;
  try {
    current = upcast(type as CreditsEventType, schemaVersion, data);
  } catch (error) {
    throw new Error(`stream ${stored.streamId} at version ${streamVersion}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const currentVersion = CURRENT_SCHEMA_VERSION[type as CreditsEventType];
  return {
    id,
    type,
    schemaVersion: currentVersion,
    data: current,
    metadata,
    streamVersion,
    globalPosition,
  } as RecordedCreditsEvent;
}
