import { type StripeObject, deepMerge } from './stripe-events';

/** Unix seconds of a UTC ISO 8601 instant: how Stripe writes `created` and a line's `period`. */
export function unixSeconds(iso: string): number {
  const millis = Date.parse(iso);
  if (Number.isNaN(millis)) throw new Error(`not an instant: ${iso}`);
  return Math.floor(millis / 1000);
}

/**
 * The invoice with each line's service period ending at the given instant, in
 * line order (both shapes carry `period` on the line): the invoice helpers
 * keep the fixture's period, the same on every line.
 */
export function withPeriodEnds(invoice: StripeObject, ends: string[]): StripeObject {
  const lines = invoice.lines as { data: StripeObject[] };
  if (lines.data.length !== ends.length) throw new Error(`${lines.data.length} lines, ${ends.length} period ends`);
  const data = lines.data.map((line, index) => {
    const end = unixSeconds(ends[index]);
    return deepMerge(line, { period: { start: end - 30 * 24 * 3600, end } });
  });
  return deepMerge(invoice, { lines: { data } });
}

/** A line's service period: UTC ISO 8601 instants. */
export type LinePeriod = { start: string; end: string };

/**
 * The invoice with each line's service period as given, in line order (both
 * shapes carry `period` on the line): what a plan's carry-over reads to tell
 * when the next period ends.
 */
export function withPeriods(invoice: StripeObject, periods: LinePeriod[]): StripeObject {
  const lines = invoice.lines as { data: StripeObject[] };
  if (lines.data.length !== periods.length) throw new Error(`${lines.data.length} lines, ${periods.length} periods`);
  const data = lines.data.map((line, index) =>
    deepMerge(line, { period: { start: unixSeconds(periods[index].start), end: unixSeconds(periods[index].end) } }),
  );
  return deepMerge(invoice, { lines: { data } });
}
