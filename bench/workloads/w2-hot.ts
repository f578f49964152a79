import { performance } from 'node:perf_hooks';
import { drive, drivenWorkloadResult } from './drive';
import type { LedgerUnderTest } from './ledger-under-test';
import { type WorkloadResult, round } from './workload-result';
import type { WorkloadOptions } from './workload-options';

const HOT_USER = 'hot';

/** W2 hot: one user, more attempts than credits; exactly the credits succeed, the rest are refused. */
export async function w2Hot(ledger: LedgerUnderTest, options: WorkloadOptions): Promise<WorkloadResult> {
  const setupStarted = performance.now();
  await ledger.grant(HOT_USER, options.hotGrant, `grant-${HOT_USER}`);
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  const result = await drive(
    ledger,
    options.hotOps,
    options.hotConcurrency,
    (index) => ({ userId: HOT_USER, amount: options.amount, reference: `w2-${index}` }),
    options.maxSeconds,
  );
  const errors: string[] = [];
  const expectOk = Math.min(options.hotOps, Math.floor(options.hotGrant / options.amount));
  if (result.issued !== options.hotOps)
    errors.push(`deadline: only ${result.issued}/${options.hotOps} attempts issued`);
  if (result.failed) errors.push(`${result.failed} attempts failed (first: ${result.firstError})`);
  if (result.ok !== expectOk) errors.push(`ok ${result.ok} != expected ${expectOk}`);
  if (result.rejected !== options.hotOps - expectOk)
    errors.push(`rejected ${result.rejected} != expected ${options.hotOps - expectOk}`);
  const finalBalance = (await ledger.balances([HOT_USER])).get(HOT_USER);
  errors.push(...finalBalanceErrors(finalBalance, options, result.ok, expectOk));
  const ledgerStats = await ledger.ledgerStats();
  if (ledgerStats.consumes !== result.ok)
    errors.push(`ledger has ${ledgerStats.consumes} consume records, expected ${result.ok}`);
  return drivenWorkloadResult(options.hotOps, result, errors, {
    setup_grant_seconds: round(setupSeconds),
    final_balance: finalBalance ?? null,
  });
}

function finalBalanceErrors(
  finalBalance: number | undefined,
  options: WorkloadOptions,
  ok: number,
  expectOk: number,
): string[] {
  const errors: string[] = [];
  const expectFinal = options.hotGrant - ok * options.amount;
  if (finalBalance !== expectFinal) errors.push(`final balance ${finalBalance} != grant - ok*amount = ${expectFinal}`);
  if (finalBalance !== options.hotGrant - expectOk * options.amount)
    errors.push(`final balance ${finalBalance} != expected ${options.hotGrant - expectOk * options.amount}`);
  if (finalBalance !== undefined && finalBalance < 0) errors.push(`OVERDRAFT: final balance ${finalBalance}`);
  return errors;
}
