import { DateTime } from 'luxon';

/**
 * When the billing period after `start`–`end` ends, from the period alone:
 * the newer invoice shape names no interval on its lines, only `period.start`
 * and `period.end`. Pure; both instants in UTC, `start` before `end`.
 *
 * A period of whole calendar months (monthly, quarterly, yearly as 12 months)
 * is followed by one as many months long, anchored as Stripe anchors them:
 * on the day of the month the periods end on, clamped to shorter months
 * (31 January → 28 February → 31 March → 30 April for an anchor on the 31st).
 * The anchor is told from the period: the end's day when the end is not the
 * last day of its month, else the start's day when the start is not the last
 * of its month (30 January → 28 February is anchored on the 30th: next 30 March).
 * A period that starts and ends on the last days of their months (28 February
 * → 31 March, or 30 November → 28 February for a quarter) is taken as
 * anchored on the 31st: the next ends on the last day of its month. When its
 * real anchor is the 29th or the 30th, that end is a day or two later than
 * Stripe's, never earlier.
 *
 * Any other period (weekly, daily, a number of days) is followed by one of
 * exactly the same length: `end + (end − start)`. A period of days that
 * happens to run from a day of one month to the same day of a later month
 * (31 days from 1 January) is read as months; so is any period the invoice
 * line alone cannot tell from one.
 */
export function nextPeriodEnd(start: DateTime, end: DateTime): DateTime {
  const from = start.toUTC();
  const to = end.toUTC();
  if (!from.isValid || !to.isValid || to <= from) {
    throw new RangeError(`a billing period must end after it starts (${from.toISO()} – ${to.toISO()})`);
  }
  const months = wholeMonthsBetween(from, to);
  if (months === undefined) return to.plus(to.diff(from));
  const next = to.plus({ months });
  return next.set({ day: Math.min(anchorDayOf(from, to), next.daysInMonth!) });
}

/**
 * How many calendar months the period spans, when it is a whole number of
 * them at the same time of day; undefined otherwise. The end may be clamped to
 * a shorter month (31 January → 28 February), or the start (28 February → 31 March).
 */
export function wholeMonthsBetween(start: DateTime, end: DateTime): number | undefined {
  if (timeOfDay(start) !== timeOfDay(end)) return undefined;
  const months = (end.year - start.year) * 12 + (end.month - start.month);
  if (months < 1) return undefined;
  if (start.plus({ months }).equals(end)) return months;
  if (isLastDayOfMonth(start) && end.day > start.day) return months;
  return undefined;
}

/** The day of the month the periods are anchored on; 31 (the last day) when the period cannot tell. */
function anchorDayOf(start: DateTime, end: DateTime): number {
  if (!isLastDayOfMonth(end)) return end.day;
  if (!isLastDayOfMonth(start)) return start.day;
  return 31;
}

function isLastDayOfMonth(time: DateTime): boolean {
  return time.day === time.daysInMonth;
}

function timeOfDay(time: DateTime): number {
  return time.diff(time.startOf('day')).toMillis();
}
