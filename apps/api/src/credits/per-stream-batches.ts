type Waiting<Item, Result> = { item: Item; resolve: (result: Result) => void; reject: (error: unknown) => void };

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
  private readonly waiting = new Map<string, Array<Waiting<Item, Result>>>();

  constructor(
    /** Answers every item of the batch, in order; a throw fails them all. */
    private readonly runBatch: (streamId: string, items: readonly Item[]) => Promise<Result[]>,
    private readonly itemsMax: number,
  ) {}

  submit(streamId: string, item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      const queue = this.waiting.get(streamId);
      if (queue !== undefined) {
        queue.push({ item, resolve, reject });
        return;
      }
      this.waiting.set(streamId, [{ item, resolve, reject }]);
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
      try {
        const results = await this.runBatch(
          streamId,
          batch.map((waiting) => waiting.item),
        );
        batch.forEach((waiting, index) => waiting.resolve(results[index]));
      } catch (error) {
        batch.forEach((waiting) => waiting.reject(error));
      }
      queue.splice(0, batch.length);
    }
    this.waiting.delete(streamId);
  }
}
