import {
  type InvoiceShape,
  type StripeTestEvent,
  checkoutSessionCompleted,
  invoice,
  stripeEvent,
} from '../../../test/support/stripe-events';
import {
  type LinePeriod,
  unixSeconds,
  withPeriodEnds,
  withPeriods,
} from '../../../test/support/stripe-expiring-payments';
import type { CreditPlan, StripeCatalog } from './stripe-catalog';
import { StripeObjectError, meaningOf } from './stripe-event.mapping';
import type { StripePayment } from './stripe-event.meaning';

/**
 * A plan period's carry-over as the mapping computes it from the catalog's
 * `rollover` and the invoice line's period, in both invoice shapes: up to
 * `creditsMax` (none: all) carried at the period end into a grant lasting
 * until the next period's end.
 */
const plan = (planId: string, credits: number, fields: Partial<CreditPlan> = {}): CreditPlan => ({
  planId,
  priceId: `price_${planId}`,
  creditsPerPeriod: credits,
  metadataCreditsAllowed: false,
  ...fields,
});

const CATALOG: StripeCatalog = {
  packs: [
    { packId: 'credits_100', priceId: 'price_credits_100', creditsPerUnit: 100, metadataCreditsAllowed: false },
    {
      packId: 'year_pack',
      priceId: 'price_year_pack',
      creditsPerUnit: 900,
      metadataCreditsAllowed: false,
      expiresAfter: 'P1Y',
    },
    {
      packId: 'day_pack',
      priceId: 'price_day_pack',
      creditsPerUnit: 50,
      metadataCreditsAllowed: false,
      expiresAfter: 'P1D',
    },
  ],
  plans: [
    plan('basic_monthly', 1000),
    plan('carry_100', 300, { expiresAtPeriodEnd: true, rollover: 100 }),
    plan('carry_250', 500, { expiresAtPeriodEnd: true, rollover: 250 }),
    plan('carry_all', 300, { expiresAtPeriodEnd: true, rollover: 'all' }),
    plan('carry_none', 300, { expiresAtPeriodEnd: true, rollover: 'none' }),
    plan('lapses', 300, { expiresAtPeriodEnd: true }),
  ],
  paymentsWithoutPrice: { metadataCreditsAllowed: true },
};

const PAID_AT = { created: unixSeconds('2027-01-31T00:05:00Z') };
/** A monthly period anchored on the 31st: the next one ends on 31 March. */
const JANUARY_31: LinePeriod = { start: '2027-01-31T00:00:00Z', end: '2027-02-28T00:00:00Z' };

function paymentOf(event: StripeTestEvent): StripePayment {
  const meaning = meaningOf(event, CATALOG);
  if (meaning.kind !== 'payment') throw new Error(`expected a payment, got ${JSON.stringify(meaning)}`);
  return meaning.payment;
}

