import Stripe from 'stripe';
import { AMOUNT_CREDITS_MAX } from '@libs/credits';
import {
  type InvoiceShape,
  type Overrides,
  type StripeTestEvent,
  chargeRefunded,
  chargeSucceeded,
  checkoutSession,
  checkoutSessionAsyncPaymentSucceeded,
  checkoutSessionCompleted,
  dispute,
  disputeClosed,
  disputeCreated,
  invoicePaid,
  invoicePaymentPaid,
  invoicePaymentFailed,
  invoicePaymentSucceeded,
  paymentIntentSucceeded,
  refundFailed,
  refundUpdated,
  signedDelivery,
  stripeEvent,
  subscription,
  subscriptionUpdated,
} from '../../../test/support/stripe-events';
import type { StripeCatalog } from './stripe-catalog';
import { StripeObjectError, meaningOf } from './stripe-event.mapping';
import type { CreditsOfPayment, StripeEventMeaning, StripePayment, StripeRefundReversal } from './stripe-event.meaning';

const CATALOG: StripeCatalog = {
  packs: [
    { packId: 'credits_100', priceId: 'price_credits_100', creditsPerUnit: 100, metadataCreditsAllowed: false },
    { packId: 'credits_500', priceId: 'price_credits_500', creditsPerUnit: 500, metadataCreditsAllowed: false },
    { packId: 'credits_custom', priceId: 'price_credits_custom', creditsPerUnit: 10, metadataCreditsAllowed: true },
  ],
  plans: [
    { planId: 'basic_monthly', priceId: 'price_basic_monthly', creditsPerPeriod: 1000, metadataCreditsAllowed: false },
    { planId: 'pro_monthly', priceId: 'price_pro_monthly', creditsPerPeriod: 5000, metadataCreditsAllowed: true },
  ],
  paymentsWithoutPrice: { metadataCreditsAllowed: true },
};

/** The same catalog, refusing `metadata.credits` on payments that name no price. */
const STRICT_CATALOG: StripeCatalog = { ...CATALOG, paymentsWithoutPrice: { metadataCreditsAllowed: false } };

const USER_ID = 'user-42';

function paymentOf(event: StripeTestEvent, catalog = CATALOG): StripePayment {
  const meaning = meaningOf(event, catalog);
  if (meaning.kind !== 'payment') throw new Error(`expected a payment, got ${JSON.stringify(meaning)}`);
  return meaning.payment;
}

function creditsOf(event: StripeTestEvent, catalog = CATALOG): CreditsOfPayment {
  return paymentOf(event, catalog).credits;
}

function ignoredReasonOf(event: StripeTestEvent): string {
  const meaning = meaningOf(event, CATALOG);
  if (meaning.kind !== 'ignored') throw new Error(`expected ignored, got ${JSON.stringify(meaning)}`);
  return meaning.reason;
}

/** The error `run` throws; fails the test if it throws nothing. */
function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, nothing was thrown');
}

describe('meaningOf checkout.session.completed', () => {
  describe('when the session is paid in payment mode', () => {
    it('is a payment named by its payment intent, with the amount, currency and a source naming both', () => {
      const event = checkoutSessionCompleted(
        {
          id: 'cs_test_1',
          payment_intent: 'pi_1',
          customer: 'cus_1',
          amount_total: 900,
          currency: 'eur',
          metadata: { userId: USER_ID, packId: 'credits_100' },
        },
        { id: 'evt_1' },
      );

      expect(meaningOf(event, CATALOG)).toEqual<StripeEventMeaning>({
        kind: 'payment',
        payment: {
          paymentId: 'pi_1',
          userId: USER_ID,
          customerId: 'cus_1',
          credits: { kind: 'known', credits: 100 },
          amountPaid: 900,
          currency: 'eur',
          source: {
            kind: 'stripe',
            stripeEventId: 'evt_1',
            checkoutSessionId: 'cs_test_1',
            paymentIntentId: 'pi_1',
            customerId: 'cus_1',
          },
        },
      });
    });

    it('is named by the session itself when it has no payment intent, and the source names none', () => {
      const event = checkoutSessionCompleted({
        id: 'cs_test_2',
        payment_intent: null,
        metadata: { userId: USER_ID, packId: 'credits_100' },
      });

      const payment = paymentOf(event);

      expect(payment.paymentId).toBe('cs_test_2');
      expect(payment.customerId).toBeUndefined();
      expect(payment.source).toEqual({ kind: 'stripe', stripeEventId: event.id, checkoutSessionId: 'cs_test_2' });
      expect(Object.keys(payment.source)).not.toContain('paymentIntentId');
    });

    it('reads the ids of an expanded payment intent and customer', () => {
      const event = checkoutSessionCompleted({
        payment_intent: { id: 'pi_expanded', object: 'payment_intent' },
        customer: { id: 'cus_expanded', object: 'customer' },
        metadata: { userId: USER_ID, packId: 'credits_100' },
      });

      const payment = paymentOf(event);

      expect(payment.paymentId).toBe('pi_expanded');
      expect(payment.customerId).toBe('cus_expanded');
      expect(payment.source.paymentIntentId).toBe('pi_expanded');
    });
  });

  describe('when the session is not paid', () => {
    it('waits for the async payment of an unpaid session', () => {
      const event = checkoutSessionCompleted({ payment_status: 'unpaid', metadata: { userId: USER_ID } });

      expect(ignoredReasonOf(event)).toMatch(/waiting for its async payment/);
    });

    it('ignores a session that required no payment: nothing paid', () => {
      const event = checkoutSessionCompleted({ payment_status: 'no_payment_required', amount_total: 0 });

      expect(ignoredReasonOf(event)).toMatch(/^nothing paid/);
    });
  });

  describe('when the session is not a one-off payment', () => {
    it('ignores a subscription session: subscriptions are credited per paid invoice', () => {
      const event = checkoutSessionCompleted({ mode: 'subscription', subscription: 'sub_1', payment_intent: null });

      expect(ignoredReasonOf(event)).toMatch(/subscription is credited per paid invoice/);
    });

    it('ignores a setup session, which takes no payment', () => {
      const event = checkoutSessionCompleted({ mode: 'setup', payment_status: 'no_payment_required' });

      expect(ignoredReasonOf(event)).toMatch(/setup mode takes no payment/);
    });
  });
});

