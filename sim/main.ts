import { runSimulation, type SimulationReport } from './run-simulation';
import { FAULT_MODES, type FaultMode } from './workload';

/**
 * `npm run sim -- --seed N [--seeds K] [--steps M] [--faults none|process|database|network|all] [--json]`:
 * runs the seeded simulation against the real system, seed after seed (N, N+1, …, K of them), and exits 1 on
 * the first failure, printing its seed, step and trace.
 */
type Arguments = {
  seed: number;
  seeds: number;
  steps: number;
  faults: FaultMode;
  json: boolean;
  plantedDefect?: string;
};

function parseArguments(argv: string[]): Arguments {
  const args: Arguments = { seed: 1, seeds: 1, steps: 300, faults: 'all', json: false };
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
    else if (name === '--planted-defect') args.plantedDefect = next();
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
    `  faults struck: ${faults} (${report.faultErrors} failed to strike); checkpoints ${report.checkpoints}; answers ${JSON.stringify(report.answers)}`,
    `  webhooks: ${report.webhooks.expected} expected, ${report.webhooks.received} received (${report.webhooks.copies} copies)`,
    ...Object.entries(report.faultsUnavailable).map(([kind, reason]) => `  fault ${kind} NOT RUN: ${reason}`),
    `  trace: ${report.tracePath}`,
    ...report.violations.slice(0, 20).map((violation) => `  - ${violation}`),
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  const reports: SimulationReport[] = [];
  for (let seed = args.seed; seed < args.seed + args.seeds; seed++) {
    const log = args.json ? undefined : (line: string) => console.error(line);
    const report = await runSimulation({ ...args, seed, log });
    reports.push(report);
    if (!args.json) console.log(summary(report));
    if (!report.passed) break;
  }
  if (args.json) console.log(JSON.stringify(reports, null, 2));
  process.exitCode = reports.every((report) => report.passed) ? 0 : 1;
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exitCode = 2;
});
