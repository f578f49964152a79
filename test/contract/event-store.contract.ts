import { randomUUID } from 'node:crypto';
import {
  DuplicateEventIdError,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedVersion,
  UnknownPositionError,
  VersionConflictError,
} from '@libs/event-store';
import { collect } from '../support/test-stores';

/**
 * A transaction the test drives step by step and leaves open while others
 * commit: how a store with concurrent writers gets commits out of position order.
 */
export type OpenTransaction = {
  /** Makes the transaction take its transaction id now, before it writes (`select pg_current_xact_id()`). */
  takeTransactionId(): Promise<void>;
  /** Appends in this transaction; `expectedVersion` defaults to 'any'. */
  append(streamId: string, events: EventToAppend[], expectedVersion?: ExpectedVersion): Promise<AppendResult>;
  /** Resolves once another transaction waits for one this one holds (a row it inserted). */
  waitUntilAnotherWaits(): Promise<void>;
  /** Ends the transaction; a second call does nothing more. */
  commit(): Promise<void>;
};

export type EventStoreUnderTest = {
  store: EventStore;
  /**
   * Only stores with concurrent writers can hold a transaction open while
   * another commits; PGlite cannot (one connection), and the suite then
   * checks that a second writer waits instead.
   */
  openTransaction?: () => Promise<OpenTransaction>;
  close(): Promise<void>;
};

/**
 * Where stores honestly differ, declared by the adapter's spec (the SQL
 * stores' guarantees by default) so the suite checks what each one promises.
 */
export type StoreGuarantees = {
  /**
   * 'store-wide': an id stored once is refused in any stream (the SQL stores'
   * unique index). 'retried-append' (KurrentDB): an append that repeats the
   * events already stored after its expected version is acknowledged without
   * writing again; the same id elsewhere is stored again.
   */
  eventIds: 'store-wide' | 'retried-append';
  /**
   * 'transactions': concurrent transactions can commit out of position order
   * (the suite drives them with `openTransaction`, or checks that a second
   * writer waits). 'log': one writer appends to one log (KurrentDB), so
   * positions are commit order by construction.
   */
  commitOrder: 'transactions' | 'log';
};

const SQL_STORE_GUARANTEES: StoreGuarantees = { eventIds: 'store-wide', commitOrder: 'transactions' };

function anEvent(type = 'SomethingHappened', data: unknown = { value: 1 }): EventToAppend {
  return { id: randomUUID(), type, schemaVersion: 1, data, metadata: { by: 'contract' } };
}

function aStream(): string {
  return `contract-${randomUUID()}`;
}

