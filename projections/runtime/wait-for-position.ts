import { setTimeout as sleep } from 'node:timers/promises';
import type { EventStore, SqlExecutor } from '@libs/event-store';
import { readCheckpoint } from './checkpoints';

const POLL_MS = 5;

/** The projection did not reach the position in time: the caller answers 503, never stale data. */
export class ProjectionBehindError extends Error {
  override readonly name = 'ProjectionBehindError';
  constructor(
    readonly projection: string,
    readonly position: string,
    readonly checkpoint: string | undefined,
  ) {
    super(`projection ${projection} has not reached position ${position} (it is at ${checkpoint ?? 'the start'})`);
  }
}

/** Waits, up to `timeoutMs`, until the projection has applied the event at `position` (read your own writes). */
export async function waitForPosition(
  db: SqlExecutor,
  store: EventStore,
  projection: string,
  position: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { position: checkpoint } = await readCheckpoint(db, projection);
    if (await store.hasPassed(checkpoint, position)) return;
    if (Date.now() >= deadline) throw new ProjectionBehindError(projection, position, checkpoint);
    await sleep(POLL_MS);
  }
}
