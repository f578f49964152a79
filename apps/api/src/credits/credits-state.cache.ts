import type { CreditsState } from '@libs/credits';

/** Streams whose folded state is kept; the least recently used is dropped beyond this. */
export const STATE_CACHE_STREAMS_MAX = 10_000;

/**
 * Folded states of recently used streams, so a command reads only the events
 * after the cached version. Never wrong, only behind: events are immutable, so
 * a cached state is exact at its version, and the runner always reads the tail
 * from the store. Entries are owned by the per-stream queue: only work running
 * in `PerStreamBatches` for a stream may read or replace its entry (folding
 * extends a state's outcome map in place).
 */
export class CreditsStateCache {
  private readonly states = new Map<string, CreditsState>();

  constructor(private readonly streamsMax = STATE_CACHE_STREAMS_MAX) {}

  get(streamId: string): CreditsState | undefined {
    const state = this.states.get(streamId);
    if (state !== undefined) this.touch(streamId, state);
    return state;
  }

  set(streamId: string, state: CreditsState): void {
    this.touch(streamId, state);
    if (this.states.size > this.streamsMax) {
      const leastRecent = this.states.keys().next().value as string;
      this.states.delete(leastRecent);
    }
  }

  delete(streamId: string): void {
    this.states.delete(streamId);
  }

  get size(): number {
    return this.states.size;
  }

  /** A Map iterates in insertion order: re-inserting makes the entry the most recent. */
  private touch(streamId: string, state: CreditsState): void {
    this.states.delete(streamId);
    this.states.set(streamId, state);
  }
}
