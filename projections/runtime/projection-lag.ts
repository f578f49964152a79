import type { EventStore, SqlExecutor } from '@libs/event-store';
import { readCheckpoint } from './checkpoints';

/** Lag is counted up to this many events; beyond, it reports this number. */
export const LAG_EVENTS_COUNT_MAX = 100_000;

export type ProjectionLag = {
  projection: string;
  position: string | undefined;
  /** Committed events the projection has not applied yet (at most LAG_EVENTS_COUNT_MAX). */
  lagEvents: number;
  /** Age of the oldest event not yet applied; 0 when caught up. */
  lagSeconds: number;
};

export async function projectionLag(db: SqlExecutor, store: EventStore, projection: string): Promise<ProjectionLag> {
  const { position } = await readCheckpoint(db, projection);
  const lagEvents = await store.countEventsAfter(position, LAG_EVENTS_COUNT_MAX);
  let lagSeconds = 0;
  for await (const next of store.readAll({ afterPosition: position, batchSize: 1 })) {
    lagSeconds = Math.max(0, (Date.now() - Date.parse(next.recordedAt)) / 1000);
    break;
  }
  return { projection, position, lagEvents, lagSeconds };
}
