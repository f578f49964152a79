import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import type { StripeEventEnvelope } from '@libs/stripe';
import chargeFixture from '../fixtures/stripe/charge.json';
import checkoutSessionFixture from '../fixtures/stripe/checkout.session.json';
import disputeFixture from '../fixtures/stripe/dispute.json';
import eventFixture from '../fixtures/stripe/event.json';
import invoiceFixture from '../fixtures/stripe/invoice.json';
import invoicePaymentFixture from '../fixtures/stripe/invoice_payment.json';
import paymentIntentFixture from '../fixtures/stripe/payment_intent.json';
import priceFixture from '../fixtures/stripe/price.json';
import refundFixture from '../fixtures/stripe/refund.json';
import subscriptionFixture from '../fixtures/stripe/subscription.json';

/**
 * Webhook payloads for tests, built from Stripe's own example objects
 * (test/fixtures/stripe) with only the fields a scenario needs overridden, so
 * every other field has the shape real payloads have. Ids are fresh on every
 * call unless given: each payment is a new recharge.
 */

/** A Stripe object as JSON. */
export type StripeObject = { [key: string]: unknown };

/** Deep-merged onto an object: objects merge, anything else (arrays too) replaces, `undefined` removes the field. */
export type Overrides = { [key: string]: unknown };

/** A whole event, as Stripe delivers it. */
export type StripeTestEvent = StripeEventEnvelope & StripeObject;

export type EventOptions = {
  id?: string;
  created?: number;
  apiVersion?: string | null;
  /** `data.previous_attributes`: what an `*.updated` event's update changed, with the former values. */
  previousAttributes?: StripeObject;
};

/** `evt_...`, `pi_...`, `cs_test_...`: a fresh id in Stripe's form. */
export function stripeId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

export function stripeEvent(type: string, object: StripeObject, options: EventOptions = {}): StripeTestEvent {
  const event = deepMerge(fixture(eventFixture), {
    id: options.id ?? stripeId('evt'),
    type,
    created: options.created ?? Math.floor(Date.now() / 1000),
    api_version: options.apiVersion ?? null,
    pending_webhooks: 1,
  });
  // Replaced whole: the fixture's object is a plan, nothing of it belongs in another type's event.
  const previous = options.previousAttributes === undefined ? {} : { previous_attributes: options.previousAttributes };
  return { ...event, data: { object, ...previous } } as StripeTestEvent;
}

// --- Checkout sessions -------------------------------------------------------

/** A completed session in payment mode, paid: 10.00 USD. */
export function checkoutSession(overrides: Overrides = {}): StripeObject {
  return deepMerge(
    fixture(checkoutSessionFixture),
    {
      id: stripeId('cs_test'),
      mode: 'payment',
      status: 'complete',
      payment_status: 'paid',
      payment_intent: stripeId('pi'),
      amount_subtotal: 1000,
      amount_total: 1000,
      currency: 'usd',
      currency_conversion: null,
      url: null,
    },
    overrides,
  );
}

export function checkoutSessionCompleted(overrides: Overrides = {}, options?: EventOptions): StripeTestEvent {
  return stripeEvent('checkout.session.completed', checkoutSession(overrides), options);
}

/** A paid Checkout session of the catalog's 100-credit pack (10.00 USD) for `userId`, keyed by its payment intent. */
export function packCheckoutCompleted(userId: string, paymentIntentId = stripeId('pi')): StripeTestEvent {
  return checkoutSessionCompleted({
    client_reference_id: userId,
    payment_intent: paymentIntentId,
    metadata: { packId: 'credits_100' },
  });
}

export function checkoutSessionAsyncPaymentSucceeded(
  overrides: Overrides = {},
  options?: EventOptions,
): StripeTestEvent {
  return stripeEvent('checkout.session.async_payment_succeeded', checkoutSession(overrides), options);
}

// --- Payment intents and charges ---------------------------------------------

export function paymentIntent(overrides: Overrides = {}): StripeObject {
  return deepMerge(
    fixture(paymentIntentFixture),
    {
      id: stripeId('pi'),
      status: 'succeeded',
      amount: 1000,
      amount_received: 1000,
      canceled_at: null,
      last_payment_error: null,
      next_action: null,
      processing: null,
      latest_charge: stripeId('ch'),
    },
    overrides,
  );
}

