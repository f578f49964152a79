import { recordsetOf, safeInteger } from './sql-values';

type Row = { userId: string; reason: string | null; delta: number; feature: string | null };

describe('recordsetOf', () => {
  const recordset = recordsetOf<Row>([
    ['userId', 'user_id', 'text'],
    ['reason', 'reason', 'text'],
    ['delta', 'delta', 'bigint'],
    ['feature', 'feature', 'text'],
  ]);

  it('names the columns, the fields and the record of json_to_recordset in one order', () => {
    expect(recordset.columns).toBe('user_id, reason, delta, feature');
    expect(recordset.fields).toBe('"userId", "reason", "delta", "feature"');
    expect(recordset.record).toBe('"userId" text, "reason" text, "delta" bigint, "feature" text');
  });

  it('leaves null fields out of the JSON (read back as null) and keeps every other value, falsy ones included', () => {
    const json = recordset.json([
      { userId: 'u-1', reason: null, delta: 0, feature: '' },
      { userId: 'u-2', reason: 'welcome', delta: -1, feature: null },
    ]);

    expect(JSON.parse(json)).toEqual([
      { userId: 'u-1', delta: 0, feature: '' },
      { userId: 'u-2', reason: 'welcome', delta: -1 },
    ]);
  });
});

describe('safeInteger', () => {
  it('reads a bigint column given as text, and refuses one a JavaScript number cannot hold exactly', () => {
    expect(safeInteger('-1000000000000000', 'c')).toBe(-1_000_000_000_000_000);
    expect(() => safeInteger('9007199254740993', 'ledger_entries.balance_after')).toThrow(
      'ledger_entries.balance_after holds 9007199254740993, not a safe integer',
    );
  });
});
