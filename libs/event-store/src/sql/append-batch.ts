import { VersionConflictError } from '../event-store.errors';
import type { AppendResult, EventToAppend } from '../event-store.port';
import type { SqlExecutor } from './sql-driver';

/** One stream's append within a batch, at an exact expected version. */
export type StreamAppend = { streamId: string; events: readonly EventToAppend[]; expectedVersion: number };

/** Per append of the batch, in its order: the events stored, or the conflict that kept them out. */
export type StreamAppendOutcome = AppendResult | VersionConflictError;

/**
 * Appends to several streams in one statement, each at its exact expected
 * version: a stream whose version moved gets a VersionConflictError and the
 * others are stored. One round trip and one commit for the whole batch.
 *
 * The versions are read in the same statement as the insert (no transaction
 * around it): the statement's snapshot is taken before its transaction gets
 * its id at the first insert, so within a stream transaction ids still grow
 * with versions, as `readAll` needs. A race with another process for a version,
 * or an event id stored already, fails the whole statement with a unique
 * violation: the caller then appends stream by stream.
 *
 * `order by o` makes identity values (global positions) follow the batch's
 * order, so within a stream positions grow with versions. The batch is in
 * stream id order, whatever the order its appends came in: two processes
 * whose batches touch the same streams then take their index entries in the
 * same order, and one waits for the other instead of deadlocking.
 */
const APPEND_BATCH_SQL = `
  with batch as (
    select * from jsonb_to_recordset($1::jsonb) as b(
      o integer, stream_id text, stream_version integer, event_id uuid, type text,
      schema_version integer, data jsonb, metadata jsonb, expected integer)
  ),
  current_versions as (
    select streams.stream_id,
           coalesce((select e.stream_version from events e where e.stream_id = streams.stream_id
                     order by e.stream_version desc limit 1), 0) as version
    from (select distinct stream_id from batch) as streams
  ),
  inserted as (
    insert into events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
    select b.stream_id, b.stream_version, b.event_id, b.type, b.schema_version, b.data, b.metadata
    from batch b join current_versions c on c.stream_id = b.stream_id and c.version = b.expected
    order by b.o
    returning stream_id, stream_version, event_id::text as event_id, global_position::text as global_position
  )
  select stream_id, stream_version, event_id, global_position from inserted
  union all
  select stream_id, version, null, null from current_versions`;

type BatchRow = { stream_id: string; stream_version: number; event_id: string | null; global_position: string | null };

/** Runs the batch; appends must name distinct streams. */
export async function appendBatch(db: SqlExecutor, appends: readonly StreamAppend[]): Promise<StreamAppendOutcome[]> {
  const rows = await db.query<BatchRow>(APPEND_BATCH_SQL, [JSON.stringify(batchRecords(appends))], {
    statementName: 'credits-ledger-append-batch',
  });
  const inserted = new Map<string, BatchRow[]>();
  const currentVersions = new Map<string, number>();
  for (const row of rows) {
    if (row.event_id === null) currentVersions.set(row.stream_id, row.stream_version);
    else inserted.set(row.stream_id, [...(inserted.get(row.stream_id) ?? []), row]);
  }
  return appends.map((append) => {
    const stored = inserted.get(append.streamId);
    if (stored === undefined) {
      return new VersionConflictError(append.streamId, append.expectedVersion, currentVersions.get(append.streamId));
    }
    return appendResultOf(stored);
  });
}

function batchRecords(appends: readonly StreamAppend[]) {
  let order = 0;
  return [...appends].sort(byStreamId).flatMap(({ streamId, events, expectedVersion }) =>
    events.map((event, index) => ({
      o: order++,
      stream_id: streamId,
      stream_version: expectedVersion + index + 1,
      event_id: event.id,
      type: event.type,
      schema_version: event.schemaVersion,
      data: event.data,
      metadata: event.metadata,
      expected: expectedVersion,
    })),
  );
}

function byStreamId(a: StreamAppend, b: StreamAppend): number {
  return a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0;
}

function appendResultOf(rows: readonly BatchRow[]): AppendResult {
  const events = rows
    .map((row) => ({ id: row.event_id!, streamVersion: row.stream_version, globalPosition: row.global_position! }))
    .sort((a, b) => a.streamVersion - b.streamVersion);
  const last = events[events.length - 1];
  return { nextStreamVersion: last.streamVersion, lastGlobalPosition: last.globalPosition, events };
}
