/** What a workload measured and checked, before it is printed in the peers' format. */
export type WorkloadResult = {
  ops: number;
  ok: number;
  rejected: number;
  failed: number;
  retries: number;
  seconds: number;
  ops_per_s: number;
  p50_ms: number | null;
  p99_ms: number | null;
  /** Verification failures: verified when empty. */
  errors: string[];
  detail: Record<string, unknown>;
};

export function round(value: number, digits = 3): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}
