import Stripe from 'stripe';
import { stripeErrorMessage } from '../stripe-api.client';

/**
 * An automatic top-up's charge: one pack bought with the user's saved card, without the user (off session).
 * The payment intent carries the same metadata as a Checkout payment of that pack, so the webhook credits it
 * through the usual path (the recharge id is the payment intent's).
 */
export type TopUpCharge = {
  userId: string;
  /** The top-up's id: the idempotency key of its one charge, however often it is asked for. */
  topUpId: string;
  packId: string;
  customerId: string;
  paymentMethodId: string;
  /** Minor units of `currency`. */
  amount: number;
  currency: string;
};

/**
 * `submitted`: Stripe took the payment (`succeeded`, or `processing` for a method that settles later): the
 * webhook credits it. `failed`: the card was declined, or needs its holder to authenticate (`requires_action`
 * counts as failed: the user must act), or Stripe refused the request; no second attempt is made for it.
 */
export type TopUpChargeOutcome =
  | { kind: 'submitted'; paymentIntentId: string; status: string }
  | { kind: 'failed'; reason: string; message: string; paymentIntentId: string | undefined };

/** Stripe's key for a top-up's charge: its id, so a repeat (a crash, another process) charges once. */
export function topUpIdempotencyKey(topUpId: string): string {
  return `credits-topup-${topUpId}`;
}

/** The statuses of Stripe's answers that decide a charge failed. */
const DECIDED_BY_STRIPE = [400, 402, 404];

export async function chargeTopUp(stripe: Stripe, charge: TopUpCharge): Promise<TopUpChargeOutcome> {
  try {
    const intent = await stripe.paymentIntents.create(
      {
        amount: charge.amount,
        currency: charge.currency,
        customer: charge.customerId,
        payment_method: charge.paymentMethodId,
        off_session: true,
        confirm: true,
        metadata: { userId: charge.userId, packId: charge.packId, quantity: '1', topUpId: charge.topUpId },
      },
      { idempotencyKey: topUpIdempotencyKey(charge.topUpId) },
    );
    if (intent.status === 'succeeded' || intent.status === 'processing') {
      return { kind: 'submitted', paymentIntentId: intent.id, status: intent.status };
    }
    return {
      kind: 'failed',
      reason: intent.status === 'requires_action' ? 'authentication_required' : intent.status,
      message: `the payment intent is ${intent.status}`,
      paymentIntentId: intent.id,
    };
  } catch (error) {
    if (!(error instanceof Stripe.errors.StripeError)) throw error;
    // Only Stripe's word on this payment is a failure: a declined card (402), a card or customer it refuses or
    // does not know (400, 404). Anything else says nothing of the card: a connection error or a 5xx (unknown
    // whether it charged), a rate limit (429), the same key in use by another process right now (409), our own
    // key refused (401, 403). The same key later answers what Stripe did, so the caller tries again.
    if (!DECIDED_BY_STRIPE.includes(error.statusCode ?? 0)) throw error;
    const intent = (error as Stripe.errors.StripeCardError).payment_intent;
    return {
      kind: 'failed',
      reason: error.code ?? error.type,
      message: stripeErrorMessage(error),
      paymentIntentId: intent?.id,
    };
  }
}
