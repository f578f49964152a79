import type { EventStore, SqlDriver } from '@libs/event-store';
import { applyNextBatch } from './projection-batch';
import type { Projection, TableNames } from './projection';

export type CatchUpProgress = { eventsRead: number; position: string | undefined };

/** Applies batches until the projection has read every event committed so far. */
export async function catchUp(
  driver: SqlDriver,
  store: EventStore,
  projection: Projection,
  options: {
    checkpointName?: string;
    tables?: TableNames;
    batchSize: number;
    onProgress?: (progress: CatchUpProgress) => void;
  },
): Promise<CatchUpProgress> {
  const batchOptions = {
    checkpointName: options.checkpointName ?? projection.name,
    tables: options.tables ?? projection.tables,
    batchSize: options.batchSize,
  };
  let eventsRead = 0;
  for (;;) {
    const batch = await applyNextBatch(driver, store, projection, batchOptions);
    eventsRead += batch.eventsRead;
    options.onProgress?.({ eventsRead, position: batch.position });
    if (batch.eventsRead < options.batchSize) return { eventsRead, position: batch.position };
  }
}