describe.each<InvoiceShape>(['legacy', 'current'])('the carry-over of a paid invoice of the %s shape', (shape) => {
  const invoicePaid = (prices: string[], periods: LinePeriod[], options: { userId?: string; quantity?: number } = {}) =>
    stripeEvent(
      'invoice.paid',
      withPeriods(
        invoice({
          shape,
          subscriptionMetadata: options.userId === undefined ? {} : { userId: options.userId },
          lines: prices.map((priceId) => ({ priceId, quantity: options.quantity })),
        }),
        periods,
      ),
      PAID_AT,
    );

  it('carries at most the plan’s rollover until the next period’s end (31 Jan → 28 Feb: 31 March)', () => {
    const payment = paymentOf(invoicePaid(['price_carry_100'], [JANUARY_31], { userId: 'user-42' }));

    expect(payment).toMatchObject({
      credits: { kind: 'known', credits: 300 },
      expiresAt: '2027-02-28T00:00:00.000Z',
      rollover: { creditsMax: 100, expiresAt: '2027-03-31T00:00:00.000Z' },
    });
  });

  it('carries all that is left with rollover "all": no creditsMax', () => {
    const payment = paymentOf(invoicePaid(['price_carry_all'], [JANUARY_31]));

    expect(payment.rollover).toEqual({ expiresAt: '2027-03-31T00:00:00.000Z' });
  });

  it.each(['price_carry_none', 'price_lapses'])(
    'carries nothing for %s: the credits lapse at the period end',
    (price) => {
      const payment = paymentOf(invoicePaid([price], [JANUARY_31]));

      expect(payment.expiresAt).toBe('2027-02-28T00:00:00.000Z');
      expect(payment).not.toHaveProperty('rollover');
    },
  );

  it('carries the plan’s figure whatever the line’s quantity', () => {
    const payment = paymentOf(invoicePaid(['price_carry_100'], [JANUARY_31], { quantity: 3 }));

    expect(payment).toMatchObject({ credits: { kind: 'known', credits: 900 }, rollover: { creditsMax: 100 } });
  });

  it('follows a weekly period with one of exactly a week', () => {
    const week = { start: '2027-03-01T09:00:00Z', end: '2027-03-08T09:00:00Z' };

    expect(paymentOf(invoicePaid(['price_carry_100'], [week])).rollover).toEqual({
      creditsMax: 100,
      expiresAt: '2027-03-15T09:00:00.000Z',
    });
  });

  it('follows a yearly period with a year', () => {
    const year = { start: '2027-04-15T00:00:00Z', end: '2028-04-15T00:00:00Z' };

    expect(paymentOf(invoicePaid(['price_carry_all'], [year])).rollover).toEqual({
      expiresAt: '2029-04-15T00:00:00.000Z',
    });
  });

  it('follows a period of 30 days (not a whole month) with 30 days more', () => {
    const event = stripeEvent(
      'invoice.paid',
      withPeriodEnds(invoice({ shape, lines: [{ priceId: 'price_carry_100' }] }), ['2027-03-31T00:00:00Z']),
    );

    expect(paymentOf(event).rollover).toEqual({ creditsMax: 100, expiresAt: '2027-04-30T00:00:00.000Z' });
  });

  it('takes the next period of the line whose period ends latest', () => {
    const event = invoicePaid(
      ['price_carry_100', 'price_carry_100'],
      [JANUARY_31, { start: '2027-02-15T00:00:00Z', end: '2027-03-15T00:00:00Z' }],
    );

    expect(paymentOf(event)).toMatchObject({
      expiresAt: '2027-03-15T00:00:00.000Z',
      rollover: { creditsMax: 100, expiresAt: '2027-04-15T00:00:00.000Z' },
    });
  });

  it('of lines ending together, takes the next period that ends latest', () => {
    const event = invoicePaid(
      ['price_carry_100', 'price_carry_100'],
      [
        { start: '2027-02-21T00:00:00Z', end: '2027-02-28T00:00:00Z' },
        { start: '2027-01-28T00:00:00Z', end: '2027-02-28T00:00:00Z' },
      ],
    );

    expect(paymentOf(event).rollover?.expiresAt).toBe('2027-03-28T00:00:00.000Z');
  });

  it.each([
    ['"all" over a number', ['price_carry_100', 'price_carry_all'], undefined],
    ['the larger number', ['price_carry_250', 'price_carry_100'], 250],
    ['a number over "none"', ['price_carry_none', 'price_carry_100'], 100],
    ['a number over a plan without rollover', ['price_carry_100', 'price_lapses'], 100],
  ])('takes the most generous carry-over of the lines: %s', (_case, prices, creditsMax) => {
    const payment = paymentOf(invoicePaid(prices, [JANUARY_31, JANUARY_31]));

    expect(payment.rollover).toEqual({
      ...(creditsMax === undefined ? {} : { creditsMax }),
      expiresAt: '2027-03-31T00:00:00.000Z',
    });
  });

  it('carries nothing when another line never expires: the credits never do', () => {
    const payment = paymentOf(invoicePaid(['price_carry_100', 'price_basic_monthly'], [JANUARY_31, JANUARY_31]));

    expect(payment).not.toHaveProperty('expiresAt');
    expect(payment).not.toHaveProperty('rollover');
  });

  it('carries nothing when a pack billed with the plan outlasts the period: the credits lapse at the pack’s end', () => {
    const payment = paymentOf(invoicePaid(['price_carry_100', 'price_year_pack'], [JANUARY_31, JANUARY_31]));

    expect(payment.expiresAt).toBe('2028-01-31T00:05:00.000Z');
    expect(payment).not.toHaveProperty('rollover');
  });

  it('carries over when a pack billed with the plan lapses before the period ends', () => {
    const payment = paymentOf(invoicePaid(['price_carry_100', 'price_day_pack'], [JANUARY_31, JANUARY_31]));

    expect(payment).toMatchObject({
      expiresAt: '2027-02-28T00:00:00.000Z',
      rollover: { creditsMax: 100, expiresAt: '2027-03-31T00:00:00.000Z' },
    });
  });

  it('keeps the carry-over on a payment that will be parked (no user): an assignment credits it on its terms', () => {
    const payment = paymentOf(invoicePaid(['price_carry_100'], [JANUARY_31]));

    expect(payment.userId).toBeUndefined();
    expect(payment.rollover).toEqual({ creditsMax: 100, expiresAt: '2027-03-31T00:00:00.000Z' });
  });

  it('is the same on every delivery of one event', () => {
    const event = invoicePaid(['price_carry_100'], [JANUARY_31]);

    expect(paymentOf(structuredClone(event)).rollover).toEqual(paymentOf(event).rollover);
  });

  it('refuses a line of a carrying plan whose period does not end after it starts, naming the field', () => {
    const event = invoicePaid(['price_carry_100'], [{ start: JANUARY_31.end, end: JANUARY_31.end }]);

    const error = (() => {
      try {
        meaningOf(event, CATALOG);
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();

    expect(error).toBeInstanceOf(StripeObjectError);
    expect((error as StripeObjectError).field).toBe('data.object.lines.data[0].period.start');
  });
});

it('gives a one-off payment of a pack no carry-over', () => {
  const event = checkoutSessionCompleted({ client_reference_id: 'user-42', metadata: { packId: 'year_pack' } });

  expect(paymentOf(event)).not.toHaveProperty('rollover');
});