describe('meaningOf the other checkout.session events', () => {
  it('credits checkout.session.async_payment_succeeded as the same payment the completed session would be', () => {
    const session = { id: 'cs_test_3', payment_intent: 'pi_3', metadata: { userId: USER_ID, packId: 'credits_500' } };
    const completed = checkoutSessionCompleted(session, { id: 'evt_3' });
    const asyncSucceeded = checkoutSessionAsyncPaymentSucceeded(session, { id: 'evt_3' });

    expect(meaningOf(asyncSucceeded, CATALOG)).toEqual(meaningOf(completed, CATALOG));
    expect(paymentOf(asyncSucceeded).credits).toEqual({ kind: 'known', credits: 500 });
  });

  it('ignores the async payment of a subscription session too', () => {
    const event = checkoutSessionAsyncPaymentSucceeded({ mode: 'subscription' });

    expect(ignoredReasonOf(event)).toMatch(/credited per paid invoice/);
  });

  it.each([
    ['checkout.session.async_payment_failed', /payment of the Checkout session failed/],
    ['checkout.session.expired', /expired/],
  ])('ignores %s: nothing was paid', (type, reason) => {
    const event = stripeEvent(type, checkoutSession({ payment_status: 'unpaid', status: 'expired' }));

    expect(ignoredReasonOf(event)).toMatch(reason);
  });
});

describe('the user of a payment', () => {
  it('is metadata.userId, before client_reference_id', () => {
    const event = checkoutSessionCompleted({
      client_reference_id: 'from-reference',
      metadata: { userId: 'from-metadata', packId: 'credits_100' },
    });

    expect(paymentOf(event).userId).toBe('from-metadata');
  });

  it('is client_reference_id when the metadata names none', () => {
    const event = checkoutSessionCompleted({
      client_reference_id: 'from-reference',
      metadata: { packId: 'credits_100' },
    });

    expect(paymentOf(event).userId).toBe('from-reference');
  });

  it.each(['user 42', 'user/42', 'a'.repeat(129), ''])('counts the invalid metadata.userId %p as absent', (invalid) => {
    const event = checkoutSessionCompleted({
      client_reference_id: 'from-reference',
      metadata: { userId: invalid, packId: 'credits_100' },
    });

    expect(paymentOf(event).userId).toBe('from-reference');
  });

  it('is undefined when no candidate is a valid user id, so the payment is parked', () => {
    const event = checkoutSessionCompleted({
      client_reference_id: 'user 42',
      metadata: { userId: 'ü', packId: 'credits_100' },
    });

    expect(paymentOf(event).userId).toBeUndefined();
  });

  it('accepts every character of the user id pattern, up to 128 of them', () => {
    const userId = `Ab9._:@-${'x'.repeat(120)}`;
    const event = checkoutSessionCompleted({ metadata: { userId, packId: 'credits_100' } });

    expect(paymentOf(event).userId).toBe(userId);
  });
});

