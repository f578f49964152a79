import { DuplicateEventIdError, UnknownPositionError, VersionConflictError } from '../event-store.errors';
import {
  APPEND_EVENTS_MAX,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ReadAllOptions,
  type ListStreamsOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  READ_BATCH_SIZE_DEFAULT,
  READ_BATCH_SIZE_MAX,
} from '../event-store.port';
import { type ExpectedVersion, assertValidExpectedVersion, matchesExpectedVersion } from '../expected-version';
import {
  type SqlDriver,
  type SqlExecutor,
  isTransactionRolledBackByServer,
  uniqueViolationConstraint,
} from './sql-driver';
import { appendBatch } from './append-batch';
import { type BatchOfAppends, GroupCommit } from './group-commit';

/**
 * An event as read: the columns of EVENT_COLUMNS, in their order (rows are
 * read as arrays, see `QueryOptions.rowMode`).
 */
type EventRow = [
  streamId: string,
  streamVersion: number,
  eventId: string,
  type: string,
  schemaVersion: number,
  data: unknown,
  metadata: Record<string, unknown>,
  globalPosition: string,
  recordedAt: string,
];

const AS_ARRAYS = { rowMode: 'array' } as const;

/**
 * The time as the port's ISO string, made by the server: parsing a
 * timestamptz into a Date and formatting it again cost the client more than
 * any other column of a replay. Milliseconds truncated, as the Date did.
 */
