import {
  ANY,
  type AppendResult as KurrentAppendResult,
  type AppendStreamState,
  type CurrentStreamState,
  type EventData,
  type Filter,
  NO_STREAM,
  type Position,
  type RecordedEvent as KurrentRecordedEvent,
  STREAM_EXISTS,
  WrongExpectedVersionError,
  jsonEvent,
  streamNameFilter,
} from '@kurrent/kurrentdb-client';
import { stringify } from 'safe-stable-stringify';
import { DuplicateEventIdError, VersionConflictError } from '../event-store.errors';
import {
  APPEND_EVENTS_MAX,
  type EventToAppend,
  READ_BATCH_SIZE_DEFAULT,
  READ_BATCH_SIZE_MAX,
  type RecordedEvent,
} from '../event-store.port';
import { type ExpectedVersion, assertValidExpectedVersion } from '../expected-version';

/**
 * The pure translation between the port and KurrentDB: versions, positions,
 * errors, filters and the stream listing. No I/O here, so every rule is unit
 * tested without a server (kurrentdb-mapping.unit.spec.ts).
 */

// ---- Versions: the port counts a stream's events from 1, KurrentDB's revisions from 0n.

/** The port's version of the event at `revision`. */
export function streamVersionOf(revision: bigint): number {
  if (revision < 0n || revision >= BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`stream revision out of range: ${revision}`);
  }
  return Number(revision) + 1;
}

/** KurrentDB's revision of the event at the port's `streamVersion` (1 or more). */
export function revisionOf(streamVersion: number): bigint {
  if (!Number.isSafeInteger(streamVersion) || streamVersion < 1) {
    throw new RangeError(`stream version must be a positive integer, got ${streamVersion}`);
  }
  return BigInt(streamVersion - 1);
}

/**
 * The port's expected version as KurrentDB's stream state. Version N (N events
 * read) expects the last event at revision N-1; version 0 is a stream that does
 * not exist yet. Only an explicit revision makes KurrentDB's duplicate check
 * reliable (see README of this folder): the command runner always passes one.
 */
export function streamStateOf(expected: ExpectedVersion): AppendStreamState {
  assertValidExpectedVersion(expected);
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      return expected === 0 ? NO_STREAM : BigInt(expected - 1);
  }
}

/**
 * The port's version of a stream KurrentDB reports: the number of its events.
 * A negative revision is KurrentDB's -1 for "no stream" (the client passes it
 * through when it builds the error from gRPC metadata).
 */
export function actualVersionOf(state: CurrentStreamState): number {
  return state === NO_STREAM || state < 0n ? 0 : streamVersionOf(state);
}

/**
 * The last revision an append wrote. With `throwOnAppendFailure=false` in the
 * connection string the client resolves a conflict (`success: false`) instead
 * of throwing it: the same conflict for the port.
 */
export function lastRevisionOfAppend(result: KurrentAppendResult, streamId: string, expected: ExpectedVersion): bigint {
  if (!result.success) {
    throw new VersionConflictError(streamId, expected, actualVersionOf(result.nextExpectedRevision));
  }
  return result.nextExpectedRevision;
}

/** KurrentDB's conflict becomes the port's, naming the stream and both versions; any other error passes as is. */
export function translateAppendError(error: unknown, streamId: string, expected: ExpectedVersion): unknown {
  if (error instanceof WrongExpectedVersionError) {
    return new VersionConflictError(streamId, expected, actualVersionOf(error.actualState));
  }
  return error;
}

// ---- Positions: 64-bit log positions, carried as decimal strings, never as a JavaScript number.

/** The largest value of KurrentDB's unsigned 64-bit positions. */
const POSITION_MAX = 2n ** 64n - 1n;

/**
 * The port's global position of an event: its commit position in decimal.
 * Every append through the gRPC API is an implicit transaction whose events
 * are each read back at `{ commit: p, prepare: p }`, p the event's own log
 * position (KurrentDB's AllReader builds `new TFPos(prepare.LogPosition,
 * prepare.LogPosition)` for committed prepares), so the commit position alone
 * is unique per event and orders `$all`. Only events of the legacy explicit
 * transactions (TCP API) share a commit position: refused loudly.
 */