describe('the credits of a one-off payment', () => {
  function sessionWith(metadata: Record<string, string>, overrides: Overrides = {}): StripeTestEvent {
    return checkoutSessionCompleted({ ...overrides, metadata: { userId: USER_ID, ...metadata } });
  }

  describe('when the metadata names a pack of the catalog', () => {
    it('buys the pack named by metadata.packId', () => {
      expect(creditsOf(sessionWith({ packId: 'credits_500' }))).toEqual({ kind: 'known', credits: 500 });
    });

    it('buys the pack named by metadata.priceId', () => {
      expect(creditsOf(sessionWith({ priceId: 'price_credits_100' }))).toEqual({ kind: 'known', credits: 100 });
    });

    it('buys metadata.quantity units of it', () => {
      expect(creditsOf(sessionWith({ packId: 'credits_100', quantity: '3' }))).toEqual({ kind: 'known', credits: 300 });
    });

    it('accepts both packId and priceId when they name the same pack', () => {
      const event = sessionWith({ packId: 'credits_500', priceId: 'price_credits_500' });

      expect(creditsOf(event)).toEqual({ kind: 'known', credits: 500 });
    });

    it.each(['0', '-1', '1.5', 'abc', '2e3', ' 2'])('cannot tell the credits of metadata.quantity %p', (quantity) => {
      expect(creditsOf(sessionWith({ packId: 'credits_100', quantity }))).toEqual({
        kind: 'unknown',
        reason: `metadata.quantity "${quantity}" is not a positive integer`,
      });
    });

    it('cannot tell credits above AMOUNT_CREDITS_MAX, however many units', () => {
      const quantity = String(AMOUNT_CREDITS_MAX / 500 + 1);

      expect(creditsOf(sessionWith({ packId: 'credits_500', quantity }))).toEqual({
        kind: 'unknown',
        reason: `${AMOUNT_CREDITS_MAX + 500} credits exceed the most one payment may credit (${AMOUNT_CREDITS_MAX})`,
      });
    });
  });

  describe('when metadata.credits is given with a pack', () => {
    it('replaces the catalog figure when the pack allows it', () => {
      const event = sessionWith({ packId: 'credits_custom', quantity: '2', credits: '250' });

      expect(creditsOf(event)).toEqual({ kind: 'known', credits: 250 });
    });

    it('is disregarded when the pack does not allow it: the catalog figure stands', () => {
      const event = sessionWith({ packId: 'credits_100', credits: '99999' });

      expect(creditsOf(event)).toEqual({ kind: 'known', credits: 100 });
    });

    it.each(['abc', '0', '-5', '12.5', String(AMOUNT_CREDITS_MAX + 1)])(
      'cannot tell the credits of an allowed metadata.credits %p',
      (credits) => {
        expect(creditsOf(sessionWith({ packId: 'credits_custom', credits }))).toEqual({
          kind: 'unknown',
          reason: `metadata.credits "${credits}" is not a positive integer (of at most ${AMOUNT_CREDITS_MAX})`,
        });
      },
    );
  });

  describe('when the metadata names what the catalog does not have', () => {
    it.each<[string, Record<string, string>, string]>([
      ['an unknown pack', { packId: 'credits_999' }, 'pack credits_999 is not in the catalog'],
      ['an unknown price', { priceId: 'price_x' }, 'price price_x is not in the catalog'],
      [
        "a plan's price",
        { priceId: 'price_basic_monthly' },
        "price price_basic_monthly is a subscription plan's, credited per paid invoice, not a pack's",
      ],
      [
        'a pack and another pack’s price',
        { packId: 'credits_100', priceId: 'price_credits_500' },
        "metadata names pack credits_100 and price price_credits_500, which is not that pack's price",
      ],
    ])('cannot tell the credits of %s', (_case, metadata, reason) => {
      expect(creditsOf(sessionWith(metadata))).toEqual({ kind: 'unknown', reason });
    });
  });

  describe('when the session has its line items expanded', () => {
    const lineItems = (...lines: [string | object, number | null][]) => ({
      line_items: {
        object: 'list',
        data: lines.map(([price, quantity]) => ({ object: 'item', price, quantity })),
      },
    });

    it('buys each line’s pack times the line’s quantity', () => {
      const event = sessionWith(
        {},
        lineItems([{ id: 'price_credits_100', object: 'price' }, 2], [{ id: 'price_credits_500', object: 'price' }, 1]),
      );

      expect(creditsOf(event)).toEqual({ kind: 'known', credits: 700 });
    });

    it('counts a line without a quantity as one unit', () => {
      expect(creditsOf(sessionWith({}, lineItems(['price_credits_500', null])))).toEqual({
        kind: 'known',
        credits: 500,
      });
    });

    it('cannot tell the credits when a line’s price is not a pack', () => {
      const event = sessionWith({}, lineItems(['price_credits_100', 1], ['price_unknown', 1]));

      expect(creditsOf(event)).toEqual({ kind: 'unknown', reason: 'price price_unknown is not in the catalog' });
    });

    it('prefers the pack the metadata names to the lines', () => {
      expect(creditsOf(sessionWith({ packId: 'credits_500' }, lineItems(['price_credits_100', 1])))).toEqual({
        kind: 'known',
        credits: 500,
      });
    });
  });

  describe('when no price or pack is named', () => {
    it('takes metadata.credits when the catalog allows it for payments without a price', () => {
      expect(creditsOf(sessionWith({ credits: '42' }))).toEqual({ kind: 'known', credits: 42 });
    });

    it('cannot tell the credits when the catalog does not allow metadata credits', () => {
      expect(creditsOf(sessionWith({ credits: '42' }), STRICT_CATALOG)).toEqual({
        kind: 'unknown',
        reason: 'no price or pack named and metadata credits not allowed',
      });
    });

    it('cannot tell the credits when metadata.credits is absent', () => {
      expect(creditsOf(sessionWith({}))).toEqual({
        kind: 'unknown',
        reason: 'no price or pack named and no metadata.credits',
      });
    });

    it('cannot tell the credits of a metadata.credits that is not a positive integer', () => {
      expect(creditsOf(sessionWith({ credits: 'abc' }))).toEqual({
        kind: 'unknown',
        reason: `metadata.credits "abc" is not a positive integer (of at most ${AMOUNT_CREDITS_MAX})`,
      });
    });
  });
});