const RECORDED_AT_ISO = `to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const EVENT_COLUMNS = `stream_id, stream_version, event_id::text, type, schema_version, data, metadata,
  global_position::text, ${RECORDED_AT_ISO}`;

/**
 * How many times an append with expected version 'any' is tried. Appends with
 * 'any' to one stream take turns (a transaction lock), so only a writer that
 * expected an exact version can take their version first.
 */
const APPEND_ANY_ATTEMPTS_MAX = 5;

/**
 * The first key ('EVNT' in ASCII) of the transaction lock that appends with
 * 'any' take per stream. Two-key advisory locks never meet the one-key locks
 * of migrations and projections: PostgreSQL keeps the two kinds apart.
 */
const APPEND_ANY_LOCK_CLASS = 0x45_56_4e_54;

/**
 * Batches written at once by one store: two keep the database busy while the
 * next batch gathers (one is writing, one is on the wire). Measured with
 * `npm run bench -- w1`: three or four were no faster.
 */
const GROUP_COMMIT_FLUSHES_MAX = 2;
const GROUP_COMMIT_EVENTS_MAX = 2000;
/**
 * The longest appends wait for a larger batch before they go beside one being
 * written: a batch takes about a millisecond under load, so this seldom
 * fires, except when a write is stuck (on another session's lock, say).
 */
const GROUP_COMMIT_SIDE_WAIT_MS = 5;

/** One implementation of the port over PostgreSQL SQL, shared by the `pg` and PGlite drivers. */
export class SqlEventStore implements EventStore {
  readonly refusesEventIdsOfOtherStreams = true;
  private readonly appendListeners = new Set<() => void>();
  private readonly groupCommit = new GroupCommit((batch) => this.flushBatch(batch), {
    flushesMax: GROUP_COMMIT_FLUSHES_MAX,
    eventsMax: GROUP_COMMIT_EVENTS_MAX,
    sideWaitMs: GROUP_COMMIT_SIDE_WAIT_MS,
  });

  constructor(private readonly driver: SqlDriver) {}

  /**
   * Calls `listener` after each append of this process commits, so an
   * in-process projector reacts at once instead of at its next poll (appends
   * of other processes are seen at that poll). Returns the function that
   * removes it.
   */
  subscribeToAppends(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /** Whether the events are in `driver`'s database (then a transaction there can read them). */
  isOn(driver: SqlDriver): boolean {
    return this.driver === driver;
  }

  async appendToStream(
    streamId: string,
    events: readonly EventToAppend[],
    options: { expectedVersion: ExpectedVersion },
  ): Promise<AppendResult> {
    assertAppendable(streamId, events, options.expectedVersion);
    const { expectedVersion } = options;
    const result =
      typeof expectedVersion === 'number'
        ? await this.groupCommit.append({ streamId, events, expectedVersion })
        : await this.appendWithRetries(streamId, events, expectedVersion);
    for (const listener of this.appendListeners) listener();
    return result;
  }

  /**
   * Writes a group commit's batch in one statement. Any failure of the
   * statement fails it for all its appends: a unique violation (a version
   * taken by another process in between, or an event id stored already), a
   * deadlock, a value the database refuses in one append, a lost connection.
   * Each append is then tried alone, which tells them apart, so that one
   * append never fails another. Trying again is safe even if the statement
   * committed before its answer was lost: each append names its version.
   */
  private async flushBatch(batch: BatchOfAppends): Promise<void> {
    let outcomes;
    try {
      outcomes = await appendBatch(
        this.driver,
        batch.map((write) => write.append),
      );
    } catch {
      await Promise.all(
        batch.map(({ append, resolve, reject }) =>
          this.appendWithRetries(append.streamId, append.events, append.expectedVersion).then(resolve, reject),
        ),
      );
      return;
    }
    outcomes.forEach((outcome, index) => {
      if (outcome instanceof VersionConflictError) batch[index].reject(outcome);
      else batch[index].resolve(outcome);
    });
  }

  /**
   * An append with 'any' that loses a race for a version to a writer that
   * expected an exact version tries again: that writer has committed when the
   * unique violation is raised, so the next attempt reads its version.
   */
  private async appendWithRetries(
    streamId: string,
    events: readonly EventToAppend[],
    expectedVersion: ExpectedVersion,
  ): Promise<AppendResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.driver.transaction((tx) => appendInTransaction(tx, streamId, events, expectedVersion));
      } catch (error) {
        const versionTaken = uniqueViolationConstraint(error) === 'events_stream_version_unique';
        if (versionTaken && expectedVersion === 'any' && attempt < APPEND_ANY_ATTEMPTS_MAX) continue;
        throw await this.translateAppendError(error, streamId, events, expectedVersion);
      }
    }
  }

  private async translateAppendError(
    error: unknown,
    streamId: string,
    events: readonly EventToAppend[],
    expectedVersion: ExpectedVersion,
  ): Promise<unknown> {
    const constraint = uniqueViolationConstraint(error);
    if (constraint === 'events_stream_version_unique' || isTransactionRolledBackByServer(error)) {
      return new VersionConflictError(streamId, expectedVersion, undefined);
    }
    if (constraint === 'events_event_id_unique') {
      return new DuplicateEventIdError(streamId, await this.storedEventIds(events));
    }
    return error;
  }

  /** The ids of `events` already stored, in batch order: looked up after the failed append. */
  private async storedEventIds(events: readonly EventToAppend[]): Promise<string[]> {
    const rows = await this.driver.query<{ event_id: string }>(
      'select event_id::text as event_id from events where event_id = any($1::uuid[])',
      [events.map((event) => event.id)],
    );
    const stored = new Set(rows.map((row) => row.event_id));
    return events.map((event) => event.id).filter((id) => stored.has(id.toLowerCase()));
  }

  readStream(streamId: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    return readStreamWith(this.driver, streamId, options);
  }

  /**
   * Reads in (transaction id, position) order and only events whose
   * transaction is older than every transaction still running in this
   * database (`events_feed_page`, migration 0003). Positions are taken at insert time, so a
   * transaction can commit after a higher position became visible; ordering by
   * transaction id and hiding in-flight transactions means such an event is
   * returned later, after the reader's checkpoint, never skipped. The scheme
   * of Emmett and Beckett.
   */
  async *readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    const batchSize = checkedBatchSize(options.batchSize);
    let after = options.afterPosition === undefined ? undefined : await this.commitOrderOf(options.afterPosition);
    for (;;) {
      const rows = await this.feedPage(after, batchSize);
      for (const row of rows) yield toRecordedEvent(row);
      if (rows.length < batchSize) return;
      // One query per page rather than one more column per row.
      after = await this.commitOrderOf(positionOf(rows[rows.length - 1]));
    }
  }

  /**
   * The page after `after` (the feed's start when undefined), through
   * `events_feed_page` (migration 0003), in feed order: a function scan
   * returns the function's rows in the order its query made them.
   */
  private feedPage(
    after: { transactionId: string; globalPosition: string } | undefined,
    batchSize: number,
  ): Promise<EventRow[]> {
    return this.driver.query<EventRow>(
      `select ${EVENT_COLUMNS} from events_feed_page($1::xid8, $2::bigint, $3) as events`,
      [after?.transactionId ?? '0', after?.globalPosition ?? '0', batchSize],
      AS_ARRAYS,
    );
  }

  /** A checkpoint is a global position; its place in the feed is (transaction id, position). */
  private async commitOrderOf(position: string): Promise<{ transactionId: string; globalPosition: string }> {
    const [row] = await this.driver.query<{ transaction_id: string }>(
      'select transaction_id::text as transaction_id from events where global_position = $1::bigint',
      [checkedPosition(position)],
    );
    if (row === undefined) throw new UnknownPositionError(position);
    return { transactionId: row.transaction_id, globalPosition: position };
  }

  /** `collate "C"` orders by bytes, as the port promises, whatever the database's collation. */
  async listStreams(options: ListStreamsOptions): Promise<string[]> {
    const limit = checkedBatchSize(options.limit);
    const rows = await this.driver.query<{ stream_id: string }>(
      `select stream_id from events
       where stream_version = 1 and starts_with(stream_id, $1) and stream_id collate "C" > $2
       order by stream_id collate "C" limit $3`,
      [options.prefix, options.after ?? '', limit],
    );
    return rows.map((row) => row.stream_id);
  }

  async headPosition(): Promise<string | undefined> {
    const [row] = await this.driver.query<{ head: string | null }>(
      'select max(global_position)::text as head from events',
    );
    return row.head ?? undefined;
  }

  /**
   * Counts every committed event after the checkpoint, including those
   * `readAll` still holds back behind an older open transaction: they are lag
   * too, and a reader waiting for "caught up" must not stop before them.
   */
  async countEventsAfter(afterPosition: string | undefined, countMax: number): Promise<number> {
    const after = afterPosition === undefined ? undefined : await this.commitOrderOf(afterPosition);
    const [row] = await this.driver.query<{ count: number }>(
      'select events_count_after($1::xid8, $2::bigint, $3::bigint) as count',
      [after?.transactionId ?? '0', after?.globalPosition ?? '0', countMax],
    );
    return row.count;
  }

  async recordedAtOfNextEvent(afterPosition: string | undefined): Promise<string | undefined> {
    const after = afterPosition === undefined ? undefined : await this.commitOrderOf(afterPosition);
    const [row] = await this.driver.query<{ recorded_at: Date | string }>(
      `select recorded_at from events where (transaction_id, global_position) > ($1::xid8, $2::bigint)
       order by events.transaction_id, events.global_position limit 1`,
      [after?.transactionId ?? '0', after?.globalPosition ?? '0'],
    );
    return row === undefined ? undefined : new Date(row.recorded_at).toISOString();
  }

  async hasPassed(checkpoint: string | undefined, position: string): Promise<boolean> {
    // Positions are bigints: a larger number is no event's, and the cast below would fail on it.
    if (BigInt(checkedPosition(position)) > POSITION_MAX) throw new UnknownPositionError(position);
    const [row] = await this.driver.query<{ known: boolean; passed: boolean }>(
      `select exists (select from events where global_position = $1::bigint) as known,
              exists (select from events e join events c on c.global_position = $2::bigint
                      where e.global_position = $1::bigint
                        and (e.transaction_id, e.global_position) <= (c.transaction_id, c.global_position)) as passed`,
      [checkedPosition(position), checkpoint === undefined ? null : checkedPosition(checkpoint)],
    );
    if (!row.known) throw new UnknownPositionError(position);
    return row.passed;
  }

  async ping(): Promise<void> {
    await this.driver.query('select 1');
  }

  async close(): Promise<void> {
    await this.driver.close();
  }
}

/**
 * `readStream` run on a given connection or transaction: for a reader of the
 * same database that must read inside its own transaction (a repair, after it
 * locked the projections' checkpoints).
 */
export async function* readStreamWith(
  db: SqlExecutor,
  streamId: string,
  options: ReadStreamOptions = {},
): AsyncIterable<RecordedEvent> {
  const batchSize = checkedBatchSize(options.batchSize);
  const backwards = options.direction === 'backwards';
  let from = options.fromVersion ?? (backwards ? Number.MAX_SAFE_INTEGER : 1);
  const to = options.toVersion ?? (backwards ? 1 : Number.MAX_SAFE_INTEGER);
  for (;;) {
    const rows = await db.query<EventRow>(
      backwards
        ? `select ${EVENT_COLUMNS} from events where stream_id = $1 and stream_version <= $2 and stream_version >= $3
           order by stream_version desc limit $4`
        : `select ${EVENT_COLUMNS} from events where stream_id = $1 and stream_version >= $2 and stream_version <= $3
           order by stream_version limit $4`,
      [streamId, Math.min(from, 2 ** 31 - 1), Math.min(to, 2 ** 31 - 1), batchSize],
      AS_ARRAYS,
    );
    for (const row of rows) yield toRecordedEvent(row);
    if (rows.length < batchSize) return;
    const [, lastVersion] = rows[rows.length - 1];
    from = lastVersion + (backwards ? -1 : 1);
  }
}

/**
 * `hasPassed` run on a given connection or transaction: for a reader of the
 * same database that must decide inside its own transaction (a rebuild's swap).
 * Positions must be stored ones.
 */
export async function feedHasPassed(
  db: SqlExecutor,
  checkpoint: string | undefined,
  position: string,
): Promise<boolean> {
  if (checkpoint === undefined) return false;
  const [row] = await db.query<{ passed: boolean }>(
    `select exists (select from events e join events c on c.global_position = $2::bigint
                    where e.global_position = $1::bigint
                      and (e.transaction_id, e.global_position) <= (c.transaction_id, c.global_position)) as passed`,
    [checkedPosition(position), checkedPosition(checkpoint)],
  );
  return row.passed;
}

/** Exported for tests that hold an append's transaction open (out-of-order commits). */
export async function appendInTransaction(
  tx: SqlExecutor,
  streamId: string,
  events: readonly EventToAppend[],
  expectedVersion: ExpectedVersion,
): Promise<AppendResult> {
  if (expectedVersion === 'any') {
    // Without it, concurrent appends with 'any' all read the same version and
    // all but one fail on the unique (stream, version), round after round.
    // A statement of its own: the read below then sees the previous holder's commit.
    await tx.query('select pg_advisory_xact_lock($1::integer, hashtext($2))', [APPEND_ANY_LOCK_CLASS, streamId]);
  }
  // Read before any write: the transaction gets its id at the insert below,
  // after this read, so within a stream transaction ids grow with versions.
  const [{ version: actualVersion }] = await tx.query<{ version: number }>(
    'select coalesce(max(stream_version), 0)::integer as version from events where stream_id = $1',
    [streamId],
  );
  if (!matchesExpectedVersion(expectedVersion, actualVersion)) {
    throw new VersionConflictError(streamId, expectedVersion, actualVersion);
  }
  const params: unknown[] = [];
  const values = events.map((event, index) => {
    params.push(streamId, actualVersion + index + 1, event.id, event.type, event.schemaVersion);
    params.push(JSON.stringify(event.data), JSON.stringify(event.metadata));
    const p = params.length - 7;
    return `($${p + 1}, $${p + 2}, $${p + 3}::uuid, $${p + 4}, $${p + 5}, $${p + 6}::jsonb, $${p + 7}::jsonb)`;
  });
  const inserted = await tx.query<{ event_id: string; stream_version: number; global_position: string }>(
    `insert into events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
     values ${values.join(', ')}
     returning event_id::text as event_id, stream_version, global_position::text as global_position`,
    params,
  );
  const recorded = inserted
    .map((row) => ({ id: row.event_id, streamVersion: row.stream_version, globalPosition: row.global_position }))
    .sort((a, b) => a.streamVersion - b.streamVersion);
  const last = recorded[recorded.length - 1];
  return { nextStreamVersion: last.streamVersion, lastGlobalPosition: last.globalPosition, events: recorded };
}

function assertAppendable(streamId: string, events: readonly EventToAppend[], expectedVersion: ExpectedVersion): void {
  assertValidExpectedVersion(expectedVersion);
  if (streamId.length === 0 || streamId.length > 256) throw new RangeError('stream id must be 1 to 256 characters');
  if (events.length === 0 || events.length > APPEND_EVENTS_MAX) {
    throw new RangeError(`an append takes 1 to ${APPEND_EVENTS_MAX} events, got ${events.length}`);
  }
  if (new Set(events.map((event) => event.id)).size !== events.length) {
    throw new RangeError(`an append must not repeat an event id (stream ${streamId})`);
  }
}

function checkedBatchSize(batchSize = READ_BATCH_SIZE_DEFAULT): number {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > READ_BATCH_SIZE_MAX) {
    throw new RangeError(`batch size must be 1 to ${READ_BATCH_SIZE_MAX}, got ${batchSize}`);
  }
  return batchSize;
}

/** The largest global position a `bigint` identity column holds. */
const POSITION_MAX = 2n ** 63n - 1n;

function checkedPosition(position: string): string {
  if (!/^[0-9]{1,19}$/.test(position)) throw new RangeError(`not a global position: ${position}`);
  return position;
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  const [streamId, streamVersion, id, type, schemaVersion, data, metadata, globalPosition, recordedAt] = row;
  return { id, type, schemaVersion, data, metadata, streamId, streamVersion, globalPosition, recordedAt };
}

function positionOf(row: EventRow): string {
  return row[7];
}
