import { performance } from 'node:perf_hooks';
import { type DriveResult, drive, drivenWorkloadResult } from './drive';
import type { LedgerUnderTest } from './ledger-under-test';
import { runConcurrent } from './run-concurrent';
import { benchUserId, spreadSequence } from './seeded-sequence';
import { compareBalances } from './verify-balances';
import { type WorkloadResult, round } from './workload-result';
import type { WorkloadOptions } from './workload-options';

export type SpreadRun = {
  userIds: string[];
  expected: Map<string, number>;
  result: DriveResult;
  setupSeconds: number;
};

/** The W1 body (and the untimed preparation of W3): grants (untimed), then the seeded consumes, timed. */
export async function spread(ledger: LedgerUnderTest, options: WorkloadOptions): Promise<SpreadRun> {
  const userIds = Array.from({ length: options.users }, (_, index) => benchUserId(index));
  const expected = new Map(userIds.map((userId) => [userId, options.grant]));
  const setupStarted = performance.now();
  await runConcurrent(userIds.length, options.concurrency, async (index) => {
    await ledger.grant(userIds[index], options.grant, `grant-${userIds[index]}`);
  });
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  const sequence = spreadSequence(options);
  const result = await drive(
    ledger,
    options.ops,
    options.concurrency,
    (index) => {
      const userId = userIds[sequence[index]];
      const onOk = () => expected.set(userId, expected.get(userId)! - options.amount);
      return { userId, amount: options.amount, reference: `w1-${index}`, onOk };
    },
    options.maxSeconds,
  );
  return { userIds, expected, result, setupSeconds };
}

/** W1 spread, verified as the peers verify it. */
export async function w1Spread(ledger: LedgerUnderTest, options: WorkloadOptions): Promise<WorkloadResult> {
  const { userIds, expected, result, setupSeconds } = await spread(ledger, options);
  const errors: string[] = [];
  if (result.issued !== options.ops) errors.push(`deadline: only ${result.issued}/${options.ops} commands issued`);
  if (result.failed) errors.push(`${result.failed} commands failed (first: ${result.firstError})`);
  const { sumActual } = compareBalances(await ledger.balances(userIds), expected, errors, 'balances');
  const sumBefore = options.users * options.grant;
  if (sumBefore - sumActual !== result.ok * options.amount)
    errors.push(`sum of balances decreased by ${sumBefore - sumActual}, successful consumes ${result.ok}`);
  const ledgerStats = await ledger.ledgerStats();
  if (ledgerStats.consumes !== result.ok)
    errors.push(`ledger has ${ledgerStats.consumes} consume records, expected ${result.ok}`);
  return drivenWorkloadResult(options.ops, result, errors, {
    setup_grant_seconds: round(setupSeconds),
    sum_before: sumBefore,
    sum_after: sumActual,
  });
}
