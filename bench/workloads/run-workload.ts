import { LedgerUnderTest } from './ledger-under-test';
import { openFreshStore } from './fresh-store';
import { w1Spread } from './w1-spread';
import { w2Hot } from './w2-hot';
import { w3Replay } from './w3-replay';
import { WORKLOAD_HELP, type WorkloadOptions, parseWorkloadOptions } from './workload-options';
import type { WorkloadResult } from './workload-result';
import { formatReadable, toPeerRecord } from '../peer-format';

export const WORKLOADS: Record<string, (ledger: LedgerUnderTest, options: WorkloadOptions) => Promise<WorkloadResult>> =
  {
    w1: w1Spread,
    w2: w2Hot,
    w3: w3Replay,
  };

/**
 * `npm run bench -- w1|w2|w3 [--json] [flags]`: one workload of
 * the peers folder (`--peers DIR`) on a fresh store, printed in the peers' format.
 * Exit code 0 verified, 1 not, 2 bad usage (as the peers' run.mjs).
 */
export async function runWorkload(workload: string, argv: readonly string[]): Promise<number> {
  let options: WorkloadOptions;
  try {
    options = parseWorkloadOptions(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${WORKLOAD_HELP}`);
    return 2;
  }
  const fresh = await openFreshStore(options.store, workload, options.pool);
  const ledger = new LedgerUnderTest(fresh.store, options);
  let result: WorkloadResult;
  const peakRss = samplePeakRss();
  try {
    result = await WORKLOADS[workload](ledger, options);
    result = { ...result, detail: { ...result.detail, peak_rss_mib: peakRss.stop() } };
  } finally {
    peakRss.stop();
    await fresh.closeAndDrop();
  }
  const record = toPeerRecord(workload, result, configOf(ledger, options), new Date());
  process.stdout.write(`${options.json ? JSON.stringify(record) : formatReadable(record)}\n`);
  return record.verified ? 0 : 1;
}

function configOf(ledger: LedgerUnderTest, options: WorkloadOptions): Record<string, unknown> {
  return {
    ...ledger.info(),
    users: options.users,
    grant: options.grant,
    w1_ops: options.ops,
    concurrency: options.concurrency,
    hot_grant: options.hotGrant,
    hot_ops: options.hotOps,
    hot_concurrency: options.hotConcurrency,
    amount: options.amount,
    seed: options.seed,
    node: process.version,
  };
}

/** The process's resident memory, sampled every 50 ms: its peak in MiB (setup included). */
function samplePeakRss(): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.round(Math.max(peak, process.memoryUsage.rss()) / 2 ** 20);
    },
  };
}