export function eventStoreContract(
  name: string,
  open: () => Promise<EventStoreUnderTest>,
  guarantees: StoreGuarantees = SQL_STORE_GUARANTEES,
): void {
  /** Without a transaction to hold open, what the store promises about commit order instead. */
  const expectCommitOrder = (store: EventStore) =>
    guarantees.commitOrder === 'log' ? expectPositionsInAppendOrder(store) : expectSecondWriterToWait(store);

  describe(`event store contract: ${name}`, () => {
    let subject: EventStoreUnderTest;
    let store: EventStore;
    beforeAll(async () => {
      subject = await open();
      store = subject.store;
    });
    afterAll(() => subject?.close());

    /** Transactions a test opened; a test that fails half-way leaves them open, and they would hold up the others. */
    const openTransactions: OpenTransaction[] = [];
    async function openTransaction(): Promise<OpenTransaction> {
      if (subject.openTransaction === undefined) throw new Error(`${name} cannot hold a transaction open`);
      const transaction = await subject.openTransaction();
      openTransactions.push(transaction);
      return transaction;
    }
    afterEach(async () => {
      await Promise.allSettled(openTransactions.splice(0).map((transaction) => transaction.commit()));
    });

    describe('appendToStream with an expected version', () => {
      it('creates a stream with no_stream and numbers its events from 1', async () => {
        const streamId = aStream();
        const result = await store.appendToStream(streamId, [anEvent(), anEvent()], { expectedVersion: 'no_stream' });
        expect(result.nextStreamVersion).toBe(2);
        expect(result.events.map((event) => event.streamVersion)).toEqual([1, 2]);
        expect(BigInt(result.events[1].globalPosition)).toBeGreaterThan(BigInt(result.events[0].globalPosition));
        expect(result.lastGlobalPosition).toBe(result.events[1].globalPosition);
      });

      it('refuses no_stream when the stream exists', async () => {
        const streamId = aStream();
        await store.appendToStream(streamId, [anEvent()], { expectedVersion: 'no_stream' });
        await expect(store.appendToStream(streamId, [anEvent()], { expectedVersion: 'no_stream' })).rejects.toThrow(
          VersionConflictError,
        );
      });

      it('appends at the exact version read and refuses a stale one', async () => {
        const streamId = aStream();
        await store.appendToStream(streamId, [anEvent()], { expectedVersion: 0 });
        await store.appendToStream(streamId, [anEvent()], { expectedVersion: 1 });
        const stale = store.appendToStream(streamId, [anEvent()], { expectedVersion: 1 });
        await expect(stale).rejects.toMatchObject({ name: 'VersionConflictError', streamId, actualVersion: 2 });
        expect(await collect(store.readStream(streamId))).toHaveLength(2);
      });

      it('refuses stream_exists on a missing stream and accepts it on an existing one', async () => {
        const streamId = aStream();
        await expect(store.appendToStream(streamId, [anEvent()], { expectedVersion: 'stream_exists' })).rejects.toThrow(
          VersionConflictError,
        );
        await store.appendToStream(streamId, [anEvent()], { expectedVersion: 'no_stream' });
        const result = await store.appendToStream(streamId, [anEvent()], { expectedVersion: 'stream_exists' });
        expect(result.nextStreamVersion).toBe(2);
      });

      it('appends with any whatever the version', async () => {
        const streamId = aStream();
        await store.appendToStream(streamId, [anEvent()], { expectedVersion: 'any' });
        const result = await store.appendToStream(streamId, [anEvent()], { expectedVersion: 'any' });
        expect(result.nextStreamVersion).toBe(2);
      });

      it('appends with any from many writers at once, every one of them, numbered 1 to 10', async () => {
        const streamId = aStream();
        const events = Array.from({ length: 10 }, () => anEvent());
        const outcomes = await Promise.allSettled(
          events.map((event) => store.appendToStream(streamId, [event], { expectedVersion: 'any' })),
        );
        expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
        const stored = await collect(store.readStream(streamId));
        expect(stored.map((event) => event.streamVersion)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect(new Set(stored.map((event) => event.id))).toEqual(new Set(events.map((event) => event.id)));
      });

      it('appends with any after a writer at an exact version took the version it read', async () => {
        if (subject.openTransaction === undefined) {
          await expectCommitOrder(store);
          return;
        }
        const streamId = aStream();
        await store.appendToStream(streamId, [anEvent()], { expectedVersion: 'no_stream' });
        const exact = await openTransaction();
        await exact.append(streamId, [anEvent()], 1);
        // Reads version 1 and waits on version 2, which the open transaction holds.
        const any = store.appendToStream(streamId, [anEvent()], { expectedVersion: 'any' });
        await exact.waitUntilAnotherWaits();
        await exact.commit();
        expect((await any).nextStreamVersion).toBe(3);
      });

      it('lets exactly one of two concurrent appends at the same version win', async () => {
        const streamId = aStream();
        await store.appendToStream(streamId, [anEvent()], { expectedVersion: 'no_stream' });
        const outcomes = await Promise.allSettled(
          Array.from({ length: 5 }, () => store.appendToStream(streamId, [anEvent()], { expectedVersion: 1 })),
        );
        expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
        for (const outcome of outcomes.filter((o) => o.status === 'rejected')) {
          expect(outcome.reason).toBeInstanceOf(VersionConflictError);
        }
        expect(await collect(store.readStream(streamId))).toHaveLength(2);
      });

      it('appends to many streams at once, each at its own version, with exactly one winner per contested stream', async () => {
        const streams = Array.from({ length: 30 }, () => aStream());
        await Promise.all(streams.map((id) => store.appendToStream(id, [anEvent()], { expectedVersion: 0 })));
        const contested = streams.slice(0, 5);
        const appends = [...streams, ...contested].map((id) =>
          store.appendToStream(id, [anEvent(), anEvent()], { expectedVersion: 1 }),
        );
        const outcomes = await Promise.allSettled(appends);
        expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(streams.length);
        for (const outcome of outcomes.filter((o) => o.status === 'rejected')) {
          expect(outcome.reason).toMatchObject({ name: 'VersionConflictError', expectedVersion: 1 });
          // Undefined when the loser's insert met the winner's uncommitted one (the port allows it).
          expect([3, undefined]).toContain((outcome.reason as VersionConflictError).actualVersion);
        }
        for (const id of streams) {
          const stored = await collect(store.readStream(id));
          expect(stored.map((event) => event.streamVersion)).toEqual([1, 2, 3]);
          const positions = stored.map((event) => BigInt(event.globalPosition));
          expect([...positions].sort((a, b) => (a < b ? -1 : 1))).toEqual(positions);
        }
      });

      it('rejects an invalid expected version or an empty append before touching the store', async () => {
        await expect(store.appendToStream(aStream(), [anEvent()], { expectedVersion: -1 })).rejects.toThrow(RangeError);
        await expect(store.appendToStream(aStream(), [], { expectedVersion: 'any' })).rejects.toThrow(RangeError);
      });
    });

    describe('atomic batches and duplicate ids', () => {
      if (guarantees.eventIds === 'store-wide') {
        it('stores nothing of a batch that fails', async () => {
          const streamId = aStream();
          const first = anEvent();
          await store.appendToStream(streamId, [first], { expectedVersion: 'no_stream' });
          const batch = [anEvent(), anEvent(), { ...anEvent(), id: first.id }];
          const failed = store.appendToStream(streamId, batch, { expectedVersion: 1 });
          await expect(failed).rejects.toThrow(DuplicateEventIdError);
          // Names the id already stored, not every id of the batch.
          await expect(failed).rejects.toMatchObject({ streamId, eventIds: [first.id] });
          const stored = await collect(store.readStream(streamId));
          expect(stored.map((event) => event.id)).toEqual([first.id]);
        });

        it('refuses only the append that repeats a stored id when others are written at the same time', async () => {
          const stored = anEvent();
          await store.appendToStream(aStream(), [stored], { expectedVersion: 0 });
          const others = Array.from({ length: 10 }, () => aStream());
          const repeating = aStream();
          const outcomes = await Promise.allSettled([
            ...others.map((id) => store.appendToStream(id, [anEvent()], { expectedVersion: 0 })),
            store.appendToStream(repeating, [anEvent(), stored], { expectedVersion: 0 }),
          ]);
          expect(outcomes.slice(0, 10).every((outcome) => outcome.status === 'fulfilled')).toBe(true);
          expect(outcomes[10]).toMatchObject({ status: 'rejected', reason: { name: 'DuplicateEventIdError' } });
          expect(await collect(store.readStream(repeating))).toEqual([]);
        });

        it('never stores an event id twice, even in another stream', async () => {
          const event = anEvent();
          await store.appendToStream(aStream(), [event], { expectedVersion: 'no_stream' });
          const otherStream = aStream();
          await expect(store.appendToStream(otherStream, [event], { expectedVersion: 'any' })).rejects.toMatchObject({
            name: 'DuplicateEventIdError',
            eventIds: [event.id],
          });
          expect(await collect(store.readStream(otherStream))).toEqual([]);
        });
      } else {
        it('acknowledges a retried append without storing its events again', async () => {
          const streamId = aStream();
          await store.appendToStream(streamId, [anEvent()], { expectedVersion: 'no_stream' });
          const batch = [anEvent(), anEvent()];
          const first = await store.appendToStream(streamId, batch, { expectedVersion: 1 });
          const retried = await store.appendToStream(streamId, batch, { expectedVersion: 1 });
          expect(retried).toEqual(first);
          expect((await collect(store.readStream(streamId))).map((event) => event.streamVersion)).toEqual([1, 2, 3]);
        });

        it('refuses, as a conflict, a batch that only partly repeats the events after its expected version', async () => {
          const streamId = aStream();
          const [a, b, c] = [anEvent(), anEvent(), anEvent()];
          await store.appendToStream(streamId, [a, b], { expectedVersion: 'no_stream' });
          const partly = store.appendToStream(streamId, [b, c], { expectedVersion: 1 });
          await expect(partly).rejects.toMatchObject({ name: 'VersionConflictError', streamId, actualVersion: 2 });
          expect((await collect(store.readStream(streamId))).map((event) => event.id)).toEqual([a.id, b.id]);
        });

        it('stores an id again in another stream: only the command runner can refuse it there', async () => {
          const event = anEvent();
          await store.appendToStream(aStream(), [event], { expectedVersion: 'no_stream' });
          const otherStream = aStream();
          await store.appendToStream(otherStream, [event], { expectedVersion: 'no_stream' });
          expect((await collect(store.readStream(otherStream))).map((stored) => stored.id)).toEqual([event.id]);
        });
      }

      it('refuses a batch that repeats an id', async () => {
        const event = anEvent();
        await expect(store.appendToStream(aStream(), [event, event], { expectedVersion: 'any' })).rejects.toThrow(
          RangeError,
        );
      });
    });

    describe('readStream', () => {
      it('returns the events as appended, in version order, with data and metadata intact', async () => {
        const streamId = aStream();
        const events = [
          anEvent('A', { n: 1, nested: { list: [1, 2] } }),
          anEvent('B', { n: 2 }),
          anEvent('C', { n: 3 }),
        ];
        const appended = await store.appendToStream(streamId, events, { expectedVersion: 'no_stream' });
        const read = await collect(store.readStream(streamId, { batchSize: 2 }));
        expect(read).toEqual(
          events.map((event, index) =>
            expect.objectContaining({
              ...event,
              streamId,
              streamVersion: index + 1,
              globalPosition: appended.events[index].globalPosition,
            }),
          ),
        );
        expect(new Date(read[0].recordedAt).toISOString()).toBe(read[0].recordedAt);
      });

      it('reads a version range forwards and backwards', async () => {
        const streamId = aStream();
        await store.appendToStream(streamId, [anEvent(), anEvent(), anEvent(), anEvent()], {
          expectedVersion: 'no_stream',
        });
        const middle = await collect(store.readStream(streamId, { fromVersion: 2, toVersion: 3 }));
        expect(middle.map((event) => event.streamVersion)).toEqual([2, 3]);
        const backwards = await collect(store.readStream(streamId, { direction: 'backwards', batchSize: 3 }));
        expect(backwards.map((event) => event.streamVersion)).toEqual([4, 3, 2, 1]);
      });

      it('reads a missing stream as empty', async () => {
        expect(await collect(store.readStream(aStream()))).toEqual([]);
      });
    });

    describe('listStreams', () => {
      it('pages through the streams of a prefix in byte order, each stream once', async () => {
        const prefix = `list-${randomUUID()}-`;
        // Upper case sorts before lower case in bytes, not in most collations; 'é' is two bytes above 'z'.
        const names = ['b', 'B', 'a', 'é', 'z', 'a-1'];
        for (const name of names) {
          await store.appendToStream(prefix + name, [anEvent(), anEvent()], { expectedVersion: 'no_stream' });
        }
        await store.appendToStream(`other-${prefix}x`, [anEvent()], { expectedVersion: 'no_stream' });

        const first = await store.listStreams({ prefix, limit: 4 });
        const rest = await store.listStreams({ prefix, after: first[first.length - 1], limit: 4 });

        expect([...first, ...rest]).toEqual(['B', 'a', 'a-1', 'b', 'z', 'é'].map((name) => prefix + name));
        expect(first).toHaveLength(4);
        expect(await store.listStreams({ prefix, after: rest[rest.length - 1] })).toEqual([]);
      });
    });

    describe('readAll', () => {
      it('returns every event once, in batches, continuing from a checkpoint', async () => {
        const before = await lastPosition(store);
        const streams = [aStream(), aStream(), aStream()];
        const appendedIds: string[] = [];
        for (let round = 0; round < 4; round++) {
          for (const streamId of streams) {
            const events = [anEvent(), anEvent()];
            await store.appendToStream(streamId, events, { expectedVersion: 'any' });
            appendedIds.push(...events.map((event) => event.id));
          }
        }
        const read = await collect(store.readAll({ afterPosition: before, batchSize: 5 }));
        expect(read.map((event) => event.id)).toEqual(appendedIds);
        const middle = read[10].globalPosition;
        const rest = await collect(store.readAll({ afterPosition: middle, batchSize: 7 }));
        expect(rest.map((event) => event.id)).toEqual(appendedIds.slice(11));
      });

      it('refuses to continue from a position that holds no event', async () => {
        await expect(collect(store.readAll({ afterPosition: '999999999999' }))).rejects.toThrow(UnknownPositionError);
      });

      it('never skips an event whose transaction commits after a later-numbered one', async () => {
        if (subject.openTransaction === undefined) {
          await expectCommitOrder(store);
          return;
        }
        const checkpoint = await lastPosition(store);
        const slow = [anEvent('Slow')];
        const held = await openTransaction();
        const slowAppend = await held.append(aStream(), slow);
        const fast = [anEvent('Fast')];
        const fastAppend = await store.appendToStream(aStream(), fast, { expectedVersion: 'no_stream' });
        expect(BigInt(fastAppend.lastGlobalPosition)).toBeGreaterThan(BigInt(slowAppend.lastGlobalPosition));

        // While the slow transaction is open, its event is invisible, and so is every later one:
        // a reader that took the fast event now would checkpoint past the slow one and skip it forever.
        const whileOpen = await collect(store.readAll({ afterPosition: checkpoint }));
        expect(whileOpen.map((event) => event.id)).toEqual([]);

        await held.commit();
        const afterCommit = await collect(store.readAll({ afterPosition: checkpoint }));
        expect(afterCommit.map((event) => event.id)).toEqual([slow[0].id, fast[0].id]);
      });

      it('never skips an event numbered before one that a reader has already read', async () => {
        if (subject.openTransaction === undefined) {
          await expectCommitOrder(store);
          return;
        }
        const checkpoint = await lastPosition(store);
        const x = await openTransaction();
        await x.takeTransactionId();
        const y = await openTransaction();
        const yEvents = [anEvent('Y')];
        const yAppend = await y.append(aStream(), yEvents);
        const xEvents = [anEvent('X')];
        const xAppend = await x.append(aStream(), xEvents);
        expect(BigInt(xAppend.lastGlobalPosition)).toBeGreaterThan(BigInt(yAppend.lastGlobalPosition));
        await x.commit();

        // X's transaction is older than every one still open, so its event is readable
        // although Y holds a lower position.
        const whileYOpen = await collect(store.readAll({ afterPosition: checkpoint }));
        expect(whileYOpen.map((event) => event.id)).toEqual([xEvents[0].id]);
        const readerCheckpoint = whileYOpen[0].globalPosition;

        await y.commit();
        const afterY = await collect(store.readAll({ afterPosition: readerCheckpoint }));
        expect(afterY.map((event) => event.id)).toEqual([yEvents[0].id]);
        expect(await store.hasPassed(readerCheckpoint, yAppend.lastGlobalPosition)).toBe(false);
        expect(await store.countEventsAfter(readerCheckpoint, 10)).toBe(1);
        const fromStart = await collect(store.readAll({ afterPosition: checkpoint }));
        expect(fromStart.map((event) => event.id)).toEqual([xEvents[0].id, yEvents[0].id]);
      });
    });

    describe('positions', () => {
      it('headPosition is the highest position appended so far', async () => {
        const appended = await store.appendToStream(aStream(), [anEvent(), anEvent()], {
          expectedVersion: 'no_stream',
        });
        expect(await store.headPosition()).toBe(appended.lastGlobalPosition);
      });

      it('countEventsAfter counts the events after a checkpoint, at most countMax', async () => {
        const checkpoint = await lastPosition(store);
        await store.appendToStream(aStream(), [anEvent(), anEvent()], { expectedVersion: 'no_stream' });
        const last = await store.appendToStream(aStream(), [anEvent()], { expectedVersion: 'no_stream' });
        expect(await store.countEventsAfter(checkpoint, 10)).toBe(3);
        expect(await store.countEventsAfter(checkpoint, 2)).toBe(2);
        expect(await store.countEventsAfter(undefined, 1)).toBe(1);
        expect(await store.countEventsAfter(last.lastGlobalPosition, 10)).toBe(0);
      });

      it('hasPassed is true up to the checkpoint and false after it', async () => {
        const earlier = await lastPosition(store);
        const checkpoint = await lastPosition(store);
        const later = await lastPosition(store);
        expect(await store.hasPassed(checkpoint, earlier)).toBe(true);
        expect(await store.hasPassed(checkpoint, checkpoint)).toBe(true);
        expect(await store.hasPassed(checkpoint, later)).toBe(false);
      });

      it('hasPassed is false without a checkpoint', async () => {
        expect(await store.hasPassed(undefined, await lastPosition(store))).toBe(false);
      });

      it('hasPassed refuses a position that holds no event', async () => {
        const checkpoint = await lastPosition(store);
        await expect(store.hasPassed(checkpoint, '999999999999')).rejects.toThrow(UnknownPositionError);
      });
    });
  });
}

/** The position of a marker event appended now: the last in the feed. */
async function lastPosition(store: EventStore): Promise<string> {
  const streamId = aStream();
  const appended = await store.appendToStream(streamId, [anEvent('Marker')], { expectedVersion: 'no_stream' });
  return appended.lastGlobalPosition;
}

/**
 * A store with one log writer numbers appends in the order it acknowledges
 * them, and readAll returns them in that order.
 */
async function expectPositionsInAppendOrder(store: EventStore): Promise<void> {
  const checkpoint = await lastPosition(store);
  const first = await store.appendToStream(aStream(), [anEvent()], { expectedVersion: 'no_stream' });
  const second = await store.appendToStream(aStream(), [anEvent()], { expectedVersion: 'no_stream' });
  expect(BigInt(second.lastGlobalPosition)).toBeGreaterThan(BigInt(first.lastGlobalPosition));
  const read = await collect(store.readAll({ afterPosition: checkpoint }));
  expect(read.map((event) => event.globalPosition)).toEqual([first.lastGlobalPosition, second.lastGlobalPosition]);
}

/**
 * A store with one connection cannot commit out of order: a second append
 * waits until the first transaction has committed, so positions follow commits.
 */
async function expectSecondWriterToWait(store: EventStore): Promise<void> {
  const order: string[] = [];
  const first = store
    .appendToStream(aStream(), [anEvent()], { expectedVersion: 'no_stream' })
    .then(() => order.push('first'));
  const second = store
    .appendToStream(aStream(), [anEvent()], { expectedVersion: 'no_stream' })
    .then(() => order.push('second'));
  await Promise.all([first, second]);
  expect(order).toEqual(['first', 'second']);
}
