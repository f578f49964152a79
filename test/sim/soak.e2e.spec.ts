import { runSoak, slope } from '../../sim/soak';
import { describeOnPostgres } from '../support/test-stores';

/**
 * The soak (`npm run soak`, docs/reliability.md) in a few seconds: it runs, samples every process, and its
 * figures come with a clean health check. How flat the memory stays is a figure for a long run, not a test.
 */
describe('the soak figures', () => {
  it('fits the resident memory slope by least squares', () => {
    expect(slope([])).toBe(0);
    expect(
      slope([
        [0, 100],
        [10, 110],
        [20, 120],
      ]),
    ).toBeCloseTo(1);
    expect(
      slope([
        [0, 100],
        [10, 100],
      ]),
    ).toBe(0);
  });
});

describeOnPostgres('a short soak against real processes', () => {
  it('sends the mixed load, samples every process, and ends with a clean health check', async () => {
    const report = await runSoak({ seconds: 20, rate: 40, users: 50 });
    expect(report.healthViolations).toEqual([]);
    expect(report.errors).toBe(0);
    expect(report.requests).toBeGreaterThan(0);
    expect(report.windows.length).toBeGreaterThanOrEqual(2);
    for (const window of report.windows) {
      expect(Object.keys(window.rssMiB).sort()).toEqual(['api-1', 'api-2', 'projector']);
    }
  }, 180_000);
});
