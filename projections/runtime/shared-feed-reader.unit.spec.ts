import type { EventStore, ReadAllOptions, RecordedEvent } from '@libs/event-store';
import { SharedFeedReader } from './shared-feed-reader';

/** A feed of bonuses to one user at positions 1..count, counting the reads that reach the store. */
function feedOf(count: number) {
  const reads: Array<string | undefined> = [];
  const events: RecordedEvent[] = Array.from({ length: count }, (_, index) => ({
    id: `00000000-0000-4000-8000-${String(index + 1).padStart(12, '0')}`,
    type: 'BonusGranted',
    schemaVersion: 1,
    data: { amount: 1, reason: 'welcome' },
    metadata: { idempotencyKey: `bonus-${index + 1}`, payloadFingerprint: 'f', occurredAt: '2025-03-01T09:00:00.000Z' },
    streamId: 'credits-user-1',
    streamVersion: index + 1,
    globalPosition: String(index + 1),
    recordedAt: '2025-03-01T09:00:00.250Z',
  }));
  async function* readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    reads.push(options.afterPosition);
    await Promise.resolve();
    yield* events.slice(Number(options.afterPosition ?? 0));
  }
  return { store: { readAll } as unknown as EventStore, reads };
}

/** A feed that grows by `append`; each read sees the events there when it started. */
function growingFeedOf(initialCount: number) {
  const full = feedOf(100);
  const reads: Array<string | undefined> = [];
  let count = initialCount;
  async function* readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    reads.push(options.afterPosition);
    const seen = count;
    await new Promise((resolve) => setTimeout(resolve, 5));
    let index = 0;
    for await (const event of full.store.readAll(options)) if (index++ < seen) yield event;
  }
  return { store: { readAll } as unknown as EventStore, reads, append: (added: number) => (count += added) };
}

describe('SharedFeedReader', () => {
  describe('when three projections read the same full batches', () => {
    it('reads each batch from the store once, the next one ahead, and gives every projection the same events', async () => {
      const { store, reads } = feedOf(25);
      const reader = new SharedFeedReader(store, 3, 4);

      const first = await Promise.all([1, 2, 3].map(() => reader.read(undefined, 10)));
      const second = await Promise.all([1, 2, 3].map(() => reader.read('10', 10)));

      expect(first.map((batch) => batch.lastPosition)).toEqual(['10', '10', '10']);
      expect(second.map((batch) => batch.events.map((event) => event.streamVersion))).toEqual(
        Array(3).fill([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]),
      );
      // The first batch read once (the others joined that read); the second came from the one read ahead.
      expect(reads.filter((after) => after === undefined)).toHaveLength(1);
      expect(reads.filter((after) => after === '10')).toHaveLength(1);
    });

    it('keeps a full batch for a projection behind the others', async () => {
      const { store, reads } = feedOf(40);
      const reader = new SharedFeedReader(store, 2, 4);

      await reader.read(undefined, 10);
      await reader.read('10', 10);
      await reader.read('20', 10);
      const readsByTheFirst = reads.length;
      const behind = await reader.read(undefined, 10);

      expect(behind.lastPosition).toBe('10');
      expect(reads).toHaveLength(readsByTheFirst);
    });
  });

  describe('when a projection runs ahead of the window of kept batches (a catch-up, one projection slower)', () => {
    it('waits for the one behind to take the oldest batch, so that the store sends every batch once', async () => {
      const { store, reads } = feedOf(60);
      const reader = new SharedFeedReader(store, 2, 2, 10_000);
      await reader.read(undefined, 10);
      await reader.read('10', 10);
      // Two batches kept for the one behind (from 0 and from 10): the window is full.
      let fastGot: string | undefined;
      const fast = reader
        .read('20', 10)
        .then(() => reader.read('30', 10).then((batch) => (fastGot = batch.lastPosition)));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(fastGot).toBeUndefined();

      for (const after of [undefined, '10', '20', '30']) await reader.read(after, 10);
      await fast;

      expect(fastGot).toBe('40');
      for (const after of [undefined, '10', '20', '30']) expect(reads.filter((read) => read === after)).toHaveLength(1);
    });

    it('never waits on account of projections that take no batch (locked elsewhere, or stopped)', async () => {
      const { store, reads } = feedOf(80);
      const reader = new SharedFeedReader(store, 3, 2, 60_000);
      reader.setSharersCount(2);

      // Two projections in step; the third never reads. Waiting for it would time the test out.
      let after: string | undefined;
      for (let index = 0; index < 6; index++) {
        const [first] = await Promise.all([reader.read(after, 10), reader.read(after, 10)]);
        after = first.lastPosition;
      }

      expect(after).toBe('60');
      expect(new Set(reads).size).toBe(reads.length);
    });

    it('does not wait for a projection that stopped taking batches: past the wait, it reads alone', async () => {
      const { store } = feedOf(60);
      const reader = new SharedFeedReader(store, 2, 2, 30);
      await reader.read(undefined, 10);
      await reader.read('10', 10);

      // Waiting for good would time the test out.
      const batch = await reader.read('30', 10);

      expect(batch.lastPosition).toBe('40');
    });
  });

  describe('when a projection joins a read that comes back short', () => {
    it('reads again, and so sees an event appended after the read it joined had started', async () => {
      const { store, reads, append } = growingFeedOf(3);
      const reader = new SharedFeedReader(store, 2, 4);

      const first = reader.read(undefined, 10);
      await new Promise((resolve) => setImmediate(resolve));
      append(2);
      const second = await reader.read(undefined, 10);

      expect((await first).eventsRead).toBe(3);
      expect(second.eventsRead).toBe(5);
      expect(reads).toEqual([undefined, undefined]);
    });
  });

  describe('when the batch read ahead comes back short (the end of the feed)', () => {
    it('is not given: each projection reads the end of the feed itself', async () => {
      const { store, reads } = feedOf(15);
      const reader = new SharedFeedReader(store, 2, 4);

      await reader.read(undefined, 10);
      const ends = await Promise.all([reader.read('10', 10), reader.read('10', 10)]);

      expect(ends.map((batch) => batch.eventsRead)).toEqual([5, 5]);
      // The read ahead, then one read of each projection.
      expect(reads.filter((after) => after === '10')).toHaveLength(3);
    });
  });
});
