import {
  type StripeObject,
  charge,
  checkoutSession,
  deepMerge,
  paymentIntent,
  stripeEvent,
  stripeId,
} from './stripe-events';

/**
 * Payments as Stripe holds them (for the local Stripe-shaped server of
 * test/support/fake-stripe-api.ts) with the webhook event Stripe sends for
 * each: what a test needs to show a payment delivered, or never delivered.
 */
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** What Stripe holds once a buyer paid a Checkout session of the 100-credit pack, and the event it sends. */
export function packPaymentOnStripe(userId: string | undefined, secondsAgo = 60) {
  const created = nowSeconds() - secondsAgo;
  const [sessionId, paymentIntentId, chargeId] = [stripeId('cs_test'), stripeId('pi'), stripeId('ch')];
  // As the checkout helper sets them, on the session and on its payment intent.
  const metadata = userId === undefined ? {} : { userId, packId: 'credits_100', quantity: '1' };
  const session = checkoutSession({
    id: sessionId,
    created,
    client_reference_id: userId ?? null,
    payment_intent: paymentIntentId,
    metadata: userId === undefined ? { packId: 'credits_100' } : metadata,
  });
  const intent = paymentIntent({ id: paymentIntentId, created, metadata, latest_charge: chargeId });
  const paid = charge({ id: chargeId, created, payment_intent: paymentIntentId, amount_refunded: 0, refunded: false });
  const event = stripeEvent('checkout.session.completed', session, { created });
  return { sessionId, paymentIntentId, session, charge: paid, objects: [session, intent, paid], event };
}

/**
 * A refund of the whole charge: the refund object (Stripe's documented
 * fields; test/fixtures/stripe holds no refund), the charge as it then is,
 * and the `charge.refunded` event.
 */
export function refundOnStripe(payment: ReturnType<typeof packPaymentOnStripe>, secondsAgo = 10) {
  const created = nowSeconds() - secondsAgo;
  const refunded = deepMerge(payment.charge, { amount_refunded: 1000, refunded: true });
  const refund: StripeObject = {
    id: stripeId('re'),
    object: 'refund',
    amount: 1000,
    balance_transaction: stripeId('txn'),
    charge: refunded.id,
    created,
    currency: 'usd',
    metadata: {},
    payment_intent: payment.paymentIntentId,
    reason: 'requested_by_customer',
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
  };
  return { objects: [refunded, refund], event: stripeEvent('charge.refunded', refunded, { created }) };
}