export function paymentIntentSucceeded(overrides: Overrides = {}, options?: EventOptions): StripeTestEvent {
  return stripeEvent('payment_intent.succeeded', paymentIntent(overrides), options);
}

/** A captured charge of 10.00 USD. */
export function charge(overrides: Overrides = {}): StripeObject {
  return deepMerge(
    fixture(chargeFixture),
    { id: stripeId('ch'), amount: 1000, amount_captured: 1000, captured: true, payment_intent: stripeId('pi') },
    overrides,
  );
}

export function chargeSucceeded(overrides: Overrides = {}, options?: EventOptions): StripeTestEvent {
  return stripeEvent('charge.succeeded', charge(overrides), options);
}

/** Fully refunded unless `amount_refunded` says otherwise (it is cumulative over the charge's refunds). */
export function chargeRefunded(overrides: Overrides = {}, options?: EventOptions): StripeTestEvent {
  return stripeEvent(
    'charge.refunded',
    charge(deepMerge({ amount_refunded: 1000, refunded: true }, overrides)),
    options,
  );
}

// --- Refunds ------------------------------------------------------------------

/**
 * A refund of 10.00 USD, failed (`failure_reason` `expired_or_canceled_card`)
 * unless `status` says otherwise. Give `charge` and `payment_intent` as the
 * charge refunded names them, and `created` as the time its `charge.refunded` was made.
 */
export function refund(overrides: Overrides = {}): StripeObject {
  return deepMerge(
    fixture(refundFixture),
    {
      id: stripeId('re'),
      amount: 1000,
      charge: stripeId('ch'),
      payment_intent: stripeId('pi'),
      currency: 'usd',
      status: 'failed',
      failure_reason: 'expired_or_canceled_card',
      failure_balance_transaction: stripeId('txn'),
      created: Math.floor(Date.now() / 1000),
    },
    overrides,
  );
}

/** `refund.failed`: made a minute after the refund unless `created` says otherwise. */
export function refundFailed(overrides: Overrides = {}, options: EventOptions = {}): StripeTestEvent {
  const object = refund(overrides);
  return stripeEvent('refund.failed', object, { created: (object.created as number) + 60, ...options });
}

/**
 * `refund.updated` (or `charge.refund.updated`): by default the update that
 * moved the refund from `succeeded` to its status, a minute after it was made.
 */
export function refundUpdated(
  overrides: Overrides = {},
  options: EventOptions & { type?: 'refund.updated' | 'charge.refund.updated' } = {},
): StripeTestEvent {
  const object = refund(overrides);
  const { type = 'refund.updated', ...eventOptions } = options;
  return stripeEvent(type, object, {
    created: (object.created as number) + 60,
    previousAttributes: { status: 'succeeded', failure_reason: null, failure_balance_transaction: null },
    ...eventOptions,
  });
}

// --- Disputes and subscriptions ----------------------------------------------

export function dispute(overrides: Overrides = {}): StripeObject {
  return deepMerge(
    fixture(disputeFixture),
    { id: stripeId('dp'), charge: stripeId('ch'), payment_intent: stripeId('pi'), amount: 1000, currency: 'usd' },
    overrides,
  );
}

export function disputeCreated(overrides: Overrides = {}, options?: EventOptions): StripeTestEvent {
  return stripeEvent('charge.dispute.created', dispute(deepMerge({ status: 'needs_response' }, overrides)), options);
}

/** Lost unless `status` says otherwise (`won`, `warning_closed`). */
export function disputeClosed(overrides: Overrides = {}, options?: EventOptions): StripeTestEvent {
  return stripeEvent('charge.dispute.closed', dispute(deepMerge({ status: 'lost' }, overrides)), options);
}

export function subscription(overrides: Overrides = {}): StripeObject {
  return deepMerge(fixture(subscriptionFixture), { id: stripeId('sub'), status: 'active' }, overrides);
}

