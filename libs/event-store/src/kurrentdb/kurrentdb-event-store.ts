import {
  type AllStreamSubscription,
  BACKWARDS,
  END,
  FORWARDS,
  KurrentDBClient,
  type ReadPosition,
  type ReadRevision,
  START,
  StreamNotFoundError,
} from '@kurrent/kurrentdb-client';
import { UnknownPositionError } from '../event-store.errors';
import type {
  AppendResult,
  EventStore,
  EventToAppend,
  ListStreamsOptions,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
} from '../event-store.port';
import type { ExpectedVersion } from '../expected-version';
import {
  StreamPage,
  applicationStreamsFilter,
  assertAppendable,
  assertStoredAsAppended,
  checkedBatchSize,
  eventDataOf,
  kurrentPositionOf,
  lastRevisionOfAppend,
  positionHasPassed,
  recordedEventOf,
  revisionOf,
  streamPrefixFilter,
  streamStateOf,
  streamVersionOf,
  translateAppendError,
} from './kurrentdb-mapping';

/** The client calls the adapter makes; testing/kurrentdb-model.ts stands in for them where no server runs. */
export type KurrentDbStreamsClient = Pick<
  KurrentDBClient,
  'appendToStream' | 'readStream' | 'readAll' | 'subscribeToAll' | 'dispose'
>;

/** Back-off between re-subscriptions after a dropped one: doubles from the first to the max, reset by any message. */
export const RESUBSCRIBE_DELAY_MS_FIRST = 100;
export const RESUBSCRIBE_DELAY_MS_MAX = 5_000;

/**
 * The port over KurrentDB (formerly EventStoreDB), through the gRPC client. A
 * thin shell: every translation is in kurrentdb-mapping.ts. What differs from
 * the SQL stores, and why, is in this folder's README.md.
 */
export class KurrentDbEventStore implements EventStore {
  /** KurrentDB keeps no index of event ids: see README.md, "Duplicate event ids". */
  readonly refusesEventIdsOfOtherStreams = false;

  constructor(
    private readonly client: KurrentDbStreamsClient,
    private readonly log: { warn(message: string, details: Record<string, unknown>): void } = {
      warn: (message, details) => console.warn(message, details),
    },
  ) {}

  /** `kurrentdb://` or `esdb://` connection string, e.g. `kurrentdb://localhost:2113?tls=false`. */
  static connect(connectionString: string): KurrentDbEventStore {
    return new KurrentDbEventStore(KurrentDBClient.connectionString(connectionString));
  }

  /**
   * KurrentDB answers an append with the last revision and one position; the
   * port wants each event's position, so the appended events are read back
   * (one stream read of at most APPEND_EVENTS_MAX events). Read back, they
   * also tell a retried append (acknowledged, nothing written) from another
   * batch with the same ids, which KurrentDB acknowledges alike: that one is
   * a DuplicateEventIdError (see assertStoredAsAppended).
   */
  async appendToStream(
    streamId: string,
    events: readonly EventToAppend[],
    options: { expectedVersion: ExpectedVersion },
  ): Promise<AppendResult> {
    assertAppendable(streamId, events, options.expectedVersion);
    let lastRevision: bigint;
    try {
      const result = await this.client.appendToStream(streamId, events.map(eventDataOf), {
        streamState: streamStateOf(options.expectedVersion),
      });
      lastRevision = lastRevisionOfAppend(result, streamId, options.expectedVersion);
    } catch (error) {
      throw translateAppendError(error, streamId, options.expectedVersion);
    }
    const firstVersion = streamVersionOf(lastRevision) - events.length + 1;
    const stored = await this.readRange(streamId, firstVersion, events.length);
    assertStoredAsAppended(streamId, firstVersion, events, stored);
    const recorded = stored.map(({ id, streamVersion, globalPosition }) => ({ id, streamVersion, globalPosition }));
    const last = recorded[recorded.length - 1];
    return { nextStreamVersion: last.streamVersion, lastGlobalPosition: last.globalPosition, events: recorded };
  }

