import type { EventStore } from '@libs/event-store';
import { type FeedBatch, readFeedBatch } from './projection-batch';

/**
 * Lets projections that follow the feed together read each batch once: the
 * first to ask for the events after a position reads them, the others at that
 * position are given the same batch instead of reading and parsing it again.
 *
 * Only a full batch is kept for later: every event up to its last one belongs
 * to a transaction that had ended when it was read (readAll's snapshot bound),
 * so the feed up to there can never change. A short batch may since have grown:
 * one asked for while it was being read is shared, and read again if it came
 * back short, so that no projection sees an older end of the feed than its own
 * read would have.
 */
export class SharedFeedReader {
  private readonly reading = new Map<string, Promise<FeedBatch>>();
  /** Full batches not yet given to every sharer, oldest first (a Map keeps insertion order). */
  private readonly kept = new Map<string, { batch: FeedBatch; givenCount: number }>();

  /**
   * @param sharersCount how many projections read through it: a batch each of them was given is dropped.
   * @param keptBatchesMax how many batches it keeps for projections lagging behind the first, at most.
   */
  constructor(
    private readonly store: EventStore,
    private readonly sharersCount: number,
    private readonly keptBatchesMax: number,
  ) {}

  async read(after: string | undefined, batchSize: number): Promise<FeedBatch> {
    const key = `${after ?? ''}/${batchSize}`;
    const kept = this.kept.get(key);
    if (kept !== undefined) return this.give(key, kept);
    const reading = this.reading.get(key);
    if (reading !== undefined) {
      const batch = await reading;
      if (batch.eventsRead === batchSize) {
        const keptNow = this.kept.get(key);
        if (keptNow !== undefined) this.give(key, keptNow);
        return batch;
      }
    }
    return this.readFromStore(key, after, batchSize);
  }

  private async readFromStore(key: string, after: string | undefined, batchSize: number): Promise<FeedBatch> {
    const reading = readFeedBatch(this.store, after, batchSize);
    this.reading.set(key, reading);
    try {
      const batch = await reading;
      if (batch.eventsRead === batchSize) this.keep(key, batch);
      return batch;
    } finally {
      if (this.reading.get(key) === reading) this.reading.delete(key);
    }
  }

  private keep(key: string, batch: FeedBatch): void {
    if (this.sharersCount < 2) return;
    // The reader took its share; those who joined its read took theirs from the same promise.
    this.kept.set(key, { batch, givenCount: 1 });
    while (this.kept.size > this.keptBatchesMax) this.kept.delete(this.kept.keys().next().value!);
  }

  private give(key: string, kept: { batch: FeedBatch; givenCount: number }): FeedBatch {
    kept.givenCount += 1;
    if (kept.givenCount >= this.sharersCount) this.kept.delete(key);
    return kept.batch;
  }
}
