import { USER_ID_PATTERN, creditsStreamId } from '@libs/credits';
import {
  type EventStore,
  type ReadStreamOptions,
  type RecordedEvent,
  type SqlDriver,
  SqlEventStore,
  readStreamWith,
} from '@libs/event-store';
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
 * after: every event a batch applied before is read here, and no batch
 * commits until this one has. When the read model's database holds the
 * events (PostgreSQL, PGlite), the stream is read in the same transaction.
 * Otherwise (KurrentDB) it is read through the store once the lock is held:
 * an event a batch applied had been committed to the store before that
 * batch, so this read, which starts after the batch committed, sees it.
 */
export async function rebuildRowsOfUser(
  driver: SqlDriver,
  store: EventStore,
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
    const readStream: ReadStream =
      store instanceof SqlEventStore && store.isOn(driver)
        ? (streamId, options) => readStreamWith(tx, streamId, options)
        : (streamId, options) => store.readStream(streamId, options);
    for await (const event of streamEventsOf(readStream, userId)) {
      chunk.push(toProjectedEvent(event));
      if (chunk.length === REBUILD_CHUNK_EVENTS) await applyChunk();
    }
    if (chunk.length > 0) await applyChunk();
    return { eventsApplied };
  });
}

type ReadStream = (streamId: string, options: ReadStreamOptions) => AsyncIterable<RecordedEvent>;

/** Rows whose user id no stream can have (written by hand) hold nothing to rebuild: they are deleted. */
function streamEventsOf(readStream: ReadStream, userId: string): AsyncIterable<RecordedEvent> {
  if (!USER_ID_PATTERN.test(userId)) return (async function* () {})();
  return readStream(creditsStreamId(userId), { batchSize: REBUILD_CHUNK_EVENTS });
}
