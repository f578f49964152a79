import { benchUserId, mulberry32, spreadSequence } from '../../bench/workloads/seeded-sequence';
import { latencyStats, percentile } from '../../bench/workloads/run-concurrent';

// Values printed by the peers' src/common.mjs (mulberry32, spreadSequence at its defaults):
// every implementation measured gets the same commands only while these agree.
describe('the W1 sequence, as the peers generate it', () => {
  it('draws the same first numbers from seed 42', () => {
    const random = mulberry32(42);
    expect([random(), random(), random()]).toEqual([0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
  });

  it('picks the same users for the 20,000 commands over 1,000 users', () => {
    const sequence = spreadSequence({ seed: 42, ops: 20_000, users: 1000 });
    expect(Array.from(sequence.subarray(0, 10))).toEqual([601, 448, 852, 669, 174, 526, 273, 624, 865, 472]);
    expect(sequence[19_999]).toBe(706);
    expect(sequence.reduce((sum, index) => sum + index, 0)).toBe(10_016_067);
  });

  it('names users as the peers do', () => {
    expect([benchUserId(0), benchUserId(42)]).toEqual(['u000000', 'u000042']);
  });
});

describe('percentiles, as the peers compute them (nearest rank)', () => {
  it('takes the value at rank ceil(p/100 * n)', () => {
    const sorted = Float64Array.from({ length: 200 }, (_, index) => index + 1);
    expect([percentile(sorted, 50), percentile(sorted, 99)]).toEqual([100, 198]);
    expect(percentile([], 50)).toBeNull();
  });

  it('rounds to the microsecond and reports none without latencies', () => {
    expect(latencyStats([2.00049, 1, 3])).toEqual({ p50_ms: 2, p99_ms: 3 });
    expect(latencyStats([])).toEqual({ p50_ms: null, p99_ms: null });
  });
});