describe('meaningOf payment_intent.succeeded', () => {
  it('is a payment named by the intent, for amount_received, when its metadata is the ledger’s', () => {
    const event = paymentIntentSucceeded(
      {
        id: 'pi_7',
        customer: 'cus_7',
        amount: 2000,
        amount_received: 1500,
        currency: 'gbp',
        metadata: { userId: USER_ID, priceId: 'price_credits_500', quantity: '2' },
      },
      { id: 'evt_7' },
    );

    expect(meaningOf(event, CATALOG)).toEqual<StripeEventMeaning>({
      kind: 'payment',
      payment: {
        paymentId: 'pi_7',
        userId: USER_ID,
        customerId: 'cus_7',
        credits: { kind: 'known', credits: 1000 },
        amountPaid: 1500,
        currency: 'gbp',
        source: { kind: 'stripe', stripeEventId: 'evt_7', paymentIntentId: 'pi_7', customerId: 'cus_7' },
      },
    });
  });

  it.each(['userId', 'credits', 'packId', 'priceId'])('is a payment when the metadata holds only %s', (key) => {
    const event = paymentIntentSucceeded({ metadata: { [key]: key === 'credits' ? '5' : 'credits_100' } });

    expect(meaningOf(event, CATALOG).kind).toBe('payment');
  });

  it('takes metadata.credits for an intent without a price, when the catalog allows it', () => {
    const event = paymentIntentSucceeded({ metadata: { userId: USER_ID, credits: '75' } });

    expect(creditsOf(event)).toEqual({ kind: 'known', credits: 75 });
  });

  it('does not read client_reference_id, which only sessions have', () => {
    const event = paymentIntentSucceeded({ client_reference_id: USER_ID, metadata: { packId: 'credits_100' } });

    expect(paymentOf(event).userId).toBeUndefined();
  });

  it('ignores an intent without ledger metadata: its Checkout session or invoice credits it', () => {
    const event = paymentIntentSucceeded({ metadata: { orderId: '1234' } });

    expect(ignoredReasonOf(event)).toBe(
      'no ledger metadata: a Checkout or invoice payment is credited by its own event',
    );
  });

  it('ignores an intent that names its invoice (older API versions)', () => {
    const event = paymentIntentSucceeded({ invoice: 'in_1', metadata: { userId: USER_ID } });

    expect(ignoredReasonOf(event)).toBe('credited by its invoice.paid');
  });
});

describe('meaningOf charge.succeeded', () => {
  it('ignores it: the charge is credited through its payment intent or session', () => {
    expect(ignoredReasonOf(chargeSucceeded({ metadata: { userId: USER_ID } }))).toMatch(
      /credited through its payment intent or Checkout session/,
    );
  });
});

