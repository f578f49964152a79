import type { CompareRecord } from './compare';

/** The goals: ours over a peer, by workload, on ops/s. */
const GOALS = [
  { workload: 'w1', over: 'seed', ratioMin: 3, note: 'and p99 no worse than seed' },
  { workload: 'w2', over: 'seed', ratioMin: 5, note: '' },
  { workload: 'w3', over: 'emmett', ratioMin: 5, note: "seed's w3 is one SQL aggregate, not a replay" },
] as const;

export function median(values: ReadonlyArray<number | null | undefined>): number | null {
  const sorted = values.filter((value): value is number => typeof value === 'number').sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The median table, one row per workload and peer, then the ratios of the goals. */
export function formatComparison(records: readonly CompareRecord[], emmettHotFlags: readonly string[]): string {
  const lines = [
    '| workload | peer | runs | verified | ops | ok | rejected | retries | seconds | ops/s | p50 ms | p99 ms |',
    '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const workload of unique(records.map((record) => record.workload))) {
    for (const peer of unique(records.map((record) => record.peer))) {
      const cell = records.filter((record) => record.workload === workload && record.peer === peer);
      if (cell.length > 0) lines.push(medianRow(workload, peer, cell));
    }
  }
  lines.push('', `Emmett's w2 ran with ${emmettHotFlags.join(' ')}; every other run at the peers' defaults.`, '');
  lines.push(...GOALS.flatMap((goal) => ratioLines(records, goal)));
  lines.push(...failures(records));
  return `${lines.join('\n')}\n`;
}

function medianRow(workload: string, peer: string, cell: readonly CompareRecord[]): string {
  const column = (key: keyof CompareRecord) => format(median(cell.map((record) => record[key] as number)));
  const verified = cell.filter((record) => record.verified === true).length;
  const figures = ['ops', 'ok', 'rejected', 'retries', 'seconds', 'ops_per_s', 'p50_ms', 'p99_ms'] as const;
  return `| ${workload} | ${peer} | ${cell.length} | ${verified}/${cell.length} | ${figures.map(column).join(' | ')} |`;
}

/** Ratio of the medians, and the median of each rep's ratio (runs of one rep are next to each other in time). */
function ratioLines(records: readonly CompareRecord[], goal: (typeof GOALS)[number]): string[] {
  const ours = records.filter((record) => record.workload === goal.workload && record.peer === 'ledger');
  const theirs = records.filter((record) => record.workload === goal.workload && record.peer === goal.over);
  if (ours.length === 0 || theirs.length === 0) return [];
  const ratioOfMedians = divide(median(ours.map((r) => r.ops_per_s)), median(theirs.map((r) => r.ops_per_s)));
  const perRep = ours.map((record) =>
    divide(record.ops_per_s, theirs.find((other) => other.rep === record.rep)?.ops_per_s),
  );
  const medianOfRatios = median(perRep);
  const met = medianOfRatios !== null && medianOfRatios >= goal.ratioMin ? 'met' : 'NOT met';
  const p99 = `p99 ${format(median(ours.map((r) => r.p99_ms)))} ms vs ${format(median(theirs.map((r) => r.p99_ms)))} ms`;
  return [
    `${goal.workload}: ledger/${goal.over} ops/s = ${format(medianOfRatios)}x median of per-rep ratios ` +
      `(${format(ratioOfMedians)}x ratio of medians); goal >= ${goal.ratioMin}x: ${met}; ${p99}` +
      (goal.note ? ` (${goal.note})` : ''),
  ];
}

function failures(records: readonly CompareRecord[]): string[] {
  const failing = records.filter((record) => record.verified !== true);
  if (failing.length === 0) return ['', 'Every run verified.'];
  return [
    '',
    'Failed verifications:',
    ...failing.map((r) => `- ${r.peer}/${r.workload} rep ${r.rep}: ${(r.errors ?? []).join('; ')}`),
  ];
}

function divide(numerator: number | null | undefined, denominator: number | null | undefined): number | null {
  return typeof numerator === 'number' && typeof denominator === 'number' && denominator > 0
    ? numerator / denominator
    : null;
}

function format(value: number | null): string {
  if (value === null) return '–';
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 1);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
