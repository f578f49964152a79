import {
  type InvoiceShape,
  type StripeTestEvent,
  checkoutSessionAsyncPaymentSucceeded,
  checkoutSessionCompleted,
  invoice,
  paymentIntentSucceeded,
  stripeEvent,
} from '../../../test/support/stripe-events';
import { unixSeconds, withPeriodEnds } from '../../../test/support/stripe-expiring-payments';
import type { StripeCatalog } from './stripe-catalog';
import { StripeObjectError, meaningOf } from './stripe-event.mapping';
import type { StripePayment } from './stripe-event.meaning';

/**
 * When the catalog makes a payment's credits expire: a pack's `expiresAfter`
 * from the `created` of the event that reports the payment, a plan's period
 * end with `expiresAtPeriodEnd`, in both invoice shapes.
 */
const CATALOG: StripeCatalog = {
  packs: [
    { packId: 'credits_100', priceId: 'price_credits_100', creditsPerUnit: 100, metadataCreditsAllowed: false },
    {
      packId: 'month_pack',
      priceId: 'price_month_pack',
      creditsPerUnit: 200,
      metadataCreditsAllowed: true,
      expiresAfter: 'P1M',
    },
    {
      packId: 'day_pack',
      priceId: 'price_day_pack',
      creditsPerUnit: 50,
      metadataCreditsAllowed: false,
      expiresAfter: 'PT12H',
    },
    {
      packId: 'year_pack',
      priceId: 'price_year_pack',
      creditsPerUnit: 900,
      metadataCreditsAllowed: false,
      expiresAfter: 'P1Y',
    },
  ],
  plans: [
    { planId: 'basic_monthly', priceId: 'price_basic_monthly', creditsPerPeriod: 1000, metadataCreditsAllowed: false },
    {
      planId: 'allowance_monthly',
      priceId: 'price_allowance_monthly',
      creditsPerPeriod: 300,
      metadataCreditsAllowed: false,
      expiresAtPeriodEnd: true,
    },
    {
      planId: 'kept_monthly',
      priceId: 'price_kept_monthly',
      creditsPerPeriod: 400,
      metadataCreditsAllowed: false,
      expiresAtPeriodEnd: false,
    },
  ],
  paymentsWithoutPrice: { metadataCreditsAllowed: true },
};

const USER_ID = 'user-42';
/** The last day of January: `P1M` from it ends on the last day of February. */
const PAID_AT = '2027-01-31T10:00:00Z';
const paidAt = { created: unixSeconds(PAID_AT) };

function paymentOf(event: StripeTestEvent): StripePayment {
  const meaning = meaningOf(event, CATALOG);
  if (meaning.kind !== 'payment') throw new Error(`expected a payment, got ${JSON.stringify(meaning)}`);
  return meaning.payment;
}

const packSession = (packId: string, overrides = {}) =>
  checkoutSessionCompleted({ client_reference_id: USER_ID, metadata: { packId }, ...overrides }, paidAt);

const lineItems = (...prices: string[]) => ({
  line_items: {
    object: 'list',
    data: prices.map((price) => ({ price: { id: price, object: 'price' }, quantity: 1 })),
  },
});