describe('meaningOf invoice.paid', () => {
  const SHAPES: InvoiceShape[] = ['legacy', 'current'];

  describe.each(SHAPES)('when the invoice has the %s shape', (shape) => {
    it('is a payment named by the invoice, crediting its plan for the period', () => {
      const event = invoicePaid(
        {
          shape,
          id: 'in_1',
          subscriptionId: 'sub_1',
          subscriptionMetadata: { userId: USER_ID },
          overrides: { customer: 'cus_1', currency: 'eur', payment_intent: null },
        },
        { id: 'evt_1' },
      );

      expect(meaningOf(event, CATALOG)).toEqual<StripeEventMeaning>({
        kind: 'payment',
        payment: {
          paymentId: 'in_1',
          userId: USER_ID,
          customerId: 'cus_1',
          credits: { kind: 'known', credits: 1000 },
          amountPaid: 1000,
          currency: 'eur',
          source: {
            kind: 'stripe',
            stripeEventId: 'evt_1',
            invoiceId: 'in_1',
            subscriptionId: 'sub_1',
            customerId: 'cus_1',
          },
        },
      });
    });

    it('prefers the invoice’s own metadata.userId to the subscription’s', () => {
      const event = invoicePaid({
        shape,
        subscriptionMetadata: { userId: 'from-subscription' },
        overrides: { metadata: { userId: 'from-invoice' } },
      });

      expect(paymentOf(event).userId).toBe('from-invoice');
    });

    it('has no user when the subscription’s metadata.userId is invalid', () => {
      expect(paymentOf(invoicePaid({ shape, subscriptionMetadata: { userId: 'no spaces' } })).userId).toBeUndefined();
    });

    it('credits the plan times the line’s quantity, and the lines of several prices', () => {
      const event = invoicePaid({
        shape,
        lines: [
          { priceId: 'price_basic_monthly', quantity: 3 },
          { priceId: 'price_credits_500', quantity: 2 },
          { priceId: 'price_tax_or_other_product' },
        ],
      });

      expect(creditsOf(event)).toEqual({ kind: 'known', credits: 4000 });
    });

    it('cannot tell the credits when no line’s price is in the catalog, and lists the prices seen', () => {
      const event = invoicePaid({ shape, lines: [{ priceId: 'price_a' }, { priceId: 'price_b' }] });

      expect(creditsOf(event)).toEqual({
        kind: 'unknown',
        reason: 'no price of the invoice is in the catalog (prices seen: price_a, price_b)',
      });
    });

    it('cannot tell the credits of an invoice without lines', () => {
      const event = invoicePaid({ shape, lines: [], overrides: { amount_paid: 1000 } });

      expect(creditsOf(event)).toEqual({ kind: 'unknown', reason: 'no line of the invoice names a price' });
    });

    it('cannot tell credits above AMOUNT_CREDITS_MAX', () => {
      const quantity = AMOUNT_CREDITS_MAX / 5000 + 1;
      const event = invoicePaid({ shape, lines: [{ priceId: 'price_pro_monthly', quantity }] });

      expect(creditsOf(event)).toEqual({
        kind: 'unknown',
        reason: `${AMOUNT_CREDITS_MAX + 5000} credits exceed the most one payment may credit (${AMOUNT_CREDITS_MAX})`,
      });
    });

    it('credits a one-off invoice as the payment of its payment intent: its Checkout session is the same payment', () => {
      const event = invoicePaid({
        shape,
        subscriptionId: null,
        paymentIntentId: 'pi_one_off',
        lines: [{ priceId: 'price_credits_100' }],
      });

      const payment = paymentOf(event);

      expect(payment.paymentId).toBe('pi_one_off');
      expect(payment.credits).toEqual({ kind: 'known', credits: 100 });
      expect(payment.source.paymentIntentId).toBe('pi_one_off');
      expect(payment.source.subscriptionId).toBeUndefined();
    });

    it('ignores a one-off invoice whose payment intent it does not name', () => {
      const event = invoicePaid({
        shape,
        subscriptionId: null,
        lines: [{ priceId: 'price_credits_100' }],
        overrides: { payment_intent: null },
      });

      expect(ignoredReasonOf(event)).toMatch(/^a one-off invoice without a payment intent/);
    });

    it('counts no proration and no credit line: only lines charged in full buy a period', () => {
      const event = invoicePaid({
        shape,
        lines: [
          { priceId: 'price_basic_monthly', amount: -500, proration: true },
          { priceId: 'price_pro_monthly', amount: 1000, proration: true },
          { priceId: 'price_basic_monthly', amount: 1000 },
          { priceId: 'price_pro_monthly', amount: -1000 },
        ],
      });

      expect(paymentOf(event).credits).toEqual({ kind: 'known', credits: 1000 });
    });

    it('ignores a plan change’s invoice: prorations buy no period, the next period’s invoice credits the new plan', () => {
      const event = invoicePaid({
        shape,
        lines: [{ priceId: 'price_pro_monthly', proration: true }],
        overrides: { billing_reason: 'subscription_update' },
      });

      expect(ignoredReasonOf(event)).toMatch(/^a plan change billed as prorations/);
    });

    it('ignores an invoice paid with nothing (a trial, a full discount)', () => {
      const event = invoicePaid({ shape, overrides: { amount_paid: 0 } });

      expect(ignoredReasonOf(event)).toMatch(/^nothing paid/);
    });
  });

  it('reads invoice_payment.paid as a link from the invoice to its payment intent, moving no credits', () => {
    expect(ignoredReasonOf(invoicePaymentPaid('in_7', 'pi_7'))).toBe(
      "links invoice in_7 to payment intent pi_7, to match the invoice's refunds",
    );
  });

  it('gives the same payment for both shapes of one invoice', () => {
    const options = {
      id: 'in_2',
      subscriptionId: 'sub_2',
      subscriptionMetadata: { userId: USER_ID },
      lines: [{ priceId: 'price_pro_monthly', quantity: 2 }],
      overrides: { customer: 'cus_2', payment_intent: null },
    };

    const legacy = meaningOf(invoicePaid({ shape: 'legacy', ...options }, { id: 'evt_2' }), CATALOG);
    const current = meaningOf(invoicePaid({ shape: 'current', ...options }, { id: 'evt_2' }), CATALOG);

    expect(legacy).toEqual(current);
    expect(legacy.kind === 'payment' && legacy.payment.credits).toEqual({ kind: 'known', credits: 10000 });
  });

  describe('when the invoice has the legacy shape', () => {
    it('names the payment intent the invoice names', () => {
      const event = invoicePaid({ shape: 'legacy', paymentIntentId: 'pi_9' });

      expect(paymentOf(event).source.paymentIntentId).toBe('pi_9');
    });

    it('reads an expanded subscription', () => {
      const event = invoicePaid({ shape: 'legacy', overrides: { subscription: subscription({ id: 'sub_expanded' }) } });

      expect(paymentOf(event).source.subscriptionId).toBe('sub_expanded');
    });

    it('lets the price’s metadata.credits replace the figure per period when the plan allows it', () => {
      const event = invoicePaid({
        shape: 'legacy',
        lines: [{ priceId: 'price_pro_monthly', quantity: 2, priceMetadata: { credits: '7000' } }],
      });

      expect(creditsOf(event)).toEqual({ kind: 'known', credits: 14000 });
    });

    it('disregards the price’s metadata.credits when the plan does not allow it', () => {
      const event = invoicePaid({
        shape: 'legacy',
        lines: [{ priceId: 'price_basic_monthly', priceMetadata: { credits: '7000' } }],
      });

      expect(creditsOf(event)).toEqual({ kind: 'known', credits: 1000 });
    });

    it('cannot tell the credits of an allowed price metadata.credits that is not a positive integer', () => {
      const event = invoicePaid({
        shape: 'legacy',
        lines: [{ priceId: 'price_pro_monthly', priceMetadata: { credits: 'lots' } }],
      });

      expect(creditsOf(event)).toEqual({
        kind: 'unknown',
        reason: `metadata.credits "lots" of price price_pro_monthly is not a positive integer (of at most ${AMOUNT_CREDITS_MAX})`,
      });
    });
  });

  it('ignores invoice.payment_succeeded, which Stripe sends with invoice.paid', () => {
    expect(ignoredReasonOf(invoicePaymentSucceeded({ shape: 'current' }))).toBe('handled through invoice.paid');
  });
});

