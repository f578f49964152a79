import type { CreditsState } from '@libs/credits';

/** Limits of the cache: the least recently used stream is dropped beyond either. */
export type CreditsStateCacheLimits = {
  /** Streams kept. */
  streamsMax: number;
  /**
   * Outcomes (one per event: what a state grows with) kept over all streams:
   * a few hundred bytes each (an idempotency key, a fingerprint, an event id,
   * a position), so 200,000 hold on the order of 100 MB whatever the streams'
   * lengths. A stream longer than this alone is not kept: each command reads it.
   */
  outcomesMax: number;
};

export const STATE_CACHE_LIMITS: CreditsStateCacheLimits = { streamsMax: 10_000, outcomesMax: 200_000 };

/**
 * Folded states of recently used streams, so a command reads only the events
 * after the cached version. Never wrong, only behind: events are immutable, so
 * a cached state is exact at its version, and a state behind the store is
 * caught by the append's version check. Entries are owned by the per-stream
 * batches: only work running in `PerStreamBatches` for a stream may read or
 * replace its entry (so that two writers of one stream do not race to replace it).
 */
export class CreditsStateCache {
  /** A Map iterates in insertion order: the first entry is the least recently used. */
  private readonly entries = new Map<string, { state: CreditsState; outcomes: number }>();
  private outcomesHeld = 0;

  constructor(private readonly limits: CreditsStateCacheLimits = STATE_CACHE_LIMITS) {}

  get(streamId: string): CreditsState | undefined {
    const entry = this.entries.get(streamId);
    if (entry === undefined) return undefined;
    this.entries.delete(streamId);
    this.entries.set(streamId, entry);
    return entry.state;
  }

  /** The cached state, its place in the order of use unchanged: for readers outside the stream's batches. */
  peek(streamId: string): CreditsState | undefined {
    return this.entries.get(streamId)?.state;
  }

  set(streamId: string, state: CreditsState): void {
    this.delete(streamId);
    const outcomes = state.outcomes.size;
    this.entries.set(streamId, { state, outcomes });
    this.outcomesHeld += outcomes;
    while (this.entries.size > this.limits.streamsMax || this.outcomesHeld > this.limits.outcomesMax) {
      this.delete(this.entries.keys().next().value as string);
    }
  }

  delete(streamId: string): void {
    const entry = this.entries.get(streamId);
    if (entry === undefined) return;
    this.entries.delete(streamId);
    this.outcomesHeld -= entry.outcomes;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Outcomes held over all cached streams: the measure of its memory. */
  get outcomes(): number {
    return this.outcomesHeld;
  }
}
