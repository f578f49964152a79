import { nextTransactionPast } from './commit-order-guard';

const EPOCH = 2n ** 32n;
const SEGMENT = 1_048_576n;

describe('the transaction id pg_resetwal is told to start from', () => {
  it('is the next transaction-status segment past the newest id, in its epoch', () => {
    expect(nextTransactionPast(2103n)).toEqual({ epoch: 0n, xid: SEGMENT });
    expect(nextTransactionPast(SEGMENT - 1n)).toEqual({ epoch: 0n, xid: SEGMENT });
    expect(nextTransactionPast(SEGMENT)).toEqual({ epoch: 0n, xid: 2n * SEGMENT });
    expect(nextTransactionPast(3n * EPOCH + 5n)).toEqual({ epoch: 3n, xid: SEGMENT });
  });

  it('skips the first segment of an epoch, whose first ids are reserved', () => {
    expect(nextTransactionPast(EPOCH - 1n)).toEqual({ epoch: 1n, xid: SEGMENT });
  });
});