describe('meaningOf charge.refunded', () => {
  it('is a refund with the cumulative refunded amount and what the charge took', () => {
    const event = chargeRefunded(
      {
        id: 'ch_1',
        payment_intent: 'pi_1',
        customer: 'cus_1',
        amount: 1000,
        amount_captured: 1000,
        amount_refunded: 300,
        currency: 'usd',
      },
      { id: 'evt_1', created: 1_740_819_600 },
    );

    expect(meaningOf(event, CATALOG)).toEqual<StripeEventMeaning>({
      kind: 'refund',
      refund: {
        stripeEventId: 'evt_1',
        chargeId: 'ch_1',
        paymentIntentId: 'pi_1',
        invoiceId: undefined,
        customerId: 'cus_1',
        amountRefundedTotal: 300,
        currency: 'usd',
        refundedAt: 1_740_819_600,
      },
    });
  });

  it('reads an expanded payment intent and the invoice older API versions name', () => {
    const event = chargeRefunded({ payment_intent: { id: 'pi_expanded' }, invoice: 'in_1' });

    expect(meaningOf(event, CATALOG)).toMatchObject({ refund: { paymentIntentId: 'pi_expanded', invoiceId: 'in_1' } });
  });
});

describe('meaningOf a refund that failed or was canceled', () => {
  const REFUND = {
    id: 're_1',
    charge: 'ch_1',
    payment_intent: 'pi_1',
    amount: 300,
    currency: 'usd',
    created: 1_740_819_600,
  };
  const EXPECTED: StripeRefundReversal = {
    stripeEventId: 'evt_1',
    refundId: 're_1',
    chargeId: 'ch_1',
    paymentIntentId: 'pi_1',
    amount: 300,
    currency: 'usd',
    status: 'failed',
    failureReason: 'expired_or_canceled_card',
    refundCreatedAt: 1_740_819_600,
    failedAt: 1_740_823_200,
  };

  it('gives back the refund on refund.failed, dated by the event', () => {
    const event = refundFailed(REFUND, { id: 'evt_1', created: 1_740_823_200 });

    expect(meaningOf(event, CATALOG)).toEqual<StripeEventMeaning>({ kind: 'refund-reversed', reversal: EXPECTED });
  });

  it.each(['refund.updated', 'charge.refund.updated'] as const)(
    'gives back the refund on the %s that moved it to failed',
    (type) => {
      const event = refundUpdated(REFUND, { type, id: 'evt_1', created: 1_740_823_200 });

      expect(meaningOf(event, CATALOG)).toEqual<StripeEventMeaning>({ kind: 'refund-reversed', reversal: EXPECTED });
    },
  );

  it('gives back a refund canceled while it waited for the customer, and reads an expanded charge', () => {
    const event = refundUpdated(
      {
        ...REFUND,
        charge: { id: 'ch_expanded', object: 'charge' },
        status: 'canceled',
        failure_reason: 'merchant_request',
      },
      { previousAttributes: { status: 'requires_action' } },
    );

    expect(meaningOf(event, CATALOG)).toMatchObject({
      kind: 'refund-reversed',
      reversal: { chargeId: 'ch_expanded', status: 'canceled', failureReason: 'merchant_request' },
    });
  });

  it('has no failure reason when Stripe gives none', () => {
    const event = refundFailed({ ...REFUND, failure_reason: undefined });

    expect(meaningOf(event, CATALOG)).toMatchObject({ reversal: { failureReason: undefined } });
  });

  it.each(['pending', 'succeeded', 'requires_action'])('ignores a refund.updated to %s', (status) => {
    const event = refundUpdated({ ...REFUND, status }, { previousAttributes: { status: 'pending' } });

    expect(ignoredReasonOf(event)).toBe(`refund re_1 is ${status}: its charge.refunded takes its credits back`);
  });

  it('ignores an update of a refund failed before it (its metadata): the update that failed it gives back', () => {
    const event = refundUpdated(REFUND, { previousAttributes: { metadata: { note: null } } });

    expect(ignoredReasonOf(event)).toBe(
      'refund re_1 was failed before this update: the update that made it so gives back its credits',
    );
  });

  it.each<[string, () => StripeTestEvent, string]>([
    ['a refund without its charge', () => refundFailed({ charge: null }), 'data.object.charge'],
    ['a refund without its amount', () => refundFailed({ amount: null }), 'data.object.amount'],
    [
      'a refund without its creation time',
      () => refundFailed({ created: undefined }, { created: 1 }),
      'data.object.created',
    ],
    ['a refund without an id', () => refundFailed({ id: undefined }), 'data.object.id'],
  ])('throws a StripeObjectError for %s', (_case, eventOf, field) => {
    expect(errorOf(() => meaningOf(eventOf(), CATALOG))).toMatchObject({ name: 'StripeObjectError', field });
  });
});

