/**
 * Runs the work for one stream one at a time within this process, so commands
 * for a hot user queue up instead of racing into version conflicts. A speed-up
 * only: correctness across processes comes from the store's version check.
 * Holds an entry per stream with work in flight, none once it drains.
 */
export class PerStreamQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(streamId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(streamId) ?? Promise.resolve();
    const result = previous.then(work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(streamId, tail);
    void tail.then(() => {
      if (this.tails.get(streamId) === tail) this.tails.delete(streamId);
    });
    return result;
  }

  get streamsInFlight(): number {
    return this.tails.size;
  }
}
