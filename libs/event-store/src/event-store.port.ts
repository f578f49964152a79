import type { ExpectedVersion } from './expected-version';

export type EventToAppend = {
  /** A UUID; the store refuses a second event with the same id. */
  id: string;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: Readonly<Record<string, unknown>>;
};

export type RecordedEvent = EventToAppend & {
  streamId: string;
  /** 1 for the first event of a stream. */
  streamVersion: number;
  /**
   * Position in the store's global feed, as a decimal string: it is 64-bit and
   * must never pass through a JavaScript number.
   */
  globalPosition: string;
  /** UTC ISO 8601, set by the store. */
  recordedAt: string;
};

export type AppendResult = {
  nextStreamVersion: number;
  lastGlobalPosition: string;
  events: ReadonlyArray<{ id: string; streamVersion: number; globalPosition: string }>;
};

export type ReadStreamOptions = {
  /** Inclusive; default 1 forwards, the last event backwards. */
  fromVersion?: number;
  /** Inclusive. */
  toVersion?: number;
  direction?: 'forwards' | 'backwards';
  batchSize?: number;
};

export type ReadAllOptions = {
  /** Exclusive: a global position already read (a checkpoint); omit to start at the beginning. */
  afterPosition?: string;
  batchSize?: number;
};

export type ListStreamsOptions = {
  /** Only streams whose id starts with this (e.g. `credits-`). */
  prefix: string;
  /** Exclusive: the last stream id of the previous page; omit for the first page. */
  after?: string;
  /** Page size, at most READ_BATCH_SIZE_MAX. */
  limit?: number;
};

export const APPEND_EVENTS_MAX = 1000;
export const READ_BATCH_SIZE_DEFAULT = 1000;
export const READ_BATCH_SIZE_MAX = 10_000;

/**
 * The event store port. Every adapter passes test/contract/event-store.contract.ts.
 */
export interface EventStore {
  /**
   * Whether an event id stored in one stream is refused in every other
   * (`DuplicateEventIdError`), as the SQL stores' unique index does. When
   * false (KurrentDB keeps no index of event ids), a ledger-wide uniqueness
   * such as one payment credited once needs a guard of its own.
   */
  readonly refusesEventIdsOfOtherStreams: boolean;

  /** Atomic for all events of one call; throws VersionConflictError or DuplicateEventIdError. */
  appendToStream(
    streamId: string,
    events: readonly EventToAppend[],
    options: { expectedVersion: ExpectedVersion },
  ): Promise<AppendResult>;

  readStream(streamId: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent>;

  /**
   * Every event of every stream, in an order that never changes once read:
   * an event that commits later is never placed before a position already
   * returned, so a reader that checkpoints the last position never skips one.
   */
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent>;

  /**
   * One page of the ids of the streams that hold at least one event, in the
   * byte order of their UTF-8 ids (what `after` continues from): a reader can
   * visit every stream holding one page in memory, whatever their number.
   */
  listStreams(options: ListStreamsOptions): Promise<string[]>;

  /** The highest position stored, or undefined for an empty store. Not the last in feed order: see `hasPassed`. */
  headPosition(): Promise<string | undefined>;

  /**
   * How many committed events come after `afterPosition` in feed order,
   * counting at most `countMax` (for lag): those `readAll` returns now, and
   * those it still holds back behind an older transaction in flight.
   */
  countEventsAfter(afterPosition: string | undefined, countMax: number): Promise<number>;

  /**
   * When the store recorded the next committed event after `afterPosition` in
   * feed order (held back or not); undefined when there is none. For lag.
   */
  recordedAtOfNextEvent(afterPosition: string | undefined): Promise<string | undefined>;

  /**
   * Whether a reader of `readAll` whose checkpoint is `checkpoint` has already
   * read the event at `position` (positions are not in feed order: compare
   * with this, never with `<`). Throws UnknownPositionError for a position no
   * event holds.
   */
  hasPassed(checkpoint: string | undefined, position: string): Promise<boolean>;

  /**
   * Optional: calls `listener` soon after events are appended to streams
   * whose id starts with one of `streamPrefixes`, so a projector reacts
   * before its next poll. A wake-up signal only: it may repeat, and may miss
   * appends (another process's, a dropped connection); readers catch up from
   * their own checkpoint with `readAll`, never from what the signal carried.
   * Returns the function that stops it.
   */
  subscribeToAppends?(listener: () => void, options: { streamPrefixes: readonly string[] }): () => void;

  /** Resolves when the store answers a trivial query; for readiness probes. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

export const EVENT_STORE = Symbol('EventStore');
