import { PLANTED_DEFECTS } from '../libs/config/src/planted-defect';
import { runSimulation, type SimulationReport } from './run-simulation';
import { FAULT_MODES, type FaultMode } from './workload';

/**
 * `npm run sim -- --seed N [--seeds K] [--parallel P] [--steps M] [--faults none|process|database|network|all] [--json]`:
 * runs the seeded simulation against the real system, seed after seed (N, N+1, …, K of them), and exits 1 on
 * the first failure, printing its seed, step and trace.
 */
type Arguments = {
  seed: number;
  seeds: number;
  steps: number;
  faults: FaultMode;
  json: boolean;
  /** Seeds run at once, each on a system of its own: a run mostly waits for its faults to heal. */
  parallel: number;
  plantedDefect?: string;
};

function parseArguments(argv: string[]): Arguments {
  const args: Arguments = { seed: 1, seeds: 1, steps: 300, faults: 'all', json: false, parallel: 1 };
  for (let index = 0; index < argv.length; index++) {
    const [name, value] = [argv[index], argv[index + 1]];
    const next = () => {
      index++;
      if (value === undefined) throw new Error(`${name} needs a value`);
      return value;
    };
    if (name === '--seed') args.seed = wholeNumber(name, next());
    else if (name === '--seeds') args.seeds = wholeNumber(name, next());
    else if (name === '--steps') args.steps = wholeNumber(name, next());
    else if (name === '--faults') args.faults = faultMode(next());
    else if (name === '--parallel') args.parallel = Math.max(1, wholeNumber(name, next()));
    else if (name === '--planted-defect') args.plantedDefect = plantedDefect(next());
    else if (name === '--json') args.json = true;
    else throw new Error(`unknown argument ${name}`);
  }
  return args;
}

function wholeNumber(name: string, value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0) throw new Error(`${name} must be a whole number, not ${value}`);
  return number;
}

function plantedDefect(value: string): string {
  if (!(PLANTED_DEFECTS as readonly string[]).includes(value)) {
    throw new Error(`--planted-defect is one of ${PLANTED_DEFECTS.join(', ')}`);
  }
  return value;
}

function faultMode(value: string): FaultMode {
  if (!(FAULT_MODES as readonly string[]).includes(value))
    throw new Error(`--faults is one of ${FAULT_MODES.join(', ')}`);
  return value as FaultMode;
}

function summary(report: SimulationReport): string {
  const outcome = report.passed ? 'passed' : `FAILED at step ${report.failedAtStep}`;
  const faults =
    Object.entries(report.faultsStruck)
      .map(([kind, count]) => `${kind} ${count}`)
      .join(', ') || 'none';
  const lines = [
    `seed ${report.seed}: ${outcome} — ${report.steps} steps, faults ${report.faults} in ${(report.durationMs / 1000).toFixed(1)} s`,
    `  faults struck: ${faults} (${report.faultErrors} failed to strike, ${report.commitsCut} commits cut, ${report.replayedAfterRetry} retries answered as applied); checkpoints ${report.checkpoints}; answers ${JSON.stringify(report.answers)}`,
    `  webhooks: ${report.webhooks.expected} expected, ${report.webhooks.received} received (${report.webhooks.copies} copies)`,
    ...Object.entries(report.faultsUnavailable).map(([kind, reason]) => `  fault ${kind} NOT RUN: ${reason}`),
    `  trace: ${report.tracePath}`,
    ...report.violations.slice(0, 20).map((violation) => `  - ${violation}`),
  ];
  return lines.join('\n');
}

function totals(reports: SimulationReport[], durationMs: number): string {
  const passed = reports.filter((report) => report.passed).length;
  const steps = reports.reduce((sum, report) => sum + report.steps, 0);
  let faults = 0;
  for (const report of reports) for (const count of Object.values(report.faultsStruck)) faults += count ?? 0;
  return `${passed} of ${reports.length} seeds passed: ${steps} steps, ${faults} faults, in ${(durationMs / 60_000).toFixed(1)} min`;
}

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  const startedAt = Date.now();
  const reports: SimulationReport[] = [];
  let nextSeed = args.seed;
  const runSeeds = async () => {
    // A failure stops new seeds from starting; those running finish.
    while (nextSeed < args.seed + args.seeds && reports.every((report) => report.passed)) {
      const seed = nextSeed++;
      const log = args.json ? undefined : (line: string) => console.error(line);
      const report = await runSimulation({ ...args, seed, log });
      reports.push(report);
      if (!args.json) console.log(summary(report));
    }
  };
  await Promise.all(Array.from({ length: args.parallel }, runSeeds));
  if (!args.json) console.log(totals(reports, Date.now() - startedAt));
  if (args.json) console.log(JSON.stringify(reports, null, 2));
  process.exitCode = reports.every((report) => report.passed) ? 0 : 1;
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exitCode = 2;
});
