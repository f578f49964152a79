import { performance } from 'node:perf_hooks';
import {
  CREDITS_STREAM_PREFIX,
  type CreditsState,
  creditsStreamId,
  evolve,
  initialState,
  parseCreditsEvent,
} from '@libs/credits';
import { READ_BATCH_SIZE_MAX } from '@libs/event-store';
import type { LedgerUnderTest } from './ledger-under-test';
import { latencyStats } from './run-concurrent';
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
  const replayed = await replay(ledger, userIds);
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

/**
 * Reads every event of the store's feed in pages of READ_BATCH_SIZE_MAX
 * (one query each, not one per stream) and folds each credits stream with the
 * domain's `evolve` as its events come: the feed keeps each stream's events in
 * version order (evolve checks it). No per-stream latency: like the seed
 * peer's single statement, the replay is one pass.
 */
async function replay(ledger: LedgerUnderTest, userIds: readonly string[]): Promise<Replay> {
  const states = new Map<string, CreditsState>();
  let events = 0;
  const started = performance.now();
  for await (const event of ledger.store.readAll({ batchSize: READ_BATCH_SIZE_MAX })) {
    if (!event.streamId.startsWith(CREDITS_STREAM_PREFIX)) continue;
    states.set(event.streamId, evolve(states.get(event.streamId) ?? initialState(), parseCreditsEvent(event)));
    events++;
  }
  const seconds = (performance.now() - started) / 1000;
  const balances = new Map(userIds.map((userId) => [userId, states.get(creditsStreamId(userId))?.balance ?? 0]));
  return { seconds, events, balances, latenciesMs: [] };
}
