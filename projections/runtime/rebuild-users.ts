import { USER_ID_PATTERN, creditsStreamId } from '@libs/credits';
import { type RecordedEvent, type SqlDriver, type SqlExecutor, readStreamWith } from '@libs/event-store';
import { CHECKPOINTS_TABLE } from './checkpoints';
import type { ProjectedEvent, Projection } from './projection';
import { toProjectedEvent } from './projection-batch';

/** Events applied at a time: a long stream is rebuilt in bounded memory, still in one transaction. */
const REBUILD_CHUNK_EVENTS = 1000;

/**
 * Rebuilds one user's rows in every projection from the user's stream, in
 * one transaction: the rows are deleted and the whole stream applied again.
 * It only reads the event store. Events the projector has not reached yet are
 * applied too; the projector skips them later (projections are idempotent by
 * version).
 *
 * The checkpoint rows are locked first, as a projector batch locks its own
 * first (it moves its checkpoint before applying), and the stream is read
 * after, in the same transaction: every event a batch applied before is read
 * here, and no batch commits until this one has. So the read model's own
 * database holds the events: a SQL event store (PostgreSQL or PGlite).
 */
export async function rebuildRowsOfUser(
  driver: SqlDriver,
  projections: readonly Projection[],
  userId: string,
): Promise<{ eventsApplied: number }> {
  return driver.transaction(async (tx) => {
    const names = projections.map((projection) => projection.name);
    await tx.query(`select projection from ${CHECKPOINTS_TABLE} where projection = any($1::text[]) for update`, [
      names,
    ]);
    for (const projection of projections) await projection.deleteRowsOf(tx, [userId], projection.tables);
    let eventsApplied = 0;
    let chunk: ProjectedEvent[] = [];
    const applyChunk = async () => {
      for (const projection of projections) await projection.apply(tx, chunk, projection.tables);
      eventsApplied += chunk.length;
      chunk = [];
    };
    for await (const event of streamEventsOf(tx, userId)) {
      chunk.push(toProjectedEvent(event));
      if (chunk.length === REBUILD_CHUNK_EVENTS) await applyChunk();
    }
    if (chunk.length > 0) await applyChunk();
    return { eventsApplied };
  });
}

/** Rows whose user id no stream can have (written by hand) hold nothing to rebuild: they are deleted. */
function streamEventsOf(tx: SqlExecutor, userId: string): AsyncIterable<RecordedEvent> {
  if (!USER_ID_PATTERN.test(userId)) return (async function* () {})();
  return readStreamWith(tx, creditsStreamId(userId), { batchSize: REBUILD_CHUNK_EVENTS });
}