export function globalPositionOf(position: Position | undefined): string {
  if (position === undefined) {
    throw new Error('KurrentDB returned an event without its position: a server before 22.6 is not supported');
  }
  if (position.commit !== position.prepare) {
    throw new Error(
      `event at commit ${position.commit} / prepare ${position.prepare} was written by an explicit transaction: not supported`,
    );
  }
  return position.commit.toString();
}

/** KurrentDB's position of the event at a port's global position (see globalPositionOf). */
export function kurrentPositionOf(globalPosition: string): Position {
  if (!/^[0-9]{1,20}$/.test(globalPosition) || BigInt(globalPosition) > POSITION_MAX) {
    throw new RangeError(`not a global position: ${globalPosition}`);
  }
  const logPosition = BigInt(globalPosition);
  return { commit: logPosition, prepare: logPosition };
}

/**
 * Whether a reader at `checkpoint` has read the event at `position`. `$all` is
 * one log written by one writer: an event is readable only once committed at
 * its position, so feed order is position order and `<=` on the 64-bit values
 * is exact (unlike the SQL stores, where a lower position can commit later).
 */
export function positionHasPassed(checkpoint: string | undefined, position: string): boolean {
  if (checkpoint === undefined) return false;
  return kurrentPositionOf(position).commit <= kurrentPositionOf(checkpoint).commit;
}

// ---- Filters for `$all`.

/**
 * The port's `readAll` is every event of the application's streams: `$all`
 * without KurrentDB's own system streams (`$`-prefixed: `$stats-…`,
 * `$$…` metadata, projections' output). Filtered on the server.
 */
export function applicationStreamsFilter(): Filter {
  return streamNameFilter({ regex: '^[^$]' });
}

/** `$all` filtered on the server to streams whose name starts with one of `prefixes` (e.g. `credits-`). */
export function streamPrefixFilter(prefixes: readonly string[]): Filter {
  if (prefixes.length === 0 || prefixes.some((prefix) => prefix.length === 0 || prefix.startsWith('$'))) {
    throw new RangeError('stream prefixes must be non-empty and not name system streams ($)');
  }
  return streamNameFilter({ prefixes: [...prefixes] });
}

// ---- Events.

/** What KurrentDB stores as an event's metadata: the port's metadata and schema version, kept apart. */
type StoredMetadata = { schemaVersion: number; metadata: Record<string, unknown> };

export function eventDataOf(event: EventToAppend): EventData {
  const metadata: StoredMetadata = { schemaVersion: event.schemaVersion, metadata: { ...event.metadata } };
  return jsonEvent({ id: event.id, type: event.type, data: event.data as Record<string, unknown>, metadata });
}

export function recordedEventOf(event: KurrentRecordedEvent): RecordedEvent {
  if (!event.isJson) throw new Error(`event ${event.id} of ${event.streamId} is not JSON: not written by this ledger`);
  const stored = event.metadata as Partial<StoredMetadata> | undefined;
  if (typeof stored?.schemaVersion !== 'number' || typeof stored.metadata !== 'object' || stored.metadata === null) {
    throw new Error(`event ${event.id} of ${event.streamId} has no ledger metadata: not written by this ledger`);
  }
  return {
    id: event.id,
    type: event.type,
    schemaVersion: stored.schemaVersion,
    data: event.data,
    metadata: stored.metadata,
    streamId: event.streamId,
    streamVersion: streamVersionOf(event.revision),
    globalPosition: globalPositionOf(event.position),
    recordedAt: event.created.toISOString(),
  };
}

// ---- Retried appends: KurrentDB acknowledges an append whose ids it holds, whatever the events say.

/**
 * Metadata that says when and why an event was recorded, not what it is: the
 * command's time (`occurredAt`) and what caused it (`causedBy`, e.g. another
 * Stripe delivery). A retry of the same event at another time, or for another
 * delivery, repeats it: a recharge claim relies on that (see README.md,
 * "One payment, one user, ledger-wide").
 */
export const RECORDING_CONTEXT_METADATA_KEYS: readonly string[] = ['occurredAt', 'causedBy'];

