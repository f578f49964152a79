import { performance } from 'node:perf_hooks';
import type { EventStore } from '@libs/event-store';

export type StoreTimes = { appends: number; appendMs: number; streamReads: number; streamReadMs: number };

/**
 * Times the command path's calls on the app's event store instance, in place:
 * `appendToStream` from call to settlement, `readStream` from call to the end
 * of its iteration (a pool wait included in both). Durations of concurrent
 * calls add up, as the latencies of concurrent requests do, so their ratio is
 * the share of the requests' time spent waiting on the store (exact when no
 * two requests share an append; the runner batches a user's concurrent
 * commands into one). `restore` puts the methods back and returns the sums.
 */
export function timeStoreCalls(store: EventStore): { restore(): StoreTimes } {
  const times: StoreTimes = { appends: 0, appendMs: 0, streamReads: 0, streamReadMs: 0 };
  const appendToStream = store.appendToStream;
  const readStream = store.readStream;
  store.appendToStream = async (...args) => {
    const started = performance.now();
    try {
      return await appendToStream.apply(store, args);
    } finally {
      times.appends++;
      times.appendMs += performance.now() - started;
    }
  };
  store.readStream = async function* (...args) {
    const started = performance.now();
    try {
      yield* readStream.apply(store, args);
    } finally {
      times.streamReads++;
      times.streamReadMs += performance.now() - started;
    }
  };
  return {
    restore() {
      store.appendToStream = appendToStream;
      store.readStream = readStream;
      return { ...times };
    },
  };
}