export function subscriptionUpdated(overrides: Overrides = {}, options?: EventOptions): StripeTestEvent {
  return stripeEvent('customer.subscription.updated', subscription(overrides), options);
}

// --- Invoices ----------------------------------------------------------------

/**
 * `legacy`: API versions before 2025-03-31 (`invoice.subscription`,
 * `invoice.subscription_details`, `lines.data[].price` expanded).
 * `current`: `invoice.parent.subscription_details` and
 * `lines.data[].pricing.price_details.price` as an id.
 */
export type InvoiceShape = 'legacy' | 'current';

export type InvoiceLine = {
  priceId: string;
  quantity?: number;
  /** Minor units; 1000 unless given. */
  amount?: number;
  /** A proration (a plan change's part period): it buys no period. */
  proration?: boolean;
  /** Metadata of the expanded price: the legacy shape only, the current one names the price by id. */
  priceMetadata?: Record<string, string>;
};

export type InvoiceOptions = {
  shape: InvoiceShape;
  id?: string;
  /** Fresh unless given; `null` for an invoice outside any subscription. */
  subscriptionId?: string | null;
  /** The subscription's metadata, as Stripe copies it onto the invoice's subscription details. */
  subscriptionMetadata?: Record<string, string>;
  /** The legacy shape's `invoice.payment_intent` (fresh unless given); in the current shape, `payments` when given. */
  paymentIntentId?: string;
  /** One line of `price_basic_monthly` unless given. */
  lines?: InvoiceLine[];
  /** Deep-merged last onto the invoice. */
  overrides?: Overrides;
};

/** A paid subscription invoice; `amount_paid` is the sum of its lines. */
export function invoice(options: InvoiceOptions): StripeObject {
  const subscriptionId = options.subscriptionId === undefined ? stripeId('sub') : options.subscriptionId;
  const lines = options.lines ?? [{ priceId: 'price_basic_monthly' }];
  const amountPaid = lines.reduce((sum, line) => sum + (line.amount ?? 1000), 0);
  const shaped =
    options.shape === 'legacy' ? legacyInvoice(options, subscriptionId) : currentInvoice(options, subscriptionId);
  const lineOf = options.shape === 'legacy' ? legacyLine : currentLine;
  return deepMerge(
    shaped,
    {
      id: options.id ?? stripeId('in'),
      status: 'paid',
      billing_reason: subscriptionId === null ? 'manual' : 'subscription_cycle',
      amount_due: amountPaid,
      amount_paid: amountPaid,
      amount_remaining: 0,
      amount_overpaid: 0,
      subtotal: amountPaid,
      total: amountPaid,
      lines: { data: lines.map((line) => lineOf(invoiceLineFixture(), line, subscriptionId)) },
    },
    options.overrides ?? {},
  );
}

export function invoicePaid(options: InvoiceOptions, eventOptions?: EventOptions): StripeTestEvent {
  return stripeEvent('invoice.paid', invoice(options), eventOptions);
}

export function invoicePaymentSucceeded(options: InvoiceOptions, eventOptions?: EventOptions): StripeTestEvent {
  return stripeEvent('invoice.payment_succeeded', invoice(options), eventOptions);
}

/** `invoice_payment.paid` (newer API versions): the invoice was paid by this payment intent. */
export function invoicePaymentPaid(
  invoiceId: string,
  paymentIntentId: string,
  options?: EventOptions,
): StripeTestEvent {
  const invoicePayment = deepMerge(fixture(invoicePaymentFixture), {
    id: stripeId('inpay'),
    invoice: invoiceId,
    amount_paid: 1000,
    currency: 'usd',
    status: 'paid',
    payment: { type: 'payment_intent', payment_intent: paymentIntentId },
  });
  return stripeEvent('invoice_payment.paid', invoicePayment, options);
}

export function invoicePaymentFailed(options: InvoiceOptions, eventOptions?: EventOptions): StripeTestEvent {
  const unpaid = { status: 'open', amount_paid: 0, attempted: true, attempt_count: 1 };
  const object = invoice({ ...options, overrides: deepMerge(unpaid, options.overrides ?? {}) });
  return stripeEvent(
    'invoice.payment_failed',
    deepMerge(object, { amount_remaining: object.amount_due }),
    eventOptions,
  );
}

