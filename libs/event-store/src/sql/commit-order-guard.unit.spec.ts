import { epochPast } from './commit-order-guard';

const EPOCH = 2n ** 32n;

describe('the transaction id epoch pg_resetwal is told to set', () => {
  it("is the one after the newest event's, whatever its 32-bit part", () => {
    expect(epochPast(2103n)).toBe(1n);
    expect(epochPast(3_000_000_000n)).toBe(1n);
    expect(epochPast(EPOCH - 1n)).toBe(1n);
    expect(epochPast(EPOCH)).toBe(2n);
    expect(epochPast(3n * EPOCH + 5n)).toBe(4n);
  });
});
