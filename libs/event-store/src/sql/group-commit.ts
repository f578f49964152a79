import type { AppendResult } from '../event-store.port';
import type { StreamAppend } from './append-batch';

type Pending = { append: StreamAppend; resolve: (result: AppendResult) => void; reject: (error: unknown) => void };

/** Writes of one batch; each is settled by the flush function. */
export type BatchOfAppends = ReadonlyArray<Pending>;

/**
 * Group commit: appends that arrive while `flushesMax` batches are being
 * written wait and go together in the next batch, so under load many appends
 * share one statement and one commit, and a lone append goes at once. A batch
 * holds at most one append per stream (a second one waits for the next batch)
 * and at most `eventsMax` events.
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private flushesInFlight = 0;

  constructor(
    private readonly flush: (batch: BatchOfAppends) => Promise<void>,
    private readonly limits: { flushesMax: number; eventsMax: number },
  ) {}

  append(append: StreamAppend): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      this.pending.push({ append, resolve, reject });
      this.flushWhileAllowed();
    });
  }

  private flushWhileAllowed(): void {
    while (this.flushesInFlight < this.limits.flushesMax && this.pending.length > 0) {
      const batch = this.takeBatch();
      this.flushesInFlight++;
      this.flush(batch)
        .catch((error: unknown) => batch.forEach((write) => write.reject(error)))
        .finally(() => {
          this.flushesInFlight--;
          this.flushWhileAllowed();
        });
    }
  }

  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    const streams = new Set<string>();
    const waiting: Pending[] = [];
    let events = 0;
    for (const write of this.pending) {
      const fits = events === 0 || events + write.append.events.length <= this.limits.eventsMax;
      if (fits && !streams.has(write.append.streamId)) {
        batch.push(write);
        streams.add(write.append.streamId);
        events += write.append.events.length;
      } else {
        waiting.push(write);
      }
    }
    this.pending = waiting;
    return batch;
  }
}
