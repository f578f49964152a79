import { EventEmitter } from 'node:events';
import {
  ANY,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendResult,
  type AppendStreamState,
  type AppendToStreamOptions,
  BACKWARDS,
  END,
  type EventData,
  type Filter,
  NO_STREAM,
  type ReadAllOptions,
  type ReadStreamOptions,
  type ResolvedEvent,
  START,
  type SubscribeToAllOptions,
  STREAM_EXISTS,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '@kurrent/kurrentdb-client';
import type { KurrentDbStreamsClient } from '../kurrentdb-event-store';

type StoredEvent = {
  streamId: string;
  revision: bigint;
  id: string;
  type: string;
  data: unknown;
  metadata: unknown;
  created: Date;
  logPosition: bigint;
};

/**
 * An in-memory model of the KurrentDB server behind the client calls the
 * adapter makes, for tests on machines where no server can run. It follows
 * the server's documented rules, not its code: revisions from 0n, one log
 * whose positions are `{ commit: p, prepare: p }` (starting above 2^53, so
 * every test crosses what a double holds), `$`-prefixed system events mixed
 * into `$all`, reads from a position inclusive, and the duplicate check of
 * `IndexWriter.CheckCommit` (see ../README.md). What it proves is that the
 * adapter's shell is right *if* the server behaves as documented; the
 * contract suite against a real server (`npm run test:kurrentdb`) proves the rest.
 */
export class KurrentDbModel implements KurrentDbStreamsClient {
  private readonly log: StoredEvent[] = [];
  private nextLogPosition = 2n ** 53n + 1_000n;
  /** Every id appended, as the server's bounded cache would hold it while it is warm. */
  private readonly recentIds = new Map<string, { streamId: string; revision: bigint }>();
  private readonly subscriptions = new Set<ModelSubscription>();
  /** Subscriptions made so far, dropped or not: what a test of re-subscription counts. */
  subscriptionsMade = 0;
  private subscriptionsToRefuse = 0;

  async appendToStream(
    streamName: string,
    events: EventData | EventData[],
    options: AppendToStreamOptions = {},
  ): Promise<AppendResult> {
    await Promise.resolve(); // concurrent callers interleave here, as requests do
    const batch = Array.isArray(events) ? events : [events];
    const state = options.streamState ?? ANY;
    const current = this.lastRevision(streamName);
    const idempotent = this.alreadyCommitted(streamName, state, current, batch);
    if (idempotent !== undefined) return { success: true, nextExpectedRevision: idempotent, position: undefined };
    const expected = state === NO_STREAM ? -1n : state;
    const conflict =
      (state === STREAM_EXISTS && current < 0n) || (typeof expected === 'bigint' && expected !== current);
    if (conflict) {
      throw new WrongExpectedVersionError(undefined, {
        streamName,
        expected: state,
        current: current < 0n ? NO_STREAM : current,
      });
    }
    batch.forEach((event, index) => this.write(streamName, current + 1n + BigInt(index), event));
    this.writeSystemEvent();
    const last = this.log.filter((event) => event.streamId === streamName).at(-1)!;
    return {
      success: true,
      nextExpectedRevision: last.revision,
      position: { commit: last.logPosition, prepare: last.logPosition },
    };
  }

  /**
   * The duplicate check: the last revision of the events already stored when
   * the batch repeats them (the append is acknowledged, nothing written);
   * throws a conflict when it repeats them only in part; undefined to go on.
   */
  private alreadyCommitted(
    streamName: string,
    state: AppendStreamState,
    current: bigint,
    batch: EventData[],
  ): bigint | undefined {
    if (state === ANY || state === STREAM_EXISTS) {
      const found = batch.map((event) => this.recentIds.get(event.id));
      if (found[0]?.streamId !== streamName) return undefined;
      if (found.some((hit) => hit?.streamId !== streamName)) this.conflict(streamName, state, current);
      return found.at(-1)!.revision;
    }
    const expected = state === NO_STREAM ? -1n : state;
    if (expected >= current) return undefined;
    const stored = this.log.filter((event) => event.streamId === streamName && event.revision > expected);
    // A first event that differs is a plain conflict; a later one "corrupted idempotency", also a conflict.
    if (batch.some((event, index) => stored[index]?.id !== event.id)) this.conflict(streamName, state, current);
    return expected + BigInt(batch.length);
  }

  private conflict(streamName: string, expected: AppendStreamState, current: bigint): never {
    throw new WrongExpectedVersionError(undefined, {
      streamName,
      expected,
      current: current < 0n ? NO_STREAM : current,
    });
  }

  private write(streamId: string, revision: bigint, event: EventData): void {
    const stored: StoredEvent = {
      streamId,
      revision,
      id: event.id,
      type: event.type,
      data: structuredClone(event.data),
      metadata: structuredClone(event.metadata),
      created: new Date(),
      logPosition: this.nextLogPosition,
    };
    this.log.push(stored);
    for (const subscription of this.subscriptions) subscription.offer(stored);
    this.recentIds.set(event.id, { streamId, revision });
    // Records have sizes: positions grow by more than one and unevenly.
    this.nextLogPosition += 97n + BigInt(this.log.length % 13);
  }

  /** KurrentDB writes its own events ($stats, metadata) into the same log. */
  private writeSystemEvent(): void {
    if (this.log.length % 3 !== 0) return;
    const revision = this.lastRevision('$stats-model') + 1n;
    this.write('$stats-model', revision, { id: crypto.randomUUID(), type: '$statsCollected', data: {} } as EventData);
  }

  private lastRevision(streamName: string): bigint {
    return this.log.filter((event) => event.streamId === streamName).at(-1)?.revision ?? -1n;
  }

  async *readStream(streamName: string, options: ReadStreamOptions = {}): AsyncIterableIterator<ResolvedEvent> {
    await Promise.resolve();
    const events = this.log.filter((event) => event.streamId === streamName);
    if (events.length === 0) throw new StreamNotFoundError(undefined, streamName);
    const backwards = options.direction === BACKWARDS;
    const from = options.fromRevision ?? (backwards ? END : START);
    const selected = backwards
      ? events.filter((event) => from === END || (from !== START && event.revision <= from)).reverse()
      : events.filter((event) => from === START || (from !== END && event.revision >= from));
    for (const event of selected.slice(0, Number(options.maxCount ?? Number.MAX_SAFE_INTEGER))) {
      yield { event: recordedOf(event) } as ResolvedEvent;
    }
  }

  async *readAll(options: ReadAllOptions = {}): AsyncIterableIterator<AllStreamResolvedEvent> {
    await Promise.resolve();
    const backwards = options.direction === BACKWARDS;
    const from = options.fromPosition ?? (backwards ? END : START);
    const inRange = (event: StoredEvent) =>
      from === START || from === END
        ? true
        : backwards
          ? event.logPosition < from.commit
          : event.logPosition >= from.commit;
    const ordered = backwards ? [...this.log].reverse() : this.log;
    const selected = (backwards && from === START) || (!backwards && from === END) ? [] : ordered.filter(inRange);
    const matching = selected.filter((event) => matches(options.filter, event.streamId));
    for (const event of matching.slice(0, Number(options.maxCount ?? Number.MAX_SAFE_INTEGER))) {
      yield { event: recordedOf(event) } as AllStreamResolvedEvent;
    }
  }

  /**
   * A live subscription from the end of `$all` (the only start the adapter
   * uses): it says it caught up once subscribed, then sends each matching
   * event as it is written.
   */
  subscribeToAll(options: SubscribeToAllOptions = {}): AllStreamSubscription {
    if (options.fromPosition !== END) throw new Error('the model subscribes from the end of $all only');
    const subscription = new ModelSubscription(options.filter, () => this.subscriptions.delete(subscription));
    this.subscriptionsMade += 1;
    if (this.subscriptionsToRefuse > 0) {
      this.subscriptionsToRefuse -= 1;
      setImmediate(() => subscription.emit('error', new Error('14 UNAVAILABLE: no connection (model)')));
    } else {
      this.subscriptions.add(subscription);
      setImmediate(() => subscription.emit('caughtUp', {}));
    }
    return subscription as unknown as AllStreamSubscription;
  }

  /** The next `count` subscriptions fail before they catch up, as they do while the server is unreachable. */
  refuseNextSubscriptions(count: number): void {
    this.subscriptionsToRefuse = count;
  }

  /** Drops every live subscription with an error, as a lost connection does. */
  dropSubscriptions(): void {
    for (const subscription of [...this.subscriptions]) {
      this.subscriptions.delete(subscription);
      subscription.emit('error', new Error('14 UNAVAILABLE: connection dropped (model)'));
    }
  }

  async dispose(): Promise<void> {
    for (const subscription of [...this.subscriptions]) await subscription.unsubscribe();
  }
}

class ModelSubscription extends EventEmitter {
  constructor(
    private readonly filter: Filter | undefined,
    private readonly remove: () => void,
  ) {
    super();
  }

  offer(event: StoredEvent): void {
    if (!matches(this.filter, event.streamId)) return;
    const resolved = { event: recordedOf(event) } as AllStreamResolvedEvent;
    setImmediate(() => this.emit('data', resolved));
  }

  unsubscribe(): Promise<void> {
    this.remove();
    this.removeAllListeners();
    return Promise.resolve();
  }
}

function matches(filter: Filter | undefined, streamId: string): boolean {
  if (filter === undefined) return true;
  if (filter.filterOn !== 'streamName') throw new Error('the model filters on stream names only');
  return 'regex' in filter
    ? new RegExp(filter.regex).test(streamId)
    : filter.prefixes.some((prefix) => streamId.startsWith(prefix));
}

function recordedOf(event: StoredEvent) {
  return {
    streamId: event.streamId,
    id: event.id,
    isJson: true,
    revision: event.revision,
    type: event.type,
    created: event.created,
    data: structuredClone(event.data),
    metadata: structuredClone(event.metadata),
    position: { commit: event.logPosition, prepare: event.logPosition },
  };
}