describe('meaningOf disputes', () => {
  const DISPUTE = { id: 'dp_1', charge: 'ch_1', payment_intent: 'pi_1', amount: 800, currency: 'usd' };
  const EXPECTED = {
    stripeEventId: 'evt_1',
    disputeId: 'dp_1',
    chargeId: 'ch_1',
    paymentIntentId: 'pi_1',
    amount: 800,
    currency: 'usd',
  };

  it('opens a dispute on charge.dispute.created', () => {
    expect(meaningOf(disputeCreated(DISPUTE, { id: 'evt_1' }), CATALOG)).toEqual({
      kind: 'dispute-opened',
      dispute: EXPECTED,
    });
  });

  it('reads an expanded charge', () => {
    const event = disputeCreated({ charge: { id: 'ch_expanded', object: 'charge' } });

    expect(meaningOf(event, CATALOG)).toMatchObject({ dispute: { chargeId: 'ch_expanded' } });
  });

  it.each(['won', 'lost'] as const)('closes a dispute as %s', (status) => {
    expect(meaningOf(disputeClosed({ ...DISPUTE, status }, { id: 'evt_1' }), CATALOG)).toEqual({
      kind: 'dispute-closed',
      dispute: EXPECTED,
      outcome: status,
    });
  });

  it.each(['warning_closed', 'prevented'])('releases a dispute closed %s as a win: no funds moved', (status) => {
    expect(meaningOf(disputeClosed({ status }), CATALOG)).toMatchObject({ kind: 'dispute-closed', outcome: 'won' });
  });

  it('ignores a dispute closed with a status it does not know, naming it', () => {
    expect(ignoredReasonOf(disputeClosed({ status: 'under_review' }))).toMatch(/status under_review/);
  });

  it('ignores charge.dispute.updated', () => {
    const event = stripeEvent('charge.dispute.updated', dispute());

    expect(ignoredReasonOf(event)).toBe('event type charge.dispute.updated changes no credits');
  });
});

describe('meaningOf customer.subscription events', () => {
  it.each([
    ['customer.subscription.created', 'incomplete'],
    ['customer.subscription.updated', 'past_due'],
    ['customer.subscription.deleted', 'canceled'],
    ['customer.subscription.paused', 'paused'],
    ['customer.subscription.resumed', 'active'],
  ])('maps %s to the subscription’s status (%s)', (type, status) => {
    const object = subscription({ id: 'sub_1', customer: 'cus_1', status, metadata: { userId: USER_ID } });

    expect(meaningOf(stripeEvent(type, object, { id: 'evt_1' }), CATALOG)).toEqual({
      kind: 'subscription-status',
      subscription: { stripeEventId: 'evt_1', subscriptionId: 'sub_1', customerId: 'cus_1', userId: USER_ID, status },
    });
  });

  it('has no user when the subscription’s metadata names none', () => {
    expect(meaningOf(subscriptionUpdated(), CATALOG)).toMatchObject({ subscription: { userId: undefined } });
  });
});

describe('meaningOf any other event type', () => {
  it('ignores invoice.payment_failed', () => {
    expect(ignoredReasonOf(invoicePaymentFailed({ shape: 'current' }))).toBe(
      'event type invoice.payment_failed changes no credits',
    );
  });

  it.each(['customer.created', 'plan.created', 'payment_intent.payment_failed', 'refund.created'])(
    'ignores %s',
    (type) => {
      expect(ignoredReasonOf(stripeEvent(type, { id: 'obj_1' }))).toBe(`event type ${type} changes no credits`);
    },
  );
});

