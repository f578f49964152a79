/**
 * `npm run bench -- holds [--json]`: W1 and W2 where each consume is a hold of its credits followed by the capture
 * of all of them, beside the same workloads with plain consumptions, alternating, on PostgreSQL (DATABASE_URL, or
 * the local server) unless `--store pglite`. Every run is verified as the workloads verify it: every hold ends
 * (it is captured), the balances are exact, W2 records exactly what the credits cover. Prints commands per second
 * (a hold and its capture count as one consume) and the cost of a hold-and-capture in consumes: the aim is at most
 * two. `BENCH_REPS` repetitions (default 3); the medians are reported.
 */
import { LedgerUnderTest, type ConsumeAs } from './workloads/ledger-under-test';
import { openFreshStore } from './workloads/fresh-store';
import { w1Spread } from './workloads/w1-spread';
import { w2Hot } from './workloads/w2-hot';
import { parseWorkloadOptions } from './workloads/workload-options';
import type { WorkloadResult } from './workloads/workload-result';

const REPS = Number(process.env.BENCH_REPS ?? 3);
const WORKLOADS = { w1: w1Spread, w2: w2Hot } as const;
const MODES: readonly ConsumeAs[] = ['consumption', 'hold-and-capture'];

type Run = { workload: keyof typeof WORKLOADS; consumeAs: ConsumeAs; result: WorkloadResult };

export async function holdsBench(argv: readonly string[] = []): Promise<boolean> {
  const options = parseWorkloadOptions(argv.filter((arg) => arg !== '--json'));
  const runs: Run[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    for (const workload of Object.keys(WORKLOADS) as Array<keyof typeof WORKLOADS>) {
      // Each repetition runs the pair back to back, the first one alternating: a drift of the machine's speed
      // falls on both modes alike.
      for (const consumeAs of rep % 2 === 0 ? MODES : [...MODES].reverse()) {
        const fresh = await openFreshStore(options.store, `holds_${workload}`, options.pool);
        try {
          const result = await WORKLOADS[workload](new LedgerUnderTest(fresh.store, options, consumeAs), options);
          runs.push({ workload, consumeAs, result });
        } finally {
          await fresh.closeAndDrop();
        }
      }
    }
  }
  const summary = (Object.keys(WORKLOADS) as Array<keyof typeof WORKLOADS>).map((workload) => {
    const median = (consumeAs: ConsumeAs, pick: (result: WorkloadResult) => number) =>
      medianOf(
        runs.filter((run) => run.workload === workload && run.consumeAs === consumeAs).map((run) => pick(run.result)),
      );
    const consumes = Math.round(median('consumption', (result) => result.ops_per_s));
    const holds = Math.round(median('hold-and-capture', (result) => result.ops_per_s));
    const pairs = runs.filter((run) => run.workload === workload);
    const costs = Array.from({ length: REPS }, (_, rep) => {
      const [consumed, held] = MODES.map((mode) => pairs.filter((run) => run.consumeAs === mode)[rep].result.ops_per_s);
      return Math.round((consumed / held) * 100) / 100;
    });
    return {
      workload,
      'consumes/s': consumes,
      'holds+captures/s': holds,
      'p99 ms (consume)': median('consumption', (result) => result.p99_ms ?? NaN),
      'p99 ms (hold+capture)': median('hold-and-capture', (result) => result.p99_ms ?? NaN),
      'cost in consumes': Math.round((consumes / holds) * 100) / 100,
      'cost, median of pairs': medianOf(costs),
      'cost per pair': costs.join(' '),
    };
  });
  const verified = runs.every((run) => run.result.errors.length === 0);
  if (argv.includes('--json')) process.stdout.write(`${JSON.stringify({ reps: REPS, summary, verified })}\n`);
  else {
    console.table(summary);
    for (const run of runs.filter((candidate) => candidate.result.errors.length > 0)) {
      console.error(`${run.workload} ${run.consumeAs} not verified: ${run.result.errors.join('; ')}`);
    }
    console.log(
      `${REPS} repetitions, medians (cost: of the medians, and the median of each repetition's pair); ` +
        `every run verified: ${verified}; aim: a hold-and-capture costs at most 2 consumes`,
    );
  }
  return verified;
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : Math.round(((sorted[middle - 1] + sorted[middle]) / 2) * 10) / 10;
}
