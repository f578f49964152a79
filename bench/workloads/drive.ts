import { performance } from 'node:perf_hooks';
import type { LedgerUnderTest } from './ledger-under-test';
import { latencyStats, runConcurrent } from './run-concurrent';
import type { WorkloadResult } from './workload-result';

export type ConsumeOrder = { userId: string; amount: number; reference: string; onOk?: () => void };

export type DriveResult = {
  ok: number;
  rejected: number;
  failed: number;
  firstError: string | null;
  issued: number;
  seconds: number;
  latenciesMs: number[];
  retries: number;
};

/** Issues `count` consumes with bounded concurrency, counting outcomes as the peers' `drive` does. */
export async function drive(
  ledger: LedgerUnderTest,
  count: number,
  concurrency: number,
  order: (index: number) => ConsumeOrder,
  maxSeconds: number,
): Promise<DriveResult> {
  const latenciesMs: number[] = [];
  const counts = { ok: 0, rejected: 0, failed: 0, firstError: null as string | null };
  const retriesBefore = await ledger.retries();
  const started = performance.now();
  const issued = await runConcurrent(
    count,
    concurrency,
    async (index) => {
      const { userId, amount, reference, onOk } = order(index);
      try {
        if ((await ledger.consume(userId, amount, reference)) === 'ok') {
          counts.ok++;
          onOk?.();
        } else counts.rejected++;
      } catch (error) {
        counts.failed++;
        counts.firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
    },
    { latenciesMs, deadlineMs: started + maxSeconds * 1000 },
  );
  const seconds = (performance.now() - started) / 1000;
  return { ...counts, issued, seconds, latenciesMs, retries: (await ledger.retries()) - retriesBefore };
}

/** A driven workload's figures in the peers' shape; `ops` is what was asked, `ops_per_s` counts what was issued. */
export function drivenWorkloadResult(
  ops: number,
  result: DriveResult,
  errors: string[],
  detail: Record<string, unknown>,
): WorkloadResult {
  return {
    ops,
    ok: result.ok,
    rejected: result.rejected,
    failed: result.failed,
    retries: result.retries,
    seconds: result.seconds,
    ops_per_s: result.issued / result.seconds,
    ...latencyStats(result.latenciesMs),
    errors,
    detail,
  };
}
