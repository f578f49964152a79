import { CREDITS_STREAM_PREFIX, parseCreditsEvent, userIdOfStream } from '@libs/credits';
import type { EventStore, RecordedEvent, SqlDriver } from '@libs/event-store';
import { moveCheckpoint, readCheckpoint } from './checkpoints';
import { type ProjectedEvent, type Projection, ProjectionInvariantError, type TableNames } from './projection';

export type BatchResult = { eventsRead: number; position: string | undefined };

/**
 * Reads the next events after the projection's checkpoint and applies them
 * with the checkpoint move in one transaction: a crash at any point leaves
 * both as they were, or both moved.
 */
export async function applyNextBatch(
  driver: SqlDriver,
  store: EventStore,
  projection: Projection,
  options: { checkpointName: string; tables: TableNames; batchSize: number },
): Promise<BatchResult> {
  const { position: from } = await readCheckpoint(driver, options.checkpointName);
  const read = await readBatch(store, from, options.batchSize);
  if (read.length === 0) return { eventsRead: 0, position: from };
  const to = read[read.length - 1].globalPosition;
  const events = read.filter((event) => event.streamId.startsWith(CREDITS_STREAM_PREFIX)).map(toProjectedEvent);
  await driver.transaction(async (tx) => {
    await moveCheckpoint(tx, options.checkpointName, from, to);
    if (events.length > 0) await projection.apply(tx, events, options.tables);
  });
  return { eventsRead: read.length, position: to };
}

async function readBatch(store: EventStore, after: string | undefined, batchSize: number): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  for await (const event of store.readAll({ afterPosition: after, batchSize })) {
    events.push(event);
    if (events.length === batchSize) break;
  }
  return events;
}

export function toProjectedEvent(event: RecordedEvent): ProjectedEvent {
  try {
    return { ...parseCreditsEvent(event), userId: userIdOfStream(event.streamId), recordedAt: event.recordedAt };
  } catch (error) {
    throw new ProjectionInvariantError(`event ${event.id} at position ${event.globalPosition}: ${String(error)}`);
  }
}
