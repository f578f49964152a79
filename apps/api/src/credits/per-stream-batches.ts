/** An item of a batch, with the functions that answer its caller. */
export type BatchEntry<Item, Result> = {
  readonly item: Item;
  readonly resolve: (result: Result) => void;
  readonly reject: (error: unknown) => void;
};

type TrackedEntry<Item, Result> = BatchEntry<Item, Result> & { readonly answered: boolean };

/** An entry that knows whether it was answered, so the batch's end rejects only those left unanswered. */
function answeredOnce<Item, Result>(
  item: Item,
  resolve: (result: Result) => void,
  reject: (error: unknown) => void,
): TrackedEntry<Item, Result> {
  const entry = {
    item,
    answered: false,
    resolve: (result: Result) => {
      entry.answered = true;
      resolve(result);
    },
    reject: (error: unknown) => {
      entry.answered = true;
      reject(error);
    },
  };
  return entry;
}

/**
 * Runs the work of one stream one batch at a time within this process: items
 * that arrive for a stream while its batch runs wait, and go together in its
 * next batch (at most `itemsMax`), in the order they came. So commands for a
 * hot user are decided one after another on one state and appended at once,
 * instead of racing into version conflicts. A speed-up only: correctness
 * across processes comes from the store's version check.
 * Holds an entry per stream with work waiting or running, none once it drains.
 */
export class PerStreamBatches<Item, Result> {
  private readonly waiting = new Map<string, Array<TrackedEntry<Item, Result>>>();

  constructor(
    /**
     * Answers the batch's entries, each as soon as its outcome is known (a
     * batch may be written in parts: one part's failure must not fail the
     * parts already stored). An entry still unanswered when it returns, or
     * when it throws, gets the throw.
     */
    private readonly runBatch: (streamId: string, entries: ReadonlyArray<BatchEntry<Item, Result>>) => Promise<void>,
    private readonly itemsMax: number,
  ) {}

  submit(streamId: string, item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      const entry = answeredOnce(item, resolve, reject);
      const queue = this.waiting.get(streamId);
      if (queue !== undefined) {
        queue.push(entry);
        return;
      }
      this.waiting.set(streamId, [entry]);
      void this.drain(streamId);
    });
  }

  get streamsInFlight(): number {
    return this.waiting.size;
  }

  private async drain(streamId: string): Promise<void> {
    const queue = this.waiting.get(streamId)!;
    while (queue.length > 0) {
      const batch = queue.slice(0, this.itemsMax);
      let failure: { error: unknown } | undefined;
      try {
        await this.runBatch(streamId, batch);
      } catch (error) {
        failure = { error };
      }
      const unanswered = batch.filter((entry) => !entry.answered);
      if (unanswered.length > 0) {
        // Made only when needed: an Error captures a stack, a cost every batch paid when it was made up front.
        const error = failure ? failure.error : new Error(`stream ${streamId}: the batch left an item unanswered`);
        unanswered.forEach((entry) => entry.reject(error));
      }
      queue.splice(0, batch.length);
    }
    this.waiting.delete(streamId);
  }
}