/**
 * What an event is, as canonical JSON: its type, schema version, data and
 * metadata but its recording context. Both sides go through JSON first, as
 * the client stores them (undefined fields dropped, dates as strings).
 */
function contentOf(event: EventToAppend): string {
  const metadata = Object.fromEntries(
    Object.entries(event.metadata).filter(([key]) => !RECORDING_CONTEXT_METADATA_KEYS.includes(key)),
  );
  const asStored: unknown = JSON.parse(
    JSON.stringify({ type: event.type, schemaVersion: event.schemaVersion, data: event.data ?? null, metadata }),
  );
  return stringify(asStored) ?? '';
}

/**
 * Checks the events read back after an append, at the versions KurrentDB
 * answered, against the batch. KurrentDB acknowledges an append at an old
 * expected revision as already committed, writing nothing, when the ids after
 * that revision are the batch's: it compares ids only. Ids are derived from
 * the stream, the idempotency key and the index, so another decision under
 * the same key (another amount, or the same request priced otherwise) has the
 * same ids. The acknowledgement is trusted only when the stored events are
 * the ones appended; otherwise the batch was not written, as on the SQL
 * stores: `DuplicateEventIdError`, and the caller reads what is stored.
 */
export function assertStoredAsAppended(
  streamId: string,
  firstVersion: number,
  appended: readonly EventToAppend[],
  stored: readonly RecordedEvent[],
): void {
  const ids = appended.map((event) => event.id);
  if (stored.map((event) => event.id).join() !== ids.join()) {
    throw new Error(`stream ${streamId}: the events read back at version ${firstVersion} are not those appended`);
  }
  if (stored.some((event, index) => contentOf(event) !== contentOf(appended[index]))) {
    throw new DuplicateEventIdError(streamId, ids);
  }
}

// ---- Stream listing: KurrentDB keeps no sorted index of stream names.

/** Orders stream ids by the bytes of their UTF-8 encoding, as the port's `listStreams` promises. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * One page of `listStreams` built from an unordered scan: offer every stream
 * id met (in any order, repeats allowed); `ids()` is the first `limit` ids
 * after `after` in UTF-8 byte order. Holds at most `limit` ids, whatever the
 * number of streams scanned.
 */
export class StreamPage {
  private readonly kept: string[] = [];

  constructor(
    private readonly after: string | undefined,
    private readonly limit: number,
  ) {}

  offer(streamId: string): void {
    if (this.after !== undefined && compareUtf8(streamId, this.after) <= 0) return;
    const index = this.insertionIndex(streamId);
    if (index < this.kept.length && this.kept[index] === streamId) return;
    if (index >= this.limit) return;
    this.kept.splice(index, 0, streamId);
    if (this.kept.length > this.limit) this.kept.pop();
  }

  ids(): string[] {
    return [...this.kept];
  }

  private insertionIndex(streamId: string): number {
    let low = 0;
    let high = this.kept.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareUtf8(this.kept[middle], streamId) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

// ---- Limits shared with the SQL store (same rules, same errors).

export function assertAppendable(
  streamId: string,
  events: readonly EventToAppend[],
  expectedVersion: ExpectedVersion,
): void {
  assertValidExpectedVersion(expectedVersion);
  if (streamId.length === 0 || streamId.length > 256) throw new RangeError('stream id must be 1 to 256 characters');
  if (streamId.startsWith('$')) throw new RangeError(`stream id must not name a KurrentDB system stream: ${streamId}`);
  if (events.length === 0 || events.length > APPEND_EVENTS_MAX) {
    throw new RangeError(`an append takes 1 to ${APPEND_EVENTS_MAX} events, got ${events.length}`);
  }
  if (new Set(events.map((event) => event.id)).size !== events.length) {
    throw new RangeError(`an append must not repeat an event id (stream ${streamId})`);
  }
}

export function checkedBatchSize(batchSize = READ_BATCH_SIZE_DEFAULT): number {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > READ_BATCH_SIZE_MAX) {
    throw new RangeError(`batch size must be 1 to ${READ_BATCH_SIZE_MAX}, got ${batchSize}`);
  }
  return batchSize;
}
