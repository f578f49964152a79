import { type WorkloadResult, round } from './workloads/workload-result';

/** One run in the peers' JSON line format: the first eleven keys are the contract. */
export type PeerRecord = {
  peer: string;
  workload: string;
  ops: number;
  ok: number;
  rejected: number;
  retries: number;
  seconds: number;
  ops_per_s: number;
  p50_ms: number | null;
  p99_ms: number | null;
  verified: boolean;
  failed: number;
  errors: string[];
  detail: Record<string, unknown>;
  config: Record<string, unknown>;
  at: string;
};

export function toPeerRecord(
  workload: string,
  result: WorkloadResult,
  config: Record<string, unknown>,
  at: Date,
): PeerRecord {
  return {
    peer: 'ledger',
    workload,
    ops: result.ops,
    ok: result.ok,
    rejected: result.rejected,
    retries: result.retries,
    seconds: round(result.seconds, 4),
    ops_per_s: round(result.ops_per_s, 1),
    p50_ms: result.p50_ms,
    p99_ms: result.p99_ms,
    verified: result.errors.length === 0,
    failed: result.failed,
    errors: result.errors,
    detail: result.detail,
    config,
    at: at.toISOString(),
  };
}

const READABLE_KEYS = [
  'ops',
  'ok',
  'rejected',
  'failed',
  'retries',
  'seconds',
  'ops_per_s',
  'p50_ms',
  'p99_ms',
] as const;

/** The record for a reader: the figures on one line, failures and context below. */
export function formatReadable(record: PeerRecord): string {
  const figures = READABLE_KEYS.map((key) => `${key} ${record[key]}`).join(', ');
  return [
    `${record.peer} / ${record.workload}: ${figures}, verified ${record.verified}`,
    ...record.errors.map((error) => `  error: ${error}`),
    `  detail ${JSON.stringify(record.detail)}`,
    `  config ${JSON.stringify(record.config)}`,
  ].join('\n');
}
