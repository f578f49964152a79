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
  // Counts events held back behind an open transaction too: that stall is lag as well.
  const nextRecordedAt = await store.recordedAtOfNextEvent(position);
  const lagSeconds = nextRecordedAt === undefined ? 0 : Math.max(0, (Date.now() - Date.parse(nextRecordedAt)) / 1000);
  return { projection, position, lagEvents, lagSeconds };
}
