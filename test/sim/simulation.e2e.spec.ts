import { runSimulation, type SimulationReport } from '../../sim/run-simulation';
import { FAULT_KINDS, workload } from '../../sim/workload';
import { describeOnPostgres } from '../support/test-stores';

/**
 * The seeded simulation (sim/, docs/reliability.md) in its short bounded form: real processes on a PostgreSQL
 * cluster of its own behind a faulty proxy, a few hundred steps, checked against the model. Long runs are
 * `npm run sim`. Seeds 2 and 5 at 200 steps each strike every kind of fault (the first test says so from the
 * schedules alone).
 */
const SHORT_RUN = { steps: 200, faults: 'all' as const };
const SEEDS_WITH_EVERY_FAULT = [2, 5];

function failureOf(report: SimulationReport): string {
  return `seed ${report.seed} failed at step ${report.failedAtStep}; trace ${report.tracePath}:\n${report.violations.join('\n')}`;
}

describe('the simulation schedule', () => {
  it('is the same for the same seed, and each short run strikes every kind of fault', () => {
    const schedule = (seed: number) => workload({ seed, users: 4, ...SHORT_RUN });
    expect(schedule(6)).toEqual(schedule(6));
    expect(schedule(6)).not.toEqual(schedule(7));
    for (const seed of SEEDS_WITH_EVERY_FAULT) {
      const struck = new Set(schedule(seed).flatMap((step) => (step.kind === 'fault' ? [step.fault.kind] : [])));
      expect([...struck].sort()).toEqual([...FAULT_KINDS].sort());
    }
  });
});

describeOnPostgres('the seeded simulation against real processes', () => {
  it.each(SEEDS_WITH_EVERY_FAULT)(
    'seed %i: every fault kind, and the ledger matches the model',
    async (seed) => {
      const report = await runSimulation({ seed, ...SHORT_RUN });
      if (process.env.CI === 'true') expect(report.faultsUnavailable).toEqual({});
      if (!report.passed) throw new Error(failureOf(report));
      expect(report.faultErrors).toBe(0);
      expect(report.checkpoints).toBeGreaterThan(0);
      expect(report.webhooks.received).toBeGreaterThanOrEqual(report.webhooks.expected);
    },
    300_000,
  );

  it('finds the planted defect (the balance projection skips a consumption) within 4 seeds', async () => {
    const reports: SimulationReport[] = [];
    for (let seed = 2; seed < 6 && reports.every((report) => report.passed); seed++) {
      reports.push(await runSimulation({ seed, steps: 200, faults: 'none', plantedDefect: 'balance-skips-a-consume' }));
    }
    const found = reports.find((report) => !report.passed);
    const findings = found === undefined ? 'no seed failed' : failureOf(found);
    expect(findings).toMatch(/read model balance .* the model/);
    expect(findings).toMatch(/health check read-model-vs-replay failed/);
  }, 600_000);

  it('finds the planted defect (a capture consumes the whole hold) within 4 seeds', async () => {
    const reports: SimulationReport[] = [];
    for (let seed = 2; seed < 6 && reports.every((report) => report.passed); seed++) {
      reports.push(
        await runSimulation({ seed, steps: 200, faults: 'none', plantedDefect: 'capture-takes-whole-hold' }),
      );
    }
    const found = reports.find((report) => !report.passed);
    const findings = found === undefined ? 'no seed failed' : failureOf(found);
    expect(findings).toMatch(/capture of \d+ answered 20\d, the hold HoldCaptured/);
  }, 600_000);
});