function legacyInvoice(options: InvoiceOptions, subscriptionId: string | null): StripeObject {
  return deepMerge(fixture(invoiceFixture), {
    parent: undefined,
    subscription: subscriptionId,
    subscription_details: { metadata: options.subscriptionMetadata ?? {} },
    payment_intent: options.paymentIntentId ?? stripeId('pi'),
    paid: true,
  });
}

function currentInvoice(options: InvoiceOptions, subscriptionId: string | null): StripeObject {
  const parent =
    subscriptionId === null
      ? null
      : {
          type: 'subscription_details',
          quote_details: null,
          subscription_details: { subscription: subscriptionId, metadata: options.subscriptionMetadata ?? {} },
        };
  const payments =
    options.paymentIntentId === undefined
      ? undefined
      : { object: 'list', data: [{ payment: { type: 'payment_intent', payment_intent: options.paymentIntentId } }] };
  return deepMerge(fixture(invoiceFixture), { subscription: undefined, parent, payments });
}

function legacyLine(base: StripeObject, line: InvoiceLine, subscriptionId: string | null): StripeObject {
  const price = deepMerge(fixture(priceFixture), { id: line.priceId, metadata: line.priceMetadata ?? {} });
  return deepMerge(base, {
    ...lineAmounts(line),
    parent: undefined,
    pricing: undefined,
    type: 'subscription',
    subscription: subscriptionId,
    proration: line.proration ?? false,
    price,
  });
}

function currentLine(base: StripeObject, line: InvoiceLine, subscriptionId: string | null): StripeObject {
  if (line.priceMetadata !== undefined) throw new Error('the current invoice shape names its price by id: no metadata');
  const itemDetails = {
    subscription: subscriptionId,
    subscription_item: stripeId('si'),
    proration: line.proration ?? false,
  };
  return deepMerge(base, {
    ...lineAmounts(line),
    subscription: subscriptionId,
    pricing: { type: 'price_details', price_details: { price: line.priceId, product: 'prod_QXg1hqf4jFNsqG' } },
    parent:
      subscriptionId === null
        ? null
        : { type: 'subscription_item_details', invoice_item_details: null, subscription_item_details: itemDetails },
  });
}

function invoiceLineFixture(): StripeObject {
  return (fixture(invoiceFixture).lines as { data: StripeObject[] }).data[0];
}

function lineAmounts(line: InvoiceLine): Overrides {
  return {
    id: stripeId('il'),
    amount: line.amount ?? 1000,
    subtotal: line.amount ?? 1000,
    quantity: line.quantity ?? 1,
  };
}

// --- Delivery ----------------------------------------------------------------

export type SignedDelivery = { body: string; signature: string };

/** The raw body and its `Stripe-Signature` header, signed by the real `stripe` package as Stripe signs a delivery. */
export function signedDelivery(event: object, secret: string, timestampSeconds?: number): SignedDelivery {
  return signedBody(JSON.stringify(event), secret, timestampSeconds);
}

/** Any body, even one that is not JSON, with a `Stripe-Signature` header made for it. */
export function signedBody(body: string, secret: string, timestampSeconds?: number): SignedDelivery {
  const timestamp = timestampSeconds ?? Math.floor(Date.now() / 1000);
  const signature = new Stripe('sk_test_dummy').webhooks.generateTestHeaderString({ payload: body, secret, timestamp });
  return { body, signature };
}

// --- Helpers -----------------------------------------------------------------

/** A fresh copy: a test may change what it gets without touching the next test's. */
function fixture(json: object): StripeObject {
  return structuredClone(json) as StripeObject;
}

export function deepMerge(base: StripeObject, ...layers: Overrides[]): StripeObject {
  const merged: StripeObject = { ...base };
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      const current = merged[key];
      if (value === undefined) delete merged[key];
      else if (isPlainObject(value) && isPlainObject(current)) merged[key] = deepMerge(current, value);
      else merged[key] = value;
    }
  }
  return merged;
}

function isPlainObject(value: unknown): value is StripeObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
