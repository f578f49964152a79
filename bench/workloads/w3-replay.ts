import { performance } from 'node:perf_hooks';
import { creditsStreamId } from '@libs/credits';
import { foldCreditsStream } from '../../apps/api/src/credits/credits-stream.reader';
import type { LedgerUnderTest } from './ledger-under-test';
import { latencyStats, runConcurrent } from './run-concurrent';
import { compareBalances } from './verify-balances';
import { type WorkloadResult, round } from './workload-result';
import type { WorkloadOptions } from './workload-options';
import { spread } from './w1-spread';

type Replay = { seconds: number; events: number; balances: Map<string, number>; latenciesMs: number[] };

/** W3 replay: after a full W1 (untimed), every user's stream read and folded with `evolve`, timed. */
export async function w3Replay(ledger: LedgerUnderTest, options: WorkloadOptions): Promise<WorkloadResult> {
  const { userIds, expected, result } = await spread(ledger, options);
  const errors: string[] = [];
  if (result.failed || result.issued !== options.ops)
    errors.push(`preparation (w1) incomplete: issued ${result.issued}, failed ${result.failed} (${result.firstError})`);
  const ledgerStats = await ledger.ledgerStats();
  const replayed = await replay(ledger, userIds, options.concurrency);
  compareBalances(replayed.balances, expected, errors, 'replayed balances');
  if (replayed.events !== ledgerStats.events)
    errors.push(`processed ${replayed.events} events, ledger has ${ledgerStats.events}`);
  if (ledgerStats.events !== options.users + result.ok)
    errors.push(`ledger has ${ledgerStats.events} events, expected ${options.users + result.ok}`);
  return {
    ops: replayed.events,
    ok: replayed.balances.size,
    rejected: 0,
    failed: 0,
    retries: 0,
    seconds: replayed.seconds,
    ops_per_s: replayed.events / replayed.seconds,
    ...latencyStats(replayed.latenciesMs),
    errors,
    detail: {
      unit: 'ops = events replayed, ok = users recomputed',
      prep_w1_ops_per_s: round(result.issued / result.seconds, 1),
    },
  };
}

/** Reads each user's stream from the store and folds it, `concurrency` streams in flight. */
async function replay(ledger: LedgerUnderTest, userIds: readonly string[], concurrency: number): Promise<Replay> {
  const balances = new Map<string, number>();
  const latenciesMs: number[] = [];
  let events = 0;
  const started = performance.now();
  await runConcurrent(
    userIds.length,
    concurrency,
    async (index) => {
      const state = await foldCreditsStream(ledger.store, creditsStreamId(userIds[index]));
      events += state.version;
      balances.set(userIds[index], state.balance);
    },
    { latenciesMs },
  );
  return { seconds: (performance.now() - started) / 1000, events, balances, latenciesMs };
}
