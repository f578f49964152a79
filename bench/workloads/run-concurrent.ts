import { performance } from 'node:perf_hooks';

/**
 * Runs `work(index)` for index in [0, count) with at most `concurrency` calls in
 * flight, as the peers' driver does: each of `concurrency` workers takes the next
 * index when its call ends. Records each call's latency (ms) when `latenciesMs` is
 * given; stops issuing new calls once `deadlineMs` (performance.now()) has passed.
 * Returns how many calls were issued.
 */
export async function runConcurrent(
  count: number,
  concurrency: number,
  work: (index: number) => Promise<void>,
  options: { latenciesMs?: number[]; deadlineMs?: number } = {},
): Promise<number> {
  let next = 0;
  let issued = 0;
  const worker = async () => {
    for (;;) {
      if (options.deadlineMs !== undefined && performance.now() > options.deadlineMs) return;
      const index = next++;
      if (index >= count) return;
      issued++;
      const started = performance.now();
      await work(index);
      options.latenciesMs?.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return issued;
}

/** The peers' percentile: nearest rank, ceil(p/100 * n) - 1, clamped. */
export function percentile(sortedAscending: ArrayLike<number>, percent: number): number | null {
  if (sortedAscending.length === 0) return null;
  const rank = Math.ceil((percent / 100) * sortedAscending.length) - 1;
  return sortedAscending[Math.min(sortedAscending.length - 1, Math.max(0, rank))];
}

/** p50 and p99 in ms to 0.001, null without latencies (as the peers report them). */
export function latencyStats(latenciesMs: readonly number[] | undefined): {
  p50_ms: number | null;
  p99_ms: number | null;
} {
  if (latenciesMs === undefined || latenciesMs.length === 0) return { p50_ms: null, p99_ms: null };
  const sorted = Float64Array.from(latenciesMs).sort();
  const at = (percent: number) => {
    const value = percentile(sorted, percent);
    return value === null ? null : Math.round(value * 1000) / 1000;
  };
  return { p50_ms: at(50), p99_ms: at(99) };
}
