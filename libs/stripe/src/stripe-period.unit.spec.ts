import { DateTime } from 'luxon';
import { nextPeriodEnd, wholeMonthsBetween } from './stripe-period';

const at = (iso: string) => DateTime.fromISO(iso, { zone: 'utc' });
const next = (start: string, end: string) => nextPeriodEnd(at(start), at(end)).toISO();

describe('nextPeriodEnd', () => {
  describe('a monthly period', () => {
    it('ends on the same day of the next month', () => {
      expect(next('2027-03-15T09:30:00Z', '2027-04-15T09:30:00Z')).toBe('2027-05-15T09:30:00.000Z');
    });

    it('follows an anchor on the 31st through the short months: 31 Jan → 28 Feb → 31 Mar → 30 Apr → 31 May', () => {
      const ends = ['2027-01-31T00:00:00Z', '2027-02-28T00:00:00Z'];
      while (ends.length < 5) ends.push(next(ends.at(-2)!, ends.at(-1)!)!);

      expect(ends.slice(2)).toEqual([
        '2027-03-31T00:00:00.000Z',
        '2027-04-30T00:00:00.000Z',
        '2027-05-31T00:00:00.000Z',
      ]);
    });

    it('goes on from December into the next year', () => {
      expect(next('2027-11-30T12:00:00Z', '2027-12-31T12:00:00Z')).toBe('2028-01-31T12:00:00.000Z');
    });

    it('keeps an anchor on the 30th or the 29th that February clamped: 30 Jan → 28 Feb → 30 Mar', () => {
      expect(next('2027-01-30T00:00:00Z', '2027-02-28T00:00:00Z')).toBe('2027-03-30T00:00:00.000Z');
      expect(next('2027-01-29T00:00:00Z', '2027-02-28T00:00:00Z')).toBe('2027-03-29T00:00:00.000Z');
      expect(next('2027-02-28T00:00:00Z', '2027-03-30T00:00:00Z')).toBe('2027-04-30T00:00:00.000Z');
    });

    it('keeps an anchor on the 28th though February ends on it', () => {
      expect(next('2027-01-28T00:00:00Z', '2027-02-28T00:00:00Z')).toBe('2027-03-28T00:00:00.000Z');
    });

    it('keeps an anchor on the 30th in the months of 30 days', () => {
      expect(next('2027-05-30T00:00:00Z', '2027-06-30T00:00:00Z')).toBe('2027-07-30T00:00:00.000Z');
      expect(next('2027-06-30T00:00:00Z', '2027-07-30T00:00:00Z')).toBe('2027-08-30T00:00:00.000Z');
    });

    it('reads a period from one last day of a month to the next as anchored on the 31st: later than Stripe’s for a 29th or 30th, never earlier', () => {
      // A quarter anchored on the 30th (Stripe: 30 May) or on the 31st (31 May): the period cannot tell them apart.
      expect(next('2027-11-30T00:00:00Z', '2028-02-29T00:00:00Z')).toBe('2028-05-31T00:00:00.000Z');
    });
  });

  describe('in leap years', () => {
    it('ends a period of January on 29 February, and the next on 31 March', () => {
      expect(next('2027-12-31T00:00:00Z', '2028-01-31T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
      expect(next('2028-01-31T00:00:00Z', '2028-02-29T00:00:00Z')).toBe('2028-03-31T00:00:00.000Z');
    });

    it('keeps an anchor on the 29th: 29 Jan → 29 Feb → 29 Mar', () => {
      expect(next('2028-01-29T00:00:00Z', '2028-02-29T00:00:00Z')).toBe('2028-03-29T00:00:00.000Z');
    });

    it('ends a yearly period anchored on 29 February on the last day of February', () => {
      expect(next('2027-02-28T00:00:00Z', '2028-02-29T00:00:00Z')).toBe('2029-02-28T00:00:00.000Z');
      expect(next('2028-02-29T00:00:00Z', '2029-02-28T00:00:00Z')).toBe('2030-02-28T00:00:00.000Z');
      expect(next('2031-02-28T00:00:00Z', '2032-02-29T00:00:00Z')).toBe('2033-02-28T00:00:00.000Z');
    });
  });

  describe('other whole months', () => {
    it('adds a year after a yearly period', () => {
      expect(next('2026-06-15T08:00:00Z', '2027-06-15T08:00:00Z')).toBe('2028-06-15T08:00:00.000Z');
    });

    it('adds three months after a quarter', () => {
      expect(next('2027-01-15T00:00:00Z', '2027-04-15T00:00:00Z')).toBe('2027-07-15T00:00:00.000Z');
    });
  });

  describe('a period that is not whole months', () => {
    it('adds a week after a weekly period', () => {
      expect(next('2027-02-22T10:00:00Z', '2027-03-01T10:00:00Z')).toBe('2027-03-08T10:00:00.000Z');
    });

    it('adds a day after a daily period', () => {
      expect(next('2027-02-28T00:00:00Z', '2027-03-01T00:00:00Z')).toBe('2027-03-02T00:00:00.000Z');
    });

    it('adds exactly its length after 30 days, one day short of a month', () => {
      expect(next('2027-01-15T00:00:00Z', '2027-02-14T00:00:00Z')).toBe('2027-03-16T00:00:00.000Z');
    });

    it('adds exactly its length when the period ends at another time of day than it started', () => {
      expect(next('2027-01-15T00:00:00Z', '2027-02-15T06:00:00Z')).toBe('2027-03-18T12:00:00.000Z');
    });
  });

  it('refuses a period that does not end after it starts', () => {
    expect(() => next('2027-01-15T00:00:00Z', '2027-01-15T00:00:00Z')).toThrow(RangeError);
    expect(() => next('2027-02-15T00:00:00Z', '2027-01-15T00:00:00Z')).toThrow(RangeError);
  });
});

describe('wholeMonthsBetween', () => {
  it.each([
    ['2027-01-31T00:00:00Z', '2027-02-28T00:00:00Z', 1],
    ['2027-02-28T00:00:00Z', '2027-03-31T00:00:00Z', 1],
    ['2027-03-31T00:00:00Z', '2027-04-30T00:00:00Z', 1],
    ['2027-01-15T00:00:00Z', '2027-04-15T00:00:00Z', 3],
    ['2027-02-28T00:00:00Z', '2028-02-29T00:00:00Z', 12],
  ])('counts %s – %s as %i', (start, end, months) => {
    expect(wholeMonthsBetween(at(start), at(end))).toBe(months);
  });

  it.each([
    ['2027-01-15T00:00:00Z', '2027-02-14T00:00:00Z'],
    ['2027-01-15T00:00:00Z', '2027-01-22T00:00:00Z'],
    ['2027-01-15T00:00:00Z', '2027-02-15T00:00:01Z'],
    ['2027-01-30T00:00:00Z', '2027-02-27T00:00:00Z'],
  ])('finds no whole months in %s – %s', (start, end) => {
    expect(wholeMonthsBetween(at(start), at(end))).toBeUndefined();
  });
});