describe('meaningOf a malformed object', () => {
  const PAID_SESSION = { metadata: { userId: USER_ID, packId: 'credits_100' } };

  it.each<[string, () => StripeTestEvent, string]>([
    ['a session without an id', () => checkoutSessionCompleted({ ...PAID_SESSION, id: undefined }), 'data.object.id'],
    ['an amount that is a float', () => checkoutSessionCompleted({ amount_total: 10.5 }), 'data.object.amount_total'],
    [
      'an amount that is a string',
      () => checkoutSessionCompleted({ amount_total: '1000' }),
      'data.object.amount_total',
    ],
    [
      'a negative amount',
      () => paymentIntentSucceeded({ ...PAID_SESSION, amount_received: -1 }),
      'data.object.amount_received',
    ],
    ['a missing amount', () => chargeRefunded({ amount_refunded: null }), 'data.object.amount_refunded'],
    [
      'an upper-case currency',
      () => checkoutSessionCompleted({ ...PAID_SESSION, currency: 'USD' }),
      'data.object.currency',
    ],
    ['no currency', () => invoicePaid({ shape: 'current', overrides: { currency: null } }), 'data.object.currency'],
    [
      'a fractional line quantity',
      () => invoicePaid({ shape: 'current', lines: [{ priceId: 'price_basic_monthly', quantity: 1.5 }] }),
      'data.object.lines.data[0].quantity',
    ],
    ['a dispute without its charge', () => disputeCreated({ charge: null }), 'data.object.charge'],
    [
      'an expanded object without an id',
      () => disputeCreated({ charge: { object: 'charge' } }),
      'data.object.charge.id',
    ],
    [
      'a metadata value that is not a string',
      () => checkoutSessionCompleted({ metadata: { userId: 42 } }),
      'data.object.metadata.userId',
    ],
    [
      'an unknown payment status',
      () => checkoutSessionCompleted({ payment_status: 'pending' }),
      'data.object.payment_status',
    ],
    ['a subscription without a status', () => subscriptionUpdated({ status: undefined }), 'data.object.status'],
    ['an event without an object', () => stripeEvent('invoice.paid', null as never), 'data.object'],
  ])('throws a StripeObjectError naming the field, for %s', (_case, eventOf, field) => {
    const event = eventOf();

    const error = errorOf(() => meaningOf(event, CATALOG));

    expect(error).toBeInstanceOf(StripeObjectError);
    expect(error).toMatchObject({ name: 'StripeObjectError', eventId: event.id, eventType: event.type, field });
    expect((error as Error).message).toContain(`Stripe event ${event.id} (${event.type}): ${field} must be`);
  });
});

describe('invoicePaid (test support)', () => {
  function objectOf(event: StripeTestEvent): Record<string, unknown> & { lines: { data: Record<string, unknown>[] } } {
    return event.data.object as Record<string, unknown> & { lines: { data: Record<string, unknown>[] } };
  }

  it('builds the legacy shape without the fields of the current one', () => {
    const invoice = objectOf(invoicePaid({ shape: 'legacy', subscriptionId: 'sub_1', paymentIntentId: 'pi_1' }));

    expect(invoice).not.toHaveProperty('parent');
    expect(invoice).toMatchObject({
      subscription: 'sub_1',
      subscription_details: { metadata: {} },
      payment_intent: 'pi_1',
    });
    expect(invoice.lines.data[0]).not.toHaveProperty('pricing');
    expect(invoice.lines.data[0]).not.toHaveProperty('parent');
    expect(invoice.lines.data[0]).toMatchObject({ price: { id: 'price_basic_monthly', object: 'price' } });
  });

  it('builds the current shape without the fields of the legacy one', () => {
    const invoice = objectOf(invoicePaid({ shape: 'current', subscriptionId: 'sub_1' }));

    expect(invoice).not.toHaveProperty('subscription');
    expect(invoice).not.toHaveProperty('subscription_details');
    expect(invoice).not.toHaveProperty('payment_intent');
    expect(invoice).toMatchObject({ parent: { subscription_details: { subscription: 'sub_1', metadata: {} } } });
    expect(invoice.lines.data[0]).not.toHaveProperty('price');
    expect(invoice.lines.data[0]).toMatchObject({ pricing: { price_details: { price: 'price_basic_monthly' } } });
  });
});

describe('signedDelivery (test support)', () => {
  const SECRET = 'whsec_test_secret';

  it('signs a body that the stripe package verifies and parses back into the event', () => {
    const event = checkoutSessionCompleted({ metadata: { userId: USER_ID, packId: 'credits_100' } });

    const { body, signature } = signedDelivery(event, SECRET);

    const verified = new Stripe('sk_test_x').webhooks.constructEvent(body, signature, SECRET, 300);
    expect(verified).toEqual(event);
  });

  it('signs with the given timestamp, which the stripe package refuses once outside its tolerance', () => {
    const event = chargeSucceeded();
    const anHourAgo = Math.floor(Date.now() / 1000) - 3600;

    const { body, signature } = signedDelivery(event, SECRET, anHourAgo);

    expect(signature).toMatch(new RegExp(`^t=${anHourAgo},v1=[0-9a-f]{64}$`));
    expect(() => new Stripe('sk_test_x').webhooks.constructEvent(body, signature, SECRET, 300)).toThrow(/tolerance/);
  });

  it('produces a signature that a changed body fails', () => {
    const { body, signature } = signedDelivery(chargeSucceeded(), SECRET);

    expect(() =>
      new Stripe('sk_test_x').webhooks.constructEvent(body.replace('1000', '9000'), signature, SECRET, 300),
    ).toThrow(/signature/i);
  });
});
