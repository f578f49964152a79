import { SYNC_TYPES_MAX, SyncArgumentsError, parseSyncArguments, sinceOf } from './sync-stripe-events.arguments';

const NOW = new Date('2026-11-23T12:00:00Z');
const HOUR_MS = 3_600_000;

function refusal(parse: () => unknown): SyncArgumentsError {
  try {
    parse();
  } catch (error) {
    if (error instanceof SyncArgumentsError) return error;
    throw error;
  }
  throw new Error('expected a SyncArgumentsError, but nothing was thrown');
}

describe('--since', () => {
  describe('a duration back from now', () => {
    it.each([
      ['30m', 0.5 * HOUR_MS],
      ['12h', 12 * HOUR_MS],
      ['72h', 72 * HOUR_MS],
      ['7d', 7 * 24 * HOUR_MS],
      ['30d', 30 * 24 * HOUR_MS],
    ])('%s', (text, backMs) => {
      expect(sinceOf(text, NOW)).toEqual(new Date(NOW.getTime() - backMs));
    });
  });

  describe('an instant', () => {
    it.each([
      ['2026-11-20T00:00:00Z', '2026-11-20T00:00:00.000Z'],
      ['2026-11-20T00:00:00.250Z', '2026-11-20T00:00:00.250Z'],
      ['2026-11-20T09:30+01:00', '2026-11-20T08:30:00.000Z'],
      ['2026-11-20', '2026-11-20T00:00:00.000Z'],
    ])('%s', (text, iso) => {
      expect(sinceOf(text, NOW).toISOString()).toBe(iso);
    });
  });

  describe('refused, with a message that says why', () => {
    it.each([
      ['31d', /more than 30 days back.*Stripe keeps events for 30 days/],
      ['721h', /more than 30 days back/],
      ['2026-10-01T00:00:00Z', /more than 30 days back/],
      ['2026-11-24T00:00:00Z', /in the future/],
      ['0h', /neither a duration .* nor a date/],
      ['72', /neither a duration/],
      ['3w', /neither a duration/],
      ['-1h', /neither a duration/],
      ['2026-11-20T00:00:00', /neither a duration/],
      ['yesterday', /neither a duration/],
      ['2026-13-45', /neither a duration/],
    ])('%s', (text, message) => {
      expect(refusal(() => sinceOf(text, NOW)).message).toMatch(message);
    });
  });
});

describe('the sync command line', () => {
  it('reads --since and --types, in either --flag value or --flag=value form', () => {
    expect(parseSyncArguments(['--since', '72h', '--types=invoice.paid,charge.refunded'], NOW)).toEqual({
      since: new Date(NOW.getTime() - 72 * HOUR_MS),
      types: ['invoice.paid', 'charge.refunded'],
    });
    expect(parseSyncArguments(['--since=2026-11-20T00:00:00Z'], NOW)).toEqual({
      since: new Date('2026-11-20T00:00:00Z'),
      types: undefined,
    });
  });

  it('names each type once, however often it is given', () => {
    expect(parseSyncArguments(['--since', '1h', '--types', 'invoice.paid,invoice.paid'], NOW).types).toEqual([
      'invoice.paid',
    ]);
  });

  it.each([
    [[], /--since is required/],
    [['--since'], /--since needs a value/],
    [['--since', '1h', '--since', '2h'], /given twice/],
    [['--since', '1h', '--dry-run'], /unknown argument "--dry-run"/],
    [['--since', '1h', '--types', 'invoice.paid,'], /"" is not a Stripe event type/],
    [['--since', '1h', '--types', 'Invoice Paid'], /is not a Stripe event type/],
    [
      ['--since', '1h', '--types', Array.from({ length: SYNC_TYPES_MAX + 1 }, (_, i) => `type.n${i}`).join(',')],
      /at most 20 types, got 21/,
    ],
  ])('refuses %j', (argv, message) => {
    expect(refusal(() => parseSyncArguments(argv, NOW)).message).toMatch(message);
  });
});
