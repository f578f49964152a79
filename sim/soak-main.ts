import { runSoak } from './soak';

/**
 * `npm run soak -- [--minutes 30] [--rate 300] [--users 1000] [--json]`: the soak (sim/soak.ts), its figures
 * printed; exits 1 when a request failed or the health check found a failure at the end.
 */
function parseArguments(argv: string[]): { seconds: number; rate: number; users: number; json: boolean } {
  const args = { seconds: 30 * 60, rate: 300, users: 1000, json: false };
  for (let index = 0; index < argv.length; index++) {
    const name = argv[index];
    if (name === '--json') {
      args.json = true;
      continue;
    }
    const value = Number(argv[++index]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number`);
    if (name === '--minutes') args.seconds = Math.round(value * 60);
    else if (name === '--rate') args.rate = value;
    else if (name === '--users') args.users = Math.round(value);
    else throw new Error(`unknown argument ${name}`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  const report = await runSoak({ ...args, log: args.json ? undefined : (line) => console.error(line) });
  if (args.json) console.log(JSON.stringify(report, null, 2));
  else {
    const p99s = report.windows.map((window) => window.p99Ms).sort((a, b) => a - b);
    console.log(
      `soak ${report.passed ? 'passed' : 'FAILED'}: ${report.requests} requests in ${report.seconds} s ` +
        `(${report.achievedRate}/s of ${report.targetRate}/s), ${report.errors} errors; ` +
        `p99 per 10 s window: min ${p99s[0]} ms, median ${p99s[Math.floor(p99s.length / 2)]} ms, max ${p99s[p99s.length - 1]} ms; ` +
        `resident memory slope (MiB/hour) ${JSON.stringify(report.rssSlopeMiBPerHour)}` +
        report.healthViolations.map((violation) => `\n  - ${violation}`).join(''),
    );
  }
  process.exitCode = report.passed ? 0 : 1;
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exitCode = 2;
});
