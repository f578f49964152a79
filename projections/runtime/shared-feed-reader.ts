import { performance } from 'node:perf_hooks';
import type { EventStore } from '@libs/event-store';
import { type FeedBatch, readFeedBatch } from './projection-batch';

type KeptBatch = { batch: FeedBatch; givenCount: number };

/**
 * How long a projection about to read past a full window waits for the
 * projections behind, at most, counted from the last time one of them took
 * the oldest kept batch (or the window started): past it, the one behind is
 * taken to be stuck, and the others go on alone.
 */
export const ROOM_WAIT_MAX_MS = 500;

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
 *
 * In a catch-up the slowest projection sets the pace: one that ran past the
 * window of kept batches would make the store send each batch again for the
 * one behind (every batch twice, measured). So a projection about to read
 * past a full window first waits, briefly, for the one behind to take the
 * oldest batch (ROOM_WAIT_MAX_MS).
 */
export class SharedFeedReader {
  private readonly reading = new Map<string, Promise<FeedBatch>>();
  /** Full batches not yet given to every sharer, oldest first (a Map keeps insertion order). */
  private readonly kept = new Map<string, KeptBatch>();
  /** The batch after the newest in feed order of those kept: what the projection furthest ahead reads next. */
  private keyAfterWindow: string | undefined;
  /** When a batch last left the window, all its takers served, or the window started. */
  private roomMadeAt = 0;
  /** Projections waiting for room in the window: called when a batch leaves it. */
  private readonly roomWaiters = new Set<() => void>();

  /**
   * @param sharersCount how many projections read through it: a batch each of them was given is dropped.
   * @param keptBatchesMax how many batches it keeps for projections behind the first (and read ahead), at most.
   * @param roomWaitMaxMs see ROOM_WAIT_MAX_MS.
   */
  constructor(
    private readonly store: EventStore,
    private sharersCount: number,
    private readonly keptBatchesMax: number,
    private readonly roomWaitMaxMs = ROOM_WAIT_MAX_MS,
  ) {}

  /**
   * How many projections read through it now: one whose lock another
   * process holds, or that stopped, takes no batch, and none is kept or waited
   * for on its account.
   */
  setSharersCount(sharersCount: number): void {
    if (sharersCount === this.sharersCount) return;
    this.sharersCount = sharersCount;
    for (const [key, kept] of this.kept) if (kept.givenCount >= sharersCount) this.kept.delete(key);
    this.madeRoom();
  }

  async read(after: string | undefined, batchSize: number): Promise<FeedBatch> {
    await this.roomFor(keyOf(after, batchSize));
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
    const batch = joined?.eventsRead === batchSize ? joined : await this.readFromStore(after, batchSize);
    const keptNow = this.kept.get(key);
    return keptNow === undefined ? batch : this.give(key, keptNow);
  }

  /** Reads the batch after a full one while the projections apply it, when there is room to keep it. */
  private readAhead(after: string, batchSize: number): void {
    const key = keyOf(after, batchSize);
    if (this.kept.has(key) || this.reading.has(key) || this.kept.size >= this.keptBatchesMax) return;
    // Its failure is seen by the projection asking for it next, which then reads it again.
    this.readFromStore(after, batchSize).catch(() => undefined);
  }

  /**
   * Reads a batch from the store; keeps it for the sharers if it is full.
   * Any read in flight is joined, a read ahead or a projection's own: in a
   * catch-up, projections ask for the same batch at nearly the same time, and
   * each reading it alone made the store send every batch about twice. A
   * joined read that comes back short is read again (see `shared`).
   */
  private async readFromStore(after: string | undefined, batchSize: number): Promise<FeedBatch> {
    const key = keyOf(after, batchSize);
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

  /**
   * For the projection furthest ahead, about to read the batch after the
   * window: returns once the window has room, or none was made for
   * ROOM_WAIT_MAX_MS. A projection asking for any other batch (kept,
   * being read, or behind the window) never waits: it may be the one the
   * others wait for.
   */
  private async roomFor(key: string): Promise<void> {
    while (this.kept.size >= this.keptBatchesMax && key === this.keyAfterWindow && !this.reading.has(key)) {
      const waitMs = this.roomMadeAt + this.roomWaitMaxMs - performance.now();
      if (waitMs <= 0) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.roomWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, waitMs);
        this.roomWaiters.add(wake);
      });
    }
  }

  private keep(key: string, batch: FeedBatch): void {
    // A batch read again behind the window (evicted before the last projection took it) does not move its front.
    if (this.kept.size === 0 || key === this.keyAfterWindow)
      this.keyAfterWindow = keyOf(batch.lastPosition, batch.eventsRead);
    if (this.kept.size === 0) this.roomMadeAt = performance.now();
    this.kept.set(key, { batch, givenCount: 0 });
    while (this.kept.size > this.keptBatchesMax) this.kept.delete(this.kept.keys().next().value!);
  }

  private give(key: string, kept: KeptBatch): FeedBatch {
    kept.givenCount += 1;
    if (kept.givenCount >= this.sharersCount) {
      this.kept.delete(key);
      this.madeRoom();
    }
    return kept.batch;
  }

  private madeRoom(): void {
    this.roomMadeAt = performance.now();
    for (const wake of [...this.roomWaiters]) wake();
  }
}

function keyOf(after: string | undefined, batchSize: number): string {
  return `${after ?? ''}/${batchSize}`;
}