  private async readRange(streamId: string, fromVersion: number, count: number): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    for await (const event of this.readStream(streamId, { fromVersion, toVersion: fromVersion + count - 1 })) {
      events.push(event);
    }
    return events;
  }

  /** `batchSize` is validated as on every store; the client streams the read with gRPC flow control instead. */
  async *readStream(streamId: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    checkedBatchSize(options.batchSize);
    const backwards = options.direction === 'backwards';
    const from: ReadRevision =
      options.fromVersion === undefined ? (backwards ? END : START) : revisionOf(Math.max(1, options.fromVersion));
    const maxCount = rangeLength(options.fromVersion, options.toVersion, backwards);
    if (maxCount === 0) return;
    const read = this.client.readStream(streamId, {
      fromRevision: from,
      direction: backwards ? BACKWARDS : FORWARDS,
      maxCount,
    });
    try {
      for await (const resolved of read) {
        if (resolved.event === undefined) continue;
        const event = recordedEventOf(resolved.event);
        if (options.toVersion !== undefined) {
          const beyond = backwards ? event.streamVersion < options.toVersion : event.streamVersion > options.toVersion;
          if (beyond) return;
        }
        yield event;
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return;
      throw error;
    }
  }

  /**
   * `$all` without system streams, after `afterPosition`. KurrentDB reads from
   * a position inclusively, so the event at the checkpoint comes first: it
   * proves the checkpoint is an event's position (else UnknownPositionError)
   * and is skipped.
   */
  async *readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    checkedBatchSize(options.batchSize);
    yield* this.readAllAfter(options.afterPosition);
  }

  private async *readAllAfter(afterPosition: string | undefined): AsyncIterable<RecordedEvent> {
    const fromPosition: ReadPosition = afterPosition === undefined ? START : kurrentPositionOf(afterPosition);
    let checkpointSeen = afterPosition === undefined;
    for await (const resolved of this.client.readAll({ fromPosition, filter: applicationStreamsFilter() })) {
      if (resolved.event === undefined) continue;
      const event = recordedEventOf(resolved.event);
      if (!checkpointSeen) {
        if (event.globalPosition !== afterPosition) throw new UnknownPositionError(afterPosition!);
        checkpointSeen = true;
        continue;
      }
      yield event;
    }
    if (!checkpointSeen) throw new UnknownPositionError(afterPosition!);
  }

  /**
   * KurrentDB has no sorted listing of stream names (`$streams` needs the
   * system projections, and is in creation order). So this scans `$all`,
   * filtered on the server to the prefix, and keeps the first `limit` new
   * stream ids (revision 0) in byte order: O(events of the prefix's streams)
   * read per page, O(limit) memory. Fine for repairs and audits run by hand;
   * not for a request path.
   */
  async listStreams(options: ListStreamsOptions): Promise<string[]> {
    const page = new StreamPage(options.after, checkedBatchSize(options.limit));
    for await (const resolved of this.client.readAll({ filter: streamPrefixFilter([options.prefix]) })) {
      if (resolved.event?.revision === 0n) page.offer(resolved.event.streamId);
    }
    return page.ids();
  }

  async headPosition(): Promise<string | undefined> {
    const read = this.client.readAll({
      fromPosition: END,
      direction: BACKWARDS,
      maxCount: 1,
      filter: applicationStreamsFilter(),
    });
    for await (const resolved of read) {
      if (resolved.event !== undefined) return recordedEventOf(resolved.event).globalPosition;
    }
    return undefined;
  }

  /** Reads at most `countMax` events after the checkpoint: O(countMax). */
  async countEventsAfter(afterPosition: string | undefined, countMax: number): Promise<number> {
    return countUpTo(this.readAllAfter(afterPosition), countMax);
  }

  async recordedAtOfNextEvent(afterPosition: string | undefined): Promise<string | undefined> {
    return (await firstOf(this.readAllAfter(afterPosition)))?.recordedAt;
  }

  async hasPassed(checkpoint: string | undefined, position: string): Promise<boolean> {
    const stored = this.client.readAll({
      fromPosition: kurrentPositionOf(position),
      maxCount: 1,
      filter: applicationStreamsFilter(),
    });
    let known = false;
    for await (const resolved of stored) {
      known = resolved.event !== undefined && recordedEventOf(resolved.event).globalPosition === position;
    }
    if (!known) throw new UnknownPositionError(position);
    return positionHasPassed(checkpoint, position);
  }

  /**
   * A catch-up subscription to `$all` from its end, filtered on the server to
   * the prefixes, used only as a wake-up: each event, and each caught-up
   * signal (sent once the subscription is live, so also after a
   * re-subscription, when events may have been appended meanwhile), calls
   * `listener`. Readers catch up from their own checkpoint with `readAll`,
   * so a dropped subscription loses nothing: it is subscribed again, after a
   * back-off that doubles up to RESUBSCRIBE_DELAY_MS_MAX, until stopped.
   */
  subscribeToAppends(listener: () => void, options: { streamPrefixes: readonly string[] }): () => void {
    const filter = streamPrefixFilter(options.streamPrefixes);
    let stopped = false;
    let current: AllStreamSubscription | undefined;
    let retry: NodeJS.Timeout | undefined;
    let delayMs = RESUBSCRIBE_DELAY_MS_FIRST;
    const subscribe = () => {
      if (stopped) return;
      const subscription = this.client.subscribeToAll({ fromPosition: END, filter });
      current = subscription;
      const heard = () => {
        delayMs = RESUBSCRIBE_DELAY_MS_FIRST;
        listener();
      };
      subscription.on('data', heard);
      subscription.on('caughtUp', heard);
      // A dropped connection errors the subscription; a server that ends it ends it: both, subscribe again.
      const dropped = (reason: string) => {
        if (stopped || current !== subscription) return;
        current = undefined;
        subscription.unsubscribe().catch(() => undefined);
        this.log.warn('KurrentDB subscription dropped; subscribing again', { reason, delayMs });
        retry = setTimeout(subscribe, delayMs);
        delayMs = Math.min(delayMs * 2, RESUBSCRIBE_DELAY_MS_MAX);
      };
      subscription.on('error', (error: Error) => dropped(error.message));
      subscription.on('end', () => dropped('ended by the server'));
    };
    subscribe();
    return () => {
      stopped = true;
      clearTimeout(retry);
      current?.unsubscribe().catch(() => undefined);
      current = undefined;
    };
  }

  async ping(): Promise<void> {
    await firstOf(this.client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 1 }));
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }
}

/** How many events a bounded stream read can return, so the server sends no more; unbounded: the client's default. */
function rangeLength(fromVersion: number | undefined, toVersion: number | undefined, backwards: boolean) {
  if (fromVersion === undefined || toVersion === undefined) return undefined;
  return Math.max(0, backwards ? fromVersion - toVersion + 1 : toVersion - fromVersion + 1);
}

async function countUpTo(iterable: AsyncIterable<unknown>, countMax: number): Promise<number> {
  const iterator = iterable[Symbol.asyncIterator]();
  let count = 0;
  try {
    while (count < countMax && !(await iterator.next()).done) count++;
  } finally {
    await iterator.return?.();
  }
  return count;
}

async function firstOf<T>(iterable: AsyncIterable<T>): Promise<T | undefined> {
  for await (const item of iterable) return item;
  return undefined;
}
