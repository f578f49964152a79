import { creditsStreamId } from '@libs/credits';
import type { EventStore, SqlDriver } from '@libs/event-store';
import { CHECKPOINTS_TABLE } from './checkpoints';
import type { ProjectedEvent, Projection } from './projection';
import { toProjectedEvent } from './projection-batch';

/** A user whose stream keeps growing during the rebuild is given up after this many tries. */
const REBUILD_ATTEMPTS_MAX = 5;

/**
 * Rebuilds one user's rows in every projection from the user's stream, in
 * one transaction: the rows are deleted and the whole stream applied again.
 * It only reads the event store. Events the projector has not reached yet are
 * applied too; the projector skips them later (projections are idempotent by
 * version).
 *
 * The stream is read before the transaction (PGlite runs one statement at a
 * time, so no read can happen inside it). The transaction locks the
 * checkpoint rows first, as a projector batch does (it moves its checkpoint
 * before applying), so no batch commits during it; a batch that committed
 * between the read and the lock applied an event this read missed, which the
 * stream then shows after the commit: the rebuild runs again.
 */
export async function rebuildRowsOfUser(
  driver: SqlDriver,
  store: EventStore,
  projections: readonly Projection[],
  userId: string,
): Promise<{ eventsApplied: number }> {
  for (let attempt = 1; ; attempt++) {
    const events = await streamOf(store, userId, 1);
    await driver.transaction(async (tx) => {
      const names = projections.map((projection) => projection.name);
      await tx.query(`select projection from ${CHECKPOINTS_TABLE} where projection = any($1::text[]) for update`, [
        names,
      ]);
      for (const projection of projections) {
        await projection.deleteRowsOf(tx, [userId], projection.tables);
        if (events.length > 0) await projection.apply(tx, events, projection.tables);
      }
    });
    const appendedSince = await streamOf(store, userId, events.length + 1);
    if (appendedSince.length === 0) return { eventsApplied: events.length };
    if (attempt === REBUILD_ATTEMPTS_MAX) {
      throw new Error(`user ${userId}: the stream kept growing during ${attempt} rebuilds of the user's rows`);
    }
  }
}

async function streamOf(store: EventStore, userId: string, fromVersion: number): Promise<ProjectedEvent[]> {
  const events: ProjectedEvent[] = [];
  for await (const event of store.readStream(creditsStreamId(userId), { fromVersion })) {
    events.push(toProjectedEvent(event));
  }
  return events;
}
