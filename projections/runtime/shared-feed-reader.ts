import type { EventStore } from '@libs/event-store';
import { type FeedBatch, readFeedBatch } from './projection-batch';

type KeptBatch = { batch: FeedBatch; givenCount: number };

/**
 * Lets projections that follow the feed together read each batch once. After
 * a full batch it reads the next one ahead, while the projections apply this
 * one; each projection reaching that position takes it from that read, and the
 * full batches read are kept for projections further behind.
 *
 * Only full batches are shared: every event up to the last one belongs to a
 * transaction that had ended when it was read (readAll's snapshot bound), so
 * the feed up to there can never change. A short batch may since have grown: a
 * read ahead that comes back short is not given, the projection reads for
 * itself, and sees no older end of the feed than its own read would have.
 */
export class SharedFeedReader {
  private readonly reading = new Map<string, Promise<FeedBatch>>();
  /** Full batches not yet given to every sharer, oldest first (a Map keeps insertion order). */
  private readonly kept = new Map<string, KeptBatch>();

  /**
   * @param sharersCount how many projections read through it: a batch each of them was given is dropped.
   * @param keptBatchesMax how many batches it keeps for projections behind the first (and read ahead), at most.
   */
  constructor(
    private readonly store: EventStore,
    private readonly sharersCount: number,
    private readonly keptBatchesMax: number,
  ) {}

  async read(after: string | undefined, batchSize: number): Promise<FeedBatch> {
    const batch = await this.shared(after, batchSize);
    if (batch.eventsRead === batchSize) this.readAhead(batch.lastPosition!, batchSize);
    return batch;
  }

  private async shared(after: string | undefined, batchSize: number): Promise<FeedBatch> {
    const key = keyOf(after, batchSize);
    const kept = this.kept.get(key);
    if (kept !== undefined) return this.give(key, kept);
    const reading = this.reading.get(key);
    // A failed read, or one that came back short, is read again: it may have grown since.
    const joined = reading === undefined ? undefined : await reading.catch(() => undefined);
    const batch = joined?.eventsRead === batchSize ? joined : await this.readFromStore(after, batchSize, false);
    const keptNow = this.kept.get(key);
    return keptNow === undefined ? batch : this.give(key, keptNow);
  }

  /** Reads the batch after a full one while the projections apply it, when there is room to keep it. */
  private readAhead(after: string, batchSize: number): void {
    const key = keyOf(after, batchSize);
    if (this.kept.has(key) || this.reading.has(key) || this.kept.size >= this.keptBatchesMax) return;
    // Its failure is seen by the projection asking for it next, which then reads it again.
    this.readFromStore(after, batchSize, true).catch(() => undefined);
  }

  /**
   * Reads a batch from the store; keeps it for the sharers if it is full.
   * Only a read ahead is joined while in flight: it follows a full batch, so it
   * is most likely full too; a projection's own read, when the feed is nearly
   * caught up, is most likely short, and one joining it would then wait for
   * two reads instead of one.
   */
  private async readFromStore(after: string | undefined, batchSize: number, joinable: boolean): Promise<FeedBatch> {
    const key = keyOf(after, batchSize);
    const reading = readFeedBatch(this.store, after, batchSize);
    if (joinable) this.reading.set(key, reading);
    try {
      const batch = await reading;
      if (batch.eventsRead === batchSize) this.keep(key, batch);
      return batch;
    } finally {
      if (this.reading.get(key) === reading) this.reading.delete(key);
    }
  }

  private keep(key: string, batch: FeedBatch): void {
    this.kept.set(key, { batch, givenCount: 0 });
    while (this.kept.size > this.keptBatchesMax) this.kept.delete(this.kept.keys().next().value!);
  }

  private give(key: string, kept: KeptBatch): FeedBatch {
    kept.givenCount += 1;
    if (kept.givenCount >= this.sharersCount) this.kept.delete(key);
    return kept.batch;
  }
}

function keyOf(after: string | undefined, batchSize: number): string {
  return `${after ?? ''}/${batchSize}`;
}