describe('the expiry of a one-off payment of a pack', () => {
  it('adds the pack’s expiresAfter to the created of the event, with calendar months (31 January + P1M = 28 February)', () => {
    expect(paymentOf(packSession('month_pack')).expiresAt).toBe('2027-02-28T10:00:00.000Z');
  });

  it('adds hours in UTC', () => {
    expect(paymentOf(packSession('day_pack')).expiresAt).toBe('2027-01-31T22:00:00.000Z');
  });

  it('counts from the event, not from when the Checkout session was created (checkout may begin a day earlier)', () => {
    const event = packSession('day_pack', { created: unixSeconds('2027-01-30T09:00:00Z') });

    expect(paymentOf(event).expiresAt).toBe('2027-01-31T22:00:00.000Z');
  });

  it('is the same on every delivery of one event, whenever it arrives', () => {
    const event = packSession('month_pack');

    expect(paymentOf(structuredClone(event)).expiresAt).toBe(paymentOf(event).expiresAt);
  });

  it('counts a delayed payment from checkout.session.async_payment_succeeded, the event that reports it paid', () => {
    const event = checkoutSessionAsyncPaymentSucceeded(
      { client_reference_id: USER_ID, metadata: { packId: 'month_pack' } },
      { created: unixSeconds('2027-03-03T08:30:00Z') },
    );

    expect(paymentOf(event).expiresAt).toBe('2027-04-03T08:30:00.000Z');
  });

  it('gives a payment intent made with our metadata the same expiry, from its own event', () => {
    const event = paymentIntentSucceeded({ metadata: { userId: USER_ID, packId: 'month_pack' } }, paidAt);

    expect(paymentOf(event).expiresAt).toBe('2027-02-28T10:00:00.000Z');
  });

  it('finds the pack by the price in metadata too', () => {
    const event = paymentIntentSucceeded({ metadata: { userId: USER_ID, priceId: 'price_day_pack' } }, paidAt);

    expect(paymentOf(event).expiresAt).toBe('2027-01-31T22:00:00.000Z');
  });

  it('keeps the pack’s expiry when metadata.credits replaces its credits', () => {
    const payment = paymentOf(packSession('month_pack', { metadata: { packId: 'month_pack', credits: '250' } }));

    expect(payment).toMatchObject({ credits: { kind: 'known', credits: 250 }, expiresAt: '2027-02-28T10:00:00.000Z' });
  });

  it('takes the latest expiry of the packs of the session’s line items: the payment is one grant', () => {
    const event = checkoutSessionCompleted(
      { client_reference_id: USER_ID, ...lineItems('price_day_pack', 'price_year_pack', 'price_month_pack') },
      paidAt,
    );

    expect(paymentOf(event).expiresAt).toBe('2028-01-31T10:00:00.000Z');
  });

  it('never expires when one of its packs never does', () => {
    const event = checkoutSessionCompleted(
      { client_reference_id: USER_ID, ...lineItems('price_day_pack', 'price_credits_100') },
      paidAt,
    );

    expect(paymentOf(event)).not.toHaveProperty('expiresAt');
  });

  it.each<[string, StripeTestEvent]>([
    ['a pack without expiresAfter', packSession('credits_100')],
    ['credits from metadata alone (no pack)', paymentIntentSucceeded({ metadata: { userId: USER_ID, credits: '30' } })],
    ['a pack the catalog does not have (parked)', packSession('no_such_pack')],
  ])('has no expiry for %s', (_case, event) => {
    expect(paymentOf(event)).not.toHaveProperty('expiresAt');
  });
});

describe.each<InvoiceShape>(['legacy', 'current'])('the expiry of a paid invoice of the %s shape', (shape) => {
  const invoicePaidWith = (prices: string[], periodEnds: string[]) =>
    stripeEvent(
      'invoice.paid',
      withPeriodEnds(invoice({ shape, lines: prices.map((priceId) => ({ priceId })) }), periodEnds),
      paidAt,
    );

  it('is the end of the period its line paid for, for a plan with expiresAtPeriodEnd', () => {
    const payment = paymentOf(invoicePaidWith(['price_allowance_monthly'], ['2027-03-01T00:00:00Z']));

    expect(payment).toMatchObject({ credits: { kind: 'known', credits: 300 }, expiresAt: '2027-03-01T00:00:00.000Z' });
  });

  it('is the latest end among the plan’s lines when they end at different times', () => {
    const event = invoicePaidWith(
      ['price_allowance_monthly', 'price_allowance_monthly', 'price_tax'],
      ['2027-03-01T00:00:00Z', '2027-03-15T00:00:00Z', '2027-02-01T00:00:00Z'],
    );

    expect(paymentOf(event).expiresAt).toBe('2027-03-15T00:00:00.000Z');
  });

  it.each([
    ['a plan without expiresAtPeriodEnd', ['price_basic_monthly']],
    ['a plan with expiresAtPeriodEnd false', ['price_kept_monthly']],
    ['an expiring plan billed with one that never expires', ['price_allowance_monthly', 'price_basic_monthly']],
    ['an expiring plan billed with a pack that never expires', ['price_allowance_monthly', 'price_credits_100']],
  ])('never expires for %s', (_case, prices) => {
    const event = invoicePaidWith(
      prices,
      prices.map(() => '2027-03-01T00:00:00Z'),
    );

    expect(paymentOf(event)).not.toHaveProperty('expiresAt');
  });

  it('counts a pack billed on the invoice from the invoice.paid event', () => {
    const event = invoicePaidWith(['price_allowance_monthly', 'price_day_pack'], ['2027-01-31T12:00:00Z', PAID_AT]);

    expect(paymentOf(event).expiresAt).toBe('2027-01-31T22:00:00.000Z');
  });

  it('refuses a line of an expiring plan without a period end, naming the field', () => {
    const object = invoice({ shape, lines: [{ priceId: 'price_allowance_monthly' }] });
    (object.lines as { data: Array<Record<string, unknown>> }).data[0].period = null;

    const error = (() => {
      try {
        meaningOf(stripeEvent('invoice.paid', object), CATALOG);
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();

    expect(error).toBeInstanceOf(StripeObjectError);
    expect((error as StripeObjectError).field).toBe('data.object.lines.data[0].period');
  });
});
