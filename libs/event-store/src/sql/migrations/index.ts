import { createEvents } from './0001-create-events';
import { indexStreamIds } from './0002-index-stream-ids';
import { feedPage } from './0003-feed-page';

/** Every migration in order. Each one is idempotent (`if not exists`), so a crash mid-way is safe to re-run. */
export const EVENT_STORE_MIGRATIONS: ReadonlyArray<{ name: string; up: string }> = [
  createEvents,
  indexStreamIds,
  feedPage,
];
